"""Users outside the most recently used are held packed (as their few events, or their state in
int8): what a user relies on is that nothing about them is lost or drifts past the packing's
bound when they go cold and come back."""

from __future__ import annotations

import numpy as np
import pytest
from concurrency import together_and_alone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyrerank as pr
from pyrerank.serving import users as users_module
from pyrerank.serving.users import EventLog, UserCache, UserRecord, rows_array

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@given(
    rows=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=300), elements=finite),
    recent=st.lists(st.integers(0, 2**31 - 1), max_size=60),
    seen=st.lists(st.integers(0, 2**31 - 1), max_size=60, unique=True),
)
@settings(max_examples=200, deadline=None)
def test_pack_keeps_rows_seen_counters_and_scalars_and_bounds_the_state_error(rows, recent, seen):
    mass = np.arange(3, dtype=np.float32) / 3
    record = UserRecord(
        stored_state={"x": rows, "mass": mass, "t": 12.5, "n": 3},
        recent=rows_array(recent),
        seen=rows_array(sorted(seen)),
        unsaved=7,
        positives=11,
    )
    back = UserRecord.unpack(record.pack())
    assert back.recent == record.recent and back.seen == record.seen
    assert (back.unsaved, back.positives, back.state["t"], back.state["n"]) == (7, 11, 12.5, 3)
    np.testing.assert_array_equal(back.state["mass"], mass)  # narrow rows are kept exactly
    x = back.state["x"]
    assert x.dtype == np.float32 and x.shape == rows.shape and x.flags.writeable
    if rows.shape[-1] < users_module.PACKED_WIDTH:
        np.testing.assert_array_equal(x, rows)
    else:  # int8 steps of max|row| / 127: each value within half a step (and float32 rounding)
        flat, got = rows.reshape(-1, rows.shape[-1]), x.reshape(-1, rows.shape[-1])
        bound = np.abs(flat).max(axis=1, keepdims=True) / 254 * (1 + 1e-5)
        assert (np.abs(got - flat) <= bound).all()
        np.testing.assert_array_equal(got[flat == 0], 0)  # a zero stays zero (no negative sums appear)


@given(
    events=st.lists(
        st.tuples(st.sampled_from([2.0, 1.0, 0.5, 0.0, -0.5, -1.0]), st.floats(0, 1e7), st.integers(0, 7)),
        min_size=1,
        max_size=users_module.LOGGED_EVENTS,
    ),
    half_life=st.floats(1.0, 1e7),
    event_decay=st.floats(0.5, 1.0),
)
@settings(max_examples=200, deadline=None)
def test_decay_replay_is_its_updates_in_turn(events, half_life, event_decay):
    model = pr.get_interest_model("decay", half_life=half_life, event_decay=event_decay)
    items = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    weights, timestamps, rows = (np.array(column) for column in zip(*events))
    expected = model.new_state()
    for weight, timestamp, row in events:
        model.update(expected, items[row], weight, timestamp)
    got = model.replay(items[rows], weights, timestamps)
    assert got["t"] == expected["t"]
    for key in ("pos", "neg"):
        bound = 1e-5 * np.abs(weights).sum()  # float32 sums of up to LOGGED_EVENTS pulls (each <= |weight|)
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=bound, err_msg=key)


def test_only_the_most_recently_used_are_held_unpacked(monkeypatch):
    monkeypatch.setattr(users_module, "HOT_USERS", 2)
    cache = UserCache()
    for user in "abc":
        cache.put(user, UserRecord(stored_state={"pos": np.ones(128, np.float32)}))
    held = dict(cache._records)
    assert isinstance(held["a"], bytes) and isinstance(held["b"], UserRecord) and isinstance(held["c"], UserRecord)
    a = cache.get("a")
    a.recent.append(5)  # the unpacked object now holds "a"'s changes ...
    cache.get("b")
    cache.get("c")  # ... and they survive "a" being packed again
    assert isinstance(cache._records["a"], bytes) and cache.get("a").recent.tolist() == [5]
    assert [user for user, _ in cache.items()] == cache.user_ids() == ["b", "c", "a"]


def hashed_reranker(**options):
    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder=None, **options)
    rr.add_items(np.arange(200), vectors=rng.standard_normal((200, 96)).astype(np.float32))
    return rr


