"""rerank latency of the learned rankers (bilinear, mlp) beside fusion: 1,000 candidates of a
100,000 × 448 int8 catalog, cold (32 candidate lists in turn), single-threaded. Each ranker is
trained on the same 5,000 synthetic click groups first (what is measured is serving).

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_learned_rankers.py --benchmark-json=benchmarks/learned.json
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CATALOG_ROWS, catalog
from test_reranker import play_history, time_cold_reranks

import pyrerank as pr
from pyrerank.interfaces import COLUMNS, TrainingExamples

DIM = 448  # 384 text + 64 collaborative, as after fit with MiniLM


def examples(n: int = 5_000) -> TrainingExamples:
    rng = np.random.default_rng(0)
    items = catalog(DIM, "float32")
    users = items[rng.integers(0, CATALOG_ROWS, n)]
    rows = rng.integers(0, CATALOG_ROWS, (n, 5))
    x = rng.standard_normal((n, 5, len(COLUMNS))).astype(np.float32)
    return TrainingExamples(COLUMNS, x[:, 0], x[:, 1:], users, rows, items)


@pytest.mark.parametrize("ranker", ["fusion", "bilinear", "mlp"])
def test_rerank_learned(benchmark, ranker):
    rr = pr.Reranker(encoder=None, ranker=ranker)
    rr.add_items(np.arange(CATALOG_ROWS), vectors=catalog(DIM, "float32"))
    rr.ranker.fit(examples())
    rng = np.random.default_rng(1)
    play_history(rr, range(CATALOG_ROWS), rng)
    group = "learned rankers: rerank 1,000 candidates of 100,000, d=448 int8, k=10"
    time_cold_reranks(benchmark, rr, CATALOG_ROWS, rng, group)
