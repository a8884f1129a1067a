"""Profile stores: durable and shared state, crash recovery, concurrency, and their bad input."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest
from concurrency import together_and_alone

import pyrerank as pr
from pyrerank.cli import main as pyrerank_cli
from pyrerank.interfaces import STORE_FORMAT
from pyrerank.serving.item_stats import ItemStats
from pyrerank.stores.listed import MAGIC, from_listed
from pyrerank.stores.memory import MemoryStore
from pyrerank.stores.sqlite import WAL_LIMIT
from pyrerank.testing import StoreConformance, redis_server
from pyrerank.testing.stores import ITEMS, USERS, assert_same_statistics, events, feed, make_reranker, rankings


class TestSQLiteConformance(StoreConformance):
    def new_store(self, tmp_path):
        return f"sqlite:///{tmp_path / 'profiles.db'}"


class TestRedisConformance(StoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, redis_url):
        self.redis_url = redis_url

    def new_store(self, tmp_path):
        return f"{self.redis_url}?prefix=t{uuid.uuid4().hex}"


class TestMemoryConformance(StoreConformance):
    def new_store(self, tmp_path):
        return "memory"


@pytest.fixture(params=["sqlite", "redis"])
def durable_url(request, tmp_path):
    """A fresh, empty durable store's URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'profiles.db'}"
    return f"{request.getfixturevalue('redis_url')}?prefix=t{uuid.uuid4().hex}"


def run_child(code: str, *args: str) -> subprocess.Popen:
    script = textwrap.dedent(code)
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


OBSERVER = """
    import sys
    from pyrerank.testing.stores import events, make_reranker
    rr = make_reranker(sys.argv[1])
    print("ready", flush=True)
    for i, (user, item, kind, t) in enumerate(events(100_000, seed=7)):
        rr.observe(user, item, kind, timestamp=t)
        print(i + 1, flush=True)  # the acknowledgement: observe() has returned
"""


def acknowledged_then_killed(code: str, url: str, kill_after: int) -> int:
    """Run `code` (observing events(..., seed=7) into `url`, printing each acknowledgement),
    kill -9 it once `kill_after` are acknowledged; how many were."""
    child = run_child(code, url)
    assert child.stdout.readline().strip() == "ready", child.communicate()[1]
    acked = 0
    while acked < kill_after:
        acked = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    rest = child.stdout.read().split()  # acknowledgements already read ahead or in the pipe when it died
    for pipe in (child.stdin, child.stdout, child.stderr):
        pipe.close()
    child.wait()
    return int(rest[-1]) if rest else acked


def assert_every_acknowledged_event_kept(reopened: pr.Reranker, acked: int) -> None:
    """`reopened` ranks as a memory store fed the first `acked` events, or one more: the event in
    flight at the kill may have been kept without being acknowledged."""
    stream = events(acked + 1, seed=7)
    candidates = []
    for n in (acked, acked + 1):
        fresh = make_reranker()
        feed(fresh, stream[:n])
        candidates.append(rankings(fresh))
    assert rankings(reopened) in candidates


@pytest.mark.parametrize("kill_after", [1, 37, 260])
def test_kill_9_loses_no_acknowledged_event(durable_url, kill_after):
    acked = acknowledged_then_killed(OBSERVER, durable_url, kill_after)
    assert_every_acknowledged_event_kept(make_reranker(durable_url), acked)


COMPACTING_OBSERVER = """
    import sys
    import pyrerank.serving.view as view
    from pyrerank.testing.stores import events, make_reranker
    view.SNAPSHOT_EVERY, view.USER_SAVE_EVERY = 10, 3  # a compaction every 10 events,
    view.SNAPSHOT_BYTES_PER_EVENT = 10**12  # however large the snapshot
    rr = make_reranker(sys.argv[1])
    print("ready", flush=True)
    for i, (user, item, kind, t) in enumerate(events(100_000, seed=7)):
        rr.observe(user, item, kind, timestamp=t)
        print(i + 1, flush=True)
"""


