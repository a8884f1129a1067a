"""Turn a pytest-benchmark JSON file into the markdown tables of benchmarks/README.md.

Usage: python benchmarks/report.py benchmarks/kernel.json
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


def main(path: str) -> None:
    data = json.load(open(path))
    medians: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        impl = bench["params"]["impl"]
        medians[bench["group"]][impl] = bench["stats"]["median"]
    machine, commit = data["machine_info"], data.get("commit_info", {})
    print(f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu', {}).get('count', '?')} CPUs; "
          f"python {machine.get('python_version')}; commit {commit.get('id', '?')[:10]}; "
          f"kernel ISA {data['benchmarks'][0]['extra_info'].get('isa', '?')}; single-threaded; median µs per call.\n")
    print("| case | " + " | ".join(IMPLS) + " | numpy ÷ pyrerank | pyrerank ÷ probe |")
    print("|---" * (len(IMPLS) + 3) + "|")
    for group in sorted(medians, key=_sort_key):
        m = medians[group]
        cells = [fmt(m.get(i)) for i in IMPLS]
        print(f"| {group} | " + " | ".join(cells) + f" | {ratio(m.get('numpy'), m.get('pyrerank'))} | "
              f"{ratio(m.get('pyrerank'), m.get('probe'))} |")


def _sort_key(group: str):
    mode, n, d, k, q, dtype = group.split("-")
    return (mode, int(n[1:]), int(d[1:]), int(k[1:]), int(q[1:]), dtype)


if __name__ == "__main__":
    main(sys.argv[1])
