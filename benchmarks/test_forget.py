"""What exact forget's contributions cost once the statistics hold many users' (100,000 users ×
15 counted positives on 100,000 items: 1.5M contributions, each linked with the user's previous
five, as observe logs them):

- `forget`, one user at a time taken out exactly (their contributions dropped, the items they
  touched recounted from everyone else's). The statistics' lock is held throughout, so every
  observe and rerank of the process waits this long. extra_info: the contributions' bytes per
  counted event (test_memory's deep_size: their buffers and the user dict).
- restoring a snapshot of those statistics, as every process does when it opens a durable store
  (the co-engagement links included). extra_info: the snapshot's bytes.

    OMP_NUM_THREADS=1 pytest benchmarks/test_forget.py --benchmark-json=forget.json   # ~1 min
"""

from __future__ import annotations

import numpy as np
from test_memory import deep_size

from pyrerank.serving.item_stats import ItemStats

ITEMS, USERS, POSITIVES = 100_000, 100_000, 15


def many_users_stats() -> ItemStats:
    rng = np.random.default_rng(0)
    stats = ItemStats()
    stats.resize(ITEMS)
    recent: dict[int, list[int]] = {}
    users = rng.permutation(np.repeat(np.arange(USERS), POSITIVES)).tolist()  # interleaved
    for t, (user, row) in enumerate(zip(users, rng.integers(0, ITEMS, len(users)).tolist())):
        mine = recent.setdefault(user, [])
        stats.record(user, row, 1.0, float(t), mine[-5:])
        mine.append(row)
    return stats


def test_forget_among_many_users(benchmark):
    stats = many_users_stats()
    gone = iter(range(USERS))
    benchmark.group = "forget one user"
    benchmark.pedantic(lambda: stats.forget(next(gone)), rounds=10, iterations=1, warmup_rounds=1)
    benchmark.extra_info["bytes_per_event"] = round(deep_size(stats.contributions) / len(stats.contributions), 1)


def test_restore_a_snapshot_of_many_users(benchmark):
    ids = list(range(ITEMS))
    data = many_users_stats().snapshot(ids)
    row_of = dict(zip(ids, ids))

    def restore() -> None:
        stats = ItemStats()
        stats.resize(ITEMS)
        stats.restore_snapshot(data, row_of)

    benchmark.group = "restore a snapshot"
    benchmark.pedantic(restore, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["snapshot_mb"] = round(len(data) / 1e6, 1)
