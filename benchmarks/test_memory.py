"""Resident memory per held user: USERS users × 20 events each (like, skip, click, view in turn;
every event counted in the shared statistics) on a 100,000 × 448 int8 catalog, default decay
interest, each user re-ranked once after their events (their own items as candidates). Reports
the resident growth per user and its parts: a cold user record (outside the 1,000 most recent
users: held packed, as its 20 events), the co-engagement tables (bounded by items × 256 links,
not by users) and the per-event contributions that make forget() exact, with their undo log
(at most the default forget_horizon of 1M events + 65,536; none with exact_forget=False, the
"counts-kept" cases).

    pytest benchmarks/test_memory.py --benchmark-json=memory.json      # ~3 min a case at 200,000 users, ~11 at 1M
"""

from __future__ import annotations

import concurrent.futures
import gc
import multiprocessing
import os
import sys
import time

import numpy as np
import pytest

import pyrerank as pr
from pyrerank import _core

ITEMS, DIM, EVENTS = 100_000, 448, 20
KINDS = ["like", "skip", "click", "view"]


def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """Bytes of `obj` and everything it holds (numpy arrays by their buffers)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes + 112 if obj.base is None else 112
    if isinstance(obj, _core.CoScores):
        return obj.nbytes + sys.getsizeof(obj)
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set)):
        size += sum(deep_size(x, seen) for x in obj)
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            size += deep_size(getattr(obj, name), seen)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        size += deep_size(vars(obj), seen)
    return size


def measure_held_users(users: int, exact_forget: bool) -> dict:
    """The stream and its measures, in the calling process (see the test)."""
    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder=None, max_users=users, exact_forget=exact_forget)
    rr.add_items(np.arange(ITEMS), vectors=rng.standard_normal((ITEMS, DIM)).astype(np.float32))
    rr.observe(-1, 0, "like")
    rr.rerank(-1, np.arange(10))
    items = rng.integers(0, ITEMS, (users, EVENTS))
    gc.collect()
    before, start = resident(), time.perf_counter()
    for u in range(users):
        for j in range(EVENTS):
            rr.observe(u, int(items[u, j]), KINDS[j % len(KINDS)], timestamp=1_000.0 + j)
        rr.rerank(u, np.unique(items[u]), exclude_seen=False)
    seconds = time.perf_counter() - start
    gc.collect()
    held = rr.users._records  # a cold user is held as UserRecord.pack() bytes: its events
    co = rr.stats.co
    return dict(
        users=users,
        resident_bytes_per_user=round((resident() - before) / users),
        cold_record_bytes=deep_size(held[0]),
        hot_record_bytes=deep_size(held[users - 1]),
        co_tables_mb=round((co.neighbors.nbytes + co.counts.nbytes) / 1e6),
        co_links=int(co.sizes.sum()),
        unsettled_events=len(rr.stats.contributions),
        contribution_bytes_per_user=round(deep_size(rr.stats.contributions) / users),
        undo_log_bytes_per_user=round(deep_size(rr.stats.undo) / users),
        us_per_event_with_reranks=round(seconds / (users * EVENTS) * 1e6, 1),
    )


@pytest.mark.parametrize("exact_forget", [True, False], ids=["exact-forget", "counts-kept"])
@pytest.mark.parametrize("users", [200_000, 1_000_000])
def test_resident_bytes_per_held_user(benchmark, users, exact_forget):
    """Each case in a fresh process: one run after another would reuse the memory the earlier
    freed, and its resident growth would hide most of what it holds."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        info = benchmark.pedantic(
            lambda: pool.submit(measure_held_users, users, exact_forget).result(), rounds=1, iterations=1
        )
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("exact_forget", [True, False], ids=["exact-forget", "counts-kept"])
@pytest.mark.parametrize("users", [5_000, 50_000])  # ~45 s a case at 5,000 users, ~8 min at 50,000
def test_redis_bytes_per_user(benchmark, users, tmp_path, exact_forget):
    """The Redis store's memory per user (INFO memory used_memory, before and after), with the
    store's own compaction: statistics snapshots trim the log, kept records trim each user's list.
    extra_info also gives Redis's own split (`used_memory_dataset`, and the clients' buffers) and
    one by key (MEMORY USAGE): the users' lists per user, the statistics snapshot (its parts
    included) and the log, whole."""
    redis = pytest.importorskip("redis")
    from pyrerank.testing import redis_server

    rng = np.random.default_rng(0)
    with redis_server(tmp_path) as url:
        server = redis.Redis.from_url(url)
        rr = pr.Reranker(encoder=None, store=f"{url}?durability=relaxed", exact_forget=exact_forget)
        rr.add_items(np.arange(ITEMS), vectors=rng.standard_normal((ITEMS, DIM)).astype(np.float32))
        items = rng.integers(0, ITEMS, (users, EVENTS))
        before = server.info("memory")

        def stream():
            for u in range(users):
                for j in range(EVENTS):
                    rr.observe(u, int(items[u, j]), KINDS[j % len(KINDS)], timestamp=1_000.0 + j)
            rr.view.snapshot(rr.catalog)

        benchmark.pedantic(stream, rounds=1, iterations=1)
        after = settled_memory(server)
        grown = {
            name: after[name] - before[name] for name in ("used_memory", "used_memory_dataset", "mem_clients_normal")
        }
        benchmark.extra_info.update(
            users=users,
            redis_bytes_per_user=round(grown["used_memory"] / users),
            dataset_bytes_per_user=round(grown["used_memory_dataset"] / users),  # Redis's own: without its overheads
            client_buffer_bytes=grown["mem_clients_normal"],
            **key_bytes(server),
        )
        benchmark.extra_info["list_bytes_per_user"] = round(benchmark.extra_info.pop("user_lists") / users)
        rr.close()


def settled_memory(server) -> dict:
    """INFO memory once used_memory stops falling: right after a snapshot it still counts about
    one snapshot's size more for a second or two (freed afterwards, not held by any key)."""
    info = server.info("memory")
    for _ in range(40):
        time.sleep(0.5)
        later = server.info("memory")
        if later["used_memory"] >= info["used_memory"]:
            return later
        info = later
    return info


def key_bytes(server) -> dict[str, int]:
    """MEMORY USAGE summed over the default prefix's keys: the users' lists, the snapshot (with
    its parts) and the log."""
    parts = {"user_lists": "pyrerank:user:*", "snapshot_bytes": "pyrerank:snapshot*", "log_bytes": "pyrerank:log"}
    out = {}
    for name, pattern in parts.items():
        keys = list(server.scan_iter(match=pattern, count=10_000))
        pipe = server.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        out[name] = sum(size or 0 for size in pipe.execute())
    return out
