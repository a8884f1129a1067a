"""Reranker.rerank, Reranker.observe and Reranker.forget latency, single-threaded, on a 100,000-item
catalog (test_rerank_by_catalog_size: 10,000 to 10M items).

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_reranker.py --benchmark-json=benchmarks/reranker.json
Each case records median and p99 (µs) in extra_info; report.py prints them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest
from conftest import CATALOG_ROWS, catalog

import pyrerank as pr

CANDIDATES = 1_000
POOL = 32  # candidate lists cycled through, so no call finds the previous one's rows in cache
ROUNDS = 3_000


def make_reranker(ids: list | np.ndarray, dtype: str) -> pr.Reranker:
    rr = pr.Reranker(encoder="hashing", interest="decay", ranker="fusion", dtype=dtype)
    rr.add_items(ids, vectors=catalog(384, "float32"))
    play_history(rr, ids, np.random.default_rng(1))
    return rr


def play_history(rr: pr.Reranker, ids: Sequence, rng: np.random.Generator) -> None:
    """5,000 clicks of 300 other users (the global statistics), then 30 events of "user"."""
    for t, item in enumerate(rng.choice(len(ids), 5_000)):
        rr.observe(f"other{t % 300}", ids[int(item)], "click", timestamp=float(t))
    for t, item in enumerate(rng.choice(len(ids), 30)):
        rr.observe("user", ids[int(item)], "like" if t % 5 else "skip", timestamp=5_000.0 + t)


def time_cold_reranks(benchmark, rr: pr.Reranker, n_items: int, rng: np.random.Generator, group: str) -> None:
    """Times the reranks of "user" over POOL lists of CANDIDATES int ids in turn (rows cold), k=10."""
    lists = [rng.choice(n_items, CANDIDATES, replace=False).astype(np.int64) for _ in range(POOL)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % POOL
        return rr.rerank("user", lists[state["i"]], k=10, now=6_000.0)

    benchmark.group = group
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=100)
    percentiles(benchmark)


def percentiles(benchmark) -> None:
    data = np.asarray(benchmark.stats.stats.data) * 1e6
    benchmark.extra_info.update(median_us=float(np.median(data)), p99_us=float(np.percentile(data, 99)))


@pytest.mark.parametrize("pool", [POOL, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("ids, dtype", [("int", "int8"), ("str", "int8"), ("int", "float16"), ("int", "float32")])
def test_rerank(benchmark, ids, dtype, pool):
    """cold: 32 candidate lists in turn, so rows come from L3/DRAM as in serving; warm: one list
    repeated, its rows cache-resident (the best case). The user has seen 30 items, which are
    left out (exclude_seen, the default)."""
    item_ids = np.arange(CATALOG_ROWS) if ids == "int" else [f"item-{i}" for i in range(CATALOG_ROWS)]
    rr = make_reranker(list(item_ids) if ids == "int" else item_ids, dtype)
    rng = np.random.default_rng(2)
    picks = [rng.choice(CATALOG_ROWS, CANDIDATES, replace=False) for _ in range(pool)]
    lists = [p.astype(np.int64) if ids == "int" else [item_ids[i] for i in p] for p in picks]
    scores = [rng.random(CANDIDATES).astype(np.float32) for _ in range(pool)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % pool
        return rr.rerank("user", lists[state["i"]], k=10, scores=scores[state["i"]], now=6_000.0)

    benchmark.group = "rerank: 1,000 candidates of 100,000, d=384, k=10"
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=100)
    percentiles(benchmark)


def test_cold_rerank_against_its_reads(benchmark):
    """A cold rerank beside numpy gathering the memory it must read (the candidates' id-table
    entries, their 1,000 catalog rows and statistics rows) from the same 32 lists, alternated
    in 100-call slices so the machine's noise hits both alike: a yardstick that travels between
    machines, not a lower bound (numpy's gather does not prefetch; the kernel's does).
    extra_info: the median µs per call of each over 30 slices, and their ratio."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(2)
    lists = [rng.choice(CATALOG_ROWS, CANDIDATES, replace=False).astype(np.int64) for _ in range(POOL)]
    scores = [rng.random(CANDIDATES).astype(np.float32) for _ in range(POOL)]
    catalog = rr._catalog()
    rows = [catalog.rows_for(keys)[0] for keys in lists]
    id_table, matrix, stats = catalog._int_table, catalog.matrix, rr.stats.table

    def rerank(i: int) -> None:
        rr.rerank("user", lists[i], k=10, scores=scores[i], now=6_000.0)

    def read(i: int) -> None:
        id_table.take(lists[i])
        matrix.take(rows[i], axis=0)
        stats.take(rows[i], axis=0)

    slices: dict[str, list[float]] = {"rerank": [], "reads": []}

    def alternate():
        for name, call in (("rerank", rerank), ("reads", read)):
            started = time.perf_counter()
            for i in range(100):
                call(i % POOL)
            slices[name].append((time.perf_counter() - started) / 100 * 1e6)

    benchmark.group = "cold rerank against numpy gathering the same memory"
    benchmark.pedantic(alternate, rounds=30, iterations=1, warmup_rounds=2)
    medians = {name: float(np.median(v)) for name, v in slices.items()}
    benchmark.extra_info.update(
        rerank_median_us=medians["rerank"], reads_median_us=medians["reads"], ratio=medians["rerank"] / medians["reads"]
    )