def play(rr, users):
    """Each user likes 8 items and skips 2, the users' events interleaved."""
    rng = np.random.default_rng(1)
    for step in range(10):
        for user in users:
            rr.observe(user, int(rng.integers(200)), "skip" if step % 5 == 4 else "like", timestamp=float(step))


def test_users_who_went_cold_rank_as_if_they_never_had(monkeypatch):
    users = [f"u{i}" for i in range(12)]
    warm = hashed_reranker()
    play(warm, users)
    monkeypatch.setattr(users_module, "HOT_USERS", 1)  # every other user is packed after each event
    cold = hashed_reranker()
    play(cold, users)
    candidates = np.arange(200)
    for user in users:
        a = warm.rerank(user, candidates, k=200, now=20.0)
        b = cold.rerank(user, candidates, k=200, now=20.0)
        assert {r.item for r in a} == {r.item for r in b}, "the same items are seen and left out"
        scores_a = dict(a)
        assert max(abs(scores_a[item] - score) for item, score in b) < 0.02


def test_remove_items_renumbers_packed_users(monkeypatch):
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = hashed_reranker(exclude_seen=True)
    rr.observe("a", 150, "like")
    rr.observe("b", 3, "like")  # "a" is packed now
    rr.remove_items(list(range(100)))
    assert 150 not in [r.item for r in rr.rerank("a", np.arange(100, 200), k=100)], "a's seen item moved row"


@given(seed=st.integers(0, 2**16), removed=st.sets(st.integers(0, 199), max_size=40))
@settings(max_examples=30, deadline=None)
def test_packed_users_renumbered_as_packed_equal_those_unpacked_and_renumbered(seed, removed):
    """UserCache.renumber rewrites a packed record's rows without unpacking it: the record it
    gives is the one unpacking, UserRecord.renumber and packing again give, for users held as
    their events and as their state; events on a removed item are replayed first (None)."""
    rng = np.random.default_rng(seed)
    rr = hashed_reranker()
    for n, user in enumerate(["few", "many"]):  # held as their events, as their state
        for step in range(8 if user == "few" else 40):
            kind = ["like", "skip", "click", "view", "dislike"][int(rng.integers(5))]
            rr.observe(user, int(rng.integers(200)), kind, timestamp=float(step + n))
    remap = np.full(200, -1, np.int64)
    kept = np.setdiff1d(np.arange(200), sorted(removed))
    remap[kept] = np.arange(len(kept))
    for user in ("few", "many"):
        packed = rr.users._records[user]
        packed = packed if isinstance(packed, bytes) else packed.pack()
        moved = users_module._renumbered(packed, remap.tolist())
        record = UserRecord.unpack(packed, rr.users.replay)
        touches_removed = record.log is not None and bool(set(record.log.rows) & removed)
        if touches_removed:
            assert moved is None
            continue
        record.renumber(remap)
        got, want = (UserRecord.unpack(data, rr.users.replay) for data in (moved, record.pack()))
        assert (got.recent, got.seen, got.unsaved, got.positives) == (
            want.recent,
            want.seen,
            want.unsaved,
            want.positives,
        )
        assert (got.log is None) == (want.log is None) and (got.log is None or got.log.rows == want.log.rows)
        for key, value in want.state.items():
            np.testing.assert_array_equal(got.state[key], value)


def test_a_packed_user_is_kept_by_a_durable_store_on_schedule(monkeypatch, tmp_path):
    """The events since a user's last kept record survive packing, so the store still keeps a
    record every USER_SAVE_EVERY of the user's events (and can drop the log behind it)."""
    from pyrerank.serving.view import USER_SAVE_EVERY

    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    with hashed_reranker(store=f"sqlite:///{tmp_path}/s.db") as rr:
        for step in range(USER_SAVE_EVERY):
            for user in ("a", "b"):
                rr.observe(user, step % 200, "click", timestamp=float(step))
        for user in ("a", "b"):
            kept, events = rr.store.user_history(user)
            assert kept is not None and events == []


def test_save_and_load_keep_packed_users(monkeypatch, tmp_path):
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = hashed_reranker()
    play(rr, ["a", "b", "c"])
    before = rr.rerank("a", np.arange(200), k=5, now=20.0)
    rr.save(tmp_path / "bundle")
    again = pr.Reranker.load(tmp_path / "bundle")
    after = again.rerank("a", np.arange(200), k=5, now=20.0)
    assert [r.item for r in after] == [r.item for r in before]
    np.testing.assert_allclose([r.score for r in after], [r.score for r in before], atol=1e-5)


