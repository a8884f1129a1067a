"""Per-candidate feature columns for fusion: computed on demand from the shared statistics and
the user's recent history."""

from __future__ import annotations

import numpy as np

from .interest._common import DAY
from .stats import GlobalStats

# Columns a fusion ranker can blend, in this order, beside the interest similarity.
FEATURES = ("upstream", "popularity", "recent_popularity", "co_engagement", "recency")

CO_DECAY = 0.9  # weight of the user's k-th most recent positive in the co-engagement profile
RECENCY_SCALE = DAY


class CandidateFeatures:
    """Feature columns for one (user, candidate block) at time `now`.

    rows : (n,) int64 candidate rows; upstream : (n,) float32 or None
    profile : the user's co-engagement profile, (p,) int64 sorted rows and (p,) float32 values
    """

    def __init__(self, stats: GlobalStats, rows: np.ndarray, upstream: np.ndarray | None,
                 profile: tuple[np.ndarray, np.ndarray], now: float) -> None:
        self.stats, self.rows, self.upstream, self.profile, self.now = stats, rows, upstream, profile, now

    def column(self, name: str) -> np.ndarray:
        """(n,) float32 column `name` (one of FEATURES)."""
        rows, stats = self.rows, self.stats
        if name == "upstream":
            if self.upstream is None or len(rows) < 2:
                return np.zeros(len(rows), np.float32)
            u = self.upstream
            spread = float(u.std())
            return ((u - u.mean()) / spread).astype(np.float32) if spread > 0 else np.zeros(len(rows), np.float32)
        if name == "popularity":
            return np.log1p(stats.popularity[rows])
        if name == "recent_popularity":
            return np.log1p(stats.recent_popularity(rows, self.now))
        if name == "co_engagement":
            p_rows, p_values = self.profile
            out = np.zeros(len(rows), np.float32)
            if len(p_rows):
                at = np.minimum(np.searchsorted(p_rows, rows), len(p_rows) - 1)
                hit = p_rows[at] == rows
                out[hit] = np.log1p(p_values[at[hit]])
            return out
        if name == "recency":
            age = np.maximum(0.0, self.now - stats.last_time[rows])
            return np.exp(-age / RECENCY_SCALE).astype(np.float32)
        raise ValueError(f"unknown feature {name!r}; known: {', '.join(FEATURES)}")

    def matrix(self, names: tuple[str, ...] = FEATURES) -> np.ndarray:
        """(n, len(names)) float32, C-contiguous."""
        out = np.empty((len(self.rows), len(names)), np.float32)
        for j, name in enumerate(names):
            out[:, j] = self.column(name)
        return out
