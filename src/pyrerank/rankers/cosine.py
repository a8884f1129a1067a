"""Rank by similarity to the user's interest (the best-matching one for multi-interest users)."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interfaces import Ranker, RankRequest


class CosineRanker(Ranker):
    """score = similarity; equal scores keep the candidates' order. A user with no signal keeps
    the upstream order (by `upstream` scores when given, else the candidates' own order)."""

    name = "cosine"

    def score(self, request: RankRequest) -> np.ndarray:
        return request.similarity()

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = request.query
        if q is None:
            if request.upstream is None:
                return request.rows[:k], np.zeros(min(k, len(request.rows)), np.float32)
            order = np.argsort(-request.upstream, kind="stable")[:k]
            return request.rows[order], request.upstream[order].astype(np.float32)
        return _core.fused_topk(
            request.matrix, q.interests, None, None, k, interest_weights=q.weights, rows=request.rows, ties="position"
        )

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        return [{"similarity": float(s), "score": float(s)} for s in request.similarity()]