def test_max_users_counts_packed_users():
    cache = UserCache(max_users=3)
    for user in range(5):
        cache.put(user, UserRecord())
    assert cache.user_ids() == [2, 3, 4] and cache.get(0) is None


@pytest.mark.parametrize("interest", ["decay", "multi", "logistic"])
def test_every_interest_model_survives_packing(monkeypatch, interest):
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = hashed_reranker(interest=interest)
    play(rr, ["a", "b"])
    assert isinstance(rr.users._records["a"], bytes)
    record = dict(rr.users.items())["a"]
    fresh = hashed_reranker(interest=interest)
    monkeypatch.setattr(users_module, "HOT_USERS", 1_000)
    play(fresh, ["a", "b"])
    expected = fresh.users.get("a").state
    assert set(record.state) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(record.state[key], value, rtol=0.05, atol=0.05 * np.abs(value).max(initial=1))


def test_threads_packing_and_unpacking_users_lose_no_event(monkeypatch):
    """Four threads, each playing five users' events and reranks, two in a row per user, so
    that a user is packed and unpacked between every pair of their calls and found hot within
    one: each user ends as if their events had been played alone."""
    monkeypatch.setattr(users_module, "HOT_USERS", 2)
    rng = np.random.default_rng(7)
    ops = ["click", "like", "skip", "dislike", "rerank"]
    plans = {f"t{n}": [(int(rng.integers(200)), str(rng.choice(ops))) for _ in range(1_500)] for n in range(4)}

    def run(rr, thread):
        mine = [f"{thread}-u{j}" for j in range(5)]
        for i, (item, op) in enumerate(plans[thread]):
            user = mine[i // 2 % 5]
            if op == "rerank":
                rr.rerank(user, np.arange(200), k=5)
            else:
                rr.observe(user, item, op, timestamp=float(i))

    together, alone = together_and_alone(hashed_reranker, run, plans)
    assert sorted(together.users.user_ids()) == sorted(alone.users.user_ids())
    for user in alone.users.user_ids():
        a, b = together.users.get(user), alone.users.get(user)
        assert (a.recent, a.seen, a.positives) == (b.recent, b.seen, b.positives)
        for key, value in b.state.items():  # packed at other moments: some int8 steps apart
            np.testing.assert_allclose(a.state[key], value, rtol=0, atol=0.05 * np.abs(value).max(initial=1e-6))


@given(
    st.lists(st.floats(1e9, 2e9), min_size=1, max_size=users_module.LOGGED_EVENTS),
    st.lists(st.sampled_from([1.0, -0.5, 0.25, -2.0, 3.0]), min_size=users_module.LOGGED_EVENTS),
    st.sampled_from([None, 0.5, 0.3, 1e-40, 1e300]),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_a_packed_log_keeps_its_weights_and_latest_time_exactly_and_the_others_within_float32_of_their_distance(
    times, weights, odd_weight, all_seen
):
    """Weights that are all kinds' defaults are packed as a byte each, others that float32
    holds exactly (0.5) as float32, any other makes them all float64; an event log whose every
    event made its item seen packs no seen flags: either way they come back as they were."""
    if odd_weight is not None:
        weights = [*weights[: len(times) - 1], odd_weight]
    log = EventLog()
    for row, (time, weight) in enumerate(zip(times, weights)):
        log.append(row, weight, time, all_seen or row % 2 == 0)
    parts = log.to_parts()
    n = len(times)
    assert len(parts[1]) == {None: 1, 0.5: 4}.get(odd_weight, 8) * n
    assert len(parts[4]) == (0 if all_seen or n == 1 else n)
    back = EventLog.from_parts(*parts)
    assert (back.rows, back.weights, back.seen) == (log.rows, log.weights, log.seen)
    latest = max(times)
    assert max(back.timestamps) == latest
    for time, got in zip(times, back.timestamps):
        assert abs(got - time) <= 6e-8 * (latest - time) + 1e-6


def test_a_cold_user_of_default_weighted_events_all_seen_is_held_in_nine_bytes_an_event(monkeypatch):
    """Row, time and a byte for the kind's weight: at 20 events a packed user takes 200 bytes."""
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = hashed_reranker()
    for step, kind in enumerate(["click", "like", "view", "purchase"] * 5):
        rr.observe("a", step, kind, timestamp=1_000.0 + step)
    rr.observe("b", 0, "like")
    packed = rr.users._records["a"]
    assert len(packed) == users_module.EVENTS_HEADER.size + 9 * 20
    assert sorted(r.item for r in rr.rerank("a", np.arange(40), k=40, exclude_seen=True)) == list(range(20, 40))


def record_of(rr, user):
    return dict(rr.users.items())[user]


def test_a_user_with_few_events_is_held_as_them_and_comes_back_as_their_updates_left_them(monkeypatch):
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    cold, warm = hashed_reranker(), hashed_reranker()
    for rr in (cold, warm):
        play(rr, ["a", "b"])  # 10 events each, "a" packed after every one of its events in `cold`
        monkeypatch.setattr(users_module, "HOT_USERS", 1_000)
    packed = cold.users._records["a"]
    assert isinstance(packed, bytes) and len(packed) < 10 * 13 + 64, "13 bytes an event, not the state"
    a, b = record_of(cold, "a"), warm.users.get("a")
    assert (a.recent, a.seen, a.positives) == (b.recent, b.seen, b.positives)
    assert set(a.state) == set(b.state) == {"pos", "neg", "t"}
    assert a.state["t"] == b.state["t"]
    for key in ("pos", "neg"):  # replayed, not int8 steps: float32 rounding apart
        np.testing.assert_allclose(a.state[key], b.state[key], rtol=1e-5, atol=1e-6)


def test_a_cold_users_events_wait_for_a_rerank_to_replay_them(monkeypatch):
    """An event from a user held as their events only appends to their log: the state is
    replayed once, when a rerank reads it, from every event (observe stays cheap)."""
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = hashed_reranker()
    replayed: list[int] = []
    replay = rr.users.replay
    rr.users.replay = lambda log: replayed.append(len(log.rows)) or replay(log)
    play(rr, ["a", "b"])  # "a" packed after each of its events and unpacked for the next
    assert replayed == []
    warm = hashed_reranker()
    play(warm, ["a", "b"])
    got, expected = rr.rerank("a", np.arange(200), k=5), warm.rerank("a", np.arange(200), k=5)
    assert [r.item for r in got] == [r.item for r in expected]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in expected], rtol=1e-5)
    assert replayed == [10]


