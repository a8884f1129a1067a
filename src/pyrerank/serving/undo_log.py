"""What undoing co-engagement bumps newest first takes beyond the events themselves: the links
a bump evicted and the additions float32 rounding changed. With it, `ItemStats.forget` recovers
an item's links as they were before the unsettled events from its links now (the horizon)."""

from __future__ import annotations

import array
from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import PyrerankError

AMOUNT = 1.0  # every event's bump adds one
Record = tuple[int, int, float]  # slot (-1: a rounded addition), neighbour, count
Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # CoEngagement's neighbors, counts, sizes, versions


def bumps(row: int, links: list[int]) -> list[tuple[int, int, int]]:
    """(bump, a, b) of each link a -> b an event on `row` linked with `links` bumps, in the
    order co_link makes them (its numbering: 2i row -> links[i], 2i + 1 back)."""
    out = []
    for i, other in enumerate(links):
        if other != row:
            out += [(2 * i, row, other), (2 * i + 1, other, row)]
    return out


class UndoLog:
    """One record per bump that evicted a link or lost its addition to rounding: the event's
    position among the contributions, the bump, the item row it bumped, and the evicted link's
    slot, neighbour and count (slot -1: the count before the addition). 24 bytes a record; a bump
    that added one to a count or took a free slot needs none."""

    def __init__(self) -> None:
        self._event, self._bump = array.array("q"), array.array("h")
        self._row, self._slot, self._neighbor = array.array("i"), array.array("i"), array.array("i")
        self._count = array.array("f")

    def __len__(self) -> int:
        return len(self._event)

    @property
    def nbytes(self) -> int:
        return sum(len(b) * b.itemsize for b in self._buffers().values())

    def _buffers(self) -> dict[str, array.array]:
        return {name: getattr(self, f"_{name}") for name in _NAMES}

    def add(self, event: int, row: int, links: list[int], undo: Iterable[tuple[int, int, int, float]]) -> None:
        """co_link's report for the event at position `event` on `row` linked with `links`."""
        for bump, slot, neighbor, count in undo:
            self._event.append(event)
            self._bump.append(bump)
            self._row.append(row if bump % 2 == 0 else links[bump // 2])
            self._slot.append(slot)
            self._neighbor.append(neighbor)
            self._count.append(count)

    def records(self, events: np.ndarray | None = None) -> dict[tuple[int, int], Record]:
        """{(event, bump): (slot, neighbour, count)} of the events at (m,) int64 positions
        `events` (None: all)."""
        keep = slice(None) if events is None else np.isin(np.frombuffer(self._event, np.int64), events)
        columns = {name: np.frombuffer(b, b.typecode)[keep].tolist() for name, b in self._buffers().items()}
        keys = zip(columns["event"], columns["bump"])
        return dict(zip(keys, zip(columns["slot"], columns["neighbor"], columns["count"])))

    def _keep(self, keep: np.ndarray, event: np.ndarray) -> None:
        """Keep the records where (n,) bool `keep`, their events renumbered to (n,) int64 `event`."""
        for name, buffer in self._buffers().items():
            kept = event[keep] if name == "event" else np.frombuffer(buffer, buffer.typecode)[keep]
            setattr(self, f"_{name}", array.array(buffer.typecode, kept.astype(buffer.typecode).tobytes()))

    def drop_settled(self, n: int) -> None:
        """The first `n` events were settled: their records go, the others' events move down by n."""
        event = np.frombuffer(self._event, np.int64)
        self._keep(event >= n, event - n)

    def drop(self, removed: np.ndarray, rows: np.ndarray) -> None:
        """Drop the records of the events at (m,) int64 sorted positions `removed` and of every
        bump on `rows` (recounted), the others' events renumbered as after removing `removed`."""
        event = np.frombuffer(self._event, np.int64)
        keep = ~np.isin(event, removed) & ~np.isin(np.frombuffer(self._row, np.int32), rows)
        self._keep(keep, event - np.searchsorted(removed, event))

    def renumber(self, here: np.ndarray) -> None:
        """Rows as (n_saved_rows,) int64 `here` maps them, every one to a row."""
        for name in ("row", "neighbor"):
            column = np.frombuffer(getattr(self, f"_{name}"), np.int32)
            moved = np.where(column >= 0, here[np.maximum(column, 0)], -1)
            setattr(self, f"_{name}", array.array("i", moved.astype(np.int32).tobytes()))

    def copy(self) -> UndoLog:
        out = UndoLog()
        for name, buffer in self._buffers().items():
            setattr(out, f"_{name}", array.array(buffer.typecode, buffer))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Copies of the records' columns, named ``undo_<column>``."""
        return {f"undo_{name}": np.frombuffer(b, b.typecode).copy() for name, b in self._buffers().items()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], n_events: int, n_rows: int) -> UndoLog:
        """The inverse of to_arrays for `n_events` contributions over `n_rows` item rows;
        PyrerankError if the columns disagree."""
        out = cls()
        columns = {name: np.asarray(arrays[f"undo_{name}"]) for name in _NAMES}
        n = len(columns["event"])
        shapes_ok = all(c.ndim == 1 and len(c) == n for c in columns.values())
        if not shapes_ok or not all(np.can_cast(c, _TYPECODES[k], "same_kind") for k, c in columns.items()):
            raise PyrerankError("item statistics' undo log is inconsistent (shapes or types)")
        events_ok = ((columns["event"] >= 0) & (columns["event"] < n_events)).all()
        rows_ok = ((columns["row"] >= 0) & (columns["row"] < n_rows)).all()
        neighbors_ok = ((columns["neighbor"] >= -1) & (columns["neighbor"] < n_rows)).all()
        slots_ok = (columns["slot"] >= -1).all() and np.isfinite(columns["count"]).all()
        if not (events_ok and rows_ok and neighbors_ok and slots_ok):
            raise PyrerankError("item statistics' undo log is inconsistent (events, rows or counts)")
        for name, column in columns.items():
            setattr(out, f"_{name}", array.array(_TYPECODES[name], column.astype(_TYPECODES[name]).tobytes()))
        return out


def undo(
    tables: Tables,
    rows: set[int] | None,
    events: Iterable[tuple[int, int, list[int]]],
    records: Mapping[tuple[int, int], Record],
) -> None:
    """Undo on a CoEngagement's `tables`, in place, every bump on one of `rows` (None: on any)
    that `events` ((position, row, links), newest first) made, with UndoLog.records()."""
    for position, row, links in events:
        for bump, a, b in reversed(bumps(row, links)):
            if rows is None or a in rows:
                _unbump(tables, a, b, records.get((position, bump)))


def _unbump(tables: Tables, a: int, b: int, record: Record | None) -> None:
    """Undo the latest bump a -> b, which `record` describes where it evicted or rounded."""
    all_neighbors, all_counts, sizes, versions = tables
    size = int(sizes[a])
    neighbors, counts = all_neighbors[a], all_counts[a]
    found = np.flatnonzero(neighbors[:size] == b)
    if not len(found):
        if record is not None:
            raise PyrerankError(f"item statistics' undo log does not match item row {a}'s links")
        return  # the bump changed nothing: a full row's links were all stronger
    at = int(found[0])
    versions[a] += 1
    if record is not None and record[0] < 0:
        counts[at] = record[2]
        return
    inserted = at == size - 1 and counts[at] == AMOUNT
    if record is None and not inserted:
        counts[at] -= AMOUNT
        return
    if not inserted:
        raise PyrerankError(f"item statistics' undo log does not match item row {a}'s links")
    if record is None:
        sizes[a] = size - 1
        return
    slot, neighbor, count = record
    neighbors[slot + 1 : size] = neighbors[slot : size - 1].copy()
    counts[slot + 1 : size] = counts[slot : size - 1].copy()
    neighbors[slot], counts[slot] = neighbor, count


_NAMES = ("event", "bump", "row", "slot", "neighbor", "count")
_TYPECODES = {"event": "q", "bump": "h", "row": "i", "slot": "i", "neighbor": "i", "count": "f"}
