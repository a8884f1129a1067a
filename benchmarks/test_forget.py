"""What `forget` costs once the statistics hold many users' contributions: 100,000 users × 15
counted positives each (1.5M contributions, each linked with the user's previous five, as
observe logs them) on 100,000 items, then one user at a time taken out exactly (their
contributions dropped, the items they touched recounted from everyone else's). The statistics'
lock is held throughout, so every observe and rerank of the process waits this long.
extra_info: the contributions' bytes per counted event (test_memory's deep_size: their buffers
and the user dict).

    OMP_NUM_THREADS=1 pytest benchmarks/test_forget.py --benchmark-json=forget.json   # ~1 min
"""

from __future__ import annotations

import numpy as np
from test_memory import deep_size

from pyrerank.serving.item_stats import ItemStats

ITEMS, USERS, POSITIVES = 100_000, 100_000, 15


def test_forget_among_many_users(benchmark):
    rng = np.random.default_rng(0)
    stats = ItemStats()
    stats.resize(ITEMS)
    recent: dict[int, list[int]] = {}
    users = rng.permutation(np.repeat(np.arange(USERS), POSITIVES)).tolist()  # interleaved
    for t, (user, row) in enumerate(zip(users, rng.integers(0, ITEMS, len(users)).tolist())):
        mine = recent.setdefault(user, [])
        stats.record(user, row, 1.0, float(t), mine[-5:])
        mine.append(row)
    gone = iter(range(USERS))
    benchmark.group = "forget one user"
    benchmark.pedantic(lambda: stats.forget(next(gone)), rounds=10, iterations=1, warmup_rounds=1)
    benchmark.extra_info["bytes_per_event"] = round(deep_size(stats.contributions) / len(stats.contributions), 1)