def test_rerank_keeping_seen_items(benchmark):
    """int ids, int8, cold, with exclude_seen=False: the work of 0.2's rerank."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(2)
    lists = [rng.choice(CATALOG_ROWS, CANDIDATES, replace=False).astype(np.int64) for _ in range(POOL)]
    scores = [rng.random(CANDIDATES).astype(np.float32) for _ in range(POOL)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % POOL
        return rr.rerank("user", lists[state["i"]], k=10, scores=scores[state["i"]], now=6_000.0, exclude_seen=False)

    benchmark.group = "rerank: 1,000 candidates of 100,000, d=384, k=10"
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=100)
    percentiles(benchmark)


@pytest.mark.parametrize("links", ["sparse", "full"])
@pytest.mark.parametrize("after_observe", [False, True], ids=["steady", "after-observe"])
def test_rerank_after_an_observe(benchmark, after_observe, links):
    """int ids, int8, cold: each rerank right after one of the user's own events (the user's
    query, short-term vector and co-engagement scores are rebuilt), against reranks with no
    event between. The events revisit 50 items, so what the user has seen stays ~80 rows. Only
    the rerank is timed. sparse: the 5,000 events of make_reranker linked items; full: every
    item holds its 256 links (fill_links), as in a service that has run a while, so the user's
    co-engagement scores cover ~12,000 items."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(2)
    if links == "full":
        fill_links(rr, rng)
    lists = [rng.choice(CATALOG_ROWS, CANDIDATES, replace=False).astype(np.int64) for _ in range(POOL)]
    items = rng.choice(rng.integers(0, CATALOG_ROWS, 50), ROUNDS + 200).tolist()  # 50 items: seen stays small
    state = {"i": 0}

    def setup():
        state["i"] += 1
        if after_observe:
            rr.observe("user", items[state["i"]], "like", timestamp=5_100.0 + state["i"])
        return (), {}

    def call():
        return rr.rerank("user", lists[state["i"] % POOL], k=10, now=20_000.0)

    benchmark.group = "rerank after an observe: 1,000 candidates of 100,000, d=384, k=10"
    benchmark.pedantic(call, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    percentiles(benchmark)


def test_observe(benchmark):
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(3)
    events = [
        (f"u{u}", int(i))
        for u, i in zip(rng.integers(0, 1_000, ROUNDS + 200), rng.integers(0, CATALOG_ROWS, ROUNDS + 200))
    ]
    state = {"i": 0, "t": 10_000.0}

    def call():
        user, item = events[state["i"]]
        state["i"] += 1
        state["t"] += 1.0
        rr.observe(user, item, "click", timestamp=state["t"])

    benchmark.group = "observe"
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=100)
    percentiles(benchmark)


