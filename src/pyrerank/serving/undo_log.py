"""What undoing co-engagement bumps newest first takes beyond the events themselves: the links
a bump evicted and the additions float32 rounding changed. With it, `ItemStats.forget` recovers
an item's links as they were before the unsettled events from its links now (the horizon)."""

from __future__ import annotations

import array
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from .. import _core
from ..errors import PyrerankError
from .contributions import among

AMOUNT = 1.0  # every event's bump adds one
Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # CoEngagement's neighbors, counts, sizes, versions


class Events(NamedTuple):
    """Counted events, oldest first, as the kernel links them: (n,) int64 positions among the
    contributions, (n,) int64 rows, (n,) int64 ends of each one's links in (m,) int64 `links`."""

    positions: np.ndarray
    rows: np.ndarray
    ends: np.ndarray
    links: np.ndarray

    @classmethod
    def of(cls, positions: np.ndarray, rows: np.ndarray, n_links: np.ndarray, links: np.ndarray) -> Events:
        ends = np.cumsum(n_links, dtype=np.int64)
        return cls(np.asarray(positions, np.int64), np.asarray(rows, np.int64), ends, np.asarray(links, np.int64))


class UndoLog:
    """One record per bump that evicted a link or lost its addition to rounding: the event's
    position among the contributions (int32), the bump (int16), the item row it bumped (int32),
    and the evicted link's slot (int16: max_neighbors <= MAX_SLOTS), neighbour (int32) and count
    (float32; slot -1: the count before the addition). 20 bytes a record; a bump that added one
    to a count or took a free slot needs none.

    Records are kept in (event, bump) order, each event stored as its position plus `_base`, so
    that settling the oldest events only raises `_base` and cuts a prefix (the stored events are
    moved down in place only once `_base` passes REBASE)."""

    def __init__(self) -> None:
        self._event, self._bump = array.array("i"), array.array("h")
        self._row, self._slot, self._neighbor = array.array("i"), array.array("h"), array.array("i")
        self._count = array.array("f")
        self._base = 0  # a record's event position is its stored event less this

    def __len__(self) -> int:
        return len(self._event)

    @property
    def nbytes(self) -> int:
        return sum(len(b) * b.itemsize for b in self._buffers().values())

    def _buffers(self) -> dict[str, array.array]:
        return {name: getattr(self, f"_{name}") for name in _NAMES}

    def add(self, event: int, row: int, links: Iterable[int], report: Iterable[tuple[int, int, int, float]]) -> None:
        """co_link's report for the event at position `event` (none logged before it is later) on
        `row` linked with `links`."""
        links = list(links)
        self._fit(event)
        for bump, slot, neighbor, count in report:
            self._event.append(event + self._base)
            self._bump.append(bump)
            self._row.append(row if bump % 2 == 0 else links[bump // 2])
            self._slot.append(slot)
            self._neighbor.append(neighbor)
            self._count.append(count)

    def extend(self, *columns: np.ndarray) -> None:
        """Records as (m,) columns in _NAMES' order (events as positions, none logged before
        them later), appended."""
        self._fit(columns[0].max(initial=0))
        for name, column in zip(_NAMES, columns, strict=True):
            _append(getattr(self, f"_{name}"), column + self._base if name == "event" else column)

    def sorted_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(event position, bump) int64, (slot, neighbour) int32 and count float32 columns of
        every record, in (event, bump) order (as co_unlink_events reads them)."""
        columns = self._columns()
        return (
            columns["event"],
            columns["bump"].astype(np.int64),
            columns["slot"].astype(np.int32),
            columns["neighbor"],
            columns["count"],
        )

    def _columns(self) -> dict[str, np.ndarray]:
        """Every column as numpy (views; events as positions, a new int64 array)."""
        columns = {name: np.frombuffer(b, b.typecode) for name, b in self._buffers().items()}
        columns["event"] = columns["event"].astype(np.int64) - self._base
        return columns

    def _set(self, columns: Mapping[str, np.ndarray]) -> None:
        """Hold `columns` (events as positions, in (event, bump) order)."""
        self._base = 0
        self._fit(columns["event"][-1] if len(columns["event"]) else 0)
        for name, typecode in _TYPECODES.items():
            buffer = array.array(typecode)
            _append(buffer, columns[name])
            setattr(self, f"_{name}", buffer)

    def _fit(self, last: int) -> None:
        """Make room for event positions up to `last` in the int32 stored events (the base back
        to 0 if need be); PyrerankError where even that cannot hold it."""
        if last + self._base <= MAX_POSITION:
            return
        if last > MAX_POSITION:
            raise PyrerankError(f"more than {MAX_POSITION} counted events held for exact forget: set a forget_horizon")
        self._rebase()

    def _rebase(self) -> None:
        events = np.frombuffer(self._event, np.int32)  # a view: released before the buffer grows again
        events -= self._base
        self._base = 0

    def drop_settled(self, n: int) -> None:
        """The first `n` events were settled: their records go (a prefix), the others' events move
        down by n (the base rises; past REBASE, the stored events move down in place)."""
        self._base += n
        stored = np.frombuffer(self._event, np.int32)
        # Searched with an int32: a Python int would have numpy convert every stored event first.
        cut = len(stored) if self._base > MAX_POSITION else int(np.searchsorted(stored, np.int32(self._base)))
        del stored  # a view: the buffers shrink below
        for buffer in self._buffers().values():
            del buffer[:cut]
        if self._base > REBASE:
            self._rebase()

    def rows_linked_with(self, rows: np.ndarray) -> np.ndarray:
        """(r,) int64 rows with a record of a link to a row where (n_rows,) bool `rows` is set."""
        neighbor, row = np.frombuffer(self._neighbor, np.int32), np.frombuffer(self._row, np.int32)
        named = neighbor >= 0
        named[named] = rows[neighbor[named]]
        return np.unique(row[named]).astype(np.int64)

    def replace(self, removed: np.ndarray, rows: np.ndarray, relinked: UndoLog) -> None:
        """Drop the records of the events at (m,) int64 sorted positions `removed` and of every
        bump on `rows`, renumber the others' events as after removing `removed`, and take
        `relinked`'s records (their events as positions after it) into their (event, bump)
        places: one rewrite of the records."""
        columns = self._columns()
        event = columns["event"]
        keep = ~np.isin(event, removed) & ~among(columns["row"], rows)
        columns = {name: c[keep] for name, c in columns.items()}
        columns["event"] -= np.searchsorted(removed, columns["event"])
        if len(relinked):
            theirs = relinked._columns()
            slots = np.searchsorted(_keys(columns), _keys(theirs)) + np.arange(len(relinked))  # in the merged
            mine = np.ones(len(columns["event"]) + len(slots), bool)
            mine[slots] = False
            for name in _NAMES:
                merged = np.empty(len(mine), columns[name].dtype)
                merged[mine], merged[slots] = columns[name], theirs[name]
                columns[name] = merged
        self._set(columns)

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
        out._base = self._base
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Copies of the records' columns (events as positions), named ``undo_<column>``."""
        return {f"undo_{name}": column.copy() for name, column in self._columns().items()}

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
        slots_ok = ((columns["slot"] >= -1) & (columns["slot"] <= MAX_SLOTS)).all()
        slots_ok = slots_ok and np.isfinite(columns["count"]).all()
        if not (events_ok and rows_ok and neighbors_ok and slots_ok):
            raise PyrerankError("item statistics' undo log is inconsistent (events, rows or counts)")
        order = np.lexsort((columns["bump"], columns["event"]))  # kept in order; older saves may not be
        out._set({name: column[order] for name, column in columns.items()})
        return out


def link(tables: Tables, events: Events, only: np.ndarray | None, log: UndoLog) -> None:
    """Link `events` on a CoEngagement's `tables`, in place, in order, bumping only rows where
    (n_rows,) bool `only` is set (None: any), and log what undoes them (`log` holds no later
    event)."""
    i, bump, slot, neighbor, count = _core.co_link_events(*tables, events.rows, events.ends, events.links, only, AMOUNT)
    row = events.rows[i]
    back = bump % 2 == 1  # a link's row, bumped back
    starts = events.ends - np.diff(events.ends, prepend=0)
    row[back] = events.links[starts[i[back]] + bump[back] // 2]
    log.extend(events.positions[i], bump, row, slot, neighbor, count)


def undo(tables: Tables, events: Events, only: np.ndarray | None, log: UndoLog) -> None:
    """Undo on a CoEngagement's `tables`, in place, newest first, every bump `events` made on a
    row where (n_rows,) bool `only` is set (None: any), with `log`'s records; PyrerankError
    where they do not match the links (the statistics are then damaged)."""
    try:
        _core.co_unlink_events(*tables, *events, only, *log.sorted_columns(), AMOUNT)
    except ValueError as exc:
        raise PyrerankError(f"item statistics: {exc}") from None


def _append(buffer: array.array, values: np.ndarray) -> None:
    """Append (m,) `values` to `buffer` as its type code's values (one copy)."""
    buffer.frombytes(np.ascontiguousarray(values, buffer.typecode).data.cast("B"))


def _keys(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n,) int64 keys in (event, bump) order."""
    return columns["event"] * 65_536 + columns["bump"].astype(np.int64)


_NAMES = ("event", "bump", "row", "slot", "neighbor", "count")
_TYPECODES = {"event": "i", "bump": "h", "row": "i", "slot": "h", "neighbor": "i", "count": "f"}
MAX_SLOTS = 2**15 - 1  # max_neighbors at most: a record's slot is an int16
MAX_POSITION = 2**31 - 1  # a record's stored event (position plus base) is an int32
REBASE = 2**30  # settled events after which the stored events move down (once per ~1e9 events)
