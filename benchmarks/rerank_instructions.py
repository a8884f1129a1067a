"""Instructions per cold rerank, counted by valgrind's cachegrind: a figure that does not move
with the machine's noise (a shared VM's timings can swing 2x within an hour), for comparing
two builds side by side. It says nothing of cache misses' cost; the timed benchmarks do.

    python benchmarks/rerank_instructions.py [--ids int|str] [--candidates 1000] [--reranks 400]

Runs this file's workload twice under cachegrind, with `reranks` reranks and with none, and
prints (difference) / reranks, split into the interpreter, the C library (malloc, memset) and
the rest (pyrerank._core and numpy). Needs valgrind (apt-get install valgrind); ~1 minute.
The workload: 1,000 (or --candidates) random int or str ids of a 100,000 × 448 int8 catalog,
fusion, k=10, a user with 30 events, 32 candidate lists in turn (as test_reranker.py's "cold"
cases).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ITEMS, POOL = 100_000, 32


def workload(ids: str, candidates: int, reranks: int) -> None:
    import numpy as np

    import pyrerank as pr

    rr = pr.Reranker(encoder="hashing", interest="decay", ranker="fusion", dtype="int8")
    rng = np.random.default_rng(5)
    keys = np.arange(ITEMS) if ids == "int" else [f"item-{i}" for i in range(ITEMS)]
    rr.add_items(keys, vectors=rng.standard_normal((ITEMS, 448), dtype=np.float32))
    for t, item in enumerate(rng.choice(ITEMS, 2_000)):
        rr.observe(f"other{t % 300}", keys[int(item)], "click", timestamp=float(t))
    for t, item in enumerate(rng.choice(ITEMS, 30)):
        rr.observe("user", keys[int(item)], "like" if t % 5 else "skip", timestamp=5_000.0 + t)
    picks = [rng.choice(ITEMS, candidates, replace=False) for _ in range(POOL)]
    lists = [p.astype(np.int64) if ids == "int" else [keys[i] for i in p] for p in picks]
    for i in range(POOL + reranks):  # one round of warm-up (caches, lazily built state) in both runs
        rr.rerank("user", lists[i % POOL], k=10, now=6_000.0)


def counted(ids: str, candidates: int, reranks: int, folder: str) -> dict[str, int]:
    """Instructions by part for one run of the workload under cachegrind."""
    out = os.path.join(folder, f"cachegrind.{reranks}")
    subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
        + [sys.executable, __file__, "--run", ids, str(candidates), str(reranks)],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"},  # the same dict probes each run
    )
    report = subprocess.run(
        ["cg_annotate", "--auto=no", "--threshold=0", out], check=True, capture_output=True, text=True
    ).stdout
    parts = {"interpreter": 0, "C library": 0, "rest": 0}
    for line in report.split("file:function", 1)[1].splitlines():
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
        if match:
            parts[_part(match[2])] += int(match[1].replace(",", ""))
    return parts


def _part(where: str) -> str:
    """The part a cg_annotate "file:function" belongs to, by its source path: CPython's (a build
    that kept them, as pyenv's does; elsewhere the interpreter counts as rest) or glibc's."""
    if "Python-3" in where:
        return "interpreter"
    if "sysdeps" in where or "malloc" in where:
        return "C library"
    return "rest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", choices=["int", "str"], default="int")
    parser.add_argument("--candidates", type=int, default=1_000)
    parser.add_argument("--reranks", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda n: counted(args.ids, args.candidates, n, folder), [args.reranks, 0]))
    per = {part: (runs[0][part] - runs[1][part]) / args.reranks for part in runs[0]}
    print(f"instructions per rerank ({args.candidates:,} {args.ids} ids): {sum(per.values()):,.0f}", end="")
    print("".join(f"; {part} {value:,.0f}" for part, value in per.items()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        workload(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
