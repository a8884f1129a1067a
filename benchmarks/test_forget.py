"""What exact forget's contributions cost once the statistics hold many users' (100,000 users ×
15 counted positives on 100,000 items: 1.5M contributions, each linked with the user's previous
five, as observe logs them):

- `forget`, one user at a time taken out exactly (their contributions dropped, the items they
  touched recounted from everyone else's). The statistics' lock is held throughout, so every
  observe and rerank of the process waits this long. extra_info: the contributions' bytes per
  counted event (test_memory's deep_size: their buffers and the user dict). `[full]`: instead,
  1.3M uniform clicks of 100,000 users on 10,000 items under the default horizon, so that every
  item's links are full and the undo log holds ~10M records.
- restoring a snapshot of those statistics, as every process does when it opens a durable store
  (the co-engagement links included). extra_info: the snapshot's bytes.
- settling: with the default forget_horizon (1M counted events), the observe that finds
  1M + 65,536 held settles the oldest 65,536 (counted into the settled table, dropped from the
  contributions and the undo log) under the statistics' lock: that one observe's time. Twice:
  on the stream above (links far from full: the undo log holds a few hundred records), and on
  uniform clicks of 2,000 users over 10,000 items, whose links fill after ~250,000 events, so that
  nearly every new pair evicts one and the undo log holds ~10 records an event.

The first two hold all 1.5M contributions (forget_horizon=None), as every build before the
horizon did, so that builds compare.

- `remove_items`, one item at a time, from a Reranker holding 100,000 users × 10 clicks on
  20,000 items (64-d vectors, the default horizon: 1M held events): the store view's lock is
  held throughout (every held user follows the new rows, and with exact forget the items linked
  with the removed one are recounted), so every observe and rerank waits this long.

    OMP_NUM_THREADS=1 pytest benchmarks/test_forget.py --benchmark-json=forget.json   # ~1 min
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from test_memory import deep_size

import pyrerank as pr
from pyrerank.serving.item_stats import FORGET_HORIZON, ItemStats, settle_step

ITEMS, USERS, POSITIVES = 100_000, 100_000, 15


def many_users_stats(**options: Any) -> ItemStats:
    stats = ItemStats(**options)
    stats.resize(ITEMS)
    record_many(stats, USERS * POSITIVES)
    return stats


def record_many(stats: ItemStats, n: int, seed: int = 0) -> None:
    """n positives of USERS users, interleaved, each linked with its user's previous five."""
    rng = np.random.default_rng(seed)
    recent: dict[int, list[int]] = {}
    users = rng.permutation(np.repeat(np.arange(USERS), -(-n // USERS)))[:n].tolist()
    for t, (user, row) in enumerate(zip(users, rng.integers(0, ITEMS, n).tolist())):
        mine = recent.setdefault(user, [])
        stats.record(user, row, 1.0, float(t), mine[-5:])
        mine.append(row)


@pytest.mark.parametrize("links", ["room", "full"])
def test_forget_among_many_users(benchmark, links):
    if links == "room":
        stats = many_users_stats(forget_horizon=None)
    else:  # every item's links full, ~9.9M undo records: the default horizon's steady state
        stats = ItemStats()
        stats.resize(FULL_ITEMS)
        for user, row, t, recent in itertools.islice(uniform_clicks(USERS), 1_300_000):
            stats.record(user, row, 1.0, t, recent)
    gone = iter(range(USERS))
    benchmark.group = "forget one user"
    benchmark.pedantic(lambda: stats.forget(next(gone)), rounds=10, iterations=1, warmup_rounds=1)
    benchmark.extra_info["bytes_per_event"] = round(deep_size(stats.contributions) / len(stats.contributions), 1)


def test_restore_a_snapshot_of_many_users(benchmark):
    ids = list(range(ITEMS))
    data = many_users_stats(forget_horizon=None).snapshot(ids)
    row_of = dict(zip(ids, ids))

    def restore() -> None:
        stats = ItemStats(forget_horizon=None)
        stats.resize(ITEMS)
        stats.restore_snapshot(data, row_of)

    benchmark.group = "restore a snapshot"
    benchmark.pedantic(restore, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["snapshot_mb"] = round(len(data) / 1e6, 1)


@pytest.mark.parametrize("links", ["room", "full"])
def test_settling_a_step_of_the_horizon(benchmark, links):
    if links == "room":
        stats = many_users_stats()  # the default horizon, 1.5M events: settled in steps
        events = itertools.count()

        def more(n: int) -> None:
            record_many(stats, n, seed=next(events))
    else:
        stats = ItemStats()
        stats.resize(FULL_ITEMS)
        clicks = uniform_clicks()

        def more(n: int) -> None:
            for user, row, t, recent in itertools.islice(clicks, n):
                stats.record(user, row, 1.0, t, recent)

    limit = FORGET_HORIZON + settle_step(FORGET_HORIZON)
    benchmark.group = "settle"
    benchmark.pedantic(
        lambda: stats.record(-1, 0, 1.0, 1e12, [1, 2, 3]),
        setup=lambda: more(limit - len(stats.contributions)),  # up to the last observe before a settle
        rounds=3,
        iterations=1,
    )
    benchmark.extra_info.update(held_after=len(stats.contributions), undo_records=len(stats.undo))


FULL_ITEMS, FULL_USERS = 10_000, 2_000


def uniform_clicks(users: int = FULL_USERS) -> Iterator[tuple[int, int, float, list[int]]]:
    """(user, row, time, their previous five rows) of uniform clicks of `users` users over
    FULL_ITEMS items, without end."""
    rng = np.random.default_rng(0)
    recent: dict[int, list[int]] = {}
    t = 0.0
    while True:
        for user, row in zip(rng.integers(0, users, 65_536).tolist(), rng.integers(0, FULL_ITEMS, 65_536).tolist()):
            mine = recent.setdefault(user, [])
            yield user, row, t, mine[-5:]
            mine.append(row)
            del mine[:-5]
            t += 1.0


def test_remove_an_item_among_many_users(benchmark):
    items, users, clicks = 20_000, 100_000, 10
    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder=None, max_users=None)
    rr.add_items(np.arange(items), vectors=rng.standard_normal((items, 64)).astype(np.float32))
    for t, row in enumerate(rng.integers(0, items, users * clicks).tolist()):
        rr.observe(t % users, row, "click", timestamp=1_000.0 + t)
    gone = iter(rng.permutation(items).tolist())
    benchmark.group = "remove one item"
    benchmark.pedantic(lambda: rr.remove_items([next(gone)]), rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(users_held=len(rr.users), held_events=len(rr.stats.contributions))
