"""Item statistics shared by every user: popularity, recent popularity, last engagement time and
item-item co-engagement, all updated on every positive event."""

from __future__ import annotations

import array
import io
import json
import threading
import warnings
import zipfile
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from ..errors import PyrerankError, PyrerankWarning
from ..interest._common import DAY
from .contributions import Contributions, place_in_group
from .heap import release_free_pages
from .undo_log import Events, UndoLog, link, undo

FORGET_HORIZON = 1_000_000  # counted events that forget takes out exactly, by default
SETTLE_STEP = 65_536  # events settled at once at most: one observe's pause stays in tens of ms
# Settle steps between handing the heap's free pages back (heap.py): the pages released are faulted
# in again as the buffers regrow, which at every step doubled a step's pause with links full.
TRIM_EVERY = 16


def settle_step(horizon: int) -> int:
    """How many events past `horizon` are held before the oldest are settled."""
    return max(1, min(horizon // 4, SETTLE_STEP))


class CoEngagement:
    """For each item, its most co-engaged items: counts of "engaged by the same user within a
    few events", at most `max_neighbors` per item in fixed-size slots (the weakest link makes
    room for a new one), so memory is bounded by items × max_neighbors × 8 bytes, not by events
    (pages of items never linked are never touched). Updated and read by the C++ kernel.

    neighbors : (capacity, k) int32 linked rows, in the order they were linked
    counts : (capacity, k) float32 their counts; sizes : (capacity,) int32 slots in use
    versions : (capacity,) int64, bumped whenever an item's links change
    """

    def __init__(self, max_neighbors: int = 256, n_rows: int = 0) -> None:
        self.max_neighbors = max_neighbors
        self._allocate(n_rows)

    def _allocate(self, capacity: int) -> None:
        k = self.max_neighbors
        self.neighbors = np.zeros((capacity, k), np.int32)
        self.counts = np.zeros((capacity, k), np.float32)
        self.sizes = np.zeros(capacity, np.int32)
        self.versions = np.zeros(capacity, np.int64)

    def resize(self, n_rows: int) -> None:
        """Room for `n_rows` items (capacity doubles, so adding items one by one stays cheap)."""
        if n_rows <= len(self.sizes):
            return
        neighbors, counts, sizes, versions = self.tables()
        self._allocate(max(n_rows, 2 * len(sizes)))
        n = len(sizes)
        self.sizes[:n], self.versions[:n] = sizes, versions
        linked = np.flatnonzero(sizes)  # only their slots: copying the rest would touch every page
        self.neighbors[linked], self.counts[linked] = neighbors[linked], counts[linked]

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(neighbors, counts, sizes, versions), the arrays the kernel reads and updates."""
        return self.neighbors, self.counts, self.sizes, self.versions

    def links(self, row: int) -> dict[int, float] | None:
        """One item's links, {neighbour row: count} (None if it has none)."""
        if row >= len(self.sizes) or not self.sizes[row]:
            return None
        size = int(self.sizes[row])
        return dict(zip(self.neighbors[row, :size].tolist(), self.counts[row, :size].tolist()))

    def add(self, row: int, recent_rows: list[int], amount: float = 1.0) -> list[tuple[int, int, int, float]]:
        """Link `row` with each of the user's recent rows (both directions); co_link's report of
        the bumps that evicted a link or rounded (UndoLog)."""
        return _core.co_link(*self.tables(), row, recent_rows, amount) if recent_rows else []

    def user_scores(self, recent_rows: Sequence[int], decay: float) -> _core.CoScores:
        """A user's co-engagement scores: Σ_j decay^age_j · neighbours(j) over recent rows
        (newest last), as the table the kernels look candidates up in (``arrays()``: the rows and
        their scores). Callers hold the statistics' lock (links change under add)."""
        return _core.co_user_scores(*self.tables(), list(recent_rows), decay)

    def copy(self) -> CoEngagement:
        """An independent copy (links and their versions)."""
        out = CoEngagement(self.max_neighbors)
        out.neighbors, out.counts = self.neighbors.copy(), self.counts.copy()
        out.sizes, out.versions = self.sizes.copy(), self.versions.copy()
        return out

    def slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every link, for saving: (capacity,) int32 links per item row, then (m,) int32
        neighbour rows and (m,) float32 counts, each item's in their slot order (8 bytes a link)."""
        used = np.arange(self.max_neighbors) < self.sizes[:, None]
        return self.sizes.copy(), self.neighbors[used], self.counts[used]

    def add_links(
        self, items: np.ndarray, others: np.ndarray, counts: np.ndarray, here: np.ndarray | None = None
    ) -> None:
        """Restore saved links (item row, neighbour row, count), (m,) each, into this (empty)
        structure; `here` (n_saved_rows,) int64 maps a saved row to this catalog's row (-1: not
        here, the link is left out), None keeps rows as saved. Each item keeps its links in their
        saved order (which decides ties when the weakest link makes room); an item saved with
        more than `max_neighbors` keeps its strongest (the older of equal counts)."""
        if self.sizes.any():
            raise ValueError("add_links restores into an empty CoEngagement")
        pairs, counts = np.column_stack([items, others]).astype(np.int64), np.asarray(counts, np.float32)
        if here is not None and len(pairs):
            pairs = here[pairs]
        keep = (pairs >= 0).all(axis=1)
        pairs, counts = pairs[keep], counts[keep]
        if not len(pairs):
            return
        self.resize(int(pairs.max()) + 1)
        order = np.argsort(pairs[:, 0], kind="stable")
        items, others, counts = pairs[order, 0], pairs[order, 1], counts[order]
        slot = place_in_group(items)
        if (slot >= self.max_neighbors).any():  # saved with more links an item than these slots hold
            strongest_first = np.lexsort((slot, -counts, items))
            strength = np.empty_like(slot)
            strength[strongest_first] = slot  # strongest_first keeps each item's group where it was
            keep = strength < self.max_neighbors
            items, others, counts = items[keep], others[keep], counts[keep]
            slot = place_in_group(items)
        self.neighbors[items, slot] = others
        self.counts[items, slot] = counts
        self.sizes[:] = np.bincount(items, minlength=len(self.sizes))[: len(self.sizes)]

    def unlink(self, rows: np.ndarray, gone: np.ndarray) -> None:
        """Take the items where (capacity,) bool `gone` is set out of the links of the (r,) int64
        `rows`, in place, the others keeping their order (as add_links restores a save without
        them)."""
        used = np.arange(self.max_neighbors) < self.sizes[rows][:, None]
        neighbors = self.neighbors[rows]
        keep = used & ~gone[np.where(used, neighbors, 0)]
        self.neighbors[rows], self.counts[rows], self.sizes[rows] = _compacted(neighbors, self.counts[rows], keep)
        self.versions[rows] += 1

    def moved(self, remap: np.ndarray, n_rows: int) -> CoEngagement:
        """A copy over `n_rows` rows, each row at the new row (len,) int64 `remap` gives it (-1:
        the item goes, and so do links to it, the others keeping their order). Every version
        is past every old one: no score cached from the old rows survives."""
        out = CoEngagement(self.max_neighbors, n_rows)
        old = np.flatnonzero(remap >= 0)
        old = old[self.sizes[old] > 0]
        if len(old):
            sizes, counts = self.sizes[old], self.counts[old]
            used = np.arange(self.max_neighbors) < sizes[:, None]
            neighbors = np.where(used, remap.astype(np.int32)[np.where(used, self.neighbors[old], 0)], 0)
            keep = used & (neighbors >= 0)
            lost = np.flatnonzero((keep != used).any(axis=1))
            if len(lost):
                neighbors[lost], counts[lost], sizes[lost] = _compacted(neighbors[lost], counts[lost], keep[lost])
            new = remap[old]
            out.neighbors[new], out.counts[new], out.sizes[new] = neighbors, counts, sizes
        out.versions[:] = int(self.versions.max(initial=0)) + 1
        return out

    def version_sum(self, rows: array.array) -> int:
        """Grows whenever the neighbours of any of `rows` (int32) change (versions only ever grow)."""
        return _core.co_version_sum(self.versions, rows)


class ItemStats:
    """Per-item counters over catalog rows, plus co-engagement, shared by every user. Thread-safe.

    table : (n_rows, 4) float64, one cache line per item, columns
        log1p(popularity), popularity being Σ positive weights ever;
        log1p(recent popularity), the same sum fading with `half_life` seconds, as of recent_time;
        recent_time; last_time (latest positive event, -inf before any).
    Kept in log form so ranking reads features without a transcendental function per item.
    contributions : the counted events not yet settled, with their users, so that :meth:`forget`
        takes one user's events out exactly; kept only with `exact_forget` (without it, memory
        and snapshots are bounded by items, not by events, and forget leaves a user's anonymous
        counts in). With a `forget_horizon` of H, only the latest H to H + settle_step(H) are
        kept: older ones are settled (they stay in the counts as anonymous ones), so memory is bounded by H.
    settled : (n_rows, 4) float64, the table as of the settled events only; undo : UndoLog, what
        recovers the links as of the settled events from the links now.
    """

    def __init__(
        self,
        half_life: float = 7 * DAY,
        max_neighbors: int = 256,
        exact_forget: bool = True,
        forget_horizon: int | None = FORGET_HORIZON,
    ) -> None:
        self.half_life, self.exact_forget, self.forget_horizon = half_life, exact_forget, forget_horizon
        self.table, self.settled = _fresh(0), _fresh(0)
        self.co = CoEngagement(max_neighbors)
        self.contributions, self.undo = Contributions(), UndoLog()
        self._settle_steps = 0
        self.lock = threading.RLock()

    @property
    def popularity(self) -> np.ndarray:
        """(n_rows,) float64 Σ positive weights per item."""
        return np.expm1(self.table[:, 0])

    @property
    def settings(self) -> dict[str, Any]:
        """What processes applying one store's log must share to derive the same statistics."""
        return {
            "half_life": self.half_life,
            "max_neighbors": self.co.max_neighbors,
            "exact_forget": self.exact_forget,
            "forget_horizon": self.forget_horizon,
        }

    def clear(self) -> None:
        """Back to no events at all (the same number of items)."""
        with self.lock:
            n_rows = len(self.table)
            self.table, self.settled = _fresh(0), _fresh(0)
            self.co = CoEngagement(self.co.max_neighbors)
            self.contributions, self.undo = Contributions(), UndoLog()
            self.resize(n_rows)

    def resize(self, n_rows: int) -> None:
        with self.lock:
            grow = n_rows - len(self.table)
            if grow > 0:
                self.table = np.concatenate([self.table, _fresh(grow)])
                self.settled = np.concatenate([self.settled, _fresh(grow)])
            self.co.resize(n_rows)

    def copy(self) -> ItemStats:
        """An independent copy (counts, links and their versions)."""
        with self.lock:
            out = ItemStats(self.half_life, self.co.max_neighbors, self.exact_forget, self.forget_horizon)
            out.table, out.settled = self.table.copy(), self.settled.copy()
            out.co = self.co.copy()
            out.contributions, out.undo = self.contributions.copy(), self.undo.copy()
            return out

    def replace_with(self, other: ItemStats) -> None:
        """Take `other`'s counts and links (as computed aside by fit), all at once. Link versions
        only grow, so no user's cached co-engagement scores survive a change."""
        with self.lock:
            top = max(int(self.co.versions.max(initial=0)), int(other.co.versions.max(initial=0))) + 1
            self.table, self.settled, self.co = other.table, other.settled, other.co
            self.contributions, self.undo = other.contributions, other.undo
            self.co.versions[:] = top

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON): ``table`` (n_rows, 4) float64, the links as ``co_sizes``,
        ``co_neighbors`` and ``co_counts`` (see CoEngagement.slots), and with `exact_forget` the
        contributions' columns, ``settled`` and the undo log's columns; the contributions' users
        (None without `exact_forget`: no contributions)."""
        with self.lock:
            sizes, neighbors, counts = self.co.slots()  # capacity may pass the table's rows, links never do
            arrays = {"table": self.table.copy(), "co_sizes": sizes[: len(self.table)], "co_neighbors": neighbors}
            arrays["co_counts"] = counts
            if not self.exact_forget:
                return arrays, {"users": None}
            contributions, users = self.contributions.to_arrays()
            arrays.update({k: v.copy() for k, v in contributions.items()}, settled=self.settled.copy())
            return {**arrays, **self.undo.to_arrays()}, {"users": users}

    def load_arrays(
        self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], here: np.ndarray | None = None
    ) -> None:
        """Replace every count by those of :meth:`to_arrays` (arrays, JSON); `here` maps saved
        rows to this catalog's rows (-1: not here), None keeps them as saved (the caller checked
        that they are this catalog's rows). Saved items left out go as :meth:`keep_rows` removes
        items. Where an item has more links than these slots hold or the save has no undo log
        (made before the horizon), the counts are rebuilt from the settled ones by replaying the
        unsettled events."""
        table = _checked_table(arrays["table"])
        n_saved = len(table)
        items, others, counts = _saved_links(arrays, n_saved)
        rows_ok = all(((r >= 0) & (r < n_saved)).all() for r in (items, others))
        if not (rows_ok and np.isfinite(counts).all() and (counts > 0).all()):
            raise PyrerankError("item statistics hold values no sequence of events produces (negative, NaN or inf)")
        users = meta.get("users") if self.exact_forget else None  # never half of them: none
        with self.lock:
            contributions = Contributions.from_arrays(arrays, users, n_saved, None)
            logged = users is not None and "undo_event" in arrays
            undo_log = UndoLog.from_arrays(arrays, len(contributions), n_saved) if logged else UndoLog()
            settled = _checked_table(arrays["settled"]) if logged else _fresh(n_saved)
            if users is None:  # counts no contribution explains: anonymous, as settled ones are
                settled = table
            if settled.shape != table.shape:
                raise PyrerankError(f"settled item statistics have shape {settled.shape}, expected {table.shape}")
            fits = not len(items) or np.bincount(items).max() <= self.co.max_neighbors
            if users is not None and logged and fits and here is not None and not (here >= 0).all():
                n_rows = len(self.table)
                self._load(table, settled, items, others, counts, None)  # as saved, then without the rest
                self.contributions, self.undo = contributions, undo_log
                self.keep_rows(here, n_rows)
                return
            if users is not None and not (logged and fits):
                if logged:  # the links as of the settled events
                    items, others, counts = _undone_links(items, others, counts, n_saved, contributions, undo_log)
                else:  # saved before the horizon: nothing was settled
                    items = others = np.zeros(0, np.int64)
                self._load(settled, settled, items, others, counts, here)
                contributions.move(here)
                self.contributions = contributions
                self._replay_all()
                return
            self._load(table, settled, items, others, counts, here)
            contributions.move(here)
            self.contributions, self.undo = contributions, undo_log
            if here is not None:
                self.undo.renumber(here)

    def _load(
        self,
        table: np.ndarray,
        settled: np.ndarray,
        items: np.ndarray,
        others: np.ndarray,
        counts: np.ndarray,
        here: np.ndarray | None,
    ) -> None:
        """Take checked saved tables and links, rows mapped by `here` as load_arrays says (the
        caller sets the contributions and undo log)."""
        if here is None:
            self.co = CoEngagement(self.co.max_neighbors, len(table))
            self.table = np.array(table, np.float64)  # copies: a saved table may be mapped read-only
            self.settled = np.array(settled, np.float64)
        else:
            self.clear()
            known = here >= 0
            self.table[here[known]], self.settled[here[known]] = table[known], settled[known]
        self.co.add_links(items, others, counts, here)

    def _replay_all(self) -> None:
        """Count every contribution again, in order, onto the settled table and links (which
        self.table and self.co hold), logging what undoes them."""
        columns, links = self.contributions.columns()
        rows = columns["row"].astype(np.int64)
        _core.count_events(self.table, rows, columns["weight"], columns["time"], self.half_life)
        self.undo = UndoLog()
        link(self.co.tables(), Events.of(np.arange(len(rows)), rows, columns["n_links"], links), None, self.undo)

    def keep_rows(self, remap: np.ndarray, n_rows: int) -> None:
        """Renumber the items: `remap` (old n_rows,) int64 gives each old row's new row, -1 for
        an item removed (its counts, links and contributions go with it). With `exact_forget`,
        the items linked with a removed one are recounted as :meth:`forget` recounts a user's,
        so the statistics equal those that never counted the removed items' unsettled events;
        the others keep their counts and links, renumbered."""
        with self.lock:
            gone = np.flatnonzero(remap < 0)
            if self.exact_forget and len(gone):
                self._recount_without(gone)
            self.table, self.settled = _moved_rows(self.table, remap, n_rows), _moved_rows(self.settled, remap, n_rows)
            self.co = self.co.moved(remap, n_rows)
            self.contributions.move(remap)
            self.undo.renumber(remap)

    def _recount_without(self, gone: np.ndarray) -> None:
        """Recount, as forget does, every item whose links the (g,) int64 rows `gone` took part
        in, from its settled counts and links without them and the unsettled events not on
        them: the items that link one now, those whose undo log names one (an unsettled event
        evicted it), and the items of the unsettled events on or linked with one (their bumps
        are numbered anew without them). A bump leaves its item linked until an eviction, so
        the others' links evolve as they would have without the removed items."""
        co = self.co
        is_gone = np.zeros(len(co.sizes), bool)
        is_gone[gone] = True
        used = np.arange(co.max_neighbors) < co.sizes[:, None]
        holding = np.flatnonzero((used & is_gone[np.where(used, co.neighbors, 0)]).any(axis=1))
        del used
        positions, with_gone, their_links = self.contributions.touching(gone)
        parts = (gone, holding, self.undo.rows_linked_with(is_gone), with_gone["row"], their_links)
        touched = np.unique(np.concatenate([np.asarray(part, np.int64) for part in parts]))
        on_gone = positions[is_gone[with_gone["row"]]]  # touching holds every event on them
        self._redo(touched, on_gone, is_gone)

    def _redo(self, touched: np.ndarray, leaving: np.ndarray, gone: np.ndarray | None = None) -> None:
        """Undo every unsettled event on the (t,) int64 rows `touched`, newest first, back to
        their settled counts and links, then count and link those events again, renumbered, but
        those at the (m,) int64 sorted positions `leaving` (forget: the user's; a removal: those
        on the rows that go) and, where (n_rows,) bool `gone` is set, every link to the rows
        that go, and their place in the touched rows' settled links."""
        co = self.co
        positions, columns, links = self.contributions.touching(touched)
        rows, n_links = columns["row"].astype(np.int64), columns["n_links"]
        only = np.zeros(len(co.sizes), bool)
        only[touched] = True
        undo(co.tables(), Events.of(positions, rows, n_links, links), only, self.undo)
        if gone is not None:
            co.unlink(touched, gone)
            only &= ~gone
        self.table[touched] = self.settled[touched]
        kept = ~np.isin(positions, leaving)
        counted = kept & only[rows]
        _core.count_events(
            self.table, rows[counted], columns["weight"][counted], columns["time"][counted], self.half_life
        )
        kept_link = np.repeat(kept, n_links)
        kept_n_links = n_links[kept]
        if gone is not None:  # links to the rows that go are left out
            kept_link &= ~gone[links]
            kept_n_links = np.bincount(np.repeat(np.arange(len(rows)), n_links)[kept_link], minlength=len(rows))[kept]
        now_at = positions[kept] - np.searchsorted(leaving, positions[kept])  # after the removal
        relinked = UndoLog()
        link(co.tables(), Events.of(now_at, rows[kept], kept_n_links, links[kept_link]), only, relinked)
        self.undo.replace(leaving, touched, relinked)

    def snapshot(self, ids: list[Any]) -> bytes:
        """The statistics as npz bytes keyed by item id (`ids`, one per row), so that a process
        whose catalog has other rows can restore them (:meth:`restore_snapshot`)."""
        arrays, meta = self.to_arrays()
        n = min(len(ids), len(arrays["table"]))
        for name in ("table", "settled"):
            if name in arrays:
                arrays[name] = arrays[name][:n]
        buffer = io.BytesIO()
        text = {"ids": np.array(json.dumps(ids[:n])), "users": np.array(json.dumps(meta["users"]))}
        np.savez(buffer, **text, **arrays)  # type: ignore[arg-type]  # numpy's stub
        return buffer.getvalue()

    def restore_snapshot(self, data: bytes, row_of: Mapping[Any, int]) -> None:
        """Replace the statistics by a :meth:`snapshot`; items not in `row_of` are left out."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            ids = json.loads(str(arrays.pop("ids")))
            meta = {"users": json.loads(str(arrays.pop("users")))} if "users" in arrays else {}
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise PyrerankError(f"the store's statistics snapshot is corrupt: {exc}") from exc
        self.load_arrays(arrays, meta, np.array([row_of.get(i, -1) for i in ids], np.int64))

    def record(self, user: Hashable, row: int, weight: float, timestamp: float, recent_rows: list[int]) -> None:
        """One positive event of `user` on `row`, whose previous positives were `recent_rows`."""
        with self.lock:
            _core.count_event(self.table, row, weight, timestamp, self.half_life)
            report = self.co.add(row, recent_rows)
            if self.exact_forget:
                if report:
                    self.undo.add(len(self.contributions), row, recent_rows, report)
                self.contributions.add(user, row, weight, timestamp, recent_rows)
                horizon = self.forget_horizon
                if horizon is not None and len(self.contributions) > horizon + settle_step(horizon):
                    self._settle(len(self.contributions) - horizon)

    def _settle(self, n: int) -> None:
        """Settle the `n` oldest contributions: counted into `settled` and dropped."""
        rows, weights, times = self.contributions.oldest(n)
        _core.count_events(self.settled, rows.astype(np.int64), weights, times, self.half_life)
        self.contributions.drop_oldest(n)
        self.undo.drop_settled(n)
        self._settle_steps += 1
        if self._settle_steps % TRIM_EVERY == 0:
            release_free_pages()

    def forget(self, user: Hashable) -> bool:
        """Take every unsettled event of `user` out of the statistics: afterwards they equal
        statistics that never counted them (each item they touched is recounted from its settled
        counts and links and the others' unsettled events, in their order); their settled events
        stay as anonymous counts. False if the user has no unsettled event, or without
        `exact_forget` (their counts stay)."""
        with self.lock:
            found = self.contributions.touched_by(user)
            if found is None:
                if self.exact_forget and not self.contributions.complete:
                    warnings.warn(
                        "these item statistics were restored without per-user contributions (saved "
                        "before pyrerank 0.3, or with exact_forget=False): a forgotten user's counts "
                        "stay in them",
                        PyrerankWarning,
                        stacklevel=4,
                    )
                return False
            mine, touched = found
            self._redo(touched, mine)
            self.contributions.remove(user, mine)
            return True


def _fresh(n_rows: int) -> np.ndarray:
    """(n_rows, 4) float64 statistics of items never engaged with."""
    table = np.zeros((n_rows, 4), np.float64)
    table[:, 3] = -np.inf
    return table


def _moved_rows(table: np.ndarray, remap: np.ndarray, n_rows: int) -> np.ndarray:
    """An (n_rows, 4) table with each row of `table` where (len,) int64 `remap` puts it (-1: left
    out; rows it does not name: fresh)."""
    out = _fresh(n_rows)
    kept = np.flatnonzero(remap >= 0)
    out[remap[kept]] = table[kept]
    return out


def _compacted(
    neighbors: np.ndarray, counts: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, k) links with each row's slots where (r, k) bool `keep` is set moved to its front, in
    their order, the rest zero; and the (r,) int32 sizes."""
    order = np.argsort(~keep, axis=1, kind="stable")
    neighbors, counts = np.take_along_axis(neighbors, order, 1), np.take_along_axis(counts, order, 1)
    sizes = keep.sum(axis=1).astype(np.int32)
    unused = np.arange(keep.shape[1]) >= sizes[:, None]
    neighbors[unused], counts[unused] = 0, 0
    return neighbors, counts, sizes


def _checked_table(table: np.ndarray) -> np.ndarray:
    """A saved (n, 4) table as it is; PyrerankError unless no sequence of events could make it."""
    if table.ndim != 2 or table.shape[1] != 4:
        raise PyrerankError(f"item statistics have shape {table.shape}, expected (n, 4)")
    counts_ok = np.isfinite(table[:, :3]).all() and (table[:, :2] >= 0).all()
    times_ok = not np.isnan(table[:, 3]).any() and not np.isposinf(table[:, 3]).any()
    if not (counts_ok and times_ok):
        raise PyrerankError("item statistics hold values no sequence of events produces (negative, NaN or inf)")
    return table


def _undone_links(
    items: np.ndarray,
    others: np.ndarray,
    counts: np.ndarray,
    n_rows: int,
    contributions: Contributions,
    undo_log: UndoLog,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Saved links (m,) each, as they were before every contribution (the settled links): undone
    newest first in scratch slots as saved."""
    widest = int(np.bincount(items).max()) if len(items) else 1  # slots as saved: undo may refill them
    scratch = CoEngagement(widest, n_rows)
    scratch.add_links(items, others, counts)
    columns, links = contributions.columns()
    events = Events.of(np.arange(len(columns["row"])), columns["row"], columns["n_links"], links)
    undo(scratch.tables(), events, None, undo_log)
    sizes, neighbors, link_counts = scratch.slots()
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes), neighbors.astype(np.int64), link_counts


def _saved_links(arrays: Mapping[str, np.ndarray], n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The saved links of statistics over `n_rows` items as (m,) item rows, neighbour rows and
    counts: from ``co_sizes``/``co_neighbors``/``co_counts``, or from ``co``, the (m, 3) float64
    triples that saves and snapshots held before 0.5."""
    if "co" in arrays:
        co = arrays["co"]
        if co.ndim != 2 or co.shape[1] != 3 or not np.isfinite(co).all():
            raise PyrerankError(f"item statistics' links have shape {co.shape}, expected finite (m, 3)")
        return co[:, 0].astype(np.int64), co[:, 1].astype(np.int64), co[:, 2].astype(np.float32)
    sizes, others, counts = arrays["co_sizes"], arrays["co_neighbors"], arrays["co_counts"]
    if sizes.shape != (n_rows,) or (sizes < 0).any() or not (others.ndim == counts.ndim == 1):
        raise PyrerankError(f"item statistics' link counts have shape {sizes.shape}, expected ({n_rows},)")
    if int(sizes.sum(dtype=np.int64)) != len(others) or len(others) != len(counts):
        raise PyrerankError("item statistics' links do not add up to their counts per item")
    return np.repeat(np.arange(n_rows, dtype=np.int64), sizes), others.astype(np.int64), counts.astype(np.float32)