@pytest.mark.parametrize("change", ["more events than are logged", "a text event"])
def test_a_user_past_the_logged_events_or_with_text_is_held_as_state(monkeypatch, change):
    monkeypatch.setattr(users_module, "HOT_USERS", 1)
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(range(200), texts=[f"film {i} about {['ships', 'bread', 'wars'][i % 3]}" for i in range(200)])
    events = users_module.LOGGED_EVENTS + 1 if change == "more events than are logged" else 3
    for step in range(events):
        rr.observe("a", step % 200, "like", timestamp=float(step))
    if change == "a text event":
        rr.observe_text("a", "space opera with starships", timestamp=10.0)
    rr.observe("b", 0, "like")
    assert rr.users._records["a"][:1] != users_module.EVENTS_TAG
    assert record_of(rr, "a").log is None


@pytest.mark.parametrize("change", ["remove_items", "add_items"])
def test_removing_or_replacing_an_item_leaves_cold_users_as_it_leaves_hot_ones(monkeypatch, change):
    """The pull of an item a user engaged with stays in their interest when the item goes or its
    vector is replaced, whether they were held as their events or as their state."""
    rng = np.random.default_rng(3)
    runs = {}
    for hot_users in (1, 1_000):
        monkeypatch.setattr(users_module, "HOT_USERS", hot_users)
        rr = hashed_reranker()
        play(rr, ["a", "b"])
        liked = record_of(rr, "a").recent[0]
        if change == "remove_items":
            rr.remove_items([liked])
        else:
            rr.add_items([liked], vectors=rng.standard_normal((1, 96)).astype(np.float32))
            rng = np.random.default_rng(3)
        rr.observe("b", 7, "like", timestamp=30.0)  # "a" packed again after the change
        runs[hot_users] = record_of(rr, "a")
    cold, hot = runs[1], runs[1_000]
    assert (cold.recent, cold.seen) == (hot.recent, hot.seen)
    for key in ("pos", "neg"):
        np.testing.assert_allclose(cold.state[key], hot.state[key], rtol=0, atol=0.01 * np.abs(hot.state[key]).max())
