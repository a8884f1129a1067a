"""Reranker.save and Reranker.load of a model whose memory store holds many users: since 0.5 a
save holds them as columns (pyrerank.serving.user_columns), before it as one npz file per user.
Run the same file against two builds to compare them side by side.

    OMP_NUM_THREADS=1 pytest benchmarks/test_save.py --benchmark-json=save.json
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import pyrerank as pr

ITEMS, DIM, EVENTS = 20_000, 448, 5
KINDS = ("like", "skip", "click", "view", "like")


@pytest.mark.parametrize("users", [10_000, 50_000])
def test_load_with_users(benchmark, tmp_path, users):
    """`users` users × 5 events on 20,000 × 448 int8 items (decay interest, memory store: every
    user is in the save); load timed over 3 rounds, the save's seconds and bytes in extra_info."""
    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder=None)
    rr.add_items(np.arange(ITEMS), vectors=rng.standard_normal((ITEMS, DIM)).astype(np.float32))
    for user, items in enumerate(rng.integers(0, ITEMS, (users, EVENTS)).tolist()):
        for j, item in enumerate(items):
            rr.observe(user, item, KINDS[j], timestamp=1_000.0 + j)
    started = time.perf_counter()
    rr.save(tmp_path / "saved")
    saved_s = time.perf_counter() - started
    back = benchmark.pedantic(lambda: pr.Reranker.load(tmp_path / "saved"), rounds=3, iterations=1)
    assert len(back.users) == users
    size = sum(p.stat().st_size for p in (tmp_path / "saved").rglob("*") if p.is_file())
    benchmark.extra_info.update(users=users, save_s=round(saved_s, 2), save_mb=round(size / 1e6, 1))