@pytest.mark.parametrize("held", ["events", "state", "unpacked"])
def test_observe_from_cold_users(benchmark, monkeypatch, held):
    """Events from 20,000 users in turn (4 to 5 each), so each arrives from a user outside the
    1,000 most recently used: held packed and unpacked on the event, as their events (the
    default: replayed) or as their int8 state, against every user held as a record (HOT_USERS
    raised). The price of 2-4x less memory per cold user."""
    from pyrerank.serving import users as users_module

    monkeypatch.setattr(users_module, "HOT_USERS", 100_000 if held == "unpacked" else 1_000)
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    if held == "state":
        rr.users.replay = None
    rng = np.random.default_rng(4)
    n_users = 20_000
    items = rng.integers(0, CATALOG_ROWS, 4 * n_users + ROUNDS + 200).tolist()
    for i in range(4 * n_users):  # every user has a state and recent items before timing
        rr.observe(i % n_users, items[i], "like", timestamp=float(i))
    state = {"i": 4 * n_users}

    def call():
        i = state["i"]
        state["i"] += 1
        rr.observe(i % n_users, items[i], "like", timestamp=float(i))

    benchmark.group = "observe from cold users"
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=100)
    percentiles(benchmark)


@pytest.mark.parametrize("items", [10_000, 100_000, 1_000_000, 10_000_000])
def test_rerank_by_catalog_size(benchmark, items):
    """int ids, int8, d=448, cold: 1,000 random candidates of catalogs from 10,000 to 10M items.
    The kernel reads 1,000 rows whatever the catalog; what grows is how far apart they lie
    (cache and TLB misses). Built in chunks of 500,000 rows; 10M items take ~5 GB and minutes."""
    rr = pr.Reranker(encoder="hashing", interest="decay", ranker="fusion", dtype="int8")
    rng = np.random.default_rng(5)
    for start in range(0, items, 500_000):
        n = min(500_000, items - start)
        rr.add_items(np.arange(start, start + n), vectors=rng.standard_normal((n, 448), dtype=np.float32))
    play_history(rr, range(items), rng)
    time_cold_reranks(benchmark, rr, items, rng, "rerank by catalog size: 1,000 int-id candidates, d=448 int8, k=10")


