"""The forget horizon: statistics keep only their latest counted events per user, older ones
settled into the counts, and forget still leaves statistics equal to those that never counted
the user's unsettled events, through evictions of full link rows, catalog changes and saves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pyrerank as pr
from pyrerank.errors import PyrerankError
from pyrerank.serving import undo_log
from pyrerank.serving.item_stats import ItemStats, settle_step
from pyrerank.serving.undo_log import UndoLog
from pyrerank.testing.stores import ITEMS, events, feed, make_reranker

ROWS = 10
USERS = "abcde"
Event = tuple[str, int, float, float, list[int]]


def state(stats: ItemStats, n_rows: int = ROWS) -> tuple[list, ...]:
    """The counts and every item's links in slot order (what ranking and saves read)."""
    sizes, neighbors, counts = stats.co.slots()
    return stats.table[:n_rows].tolist(), sizes[:n_rows].tolist(), neighbors.tolist(), counts.tolist()


def counted(stream: list[Event], k: int, n_rows: int = ROWS) -> ItemStats:
    """Statistics that counted `stream` and nothing else."""
    stats = ItemStats(max_neighbors=k, exact_forget=False)
    stats.resize(n_rows)
    for event in stream:
        stats.record(*event)
    return stats


@st.composite
def plans(draw: st.DrawFn) -> list[Event | str]:
    """Events of a few users on a few items, each linked with its user's last five (as observe
    links them), and now and then a user to forget."""
    out: list[Event | str] = []
    recent: dict[str, list[int]] = {}
    for t in range(draw(st.integers(0, 90))):
        user = draw(st.sampled_from(USERS))
        if draw(st.integers(0, 11)) == 0:
            out.append(user)
            recent.pop(user, None)
            continue
        row = draw(st.integers(0, ROWS - 1))
        weight = draw(st.sampled_from([1.0, 2.0, 0.5]))
        out.append((user, row, weight, 1_000.0 + t * draw(st.sampled_from([0.5, 3_600.0])), recent.get(user, [])[-5:]))
        recent.setdefault(user, []).append(row)
    return out


def forget_in_step(stats: ItemStats, alive: list[Event], user: str) -> list[Event]:
    """Forget `user`; the events left counted: all but the user's unsettled ones."""
    settled = len(alive) - len(stats.contributions)
    left = [e for i, e in enumerate(alive) if i < settled or e[0] != user]
    assert stats.forget(user) is (len(left) < len(alive))
    return left


@settings(max_examples=150, deadline=None)
@given(plans(), st.sampled_from([None, 0, 3, 12, 40]), st.sampled_from([2, 3, 16]))
def test_forget_within_the_horizon_equals_never_counting_the_users_unsettled_events(plan, horizon, k):
    """Rows of two or three links fill at once, so events evict links and forget must put them back."""
    stats = ItemStats(max_neighbors=k, forget_horizon=horizon)
    stats.resize(ROWS)
    alive: list[Event] = []
    for step in plan:
        if isinstance(step, str):
            alive = forget_in_step(stats, alive, step)
            assert state(stats) == state(counted(alive, k))
        else:
            stats.record(*step)
            alive.append(step)
    assert state(stats) == state(counted(alive, k))
    if horizon is not None:
        assert len(stats.contributions) <= horizon + settle_step(horizon)
    arrays, meta = stats.to_arrays()
    reopened = ItemStats(max_neighbors=k, forget_horizon=horizon)
    reopened.load_arrays(arrays, meta)
    assert state(reopened) == state(stats)
    for user in USERS:  # what a save kept forgets as exactly
        alive = forget_in_step(reopened, alive, user)
        assert state(reopened) == state(counted(alive, k))