@pytest.mark.parametrize("kill_after", [45, 263])
def test_kill_9_while_the_sqlite_log_is_compacted_loses_no_acknowledged_event(tmp_path, kill_after):
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    acked = acknowledged_then_killed(COMPACTING_OBSERVER, url, kill_after)
    reopened = make_reranker(url)
    kept = reopened.store._run("SELECT COUNT(*) FROM events")[0][0]
    assert kept < acked - 20, f"nothing was compacted: {kept} of {acked} events are still logged"
    assert_every_acknowledged_event_kept(reopened, acked)


@pytest.mark.parametrize("exact_forget", [True, False])
def test_the_sqlite_log_stops_growing_under_a_steady_stream(tmp_path, monkeypatch, exact_forget):
    """Compaction behind snapshots and kept user records: the logged events stay bounded (per
    user, those since their last kept record), and a process opening the file afterwards ranks
    as if it had every event. Without exact_forget the database file stops growing (and its
    write-ahead log stays under the store's limit); with it the statistics snapshot keeps each
    counted event's contribution, so that forget() is exact."""
    import pyrerank.serving.view as view

    monkeypatch.setattr(view, "SNAPSHOT_EVERY", 200)
    monkeypatch.setattr(view, "SNAPSHOT_BYTES_PER_EVENT", 10**12)  # every 200 events, however large
    monkeypatch.setattr(view, "USER_SAVE_EVERY", 8)
    path = tmp_path / "profiles.db"
    rr = make_reranker(f"sqlite:///{path}?synchronous=normal", exact_forget=exact_forget)
    stream = events(6_000, seed=3)
    logged, sizes = [], []
    for start in range(0, len(stream), 1_000):
        feed(rr, stream[start : start + 1_000])
        logged.append(rr.store._run("SELECT COUNT(*) FROM events")[0][0])
        sizes.append(path.stat().st_size)
        assert os.path.getsize(f"{path}-wal") <= WAL_LIMIT
    assert max(logged) <= len(USERS) * 8 + 200, logged  # a record every 8 events; a snapshot every 200
    if not exact_forget:
        assert max(sizes[2:]) <= max(sizes[:2]), f"the file kept growing after warm-up: {sizes}"
    rr.close()
    fresh = make_reranker()
    feed(fresh, stream)
    assert rankings(make_reranker(f"sqlite:///{path}", exact_forget=exact_forget)) == rankings(fresh)


