"""The co-engagement table (C++ slots, pyrerank.serving.item_stats.CoEngagement) against a plain
Python reference: dicts in insertion order, the weakest link making room, with hypothesis; what
co_link reports undoes each bump; the item counters against Python's arithmetic."""

from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyrerank as pr
from pyrerank import _core
from pyrerank import _reference as ref
from pyrerank.serving.item_stats import CoEngagement
from pyrerank.serving.undo_log import Events, UndoLog, link, undo
from pyrerank.testing import stores

N_ROWS, K = 12, 3


class Reference:
    """What CoEngagement must do, written the obvious way."""

    def __init__(self, k: int = K) -> None:
        self.k = k
        self.links: dict[int, dict[int, float]] = {}

    def bump(self, a: int, b: int, amount: float) -> None:
        links = self.links.setdefault(a, {})
        if b in links:
            links[b] += amount
            return
        if len(links) >= self.k:
            weakest = min(links, key=links.__getitem__)  # the first of the smallest
            if links[weakest] > amount:
                return
            del links[weakest]
        links[b] = amount

    def add(self, row: int, recent: list[int], amount: float) -> None:
        for other in recent:
            if other != row:
                self.bump(row, other, amount)
                self.bump(other, row, amount)

    def user_scores(self, recent: list[int], decay: float) -> dict[int, float]:
        out: dict[int, float] = {}
        for age, row in enumerate(reversed(recent)):
            for other, count in self.links.get(row, {}).items():
                out[other] = out.get(other, 0.0) + np.float32(count) * np.float32(decay**age)
        return out


rows = st.integers(0, N_ROWS - 1)
events = st.lists(st.tuples(rows, st.lists(rows, max_size=4), st.sampled_from([1.0, 2.0, 0.5])), max_size=60)


# Wider slots than the C++ search's 16-slot chunks, so full items take its chunked and tail paths.
WIDE_K, WIDE_ROWS = 20, 30
wide_rows = st.integers(0, WIDE_ROWS - 1)
wide_events = st.lists(
    st.tuples(wide_rows, st.lists(wide_rows, min_size=4, max_size=8), st.sampled_from([1.0, 2.0, 0.5])),
    min_size=60,
    max_size=150,
)


@given(events, st.lists(rows, max_size=6))
def test_links_and_user_scores_match_the_reference(stream, recent):
    check_against_reference(K, N_ROWS, stream, recent)


@given(wide_events, st.lists(wide_rows, max_size=6))
def test_wide_slots_match_the_reference(stream, recent):
    check_against_reference(WIDE_K, WIDE_ROWS, stream, recent)


def check_against_reference(k: int, n_rows: int, stream: list, recent: list[int]) -> None:
    co, ref = CoEngagement(k, n_rows), Reference(k)
    for row, others, amount in stream:
        co.add(row, others, amount)
        ref.add(row, others, amount)
    for row in range(n_rows):
        assert (co.links(row) or {}) == ref.links.get(row, {})
        assert list((co.links(row) or {}).keys()) == list(ref.links.get(row, {}).keys()), "slot order"
    got_rows, got_values = co.user_scores(recent, 0.9).arrays()
    want = ref.user_scores(recent, 0.9)
    assert got_rows.tolist() == sorted(want)
    np.testing.assert_allclose(got_values, [want[r] for r in sorted(want)], rtol=1e-6)


@given(events)
def test_a_save_restores_every_link_in_its_slot_order(stream):
    co = CoEngagement(K, N_ROWS)
    for row, others, amount in stream:
        co.add(row, others, amount)
    back = CoEngagement(K, N_ROWS)
    sizes, neighbors, counts = co.slots()
    back.add_links(np.repeat(np.arange(N_ROWS), sizes), neighbors, counts)
    assert [back.links(r) for r in range(N_ROWS)] == [co.links(r) for r in range(N_ROWS)]
    assert [list((back.links(r) or {}).keys()) for r in range(N_ROWS)] == [
        list((co.links(r) or {}).keys()) for r in range(N_ROWS)
    ]