EVICTED_THEN_REMOVED = [  # row 0's settled link to 2 is evicted by an unsettled event, 2's to 0 too
    ("d", 3, 1.0, 1012.0, []),
    ("a", 2, 1.0, 1016.5, []),
    ("d", 2, 1.0, 1017.0, [3]),
    ("a", 0, 1.0, 1017.5, [2]),
    ("a", 0, 1.0, 1018.0, [2, 0]),
    ("b", 3, 1.0, 1018.5, []),
    ("b", 0, 1.0, 1019.0, [3]),
    ("a", 0, 1.0, 1019.5, [2, 0, 0]),
    ("b", 1, 1.0, 1020.0, [3, 0]),
    ("a", 0, 1.0, 1020.5, [2, 0, 0, 0]),
    ("a", 1, 1.0, 1021.0, [2, 0, 0, 0, 0]),
    "c",
    ("a", 0, 1.0, 1022.0, [0, 0, 0, 0, 1]),
    ("a", 0, 1.0, 1022.5, [0, 0, 0, 1, 0]),
]


LINKED_AFTER_ONE_REMOVED = [  # the bumps of 1 with 0 move down once 3 leaves the links before them
    ("d", 3, 1.0, 1015.0, []),
    ("c", 2, 1.0, 1016.5, []),
    ("d", 0, 1.0, 1017.5, [3]),
    ("d", 1, 1.0, 1020.0, [3, 0]),
    ("c", 1, 1.0, 1022.0, [2]),
    ("d", 0, 1.0, 1029.5, [3, 0, 1]),
    ("d", 4, 1.0, 1030.0, [3, 0, 1, 0]),
    ("a", 0, 1.0, 1030.5, []),
    ("a", 0, 1.0, 1031.0, [0]),
    ("a", 0, 1.0, 1031.5, [0, 0]),
    ("a", 0, 1.0, 1032.0, [0, 0, 0]),
    ("a", 0, 1.0, 1035.0, []),
]
SELF_LINKS = [
    ("d", 3, 1.0, 1015.0, []),
    ("c", 2, 1.0, 1016.5, []),
    ("c", 1, 1.0, 1017.5, [2]),
    ("d", 1, 1.0, 1020.0, [3]),
    ("c", 1, 1.0, 1022.0, [2, 1]),
    ("d", 0, 1.0, 1029.5, [3, 1]),
    ("d", 4, 1.0, 1030.0, [3, 1, 0]),
    ("a", 0, 1.0, 1030.5, []),
    ("a", 0, 1.0, 1031.0, [0]),
    ("a", 0, 1.0, 1031.5, [0, 0]),
    ("a", 0, 1.0, 1032.0, [0, 0, 0]),
    ("a", 0, 1.0, 1035.0, []),
]


@settings(max_examples=200, deadline=None)
@given(
    plans(), st.sampled_from([None, 5, 20]), st.sampled_from([2, 3, 16]), st.sets(st.integers(0, ROWS - 1), max_size=4)
)
@example(EVICTED_THEN_REMOVED, 5, 2, {2})
@example(LINKED_AFTER_ONE_REMOVED, 5, 2, {3})
@example(SELF_LINKS, 5, 2, {3})
def test_a_catalog_change_rebuilds_from_the_settled_counts_and_forget_stays_exact(plan, horizon, k, removed):
    """Items leaving the catalog (after events and forgets), or missing from the catalog of a
    process that restores the statistics: their links leave the settled counts, the unsettled
    events are counted again without them, and forget afterwards is as exact."""
    stats = ItemStats(max_neighbors=k, forget_horizon=horizon)
    stats.resize(ROWS)
    alive: list[Event] = []
    for step in plan:
        if isinstance(step, str):
            alive = forget_in_step(stats, alive, step)
        else:
            stats.record(*step)
            alive.append(step)
    settled = len(alive) - len(stats.contributions)
    remap = np.full(ROWS, -1, np.int64)
    kept = [r for r in range(ROWS) if r not in removed]
    remap[kept] = np.arange(len(kept))
    n_rows = len(kept)
    arrays, meta = stats.to_arrays()
    stats.keep_rows(remap, n_rows)
    restored = ItemStats(max_neighbors=k, forget_horizon=horizon)  # a process whose catalog lacks them
    restored.resize(n_rows)
    restored.load_arrays(arrays, meta, remap)

    def moved(events: list[Event]) -> list[Event]:
        return [
            (u, int(remap[r]), w, t, [int(remap[x]) for x in ls if remap[x] >= 0])
            for u, r, w, t, ls in events
            if remap[r] >= 0
        ]

    def reference(unsettled: list[Event]) -> ItemStats:
        stats = counted(alive[:settled], k)
        stats.keep_rows(remap, n_rows)
        for event in moved(unsettled):
            stats.record(*event)
        return stats

    unsettled = alive[settled:]
    for each in (stats, restored):
        assert state(each, n_rows) == state(reference(unsettled), n_rows)
        assert len(each.contributions) == len(moved(unsettled))
    for user in USERS[:3]:
        unsettled = [e for e in unsettled if e[0] != user]
        for each in (stats, restored):
            each.forget(user)
            assert state(each, n_rows) == state(reference(unsettled), n_rows)


