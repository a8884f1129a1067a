"""How long `Reranker.load` takes to open a bundle, warm (files in the page cache) and cold.

    python benchmarks/open_bundle.py --items 100000 1000000 --dim 448     # cold needs root

For each size: a bundle of int8 item vectors with statistics from 20,000 events is saved, then
opened 5 times in fresh processes on an SQLite store (how a service worker opens it); "cold"
first drops the page cache (``echo 3 > /proc/sys/vm/drop_caches``, root only). Each open checks
every byte against its CRC-32C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

OPEN = """
import sys, time
t = time.perf_counter()
import pyrerank as pr
imported = time.perf_counter()
rr = pr.Reranker.load(sys.argv[1], store=sys.argv[2])
opened = time.perf_counter()
print((imported - t) * 1e3, (opened - imported) * 1e3, "torch" in sys.modules)
"""


def make(folder: Path, n: int, dim: int) -> None:
    import pyrerank as pr

    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder="minilm")  # named only: vectors are given, no model loads
    for start in range(0, n, 100_000):
        count = min(100_000, n - start)
        rr.add_items(np.arange(start, start + count), vectors=rng.standard_normal((count, dim), dtype=np.float32))
    for t, item in enumerate(rng.integers(0, n, 20_000)):
        rr.observe(f"u{t % 1000}", int(item), "click", timestamp=float(t))
    rr.save(folder)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=448)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.items:
            bundle = Path(tmp) / f"bundle-{n}"
            make(bundle, n, args.dim)
            for state in ("warm", "cold"):
                times = []
                for trial in range(5):
                    if state == "cold" and not drop_caches():
                        break
                    store = f"sqlite:///{tmp}/store-{n}-{state}-{trial}.db"
                    done = subprocess.run(
                        [sys.executable, "-c", textwrap.dedent(OPEN), str(bundle), store],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    times.append([float(x) for x in done.stdout.split()[:2]] + [done.stdout.split()[2]])
                if times:
                    opens = sorted(t[1] for t in times)
                    print(
                        f"{n:>9} x {args.dim} int8, {state}: open median {opens[len(opens) // 2]:.0f} ms "
                        f"(min {opens[0]:.0f}, max {opens[-1]:.0f}); import pyrerank {times[0][0]:.0f} ms; "
                        f"torch imported: {times[0][2]}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
