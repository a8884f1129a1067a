"""Rank by similarity to the user's interest (the best-matching one for multi-interest users)."""

from __future__ import annotations

import numpy as np

from ..interfaces import FusedScoring, Ranker, RankRequest, UserQuery


class CosineRanker(Ranker):
    """score = similarity (+ the typed query's similarity, when there is one); equal scores keep
    the candidates' order. A user with no signal and no query keeps the upstream order (by
    `upstream` scores when given, else the candidates' own order)."""

    name = "cosine"

    def score(self, request: RankRequest) -> np.ndarray:
        return request.similarity() + request.search_similarity()

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        scoring = self.fused_scoring(request.query, request.recent, request.search, request.matrix.shape[1])
        if scoring is not None:
            return scoring.topk(request, k)
        if request.upstream is None:
            return request.rows[:k], np.zeros(min(k, len(request.rows)), np.float32)
        order = np.argsort(-request.upstream, kind="stable")[:k]
        return request.rows[order], request.upstream[order].astype(np.float32)

    def fused_scoring(
        self, query: UserQuery | None, recent: np.ndarray | None, search: np.ndarray | None, dim: int
    ) -> FusedScoring | None:
        """None for a user with no signal and no typed query (the upstream order decides)."""
        if search is None:
            return None if query is None else FusedScoring(query.interests, query.weights)
        interests = np.zeros((1, dim), np.float32) if query is None else query.interests
        return FusedScoring(
            interests,
            None if query is None else query.weights,
            0.0 if query is None else 1.0,
            search.reshape(1, -1),
            np.ones(1, np.float32),
        )

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        return [
            {"similarity": float(s), "search_similarity": float(x), "score": float(s + x)}
            for s, x in zip(request.similarity(), request.search_similarity())
        ]