def test_counts_restored_without_their_contributions_survive_a_catalog_change():
    """Statistics saved without per-user contributions (exact_forget=False, or before 0.3) are
    anonymous counts: opened with exact_forget, an item's removal keeps the others' counts and
    links (it once dropped every count)."""
    stream, recent = [], {}
    for user, item, _, t in events(200, seed=6, users=list(USERS)):
        stream.append((user, item % ROWS, 1.0, t, recent.get(user, [])[-5:]))
        recent.setdefault(user, []).append(item % ROWS)
    anonymous = counted(stream, 3)
    arrays, meta = anonymous.to_arrays()
    opened = ItemStats(max_neighbors=3)
    opened.resize(ROWS)
    opened.load_arrays(arrays, meta)
    assert not opened.contributions.complete
    remap = np.r_[np.arange(4), -1, np.arange(4, ROWS - 1)]
    for stats in (anonymous, opened):
        stats.keep_rows(remap, ROWS - 1)
    assert state(opened, ROWS - 1) == state(anonymous, ROWS - 1)
    assert opened.popularity.sum() == pytest.approx(sum(w for _, r, w, _, _ in stream if r != 4))


def test_statistics_saved_before_the_horizon_forget_as_exactly():
    """Saves made before the horizon had no settled counts nor undo log: nothing was settled, so
    the links are counted again from their events on opening."""
    stream = events(300, seed=5, users=list(USERS))
    stats = ItemStats(max_neighbors=3, forget_horizon=None)
    stats.resize(ROWS)
    alive, recent = [], {}
    for user, item, _, t in stream:
        event = (user, item % ROWS, 1.0, t, recent.get(user, [])[-5:])
        stats.record(*event)
        alive.append(event)
        recent.setdefault(user, []).append(item % ROWS)
    arrays, meta = stats.to_arrays()
    old = {
        name: a
        for name, a in arrays.items()
        if not name.startswith("undo_") and name not in ("settled", "contrib_settled_tail")
    }
    reopened = ItemStats(max_neighbors=3)
    reopened.load_arrays(old, meta)
    assert state(reopened) == state(stats)
    for user in USERS[:2]:
        alive = forget_in_step(reopened, alive, user)
        assert state(reopened) == state(counted(alive, 3))


