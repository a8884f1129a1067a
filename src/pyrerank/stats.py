"""Item statistics shared by every user: popularity, recent popularity, last engagement time and
item-item co-engagement, all updated on every positive event."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from .interest._common import DAY


class CoEngagement:
    """For each item, its most co-engaged items: counts of "engaged by the same user within a
    few events", capped at `max_neighbors` per item (the weakest link is dropped), so memory is
    bounded by items x max_neighbors."""

    def __init__(self, max_neighbors: int = 256) -> None:
        self.max_neighbors = max_neighbors
        self.neighbors: dict[int, dict[int, float]] = {}
        self.version: dict[int, int] = {}  # bumped whenever an item's neighbours change
        self._arrays: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # row -> (version, rows, counts)

    def _bump(self, a: int, b: int, amount: float) -> None:
        links = self.neighbors.setdefault(a, {})
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
            links = self.neighbors.get(row, {})
            cached = (version, np.fromiter(links.keys(), np.int64, len(links)),
                      np.fromiter(links.values(), np.float32, len(links)))
            self._arrays[row] = cached
        return cached[1], cached[2]

    def profile(self, recent_rows: list[int], decay: float) -> tuple[np.ndarray, np.ndarray]:
        """A user's co-engagement profile: Σ_j decay^age_j · neighbours(j) over recent rows
        (newest last), as (p,) int64 sorted rows and (p,) float32 values."""
        parts = [self.arrays(r) for r in recent_rows]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ages = np.arange(len(parts) - 1, -1, -1)
        rows = np.concatenate([p[0] for p in parts])
        values = np.concatenate([p[1] * np.float32(decay ** age) for p, age in zip(parts, ages)])
        if not len(rows):
            return rows, values
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        return rows[starts], np.add.reduceat(values, starts).astype(np.float32)

    def triples(self) -> np.ndarray:
        """(m, 3) float64 rows (item row, neighbour row, count): every link, for saving."""
        links = [(a, b, c) for a, neighbors in self.neighbors.items() for b, c in neighbors.items()]
        return np.array(links, np.float64).reshape(-1, 3)

    def version_sum(self, rows: list[int]) -> int:
        """Grows whenever the neighbours of any of `rows` change (versions only ever grow)."""
        return sum(map(self.version.get, rows, itertools.repeat(0)))


class GlobalStats:
    """Per-item counters over catalogue rows, plus co-engagement. Thread-safe.

    table : (n_rows, 4) float64, one cache line per item, columns
        log1p(popularity), popularity being Σ positive weights ever;
        log1p(recent popularity), the same sum fading with `half_life` seconds, as of recent_time;
        recent_time; last_time (latest positive event, -inf before any).
    Kept in log form so ranking reads features without a transcendental function per item.
    """

    def __init__(self, half_life: float = 7 * DAY, max_neighbors: int = 256) -> None:
        self.half_life = half_life
        self.table = np.zeros((0, 4), np.float64)
        self.co = CoEngagement(max_neighbors)
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
            self.resize(n_rows)

    def resize(self, n_rows: int) -> None:
        with self.lock:
            grow = n_rows - len(self.table)
            if grow > 0:
                fresh = np.zeros((grow, 4), np.float64)
                fresh[:, 3] = -np.inf
                self.table = np.concatenate([self.table, fresh])

    def record(self, row: int, weight: float, timestamp: float, recent_rows: list[int]) -> None:
        """One positive event on `row` by a user whose previous positives were `recent_rows`."""
        with self.lock:
            entry = self.table[row]
            fade = 0.5 ** (max(0.0, timestamp - entry[2]) / self.half_life)
            entry[0] = math.log1p(math.expm1(entry[0]) + weight)
            entry[1] = math.log1p(math.expm1(entry[1]) * fade + weight)
            entry[2] = max(entry[2], timestamp)
            entry[3] = max(entry[3], timestamp)
            self.co.add(row, recent_rows)