def test_versions_grow_with_every_change_and_memory_is_bounded_by_items():
    co = CoEngagement(K, N_ROWS)
    both = array.array("i", [0, 1])
    before = co.version_sum(both)
    co.add(0, [1], 1.0)
    assert co.version_sum(both) == before + 2
    assert co.version_sum(array.array("i", [2])) == 0 and co.version_sum(array.array("i")) == 0
    with pytest.raises(IndexError, match="row 99 out of range"):
        co.version_sum(array.array("i", [0, 99]))
    with pytest.raises(ValueError, match="rows must be a 1-D buffer of int32"):
        co.version_sum(array.array("q", [0]))
    for other in range(1, N_ROWS):
        co.add(0, [other], 5.0)
    assert len(co.links(0)) == K and co.neighbors.shape == (N_ROWS, K)
    co.resize(100)
    assert co.links(0) is not None and co.sizes.shape == (100,) and co.links(99) is None


def test_growing_the_catalog_keeps_every_items_links_in_order():
    rng = np.random.default_rng(3)
    co = CoEngagement(K, N_ROWS)
    for row in rng.integers(0, N_ROWS, 200).tolist():
        co.add(row, rng.integers(0, N_ROWS, 3).tolist(), float(rng.integers(1, 4)))
    before = [co.links(r) for r in range(N_ROWS)]
    orders = [list((links or {}).keys()) for links in before]
    co.resize(5 * N_ROWS)
    assert [co.links(r) for r in range(N_ROWS)] == before
    assert [list((co.links(r) or {}).keys()) for r in range(N_ROWS)] == orders
    assert all(co.links(r) is None for r in range(N_ROWS, 5 * N_ROWS))


@given(events)
def test_fewer_slots_than_saved_keep_each_items_strongest_links_in_their_order(stream):
    co = CoEngagement(K, N_ROWS)
    for row, others, amount in stream:
        co.add(row, others, amount)
    sizes, neighbors, counts = co.slots()
    fewer = CoEngagement(K - 1, N_ROWS)
    fewer.add_links(np.repeat(np.arange(N_ROWS), sizes), neighbors, counts)
    for r in range(N_ROWS):
        links = list((co.links(r) or {}).items())
        strongest = sorted(range(len(links)), key=lambda i: (-links[i][1], i))[: K - 1]
        assert list((fewer.links(r) or {}).items()) == [links[i] for i in sorted(strongest)]


def test_a_reranker_keeps_max_neighbors_links_an_item_and_saves_the_setting(tmp_path):
    rr = stores.make_reranker(max_neighbors=2)
    stores.feed(rr, stores.events(300, seed=5))
    assert rr.stats.co.neighbors.shape[1] == 2 and rr.stats.co.sizes.max() == 2
    rr.save(tmp_path / "model")
    opened = pr.Reranker.load(tmp_path / "model")
    assert opened.stats.co.max_neighbors == 2
    assert stores.rankings(opened) == stores.rankings(rr)


def links_now(co: CoEngagement, n_rows: int) -> list[list[tuple[int, float]]]:
    return [list((co.links(r) or {}).items()) for r in range(n_rows)]


@given(st.lists(st.tuples(rows, st.lists(rows, max_size=5)), max_size=60))
def test_what_co_link_reports_undoes_every_event_newest_first(stream):
    """Rows of three links fill at once: events evict, and the report puts the evicted back."""
    co, log, before = CoEngagement(K, N_ROWS), UndoLog(), []
    for position, (row, others) in enumerate(stream):
        before.append(links_now(co, N_ROWS))
        log.add(position, row, others, co.add(row, others))
    for position in reversed(range(len(stream))):
        row, others = stream[position]
        undo(co.tables(), Events.of([position], [row], [len(others)], others), None, log)
        assert links_now(co, N_ROWS) == before[position]


@given(st.lists(st.tuples(rows, st.lists(rows, max_size=5)), max_size=40), st.sets(rows))
def test_undoing_a_stream_on_some_rows_leaves_the_others_and_restores_those(stream, some):
    """What forget does on the rows a user touched: the others keep every link."""
    co, log = CoEngagement(K, N_ROWS), UndoLog()
    events = Events.of(
        range(len(stream)), [r for r, _ in stream], [len(o) for _, o in stream], [x for _, o in stream for x in o]
    )
    link(co.tables(), events, None, log)
    after = links_now(co, N_ROWS)
    only = np.zeros(N_ROWS, bool)
    only[list(some)] = True
    undo(co.tables(), events, only, log)
    assert [after[r] if r not in some else [] for r in range(N_ROWS)] == links_now(co, N_ROWS)


