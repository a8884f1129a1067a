"""Item statistics shared by every user: popularity, recent popularity, last engagement time and
item-item co-engagement, all updated on every positive event."""

from __future__ import annotations

import io
import itertools
import json
import math
import threading
import warnings
import zipfile
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from ..errors import PyrerankError, PyrerankWarning
from ..interest._common import DAY
from .contributions import Contributions


class CoEngagement:
    """For each item, its most co-engaged items: counts of "engaged by the same user within a
    few events", capped at `max_neighbors` per item (the weakest link is dropped), so memory is
    bounded by items x max_neighbors. Restored links (:meth:`add_triples`) stay in arrays until
    an item's links are first needed, so that opening a save does not build every dict."""

    def __init__(self, max_neighbors: int = 256) -> None:
        self.max_neighbors = max_neighbors
        self._neighbors: dict[int, dict[int, float]] = {}
        self._restored: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = (
            None  # rows, starts, others, counts
        )
        self.version: dict[int, int] = {}  # bumped whenever an item's neighbours change
        self._arrays: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # row -> (version, rows, counts)

    @property
    def neighbors(self) -> dict[int, dict[int, float]]:
        """Every item's links, row -> {neighbour row: count} (restored ones made dicts first)."""
        if self._restored is not None:
            for row in self._restored[0].tolist():
                self.links(row)
            self._restored = None
        return self._neighbors

    def links(self, row: int) -> dict[int, float] | None:
        """One item's links (None if it has none)."""
        links = self._neighbors.get(row)
        if links is None and self._restored is not None:
            rows, starts, others, counts = self._restored
            i = int(np.searchsorted(rows, row))
            if i < len(rows) and rows[i] == row:
                start, end = int(starts[i]), int(starts[i + 1])
                links = self._neighbors[row] = dict(zip(others[start:end].tolist(), counts[start:end].tolist()))
        return links

    def drop(self, row: int) -> None:
        """Remove every link of one item (the caller bumps its version); an empty dict stays, so
        that restored links do not come back."""
        self._neighbors[row] = {}

    def _bump(self, a: int, b: int, amount: float) -> None:
        links = self.links(a)
        if links is None:
            links = self._neighbors[a] = {}
        if b in links:
            links[b] += amount
        else:
            if len(links) >= self.max_neighbors:
                weakest = min(links, key=links.__getitem__)
                if links[weakest] > amount:
                    return
                del links[weakest]
            links[b] = amount
        self.version[a] = self.version.get(a, 0) + 1

    def add(self, row: int, recent_rows: list[int], amount: float = 1.0) -> None:
        """Link `row` with each of the user's recent rows (both directions)."""
        for other in recent_rows:
            if other != row:
                self._bump(row, other, amount)
                self._bump(other, row, amount)

    def arrays(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(k,) int64 neighbour rows and (k,) float32 counts of one item, cached per version."""
        version = self.version.get(row, 0)
        cached = self._arrays.get(row)
        if cached is None or cached[0] != version:
            links = self.links(row) or {}
            cached = (
                version,
                np.fromiter(links.keys(), np.int64, len(links)),
                np.fromiter(links.values(), np.float32, len(links)),
            )
            self._arrays[row] = cached
        return cached[1], cached[2]

    def user_scores(self, recent_rows: list[int], decay: float) -> tuple[np.ndarray, np.ndarray]:
        """A user's co-engagement scores: Σ_j decay^age_j · neighbours(j) over recent rows
        (newest last), as (p,) int64 sorted rows and (p,) float32 values."""
        parts = [self.arrays(r) for r in recent_rows]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ages = np.arange(len(parts) - 1, -1, -1)
        rows = np.concatenate([p[0] for p in parts])
        values = np.concatenate([p[1] * np.float32(decay**age) for p, age in zip(parts, ages)])
        if not len(rows):
            return rows, values
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        return rows[starts], np.add.reduceat(values, starts).astype(np.float32)

    def copy(self) -> CoEngagement:
        """An independent copy (links and their versions)."""
        out = CoEngagement(self.max_neighbors)
        out._neighbors = {row: dict(links) for row, links in self.neighbors.items()}
        out.version = dict(self.version)
        return out

    def triples(self) -> np.ndarray:
        """(m, 3) float64 rows (item row, neighbour row, count): every link, for saving."""
        links = [(a, b, c) for a, neighbors in self.neighbors.items() for b, c in neighbors.items()]
        return np.array(links, np.float64).reshape(-1, 3)

    def add_triples(self, triples: np.ndarray, here: np.ndarray | None = None) -> None:
        """Restore links saved by :meth:`triples` into this (empty) structure; `here`
        (n_saved_rows,) int64 maps a saved row to this catalog's row (-1: not here, the link is
        left out), None keeps rows as saved. Each item's links keep their saved order (which
        decides ties when the weakest link is dropped); they become a dict when first needed."""
        if self._neighbors or self._restored is not None:
            raise ValueError("add_triples restores into an empty CoEngagement")
        pairs, counts = triples[:, :2].astype(np.int64), np.asarray(triples[:, 2], np.float64)
        if here is not None and len(pairs):
            pairs = here[pairs]
        keep = (pairs >= 0).all(axis=1)
        pairs, counts = pairs[keep], counts[keep]
        order = np.argsort(pairs[:, 0], kind="stable")
        items = pairs[order, 0]
        starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]]) if len(items) else np.zeros(0, np.int64)
        self._restored = (items[starts], np.r_[starts, len(items)], pairs[order, 1], counts[order])

    def version_sum(self, rows: list[int]) -> int:
        """Grows whenever the neighbours of any of `rows` change (versions only ever grow)."""
        return sum(map(self.version.get, rows, itertools.repeat(0)))


class ItemStats:
    """Per-item counters over catalog rows, plus co-engagement, shared by every user. Thread-safe.

    table : (n_rows, 4) float64, one cache line per item, columns
        log1p(popularity), popularity being Σ positive weights ever;
        log1p(recent popularity), the same sum fading with `half_life` seconds, as of recent_time;
        recent_time; last_time (latest positive event, -inf before any).
    Kept in log form so ranking reads features without a transcendental function per item.
    contributions : every counted event with its user, so that :meth:`forget` takes one user's
        events out exactly.
    """

    def __init__(self, half_life: float = 7 * DAY, max_neighbors: int = 256) -> None:
        self.half_life = half_life
        self.table = np.zeros((0, 4), np.float64)
        self.co = CoEngagement(max_neighbors)
        self.contributions = Contributions()
        self.lock = threading.RLock()

    @property
    def popularity(self) -> np.ndarray:
        """(n_rows,) float64 Σ positive weights per item."""
        return np.expm1(self.table[:, 0])

    def clear(self) -> None:
        """Back to no events at all (the same number of items)."""
        with self.lock:
            n_rows = len(self.table)
            self.table = np.zeros((0, 4), np.float64)
            self.co = CoEngagement(self.co.max_neighbors)
            self.contributions = Contributions()
            self.resize(n_rows)

    def resize(self, n_rows: int) -> None:
        with self.lock:
            grow = n_rows - len(self.table)
            if grow > 0:
                fresh = np.zeros((grow, 4), np.float64)
                fresh[:, 3] = -np.inf
                self.table = np.concatenate([self.table, fresh])

    def copy(self) -> ItemStats:
        """An independent copy (counts, links and their versions)."""
        with self.lock:
            out = ItemStats(self.half_life, self.co.max_neighbors)
            out.table = self.table.copy()
            out.co = self.co.copy()
            out.contributions = self.contributions.copy()
            return out

    def replace_with(self, other: ItemStats) -> None:
        """Take `other`'s counts and links (as computed aside by fit), all at once. Link versions
        only grow, so no user's cached co-engagement scores survive a change."""
        with self.lock:
            bumped = {row: max(self.co.version.get(row, 0), v) + 1 for row, v in other.co.version.items()}
            self.table, self.co, self.contributions = other.table, other.co, other.contributions
            self.co.version = bumped

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON): ``table`` (n_rows, 4) float64, ``co`` (m, 3) float64 (see
        CoEngagement.triples) and the contributions' columns; the contributions' users."""
        with self.lock:
            contributions, users = self.contributions.to_arrays()
            arrays = {"table": self.table.copy(), "co": self.co.triples()}
            return {**arrays, **{k: v.copy() for k, v in contributions.items()}}, {"users": users}

    def load_arrays(
        self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], here: np.ndarray | None = None
    ) -> None:
        """Replace every count by those of :meth:`to_arrays` (arrays, JSON); `here` maps saved
        rows to this catalog's rows (-1: not here), None keeps them as saved (the caller checked
        that they are this catalog's rows)."""
        table, co = arrays["table"], arrays["co"]
        if table.ndim != 2 or table.shape[1] != 4 or co.ndim != 2 or co.shape[1] != 3:
            raise PyrerankError(f"item statistics have shapes {table.shape} and {co.shape}, expected (n, 4) and (m, 3)")
        n_saved = len(table)
        counts_ok = np.isfinite(table[:, :3]).all() and (table[:, :2] >= 0).all()
        times_ok = not np.isnan(table[:, 3]).any() and not np.isposinf(table[:, 3]).any()
        links_ok = np.isfinite(co).all() and ((co[:, :2] >= 0) & (co[:, :2] < n_saved)).all() and (co[:, 2] > 0).all()
        if not (counts_ok and times_ok and links_ok):
            raise PyrerankError("item statistics hold values no sequence of events produces (negative, NaN or inf)")
        with self.lock:
            if here is None:
                self.co, self.contributions = CoEngagement(self.co.max_neighbors), Contributions()
                self.table = np.array(table, np.float64)  # a copy: a saved table may be mapped read-only
            else:
                self.clear()
                known = here >= 0
                self.table[here[known]] = table[known]
            self.co.add_triples(co, here)
            self.contributions = Contributions.from_arrays(arrays, meta.get("users"), n_saved, here)

    def keep_rows(self, remap: np.ndarray, n_rows: int) -> None:
        """Renumber the items: `remap` (old n_rows,) int64 gives each old row's new row, -1 for
        an item removed (its counts, links and contributions go with it)."""
        with self.lock:
            arrays, meta = self.to_arrays()
            versions = self.co.version
            self.table = np.zeros((0, 4), np.float64)
            self.clear()
            self.resize(n_rows)
            self.load_arrays(arrays, meta, remap)
            top = max(versions.values(), default=0) + 1  # versions only grow: no cached scores survive
            self.co.version = dict.fromkeys(range(n_rows), top)

    def snapshot(self, ids: list[Any]) -> bytes:
        """The statistics as npz bytes keyed by item id (`ids`, one per row), so that a process
        whose catalog has other rows can restore them (:meth:`restore_snapshot`)."""
        arrays, meta = self.to_arrays()
        n = min(len(ids), len(arrays["table"]))
        arrays["table"] = arrays["table"][:n]
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
            self._count(row, weight, timestamp)
            self.co.add(row, recent_rows)
            self.contributions.add(user, row, weight, timestamp, recent_rows)

    def _count(self, row: int, weight: float, timestamp: float) -> None:
        entry = self.table[row]
        fade = 0.5 ** (max(0.0, timestamp - entry[2]) / self.half_life)
        entry[0] = math.log1p(math.expm1(entry[0]) + weight)
        entry[1] = math.log1p(math.expm1(entry[1]) * fade + weight)
        entry[2] = max(entry[2], timestamp)
        entry[3] = max(entry[3], timestamp)

    def forget(self, user: Hashable) -> bool:
        """Take every event of `user` out of the statistics: afterwards they equal statistics
        that never counted them (the items the user touched are recounted from the others'
        events, in their order). False if the user had counted nothing."""
        with self.lock:
            touched = self.contributions.remove(user)
            if touched is None:
                if not self.contributions.complete:
                    warnings.warn(
                        "these item statistics were restored without per-user contributions (saved "
                        "before pyrerank 0.3): a forgotten user's counts stay in them",
                        PyrerankWarning,
                        stacklevel=4,
                    )
                return False
            fresh = np.zeros((len(touched), 4), np.float64)
            fresh[:, 3] = -np.inf
            self.table[touched] = fresh
            affected = set(touched.tolist())
            for row in affected:
                self.co.drop(row)
                self.co.version[row] = self.co.version.get(row, 0) + 1
            for row, weight, timestamp, links in self.contributions.touching(touched):
                if row in affected:
                    self._count(row, weight, timestamp)
                for other in links:  # CoEngagement.add, for the touched items' links only
                    if other != row:
                        if row in affected:
                            self.co._bump(row, other, 1.0)
                        if other in affected:
                            self.co._bump(other, row, 1.0)
            return True
