"""Reranks per second from one thread and from two threads sharing one Reranker (1,000 int or
str candidate ids of a 100,000 × 384 int8 catalog, fusion, cold rows; each thread its own users).
The kernel runs outside the GIL; the Python around it does not, so two threads give less than
twice one thread's rate. extra_info holds the median rates and ratio of ROUNDS pairs, and
every pair's ratio.

    OMP_NUM_THREADS=1 pytest benchmarks/test_threads.py --benchmark-json=threads.json
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import CATALOG_ROWS
from test_reranker import CANDIDATES, POOL, make_reranker

CALLS = 4_000  # per thread
ROUNDS = 5  # (one thread, two threads) pairs; the ratio reported is their median


@pytest.mark.parametrize("ids", ["int", "str"])
def test_two_threads_against_one(benchmark, ids):
    item_ids = list(range(CATALOG_ROWS)) if ids == "int" else [f"item-{i}" for i in range(CATALOG_ROWS)]
    rr = make_reranker(item_ids, "int8")
    rng = np.random.default_rng(4)
    picks = [rng.choice(CATALOG_ROWS, CANDIDATES, replace=False) for _ in range(POOL)]
    lists = [p.astype(np.int64) if ids == "int" else [item_ids[i] for i in p] for p in picks]
    for user in ("a", "b"):
        for t, item in enumerate(rng.choice(CATALOG_ROWS, 30)):
            rr.observe(user, item_ids[int(item)], "like", timestamp=5_000.0 + t)

    def work(user: str) -> None:
        for i in range(CALLS):
            rr.rerank(user, lists[i % POOL], k=10, now=6_000.0)

    def rate(threads: int) -> float:
        workers = [threading.Thread(target=work, args=(user,)) for user in ("a", "b")[:threads]]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return threads * CALLS / (time.perf_counter() - started)

    pairs = []

    def both():  # one thread then two, side by side: the machine's noise hits both alike
        pairs.append((rate(1), rate(2)))

    benchmark.pedantic(both, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    one, two = np.median(pairs, axis=0)
    ratios = sorted(round(b / a, 2) for a, b in pairs)
    benchmark.extra_info.update(
        one_thread_per_s=round(one), two_threads_per_s=round(two), ratio=float(np.median(ratios)), ratios=ratios
    )
