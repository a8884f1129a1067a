"""Per-candidate feature columns (:data:`~pyrerank.interfaces.FEATURE_NAMES`), computed on demand
from the shared item statistics and the user's co-engagement scores, in one C++ pass."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interest._common import DAY
from ..interfaces import FEATURE_NAMES
from .item_stats import ItemStats

CO_DECAY = 0.9  # weight of the user's k-th most recent positive in their co-engagement scores
RECENCY_SCALE = DAY
NO_CO_SCORES = (np.zeros(0, np.int64), np.zeros(0, np.float32))


class CandidateFeatures:
    """The :class:`~pyrerank.interfaces.FeatureSource` of one (user, candidate block) at time `now`.

    rows : (n,) int64 candidate rows; upstream : (n,) float32 or None
    co_scores : the user's co-engagement scores, (p,) int64 sorted rows and (p,) float32 values
    """

    names = FEATURE_NAMES

    def __init__(
        self,
        stats: ItemStats,
        rows: np.ndarray,
        upstream: np.ndarray | None,
        co_scores: tuple[np.ndarray, np.ndarray],
        now: float,
    ) -> None:
        self.stats, self.rows, self.upstream, self.co_scores, self.now = stats, rows, upstream, co_scores, now
        self._all: np.ndarray | None = None

    def kernel_input(self) -> np.ndarray | tuple:
        """What _core.fused_topk takes as `features`: the (n, 5) matrix once built, else the
        arguments to gather it from (those of _core.candidate_features but the rows), so that
        gathering and scoring are one call without the GIL."""
        if self._all is not None:
            return self._all
        co_rows, co_values = self.co_scores
        return (self.stats.table, self.now, self.stats.half_life, RECENCY_SCALE, self.upstream, co_rows, co_values)

    def matrix(self, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
        """(n, len(names)) float32, C-contiguous; every column comes from one C++ pass."""
        if self._all is None:
            stats, *options = self.kernel_input()
            self._all = _core.candidate_features(stats, self.rows, *options)
        if names == FEATURE_NAMES:
            return self._all
        unknown = set(names) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURE_NAMES)}")
        return np.ascontiguousarray(self._all[:, [FEATURE_NAMES.index(n) for n in names]])
