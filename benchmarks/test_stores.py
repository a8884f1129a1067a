"""Profile stores under load: a soak with a million users against a capped memory store, and
how many events per second each durable store acknowledges.

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_stores.py --benchmark-json=stores.json
(PYRERANK_SOAK_SECONDS shortens the 60 s soak; the Redis case needs redis-server on PATH.)
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid

import numpy as np
import pytest

import pyrerank as pr
from pyrerank.testing import redis_server

ITEMS = 10_000  # MovieLens scale: co-engagement saturates at ITEMS x 256 links
USERS = 1_000_000
MAX_USERS = 100_000
DIM = 384


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def catalog_reranker(**options) -> pr.Reranker:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((ITEMS, DIM), dtype=np.float32)
    rr = pr.Reranker(encoder="hashing", **options)
    rr.add_items(np.arange(ITEMS), vectors=vectors)
    return rr


def test_soak_memory_store(benchmark):
    """Mixed observe (4 in 5) and rerank (200 candidates) at full speed from 1,000,000 distinct
    users, 100,000 held: resident memory sampled every 5 s."""
    seconds = float(os.environ.get("PYRERANK_SOAK_SECONDS", 60))
    rr = catalog_reranker(max_users=MAX_USERS)
    rng = np.random.default_rng(1)
    kinds = np.array(["view", "click", "like", "purchase", "skip", "dislike"])
    lists = [rng.choice(ITEMS, 200, replace=False) for _ in range(256)]
    samples: list[tuple[float, float]] = []
    counts = {"observe": 0, "rerank": 0}

    def soak():
        start = last = time.perf_counter()
        samples.append((0.0, rss_mb()))
        clock = 1e9
        while (now := time.perf_counter()) - start < seconds:
            users = rng.integers(0, USERS, 1_000)
            items = rng.integers(0, ITEMS, 1_000)
            picked = kinds[rng.integers(0, len(kinds), 1_000)]
            for j in range(1_000):
                clock += 0.01
                if j % 5 == 4:
                    rr.rerank(int(users[j]), lists[j % 256], k=10, now=clock)
                    counts["rerank"] += 1
                else:
                    rr.observe(int(users[j]), int(items[j]), str(picked[j]), timestamp=clock)
                    counts["observe"] += 1
            if now - last >= 5.0:
                samples.append((now - start, rss_mb()))
                last = now
        samples.append((time.perf_counter() - start, rss_mb()))

    benchmark.group = "soak"
    benchmark.pedantic(soak, rounds=1, iterations=1)
    elapsed = samples[-1][0]
    benchmark.extra_info.update(
        seconds=elapsed,
        ops_per_s=(counts["observe"] + counts["rerank"]) / elapsed,
        **counts,
        users_held=len(rr.users),
        rss_mb=[[round(t, 1), round(m, 1)] for t, m in samples],
    )


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.mark.parametrize("store", ["memory", "sqlite-full", "sqlite-normal", "redis"])
def test_observe_throughput(benchmark, store, tmp_path, request):
    """Acknowledged events per second, one thread, 10,000 users."""
    if store == "redis":
        url = f"{request.getfixturevalue('redis_url')}?prefix={uuid.uuid4().hex}"
    elif store.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'p.db'}?synchronous={store.split('-')[1]}"
    else:
        url = "memory"
    rr = catalog_reranker(store=url)
    rng = np.random.default_rng(2)
    n = 3_000
    users, items = rng.integers(0, 10_000, n), rng.integers(0, ITEMS, n)

    def run():
        for j in range(n):
            rr.observe(int(users[j]), int(items[j]), "click", timestamp=1e9 + j)

    benchmark.group = "observe throughput"
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["events_per_s"] = n / benchmark.stats.stats.median
    rr.close()


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_rerank_of_a_user_only_the_store_holds(benchmark, store, tmp_path, request):
    """A process that holds none of its users (max_users=1, as for a user outside a large
    service's LRU) re-ranks 1,000 candidates for 1,500 users in turn, each rebuilt from the store:
    their record kept after 64 events (USER_SAVE_EVERY) and the 6 events logged after it.
    extra_info: the median against re-ranking one held user."""
    if store == "redis":
        url = f"{request.getfixturevalue('redis_url')}?prefix={uuid.uuid4().hex}&durability=relaxed"
    else:
        url = f"sqlite:///{tmp_path / 'p.db'}?synchronous=normal"
    writer = catalog_reranker(store=url)
    rng = np.random.default_rng(3)
    users = 1_500
    for step in range(70):
        for user, item in enumerate(rng.integers(0, ITEMS, users).tolist()):
            writer.observe(user, item, ("like", "click", "skip")[step % 3], timestamp=1e9 + step)
    reader = catalog_reranker(store=url, max_users=1)
    candidates = [rng.choice(ITEMS, 1_000, replace=False) for _ in range(32)]
    turn = iter(range(10**9))

    def rerank():
        i = next(turn)
        reader.rerank(i % users, candidates[i % 32], k=10, now=1e9 + 100)

    benchmark.group = "rerank of a user rebuilt from the store"
    benchmark.pedantic(rerank, rounds=users, iterations=1, warmup_rounds=0)
    held = []
    for i in range(300):
        started = time.perf_counter()
        reader.rerank(0, candidates[i % 32], k=10, now=1e9 + 100)
        held.append(time.perf_counter() - started)
    benchmark.extra_info.update(median_us=benchmark.stats.stats.median * 1e6, held_user_median_us=np.median(held) * 1e6)
    writer.close()
    reader.close()


def test_threads_reranking_on_a_redis_store(benchmark, redis_url):
    """Reranks/s of held users from 1, 2, 4 and 8 threads sharing one Reranker on a Redis store
    (loopback, 1,000 candidates of 10,000 items): each rerank needs the log's new events, and
    reranks that wait on one another's read share the next one (StoreView.read_mark).
    extra_info: reranks/s by threads."""
    rr = catalog_reranker(store=f"{redis_url}?prefix={uuid.uuid4().hex}&durability=relaxed")
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(8)]
    for user in users:
        for t, item in enumerate(rng.integers(0, ITEMS, 20).tolist()):
            rr.observe(user, item, "like", timestamp=1e9 + t)
    lists = [rng.choice(ITEMS, 1_000, replace=False) for _ in range(32)]
    calls = 1_500

    def work(user: str) -> None:
        for i in range(calls):
            rr.rerank(user, lists[i % 32], k=10, now=1e9 + 100)

    def rate(threads: int) -> float:
        workers = [threading.Thread(target=work, args=(user,)) for user in users[:threads]]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return threads * calls / (time.perf_counter() - started)

    rates: dict[str, list[int]] = {str(n): [] for n in (1, 2, 4, 8)}

    def each() -> None:
        for n in rates:
            rates[n].append(round(rate(int(n))))

    benchmark.pedantic(each, rounds=2, iterations=1, warmup_rounds=0)
    benchmark.extra_info["reranks_per_s"] = rates
    rr.close()


@pytest.mark.parametrize(
    "options",
    [{}, {"forget_horizon": 100_000}, {"exact_forget": False}],
    ids=["exact-forget", "horizon-100k", "counts-kept"],
)
def test_sqlite_file_under_a_steady_stream(benchmark, tmp_path, options):
    """60 s (PYRERANK_SOAK_SECONDS) of observe from 2,000 users into an SQLite store
    (synchronous=normal) with compaction: every 5 s, the file's size (with its write-ahead log)
    and the events still logged. The log stops growing once users have kept records; with exact
    forget the snapshot grows with the counted events' contributions and undo log until the
    forget horizon fills (1M events by default, 100,000 in "horizon-100k"), without it the file
    is bounded by items and users."""
    seconds = float(os.environ.get("PYRERANK_SOAK_SECONDS", 60))
    path = tmp_path / "profiles.db"
    rr = catalog_reranker(store=f"sqlite:///{path}?synchronous=normal", **options)
    rng = np.random.default_rng(5)
    samples: list[dict] = []

    def stream():
        start = last = time.perf_counter()
        t = 0
        while time.perf_counter() - start < seconds:
            for _ in range(500):
                t += 1
                rr.observe(f"u{rng.integers(2_000)}", int(rng.integers(ITEMS)), "click", timestamp=float(t))
            if time.perf_counter() - last >= 5:
                last = time.perf_counter()
                size = path.stat().st_size + os.path.getsize(f"{path}-wal")
                logged = rr.store._run("SELECT COUNT(*) FROM events")[0][0]
                held = (len(rr.stats.contributions), len(rr.stats.undo))  # unsettled events, undo records
                samples.append({"events": t, "file_mb": round(size / 1e6, 2), "logged": logged, "held": held})

    benchmark.pedantic(stream, rounds=1, iterations=1)
    rr.close()
    benchmark.extra_info.update(samples=samples)