def evicting_stats() -> ItemStats:
    """60 events of four users with three links each on rows of two link slots, 20 held: the
    held ones evict links (their undo log has records)."""
    stats = ItemStats(max_neighbors=2, forget_horizon=20)
    stats.resize(ROWS)
    rng = np.random.default_rng(3)
    for t in range(60):
        stats.record(f"u{t % 4}", int(rng.integers(ROWS)), 1.0, float(t), [int(r) for r in rng.integers(ROWS, size=3)])
    return stats


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.update(undo_row=a["undo_row"][:-1]),  # a column shorter than the rest
        lambda a: a.update(undo_row=a["undo_row"] + ROWS),  # rows past the catalog
        lambda a: a.update(undo_event=a["undo_event"] + 10_000),  # events past the contributions
        lambda a: a.update(undo_count=np.full_like(a["undo_count"], np.nan)),
        lambda a: a.update(undo_slot=a["undo_slot"].astype(np.int32) + 40_000),  # slots past any row's links
        lambda a: a.update(settled=a["settled"][:-1]),  # settled counts for fewer items
        lambda a: a.update(settled=-a["settled"] - 1),  # negative counts
    ],
)
def test_a_damaged_undo_log_or_settled_table_is_refused(damage):
    arrays, meta = evicting_stats().to_arrays()
    assert len(arrays["undo_row"]) > 0, "full rows of two links evict"
    damage(arrays)
    with pytest.raises(PyrerankError, match="item statistics"):
        ItemStats(max_neighbors=2).load_arrays(arrays, meta)


def test_an_undo_log_saved_in_wide_columns_forgets_as_exactly():
    """Saves made before the undo log's records narrowed held its events as int64 and its
    slots as int32."""
    stats = evicting_stats()
    arrays, meta = stats.to_arrays()
    assert len(arrays["undo_event"]) > 0 and arrays["undo_slot"].dtype == np.int16
    arrays.update(undo_event=arrays["undo_event"].astype(np.int64), undo_slot=arrays["undo_slot"].astype(np.int32))
    reopened = ItemStats(max_neighbors=2, forget_horizon=20)
    reopened.load_arrays(arrays, meta)
    for forgetting in (stats, reopened):
        forgetting.forget("u1")
    assert state(reopened) == state(stats)


def test_undo_records_keep_their_positions_as_settling_moves_them_down(monkeypatch):
    """Stored events are positions plus a base that settling raises; past REBASE (or where a new
    position would not fit the int32), they move down in place."""
    monkeypatch.setattr(undo_log, "REBASE", 4)
    monkeypatch.setattr(undo_log, "MAX_POSITION", 20)
    log = UndoLog()
    for position in range(10):
        log.add(position, 0, [1], [(0, 0, 1, 1.0)])
    log.drop_settled(3)  # base 3, within REBASE
    assert log.sorted_columns()[0].tolist() == list(range(7))
    log.drop_settled(3)  # base 6: moved down
    assert log.sorted_columns()[0].tolist() == list(range(4))
    log.drop_settled(3)  # base 3 again
    log.add(18, 0, [1], [(0, 0, 1, 1.0)])  # 18 + 3 passes MAX_POSITION: moved down first
    assert log.sorted_columns()[0].tolist() == [0, 18]
    log.drop_settled(25)  # a base past MAX_POSITION: every record settles
    assert len(log) == 0


def test_event_positions_past_int32_are_refused_with_the_setting_to_change():
    with pytest.raises(PyrerankError, match="set a forget_horizon"):
        UndoLog().add(2**31, 0, [1], [(0, 0, 1, 1.0)])


def test_a_reranker_holds_the_horizon_not_every_event_and_saves_it(tmp_path):
    rr = make_reranker(forget_horizon=40)
    feed(rr, events(600, seed=2))
    contributions = rr.stats.contributions
    assert 40 <= len(contributions) <= 50 and contributions.nbytes < 4_096
    rr.save(tmp_path / "saved")
    reopened = pr.Reranker.load(tmp_path / "saved")
    assert reopened.stats.forget_horizon == 40
    assert state(reopened.stats, len(ITEMS)) == state(rr.stats, len(ITEMS))
    assert pr.Reranker.load(tmp_path / "saved", forget_horizon=None).stats.forget_horizon is None


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), ("many", TypeError), (2.5, TypeError), (True, TypeError)]
)
def test_a_bad_forget_horizon_is_refused_by_name(value, error):
    with pytest.raises(error, match="forget_horizon"):
        pr.Reranker(encoder=None, forget_horizon=value)
