"""Rank by similarity to the user's interest (the best-matching one for multi-interest users)."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interfaces import Ranker, RankRequest


def similarity(request: RankRequest) -> np.ndarray:
    """(n,) float32: max_j w_j <interest_j, item> per candidate; zeros without a query."""
    q = request.query
    if q is None:
        return np.zeros(len(request.rows), np.float32)
    sims = _core.score(request.matrix, q.interests, request.rows, 1)
    if q.weights is not None:
        sims = sims * q.weights[:, None]
    return sims.max(axis=0)


def recent_similarity(request: RankRequest) -> np.ndarray:
    """(n,) float32: <recent, item> per candidate for the user's short-term vector; zeros without one."""
    if request.recent is None:
        return np.zeros(len(request.rows), np.float32)
    return _core.score(request.matrix, request.recent, request.rows, 1)


class CosineRanker(Ranker):
    """score = similarity. A user with no signal keeps the upstream order (by `upstream`
    scores when given, else the candidates' own order)."""

    name = "cosine"

    def score(self, request: RankRequest) -> np.ndarray:
        return similarity(request)

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = request.query
        if q is None:
            if request.upstream is None:
                return request.rows[:k], np.zeros(min(k, len(request.rows)), np.float32)
            order = np.argsort(-request.upstream, kind="stable")[:k]
            return request.rows[order], request.upstream[order].astype(np.float32)
        return _core.fused_topk(request.matrix, q.interests, q.weights, 1.0, None, None, k, request.rows, 1)

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        return [{"similarity": float(s), "score": float(s)} for s in similarity(request)]