@pytest.mark.parametrize("n", [100, 1_000, 10_000, 100_000])
def test_rerank_by_candidate_count(benchmark, n):
    """int ids, int8, d=448, cold: 100 to 100,000 random candidates of a 100,000-item catalog
    (100,000: every item, in random order), k=10. Linear means a flat cost per candidate once
    the per-call cost (~20 µs of Python) is small beside it."""
    rr = pr.Reranker(encoder="hashing", interest="decay", ranker="fusion", dtype="int8")
    rng = np.random.default_rng(7)
    rr.add_items(np.arange(CATALOG_ROWS), vectors=rng.standard_normal((CATALOG_ROWS, 448), dtype=np.float32))
    play_history(rr, range(CATALOG_ROWS), rng)
    lists = [rng.choice(CATALOG_ROWS, n, replace=False).astype(np.int64) for _ in range(POOL)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % POOL
        return rr.rerank("user", lists[state["i"]], k=10, now=6_000.0)

    benchmark.group = "rerank by candidate count: int ids of 100,000, d=448 int8, k=10"
    benchmark.pedantic(call, rounds=min(ROUNDS, 3_000_000 // n), iterations=1, warmup_rounds=5)
    percentiles(benchmark)
    benchmark.extra_info["per_candidate_ns"] = round(benchmark.extra_info["median_us"] * 1e3 / n, 1)


STREAM_EVENTS, STREAM_WINDOW, STREAM_KINDS = 4_000_000, 250_000, ("like", "skip", "click", "view")


def test_observe_over_a_long_stream(benchmark):
    """4,000,000 events (like, skip, click, view in turn) from 200,000 users on a 100,000 × 384
    int8 catalog: observe's median latency in each window of 250,000 events, first to last, as
    the statistics fill (co-engagement is bounded by items × 256 links, not by events). Users
    start with no history here, so early events also cost less (no links, no record to unpack)."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(6)
    time_stream(benchmark, rr, rng.integers(0, 200_000, STREAM_EVENTS), rng)


def test_observe_as_links_fill(benchmark):
    """The same stream from 1,000 users who each played 12 events first (every one held as a
    record, with a history): what grows is the statistics alone, from ~2M co-engagement links
    to the 25.6M that fill every item's 256 slots."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(6)
    for user in range(1_000):
        for j, item in enumerate(rng.integers(0, CATALOG_ROWS, 12).tolist()):
            rr.observe(user, item, STREAM_KINDS[j % 4], timestamp=5_000.0)
    time_stream(benchmark, rr, rng.integers(0, 1_000, STREAM_EVENTS), rng)
    benchmark.extra_info["links"] = int(rr.stats.co.sizes.sum())


def test_observe_on_full_links(benchmark):
    """The stream of test_observe_as_links_fill on statistics that are already full, as in a
    service that has run a while: every item's 256 link slots filled first (fill_links).
    Nothing left to grow but the per-event contributions (and each user's seen items), so the
    windows show whether observe stays flat."""
    rr = make_reranker(list(range(CATALOG_ROWS)), "int8")
    rng = np.random.default_rng(6)
    for user in range(1_000):
        for j, item in enumerate(rng.integers(0, CATALOG_ROWS, 12).tolist()):
            rr.observe(user, item, STREAM_KINDS[j % 4], timestamp=5_000.0)
    fill_links(rr, rng)
    benchmark.extra_info["links_before"] = int(rr.stats.co.sizes.sum())
    time_stream(benchmark, rr, rng.integers(0, 1_000, STREAM_EVENTS), rng)
    benchmark.extra_info["links"] = int(rr.stats.co.sizes.sum())


def fill_links(rr: pr.Reranker, rng: np.random.Generator) -> None:
    """Fills every item's 256 co-engagement slots: 3M events' links (a row and 5 recent rows,
    both ways) added straight to the tables, as a long-running service's would be."""
    co = rr.stats.co
    rows, recent = rng.integers(0, CATALOG_ROWS, 3_000_000).tolist(), rng.integers(0, CATALOG_ROWS, (3_000_000, 5))
    for row, others in zip(rows, recent.tolist()):
        co.add(row, others)


def time_stream(benchmark, rr: pr.Reranker, users: np.ndarray, rng: np.random.Generator) -> None:
    """Observes STREAM_EVENTS events of `users` on random items; extra_info holds the median
    latency (µs) of each window of STREAM_WINDOW events and the last window's over the first's."""
    users, items = users.tolist(), rng.integers(0, CATALOG_ROWS, len(users)).tolist()
    medians = []

    def stream():
        clock = time.perf_counter
        times = np.empty(STREAM_WINDOW)
        for start in range(0, len(users), STREAM_WINDOW):
            for j in range(STREAM_WINDOW):
                i = start + j
                began = clock()
                rr.observe(users[i], items[i], STREAM_KINDS[i % 4], timestamp=10_000.0 + i * 0.01)
                times[j] = clock() - began
            medians.append(round(float(np.median(times)) * 1e6, 1))

    benchmark.pedantic(stream, rounds=1, iterations=1)
    benchmark.extra_info.update(window_medians_us=medians, last_over_first=round(medians[-1] / medians[0], 2))


def test_forget(benchmark):
    """Erasing one user of a 50,000-event log (5,000 users, Zipf-popular items): the user's
    counts leave the statistics exactly, so the items they touched are recounted."""
    rr = pr.Reranker(encoder="hashing", interest="decay", ranker="fusion")
    rr.add_items(np.arange(10_000), vectors=catalog(64, "float32")[:10_000])
    rng = np.random.default_rng(4)
    for t, (user, item) in enumerate(zip(rng.integers(0, 5_000, 50_000), rng.zipf(1.3, 50_000) % 10_000)):
        rr.observe(int(user), int(item), "click", timestamp=float(t))
    users = iter(range(5_000))

    def call():
        rr.forget(next(users))

    benchmark.group = "forget: one user of a 50,000-event log"
    benchmark.pedantic(call, rounds=30, iterations=1)
    percentiles(benchmark)
