"""Rank by similarity to the user's interest (the best-matching one for multi-interest users)."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interfaces import Ranker, RankRequest


class CosineRanker(Ranker):
    """score = similarity (+ the typed query's similarity, when there is one); equal scores keep
    the candidates' order. A user with no signal and no query keeps the upstream order (by
    `upstream` scores when given, else the candidates' own order)."""

    name = "cosine"

    def score(self, request: RankRequest) -> np.ndarray:
        return request.similarity() + request.search_similarity()

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = request.query
        if request.search is not None:
            interests = np.zeros((1, request.matrix.shape[1]), np.float32) if q is None else q.interests
            return _core.fused_topk(
                request.matrix,
                interests,
                None,
                None,
                k,
                sim_weight=0.0 if q is None else 1.0,
                interest_weights=None if q is None else q.weights,
                extra=request.search.reshape(1, -1),
                extra_weights=np.ones(1, np.float32),
                rows=request.rows,
                ties="position",
            )
        if q is None:
            if request.upstream is None:
                return request.rows[:k], np.zeros(min(k, len(request.rows)), np.float32)
            order = np.argsort(-request.upstream, kind="stable")[:k]
            return request.rows[order], request.upstream[order].astype(np.float32)
        return _core.fused_topk(
            request.matrix, q.interests, None, None, k, interest_weights=q.weights, rows=request.rows, ties="position"
        )

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        return [
            {"similarity": float(s), "search_similarity": float(x), "score": float(s + x)}
            for s, x in zip(request.similarity(), request.search_similarity())
        ]