def test_an_undo_log_that_does_not_match_the_links_is_refused():
    co, log = CoEngagement(2, N_ROWS), UndoLog()
    for position, others in enumerate([[1, 2], [3]]):  # the second evicts one of row 0's links
        log.add(position, 0, others, co.add(0, others))
    assert len(log) == 1
    damaged = UndoLog()
    damaged.add(1, 0, [3], [(0, 5, 9, 1.0)])  # a slot past the row's links
    with pytest.raises(pr.PyrerankError, match="does not match item row 0"):
        undo(co.tables(), Events.of([1], [0], [1], [3]), None, damaged)


@given(st.lists(st.tuples(rows, st.lists(rows, max_size=5)), max_size=60))
def test_linking_a_batch_of_events_equals_linking_them_one_by_one(stream):
    one, batch = CoEngagement(K, N_ROWS), CoEngagement(K, N_ROWS)
    reports = [(i, *r) for i, (row, others) in enumerate(stream) for r in one.add(row, others)]
    rows_ = np.array([row for row, _ in stream], np.int64)
    ends = np.cumsum([len(others) for _, others in stream], dtype=np.int64)
    flat = np.array([o for _, others in stream for o in others], np.int64)
    columns = _core.co_link_events(*batch.tables(), rows_, ends, flat, None, 1.0)
    assert [c.dtype.str for c in columns] == ["<i8", "<i8", "<i4", "<i4", "<f4"]
    assert list(zip(*(c.tolist() for c in columns))) == reports
    assert links_now(batch, N_ROWS) == links_now(one, N_ROWS)


@given(
    st.lists(
        st.tuples(rows, st.sampled_from([1.0, 2.0, 0.25, 3.0, 1e-9]), st.floats(-1e6, 1e9, allow_nan=False)),
        max_size=40,
    ),
    st.sampled_from([3_600.0, 7 * 86_400.0, 0.5]),
)
def test_item_counters_match_pythons_arithmetic_bit_for_bit(stream, half_life):
    """Statistics counted before the kernel existed (in Python) go on counting in it: same bits,
    times going backwards included; one event at a time or a batch, the same."""
    fresh = np.zeros((N_ROWS, 4))
    fresh[:, 3] = -np.inf
    table, one, want = fresh.copy(), fresh.copy(), fresh.copy()
    r = np.array([e[0] for e in stream], np.int64)
    w, t = (np.array([e[i] for e in stream], np.float64) for i in (1, 2))
    _core.count_events(table, r, w, t, half_life)
    ref.count_events(want, r.tolist(), w.tolist(), t.tolist(), half_life)
    np.testing.assert_array_equal(table, want)
    for event in stream:
        _core.count_event(one, *event, half_life)
    np.testing.assert_array_equal(one, table)


def test_item_counters_refuse_rows_outside_the_table():
    table = np.zeros((N_ROWS, 4))
    with pytest.raises(IndexError, match="item row 12 out of range"):
        _core.count_event(table, N_ROWS, 1.0, 0.0, 60.0)
    with pytest.raises(TypeError, match="weights must be a 1-D C-contiguous float64"):
        _core.count_events(table, np.array([1]), np.array([1], np.float32), np.array([0.0]), 60.0)


@pytest.mark.parametrize(
    ("rows_", "ends", "others", "message"),
    [
        ([0, 1], [2], [1, 2], "ends must hold one entry per row"),
        ([0, 1], [2, 1], [1, 2], "ends must rise within others"),
        ([0], [3], [1, 2], "ends must rise within others"),
        ([0], [1], [N_ROWS], f"row {N_ROWS} out of range"),
    ],
)
def test_a_batch_of_events_that_does_not_add_up_is_refused(rows_, ends, others, message):
    co = CoEngagement(K, N_ROWS)
    as_int64 = (np.array(v, np.int64) for v in (rows_, ends, others))
    with pytest.raises((ValueError, IndexError), match=message):
        _core.co_link_events(*co.tables(), *as_int64, None, 1.0)
    assert links_now(co, N_ROWS) == [[] for _ in range(N_ROWS)], "nothing linked"