def test_a_large_snapshot_is_followed_by_a_longer_wait(tmp_path, monkeypatch):
    """Snapshots write at most SNAPSHOT_BYTES_PER_EVENT bytes per appended event on average:
    after one of S bytes the next comes max(SNAPSHOT_EVERY, S // SNAPSHOT_BYTES_PER_EVENT)
    events later (a 20 GB snapshot of 10M items is not rewritten every 10,000 events)."""
    import pyrerank.serving.view as view

    monkeypatch.setattr(view, "SNAPSHOT_EVERY", 20)
    monkeypatch.setattr(view, "SNAPSHOT_BYTES_PER_EVENT", 64)
    rr = make_reranker(f"sqlite:///{tmp_path / 'profiles.db'}")
    written = []  # (events this view had appended, snapshot bytes)
    save = rr.store.save_snapshot

    def counting(data: bytes) -> None:
        written.append((rr.view._appended, len(data)))
        save(data)

    monkeypatch.setattr(rr.store, "save_snapshot", counting)
    feed(rr, events(3_000, seed=3))
    gaps = [(after - before, max(20, size // 64)) for (before, size), (after, _) in zip(written, written[1:])]
    assert all(gap == due for gap, due in gaps), gaps
    assert any(due > 20 for _, due in gaps), f"no snapshot was large enough to wait longer: {written}"
    rr.close()
    fresh = make_reranker()
    feed(fresh, events(3_000, seed=3))
    assert rankings(make_reranker(f"sqlite:///{tmp_path / 'profiles.db'}")) == rankings(fresh)


SERVER = """
    import json, sys
    from pyrerank.testing.stores import make_reranker, rankings
    rr = make_reranker(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        verb, user, *rest = line.split()
        if verb == "observe":
            rr.observe(user, int(rest[0]), rest[1], timestamp=float(rest[2]))
            print("ack", flush=True)
        else:
            print(json.dumps(rankings(rr, [user])[user]), flush=True)
"""


def test_an_event_in_one_process_shows_in_the_next_rerank_of_another(durable_url):
    import json

    other = run_child(SERVER, durable_url)
    assert other.stdout.readline().strip() == "ready", other.communicate()[1]
    here = make_reranker(durable_url)
    expected = make_reranker()
    try:
        for step, (user, item, kind) in enumerate([("v", 0, "like"), ("v", 7, "like"), ("w", 3, "dislike")]):
            t = 100.0 + step
            before = rankings(here, [user])[user]
            if step % 2 == 0:  # observed there, ranked here
                other.stdin.write(f"observe {user} {item} {kind} {t}\n")
                other.stdin.flush()
                assert other.stdout.readline().strip() == "ack"
                seen = rankings(here, [user])[user]
            else:  # observed here, ranked there
                here.observe(user, item, kind, timestamp=t)
                other.stdin.write(f"rank {user}\n")
                other.stdin.flush()
                seen = [tuple(pair) for pair in json.loads(other.stdout.readline())]
            expected.observe(user, item, kind, timestamp=t)
            assert seen == rankings(expected, [user])[user] != before
    finally:
        other.communicate(timeout=30)


WRITER = """
    import sys
    from pyrerank.testing.stores import events, make_reranker
    rr = make_reranker(sys.argv[1])
    for user, item, kind, t in events(150, seed=int(sys.argv[2]), users=[f"p{sys.argv[2]}-{i}" for i in range(3)]):
        rr.observe(user, item, kind, timestamp=t)
"""


def _clear_places(ranked: list) -> dict[int, object]:
    """place -> item for the places no near-tie makes ambiguous (scores 1e-4 from both neighbours;
    the last place is never clear: the next item is not shown)."""
    scores = [s for _, s in ranked]
    return {
        p: item
        for p, (item, score) in enumerate(ranked[:-1])
        if abs(scores[p + 1] - score) > 1e-4 and (p == 0 or abs(scores[p - 1] - score) > 1e-4)
    }


def test_processes_writing_at_once_lose_no_update(durable_url):
    children = [run_child(WRITER, durable_url, str(seed)) for seed in range(4)]
    for child in children:
        _, errors = child.communicate(timeout=120)
        assert child.returncode == 0, errors
    expected = make_reranker()
    users = []
    for seed in range(4):
        users += [f"p{seed}-{i}" for i in range(3)]
        feed(expected, events(150, seed=seed, users=users[-3:]))
    merged = make_reranker(durable_url)
    got, want = rankings(merged, users), rankings(expected, users)
    assert merged.stats.popularity == pytest.approx(expected.stats.popularity)
    for user in users:  # each user's events kept in order; float sums may differ in the last bits,
        # which can swap two items of (nearly) equal score: compare scores by place, items as sets
        assert [s for _, s in got[user]] == pytest.approx([s for _, s in want[user]], abs=1e-4)
        assert _clear_places(got[user]) == _clear_places(want[user])


def test_threads_on_distinct_users_end_as_if_run_one_at_a_time():
    rng = np.random.default_rng(5)
    plans = {
        f"t{n}": [
            (int(rng.integers(len(ITEMS))), str(rng.choice(["click", "like", "skip", "dislike", "rerank"])))
            for _ in range(10_000)
        ]
        for n in range(8)
    }

    def run(rr, user):
        for i, (item, op) in enumerate(plans[user]):
            if op == "rerank":
                rr.rerank(user, np.arange(len(ITEMS)), k=5)
            else:
                rr.observe(user, item, op, timestamp=float(i))

    together, alone = together_and_alone(make_reranker, run, plans)
    for user in plans:
        a, b = together.users.get(user), alone.users.get(user)
        assert a.recent == b.recent
        for key in b.state:
            np.testing.assert_array_equal(a.state[key], b.state[key])
    assert together.stats.popularity == pytest.approx(alone.stats.popularity)
    n = len(alone.catalog)
    assert [together.stats.co.links(r) for r in range(n)] == [alone.stats.co.links(r) for r in range(n)]


def test_unreachable_redis_is_a_clear_error_without_the_password():
    with pytest.raises(pr.StoreError, match=r"Redis store at 127\.0\.0\.1:1/0") as caught:
        pr.Reranker(encoder="hashing", store="redis://:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in str(caught.value)


def test_a_redis_server_that_goes_away_fails_observe_without_acknowledging(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    with redis_server(tmp_path) as url:
        rr = make_reranker(url)
        rr.observe("u", 0, "like")
    with pytest.raises(pr.StoreError, match="Redis store at"):
        rr.observe("u", 1, "like")


class _CountedStore(MemoryStore):
    """A memory store whose reads are counted and can be held at their start until `release`
    is set (`reading` says one began)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.reading, self.release = threading.Event(), threading.Event()
        self.release.set()

    def read(self):
        self.reads += 1
        self.reading.set()
        self.release.wait()
        return super().read()


def test_a_read_begun_after_a_request_serves_it_and_no_earlier_one_does():
    rr = make_reranker(_CountedStore())
    rr.rerank("u", [1, 2])
    store, view = rr.store, rr.view
    before = store.reads
    mark = view.read_mark()
    view.sync(rr.catalog)  # begun after the mark: it serves
    assert view.sync(rr.catalog, since=mark) is None and store.reads == before + 1
    store.release.clear()
    store.reading.clear()
    earlier = threading.Thread(target=view.sync, args=(rr.catalog,))
    earlier.start()
    store.reading.wait(10)
    mark = view.read_mark()  # taken while a read begun before it is in flight
    store.release.set()
    earlier.join()
    view.sync(rr.catalog, since=mark)
    assert store.reads == before + 3, "a read begun before the request must not serve it"


def test_reranks_waiting_on_one_read_share_the_next():
    """Seven reranks that begin while an eighth's read of the log is in flight are served by
    one more read (the first of them to get the lock makes it), not by seven."""
    rr = make_reranker(_CountedStore())
    for user, item, kind, t in events(200, seed=3):
        rr.observe(user, item, kind, timestamp=t)
    one = USERS[:1]  # one rerank a call
    alone = rankings(rr, one)
    store = rr.store
    before = store.reads
    store.release.clear()
    store.reading.clear()
    found: list[dict] = []
    marks: list[int] = []
    take_mark = rr.view.read_mark
    rr.view.read_mark = lambda: marks.append(take_mark()) or marks[-1]
    first = threading.Thread(target=lambda: found.append(rankings(rr, one)))
    first.start()
    assert store.reading.wait(10)
    waiting = [threading.Thread(target=lambda: found.append(rankings(rr, one))) for _ in range(7)]
    for w in waiting:
        w.start()
    deadline = time.monotonic() + 10
    while len(marks) < 8 and time.monotonic() < deadline:  # each has taken its mark during the read
        time.sleep(0.01)
    store.release.set()
    for w in [first, *waiting]:
        w.join()
    assert store.reads - before == 2 and found == [alone] * 8


def _store_format(url: str, version: int | None = None) -> int:
    """A durable store's format marker, set first to `version` where given (as a process of that
    format would leave it)."""
    if url.startswith("sqlite:///"):
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        if version is not None:
            db.execute("UPDATE format SET version = ?", (version,))
        return db.execute("SELECT version FROM format").fetchone()[0]
    import redis

    server = redis.Redis.from_url(url.partition("?")[0])
    key = url.partition("prefix=")[2] + ":format"
    if version is not None:
        server.set(key, version)
    return int(server.get(key))


def test_a_store_a_newer_pyrerank_opened_is_refused_rather_than_misread(durable_url):
    """A store remembers the newest format of the processes that opened it: an older process
    refuses it (at open, or at its next call if the newer one came later) and writes nothing."""
    older = make_reranker(durable_url)
    older.observe("u", 0, "like", timestamp=100.0)
    assert _store_format(durable_url) == STORE_FORMAT
    _store_format(durable_url, 1)  # a process of an older format left it so: raised again on open
    make_reranker(durable_url).close()
    assert _store_format(durable_url) == STORE_FORMAT
    _store_format(durable_url, STORE_FORMAT + 1)  # a newer process opened it meanwhile
    calls = (lambda: older.observe("u", 1, "like", timestamp=101.0), lambda: older.rerank("u", [1, 2, 3]))
    for call in (*calls, lambda: older.forget("u")):
        with pytest.raises(pr.StoreError, match=f"newer pyrerank \\(store format {STORE_FORMAT + 1};.*upgrade"):
            call()
    with pytest.raises(pr.StoreError, match="newer pyrerank"):
        make_reranker(durable_url)
    _store_format(durable_url, STORE_FORMAT)
    expected = make_reranker()
    expected.observe("u", 0, "like", timestamp=100.0)
    assert rankings(make_reranker(durable_url), ["u"]) == rankings(expected, ["u"])  # item 1 never entered


def test_store_settings_are_shown_cleared_and_checked(durable_url, capsys):
    """`pyrerank store-settings STORE` prints what the store keeps, `--clear` drops it so that
    the next process keeps its own; a damaged record is refused (the conformance checks
    refuse other settings)."""
    make_reranker(durable_url, forget_horizon=100).close()
    assert pyrerank_cli(["store-settings", durable_url]) == 0
    assert json.loads(capsys.readouterr().out)["forget_horizon"] == 100
    assert pyrerank_cli(["store-settings", durable_url, "--clear"]) == 0
    assert "cleared" in capsys.readouterr().out
    pyrerank_cli(["store-settings", durable_url])
    assert "keeps no settings yet" in capsys.readouterr().out
    make_reranker(durable_url, forget_horizon=None).close()  # the next one keeps its own
    with pytest.raises(pr.StoreError, match="forget_horizon=None \\(here 100\\)"):
        make_reranker(durable_url, forget_horizon=100)
    store = pr.get_store(durable_url)
    store.clear_settings()
    store.claim_settings("[1, 2]")
    with pytest.raises(pr.StoreError, match="settings are damaged"):
        make_reranker(durable_url)
    store.close()
    assert pyrerank_cli(["store-settings", "sqlite://"]) == 2
    assert "sqlite:///path.db" in capsys.readouterr().err


@pytest.mark.parametrize(
    "store, error, message",
    [
        ("sqlite://", ValueError, "sqlite:///path.db"),
        ("sqlite:///x.db?fsync=1", ValueError, "synchronous"),
        ("sqlite:////nonexistent-dir/profiles.db", pr.StoreError, "cannot open SQLite store"),
        ("mongo://localhost", pr.UnknownPluginError, "registered: memory, redis, sqlite"),
        (42, TypeError, "store must be"),
    ],
)
def test_bad_store_specs(store, error, message):
    with pytest.raises(error, match=message):
        pr.Reranker(encoder="hashing", store=store)


def test_a_corrupt_sqlite_file_is_a_clear_error(tmp_path):
    path = tmp_path / "profiles.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(pr.StoreError, match="cannot open SQLite store"):
        pr.Reranker(encoder="hashing", store=f"sqlite:///{path}")


def test_user_ids_a_durable_store_cannot_keep_are_refused(tmp_path):
    rr = make_reranker(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(TypeError, match="user must be a str, an int or a non-empty tuple of them"):
        rr.observe(object(), 0, "like")
    assert rankings(rr, ["u"]) == rankings(make_reranker(), ["u"])  # nothing half-written


def test_max_users_must_be_a_positive_int():
    with pytest.raises(ValueError, match="max_users"):
        pr.Reranker(encoder="hashing", max_users=0)


def test_redis_memory_stays_bounded_and_lagging_readers_recover(redis_url, monkeypatch):
    redis = pytest.importorskip("redis", reason="needs the redis extra")

    from pyrerank.serving import view

    monkeypatch.setattr(view, "SNAPSHOT_EVERY", 100)
    prefix = f"t{uuid.uuid4().hex}"
    url = f"{redis_url}?prefix={prefix}"
    server = redis.Redis.from_url(redis_url)
    stream = events(1_200, seed=9, users=USERS[:3])
    lagging = make_reranker(url)
    rankings(lagging)  # reads the (empty) log, then falls far behind
    writer = make_reranker(url)
    feed(writer, stream)
    expected = make_reranker()
    feed(expected, stream)
    # Trimmed behind the snapshots: at most two snapshot intervals (plus the entry at the cursor).
    interval = max(view.SNAPSHOT_EVERY, len(writer.stats.snapshot(writer.catalog.ids)) // view.SNAPSHOT_BYTES_PER_EVENT)
    assert server.xlen(f"{prefix}:log") <= 2 * interval + 1
    for user in USERS[:3]:  # each user's list holds only what their kept record does not cover
        assert server.llen(f'{prefix}:user:"{user}"') <= view.USER_SAVE_EVERY + 1
    assert rankings(lagging) == rankings(expected)  # trimmed past it: restarts from the snapshot
    assert rankings(make_reranker(url)) == rankings(expected)  # kept records + tails


def test_redis_user_lists_keep_events_without_their_links(redis_url):
    """A user's list only serves to rebuild the user, who needs no links (the statistics read
    them from the log): it keeps the events without them, and users rebuilt from it rank as
    users who never left memory."""
    redis = pytest.importorskip("redis", reason="needs the redis extra")
    prefix = f"t{uuid.uuid4().hex}"
    server = redis.Redis.from_url(redis_url)
    stream = events(60, seed=3, users=USERS[:2])
    feed(make_reranker(f"{redis_url}?prefix={prefix}"), stream)
    expected = make_reranker()
    feed(expected, stream)
    logged = [pr.LoggedEvent.from_json(fields[b"e"]) for _, fields in server.xrange(f"{prefix}:log")]
    assert any(event.links for event in logged)
    for user in USERS[:2]:
        entries = server.lrange(f'{prefix}:user:"{user}"', 0, -1)
        listed = [from_listed(entry.partition(b" ")[2], user) for entry in entries]
        assert all(entry.partition(b" ")[2][:1] == MAGIC for entry in entries)  # binary, not JSON
        assert len(listed) == sum(u == user for u, *_ in stream) and not any(event.links for event in listed)
    assert rankings(make_reranker(f"{redis_url}?prefix={prefix}"), USERS[:2]) == rankings(expected, USERS[:2])


def test_redis_user_ttl_forgets_idle_users(redis_url):
    import time

    url = f"{redis_url}?prefix=t{uuid.uuid4().hex}&user_ttl=1"
    feed(make_reranker(url), [("idle", 0, "like", 1.0), ("idle", 5, "like", 2.0)])
    assert (
        rankings(make_reranker(url), ["idle", "nobody"])["idle"] != rankings(make_reranker(url), ["nobody"])["nobody"]
    )
    time.sleep(2.1)
    later = rankings(make_reranker(url), ["idle", "nobody"])
    assert later["idle"] == later["nobody"]


def test_logged_events_on_items_this_catalog_lacks_are_skipped_with_a_warning(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    wide = make_reranker(url)
    wide.add_items([999], ["an item only this process has"])
    wide.observe("u", 999, "like")
    wide.observe("u", 1, "like")
    narrow = make_reranker(url)
    with pytest.warns(pr.PyrerankWarning, match="1 logged events name items that are not in this catalog"):
        ranked = rankings(narrow, ["u"])
    expected = make_reranker()
    expected.observe("u", 1, "like", timestamp=0.0)
    assert [i for i, _ in ranked["u"]][:3] == [i for i, _ in rankings(expected, ["u"])["u"]][:3]


def test_a_kept_user_record_from_before_fit_changed_the_vectors_is_not_reused(redis_url, monkeypatch):
    from pyrerank.serving import view

    monkeypatch.setattr(view, "USER_SAVE_EVERY", 2)
    url = f"{redis_url}?prefix=t{uuid.uuid4().hex}"
    feed(make_reranker(url), events(6, seed=3, users=["u"]))  # kept at 384-wide item vectors
    refitted = make_reranker(url)
    refitted.fit([pr.Event("w", 0, "like", 1.0), pr.Event("w", 5, "like", 2.0)], collaborative_dim=4)
    with pytest.warns(pr.PyrerankWarning, match="kept record has item vectors 384 wide, the catalog's are 388"):
        assert len(refitted.rerank("u", np.arange(len(ITEMS)), k=5)) == 5


def test_a_statistics_snapshot_from_before_0_5_restores_the_same_links():
    """Snapshots and saves held links as (m, 3) float64 triples before 0.5 (24 bytes a link,
    now 8): stores written then still open with every link in its slot order."""
    rr = make_reranker()
    feed(rr, events(500, seed=4))
    arrays, meta = rr.stats.to_arrays()
    sizes = arrays.pop("co_sizes")
    arrays["co"] = np.column_stack(
        [np.repeat(np.arange(len(sizes)), sizes), arrays.pop("co_neighbors"), arrays.pop("co_counts")]
    ).astype(np.float64)
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.array(json.dumps(rr.catalog.ids)), users=np.array(json.dumps(meta["users"])), **arrays)
    restored = ItemStats()
    restored.resize(len(ITEMS))
    restored.restore_snapshot(buffer.getvalue(), rr.catalog.row_of)
    assert_same_statistics(restored, rr.stats)
    for row in range(len(ITEMS)):
        assert list((restored.co.links(row) or {}).items()) == list((rr.stats.co.links(row) or {}).items())
    assert restored.forget(USERS[0]) and rr.stats.forget(USERS[0])
    assert_same_statistics(restored, rr.stats)


def test_a_snapshot_larger_than_a_part_is_kept_in_parts_and_read_back_whole(durable_url, monkeypatch):
    """Stores keep a snapshot in parts (SQLite refuses a value over 1 GB, Redis over 512 MB; a
    snapshot holds ~2 KB per item once co-engagement saturates): it comes back byte for byte,
    a smaller one replaces it with no part left behind, and a new process ranks alike from it."""
    import pyrerank.stores.redis_store as redis_store
    import pyrerank.stores.sqlite as sqlite

    monkeypatch.setattr(sqlite, "PART_BYTES", 1_000)
    monkeypatch.setattr(redis_store, "PART_BYTES", 1_000)
    rr = make_reranker(durable_url)
    feed(rr, events(400, seed=7))
    rr.view.snapshot(rr.catalog)
    data = rr.stats.snapshot(rr.catalog.ids)
    assert len(data) > 5_000, "the test needs a snapshot of several parts"
    reader = make_reranker(durable_url)
    assert reader.store.load_snapshot() == data
    assert rankings(reader) == rankings(rr)
    rr.observe(USERS[0], 1, "click", timestamp=10**6)  # a later position: a snapshot never replaces a newer one
    rr.store.save_snapshot(b"small")
    assert reader.store.load_snapshot() == b"small"
    if durable_url.startswith("sqlite"):
        assert rr.store._run("SELECT COUNT(*) FROM snapshot_parts")[0][0] == 0
    else:
        assert list(rr.store._redis.scan_iter(match=f"{rr.store._snapshot}:parts:*")) == []
    rr.close()
    reader.close()


def test_a_large_snapshot_empties_the_sqlite_log_unless_a_reader_holds_it(tmp_path, monkeypatch):
    """Readers look every page up in the write-ahead log's index until it is emptied, so a large
    snapshot empties it at once; a reader in the middle of a transaction is not waited for."""
    import sqlite3

    import pyrerank.stores.sqlite as sqlite

    monkeypatch.setattr(sqlite, "WAL_LIMIT", 1)  # every snapshot counts as large
    path = tmp_path / "profiles.db"
    rr = make_reranker(f"sqlite:///{path}")
    feed(rr, events(200, seed=8))
    rr.view.snapshot(rr.catalog)
    assert os.path.getsize(f"{path}-wal") == 0
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchall()  # holds the log's current state
    feed(rr, events(200, seed=9))
    rr.view.snapshot(rr.catalog)  # returns without waiting for the reader
    assert os.path.getsize(f"{path}-wal") > 0
    reader.execute("COMMIT")
    feed(rr, events(10, seed=10))
    rr.view.snapshot(rr.catalog)
    assert os.path.getsize(f"{path}-wal") == 0
    reader.close()
    rr.close()
