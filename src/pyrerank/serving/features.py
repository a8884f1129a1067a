"""Per-candidate feature columns (:data:`~pyrerank.interfaces.FEATURE_NAMES`), computed on demand
from the shared item statistics and the user's co-engagement scores, in one C++ pass."""

from __future__ import annotations

import array

import numpy as np

from .. import _core
from ..interest._common import DAY
from ..interfaces import FEATURE_NAMES
from .item_stats import ItemStats

CO_DECAY = 0.9  # weight of the user's k-th most recent positive in their co-engagement scores
# The user's most recent positives their co-engagement scores sum over: the 21st would weigh
# 0.9^20 = 0.12. 50 (all that is kept) cost 2.5x as much to sum with every item's 256 links
# filled, for MovieLens replay-100 NDCG@10 0.644 instead of 0.643.
CO_ROWS = 20
RECENCY_SCALE = DAY
NO_CO_SCORES = None  # a user without co-engagement scores


def co_recent(recent: array.array) -> array.array:
    """The rows (int32, newest last) a user's co-engagement scores sum over, of their `recent`."""
    return recent[-CO_ROWS:]


def co_engagement_scores(stats: ItemStats, recent: array.array) -> _core.CoScores:
    """A user's co-engagement scores, given their recent positive rows (int32, newest last)."""
    return stats.co.user_scores(co_recent(recent), CO_DECAY)


def gather_arguments(
    stats: ItemStats, upstream: np.ndarray | None, co_scores: _core.CoScores | None, now: float
) -> tuple:
    """The features as _core.fused_topk and _core.fused_topk_keys gather them in the kernel call
    (_core.candidate_features' arguments but the rows); `upstream` aligned with the candidates
    as given to that call."""
    return (stats.table, now, stats.half_life, RECENCY_SCALE, upstream, co_scores)


class CandidateFeatures:
    """The :class:`~pyrerank.interfaces.FeatureSource` of one (user, candidate block) at time `now`,
    over the statistics table as it is when built (the caller holds the catalog lock: removing
    items and fit swap in new tables, whose rows are not the request's).

    rows : (n,) int64 candidate rows; upstream : (n,) float32 or None
    co_scores : the user's co-engagement scores (CoEngagement.user_scores), or None
    """

    names = FEATURE_NAMES

    def __init__(
        self,
        stats: ItemStats,
        rows: np.ndarray,
        upstream: np.ndarray | None,
        co_scores: _core.CoScores | None,
        now: float,
    ) -> None:
        self.rows = rows
        self._gather = gather_arguments(stats, upstream, co_scores, now)
        self._all: np.ndarray | None = None

    def kernel_input(self) -> np.ndarray | tuple:
        """What _core.fused_topk takes as `features`: the (n, 5) matrix once built, else the
        arguments to gather it from (those of _core.candidate_features but the rows), so that
        gathering and scoring are one call without the GIL."""
        return self._gather if self._all is None else self._all

    def matrix(self, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
        """(n, len(names)) float32, C-contiguous; every column comes from one C++ pass."""
        if self._all is None:
            stats, *options = self._gather
            self._all = _core.candidate_features(stats, self.rows, *options)
        if names == FEATURE_NAMES:
            return self._all
        unknown = set(names) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURE_NAMES)}")
        return np.ascontiguousarray(self._all[:, [FEATURE_NAMES.index(n) for n in names]])
