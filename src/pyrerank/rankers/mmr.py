"""Diversity on top of any ranker: maximal marginal relevance over its scores."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interfaces import Ranker, RankRequest, State, TrainingExamples
from .fusion import FusionRanker


class MMRRanker(Ranker):
    """Re-orders the `base` ranker's scores (scaled to [0, 1]) so that each next item trades
    relevance against similarity to the items already picked: `lambda_` = 1 is the base order,
    lower values diversify more. Where the base ranker has nothing to go on (every score
    equal: a new user on a catalog without statistics), the recall position is the relevance,
    from 1 for the first candidate down to 0 for the last."""

    name = "mmr"
    diversifies = True

    def __init__(self, base: Ranker | None = None, lambda_: float = 0.7) -> None:
        if not 0.0 <= float(lambda_) <= 1.0:
            raise ValueError(f"lambda_ must lie in [0, 1], got {lambda_!r}")
        self.base = base if base is not None else FusionRanker()
        self.lambda_ = float(lambda_)

    def score(self, request: RankRequest) -> np.ndarray:
        return self.base.score(request)

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        relevance = np.asarray(self.base.score(request), np.float32)
        spread = float(relevance.max() - relevance.min())
        if spread > 0:
            scaled = (relevance - relevance.min()) / spread
        else:
            scaled = np.linspace(1.0, 0.0, len(relevance), dtype=np.float32)
        return _core.mmr(
            request.matrix,
            np.ascontiguousarray(scaled, np.float32),
            k,
            lambda_=self.lambda_,
            rows=request.rows,
            ties="position",
        )

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        return self.base.explain(request)

    def fit(self, examples: TrainingExamples) -> None:
        self.base.fit(examples)

    def get_state(self) -> State:
        return self.base.get_state()

    def set_state(self, state: State) -> None:
        self.base.set_state(state)
