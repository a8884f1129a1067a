"""Per-event contributions (what makes forget exact) give back every event as it was added,
links derived from the user's own events or stored, through forget, copies and saves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyrerank as pr
from pyrerank.serving.contributions import Contributions

ROWS = 12


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[str, int, float, float, list[int]]]:
    """Events of a few users whose links are mostly their previous positives (as observe makes
    them), sometimes other rows, longer lists or weights no float32 holds."""
    out: list[tuple[str, int, float, float, list[int]]] = []
    previous: dict[str, list[int]] = {}
    for t in range(draw(st.integers(0, 40))):
        user = draw(st.sampled_from(["a", "b", "c"]))
        row = draw(st.integers(0, ROWS - 1))
        mine = previous.setdefault(user, [])
        links = draw(
            st.one_of(
                st.just(mine[-5:]),
                st.just(mine[-draw(st.integers(1, 5)) :]),
                st.lists(st.integers(0, ROWS - 1), max_size=8),
            )
        )
        weight = draw(st.sampled_from([1.0, 2.0, 0.25, 0.1, 3.0]))
        out.append((user, row, weight, 1_000.0 + t / 3, list(links)))
        mine.append(row)
    return out


def filled(stream: list[tuple[str, int, float, float, list[int]]]) -> Contributions:
    contributions = Contributions()
    for event in stream:
        contributions.add(*event)
    return contributions


def events_of(contributions: Contributions) -> list[tuple[str, int, float, float, list[int]]]:
    """The events columns() gives back, with user names."""
    columns, links = contributions.columns()
    name = {number: user for user, number in contributions.user_number.items()}
    ends = np.cumsum(columns["n_links"])
    return [
        (name[u], r, w, t, links[end - n : end].tolist())
        for u, r, w, t, n, end in zip(
            *(columns[c].tolist() for c in ("user", "row", "weight", "time", "n_links")), ends.tolist()
        )
    ]


def touching(contributions: Contributions, rows: np.ndarray) -> list[tuple[int, float, float, list[int]]]:
    """(row, weight, time, links) of the events Contributions.touching finds, positions checked."""
    positions, columns, links = contributions.touching(rows)
    everything = events_of(contributions)
    ends = np.cumsum(columns["n_links"])
    found = [
        (r, w, t, links[end - n : end].tolist())
        for r, w, t, n, end in zip(*(columns[c].tolist() for c in ("row", "weight", "time", "n_links")), ends.tolist())
    ]
    assert found == [everything[p][1:] for p in positions.tolist()]
    return found


@settings(max_examples=150, deadline=None)
@given(streams(), st.sampled_from(["a", "b", "c"]))
def test_every_event_comes_back_as_added_after_forget_copy_and_save(stream, gone):
    contributions = filled(stream)
    assert events_of(contributions) == stream
    copy = contributions.copy()
    found = contributions.touched_by(gone)
    touched = None if found is None else found[1]
    if found is not None:
        contributions.remove(gone, found[0])
    mine = [e for e in stream if e[0] == gone]
    if not mine:
        assert touched is None
    else:
        assert touched.tolist() == sorted({r for e in mine for r in [e[1], *e[4]]})
    rest = [e for e in stream if e[0] != gone]
    assert events_of(contributions) == rest
    if touched is not None:  # what forget recounts
        wanted = [(r, w, t, ls) for _, r, w, t, ls in rest if r in touched or set(ls) & set(touched.tolist())]
        assert touching(contributions, touched) == wanted
    assert events_of(copy) == stream  # the copy kept its own
    arrays, users = contributions.to_arrays()
    assert events_of(Contributions.from_arrays(arrays, users, ROWS, None)) == rest
    here = np.arange(ROWS)
    here[3], here[4:] = -1, np.arange(3, ROWS - 1)  # item 3 left the catalog; later rows move up
    moved = [(u, int(here[r]), w, t, [int(here[x]) for x in ls if here[x] >= 0]) for u, r, w, t, ls in rest if r != 3]
    assert events_of(Contributions.from_arrays(arrays, users, ROWS, here)) == moved
    reverse = np.arange(ROWS)[::-1].copy()  # every item still here, rows renumbered
    restored = Contributions.from_arrays(arrays, users, ROWS, reverse)
    assert events_of(restored) == [(u, int(reverse[r]), w, t, reverse[ls].tolist()) for u, r, w, t, ls in rest]
    for user in {e[0] for e in rest}:  # an event linked with the user's last rows stores no links
        last = [int(reverse[e[1]]) for e in rest if e[0] == user][-5:]
        before = restored.nbytes
        restored.add(user, 0, 1.0, 9e3, last)
        assert restored.nbytes - before in (21, 25)  # 25 where weights went float64; stored links add 8+
        assert events_of(restored)[-1] == (user, 0, 1.0, 9e3, last)
    for user, row, weight, t, links in rest[:3]:  # adding goes on after a restore
        contributions.add(user, row, weight, t + 100, links)
    assert events_of(contributions) == rest + [(u, r, w, t + 100, ls) for u, r, w, t, ls in rest[:3]]


@settings(max_examples=200, deadline=None)
@given(streams(), st.integers(0, 45), st.data())
def test_settled_events_leave_and_the_rest_come_back_as_added(stream, n, data):
    """drop_oldest (the horizon settling events) keeps every later event as it was added, links
    read off a dropped event included, forgets users left with none, and adding goes on."""
    contributions = filled(stream)
    n = min(n, len(stream))
    contributions.drop_oldest(n)
    rest = stream[n:]
    assert events_of(contributions) == rest
    assert set(contributions.user_number) == {e[0] for e in rest}
    rows = np.array(data.draw(st.lists(st.integers(0, ROWS - 1), max_size=3, unique=True)), np.int64)
    wanted = [(r, w, t, ls) for _, r, w, t, ls in rest if r in rows or set(ls) & set(rows.tolist())]
    assert touching(contributions, rows) == wanted  # links read off settled rows too
    more = data.draw(streams())
    for user, row, weight, t, links in more:  # the users' tails know only their kept events
        contributions.add(user, row, weight, t + 100, links)
    assert events_of(contributions) == rest + [(u, r, w, t + 100, ls) for u, r, w, t, ls in more]
    arrays, users = contributions.to_arrays()
    assert events_of(Contributions.from_arrays(arrays, users, ROWS, None)) == events_of(contributions)


def test_users_gone_from_the_horizon_give_their_numbers_back():
    contributions = Contributions()
    for t in range(5_000):  # each user's one event settles before the next user's many
        contributions.add(f"u{t}", t % ROWS, 1.0, float(t), [])
        if len(contributions) > 10:
            contributions.drop_oldest(5)
    assert len(contributions.user_number) <= 11 and contributions.nbytes < 100_000  # 200 kB without
    assert events_of(contributions) == [
        (f"u{t}", t % ROWS, 1.0, float(t), []) for t in range(5_000 - len(contributions), 5_000)
    ]


def test_links_from_the_users_previous_events_are_not_stored():
    """What observe logs (each positive linked with the user's last five) costs 21 bytes an
    event: user, row, weight (float32: it holds every default weight), time and a count."""
    stream, recent = [], {}
    rng = np.random.default_rng(0)
    for t in range(10_000):
        user = f"u{rng.integers(100)}"
        row = int(rng.integers(1_000))
        mine = recent.setdefault(user, [])
        stream.append((user, row, float(rng.choice([0.25, 1.0, 2.0, 3.0])), float(t), mine[-5:]))
        mine.append(row)
    contributions = filled(stream)
    assert events_of(contributions) == stream
    assert contributions.nbytes <= 21 * len(stream) + 20 * 100 + 4_096  # buffers' growth room aside
    contributions.add("u1", 5, 0.1, 1e5, [])  # a weight float32 cannot hold: every weight in float64
    assert events_of(contributions)[-1] == ("u1", 5, 0.1, 1e5, [])


def saved_stream() -> tuple[dict[str, np.ndarray], list[str]]:
    stream = [("a", 1, 1.0, 1.0, []), ("b", 2, 0.1, 2.0, [7, 8]), ("a", 3, 2.0, 3.0, [1]), ("a", 4, 1.0, 4.0, [1, 3])]
    return filled(stream).to_arrays()


def test_an_earlier_saves_layout_with_every_link_stored_is_read():
    arrays, users = saved_stream()
    contributions = Contributions.from_arrays(arrays, users, ROWS, None)
    columns, links = contributions.columns()
    earlier = {f"contrib_{name}": column for name, column in columns.items()} | {"contrib_links": links}
    assert events_of(Contributions.from_arrays(earlier, users, ROWS, None)) == events_of(contributions)


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.update(contrib_row=a["contrib_row"][:-1]),  # a column shorter than the rest
        lambda a: a.update(contrib_row=a["contrib_row"].astype(np.float64)),  # a float where rows are ints
        lambda a: a.update(contrib_row=a["contrib_row"] + ROWS),  # rows past the catalog
        lambda a: a.update(contrib_user=a["contrib_user"] + 5),  # users not named
        lambda a: a.update(contrib_codes=np.full_like(a["contrib_codes"], 3)),  # links before a user's first event
        lambda a: a.update(contrib_codes=np.full_like(a["contrib_codes"], 9)),  # a code past TAIL
        lambda a: a.update(contrib_own_counts=a["contrib_own_counts"] + 1),  # stored links miscounted
        lambda a: a.update(contrib_time=np.full_like(a["contrib_time"], np.nan)),
        lambda a: a.update(contrib_own_links=np.int32(3)),  # not an array of links
        lambda a: a.pop("contrib_own_links"),
    ],
)
def test_saved_contributions_that_disagree_are_refused(damage):
    arrays, users = saved_stream()
    damage(arrays)
    with pytest.raises(pr.PyrerankError, match="contributions"):
        Contributions.from_arrays(arrays, users, ROWS, None)
