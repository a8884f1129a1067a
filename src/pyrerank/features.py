"""Per-candidate feature columns for fusion: computed on demand from the shared statistics and
the user's recent history."""

from __future__ import annotations

import numpy as np

from . import _core
from .interest._common import DAY
from .stats import GlobalStats

# Columns a fusion ranker can blend, in this order, beside the interest similarity; computed
# in C++ in one pass over the candidates (definitions in csrc/candidates.hpp):
# log1p(popularity); log1p(recent popularity) less ln 2 per half-life since, floored at 0;
# 1 / (1 + days since the last engagement), 0 if never; the upstream score standardised over
# the candidates; log1p(co-engagement with the user's recent items).
FEATURES = ("popularity", "recent_popularity", "recency", "upstream", "co_engagement")

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
        self._all: np.ndarray | None = None

    def matrix(self, names: tuple[str, ...] = FEATURES) -> np.ndarray:
        """(n, len(names)) float32, C-contiguous; all of FEATURES come from one C++ pass."""
        if self._all is None:
            p_rows, p_values = self.profile
            self._all = _core.candidate_features(self.stats.table, self.rows, self.now, self.stats.half_life,
                                                 RECENCY_SCALE, self.upstream, p_rows, p_values)
        if names == FEATURES:
            return self._all
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        return np.ascontiguousarray(self._all[:, [FEATURES.index(n) for n in names]])

    def column(self, name: str) -> np.ndarray:
        """(n,) float32 column `name` (one of FEATURES)."""
        return self.matrix((name,))[:, 0]
