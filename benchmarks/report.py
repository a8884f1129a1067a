"""Turn pytest-benchmark JSON files into the markdown tables of benchmarks/README.md.

Usage: python benchmarks/report.py kernel.json [reranker.json stores.json encoding.json ...]
(a file may hold several suites' results)
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

IMPLS = ["pyrerank", "numpy", "torch", "faiss", "probe"]


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 100 else f"{us:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}×"


def header(data: dict) -> str:
    machine, commit = data["machine_info"], data.get("commit_info", {})
    cpu = machine.get("cpu", {})
    isa = data["benchmarks"][0]["extra_info"].get("isa")
    return (
        f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} CPUs; python "
        f"{machine.get('python_version')}; commit {commit.get('id', '?')[:10]}"
        + (f"; kernel ISA {isa}" if isa else "")
        + "; single-threaded.\n"
    )


def kernel_table(data: dict) -> None:
    medians: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        medians[bench["group"]][bench["params"]["impl"]] = bench["stats"]["median"]
    print(header(data))
    print("Median µs per call.\n")
    print("| case | " + " | ".join(IMPLS) + " | numpy ÷ pyrerank | pyrerank ÷ probe |")
    print("|---" * (len(IMPLS) + 3) + "|")

    def key(group: str):
        mode, n, d, k, q, dtype = group.split("-")
        return (mode, int(n[1:]), int(d[1:]), int(k[1:]), int(q[1:]), dtype)

    for group in sorted(medians, key=key):
        m = medians[group]
        cells = [fmt(m.get(i)) for i in IMPLS]
        print(
            f"| {group} | " + " | ".join(cells) + f" | {ratio(m.get('numpy'), m.get('pyrerank'))} | "
            f"{ratio(m.get('pyrerank'), m.get('probe'))} |"
        )


def latency_table(data: dict) -> None:
    print(header(data))
    print("| call | median µs | p99 µs | p99 ÷ median |\n|---|---|---|---|")
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        print(
            f"| {bench['name']} | {info['median_us']:.1f} | {info['p99_us']:.1f} | "
            f"{info['p99_us'] / info['median_us']:.2f} |"
        )


def encoding_table(data: dict) -> None:
    print(header(data))
    print("| case | texts/s |\n|---|---|")
    for bench in data["benchmarks"]:
        print(f"| {bench['name']} | {bench['extra_info']['texts_per_s']:.0f} |")


def stores_table(data: dict) -> None:
    print(header(data))
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if "rss_mb" in info:
            print(
                f"Soak: {info['seconds']:.0f} s, {info['observe']:,} observe + {info['rerank']:,} rerank "
                f"({info['ops_per_s']:,.0f} ops/s), {info['users_held']:,} users held.\n"
            )
            print("| seconds | " + " | ".join(f"{t:.0f}" for t, _ in info["rss_mb"]) + " |")
            print("|---" * (len(info["rss_mb"]) + 1) + "|")
            print("| resident MB | " + " | ".join(f"{m:.0f}" for _, m in info["rss_mb"]) + " |\n")
    print("| store | acknowledged events/s |\n|---|---|")
    for bench in data["benchmarks"]:
        if "events_per_s" in bench["extra_info"]:
            print(f"| {bench['name']} | {bench['extra_info']['events_per_s']:,.0f} |")


def kind(bench: dict) -> str:
    info = bench["extra_info"]
    if bench["name"].startswith("test_topk"):
        return "kernel"
    if "texts_per_s" in info:
        return "encoding"
    return "stores" if "events_per_s" in info or "rss_mb" in info else "latency"


TABLES = {"kernel": kernel_table, "latency": latency_table, "stores": stores_table, "encoding": encoding_table}


def main(paths: list[str]) -> None:
    for path in paths:
        data = json.load(open(path))
        for name, table in TABLES.items():
            picked = [b for b in data["benchmarks"] if kind(b) == name]
            if picked:
                table({**data, "benchmarks": picked})
                print()


if __name__ == "__main__":
    main(sys.argv[1:])
