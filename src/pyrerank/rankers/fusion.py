"""A weighted blend of interest similarity and candidate features, scored in the C++ kernel;
weights set by hand or learned from logged feedback with :meth:`FusionRanker.fit`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..interfaces import (
    COLUMNS,
    FEATURE_NAMES,
    FusedScoring,
    Ranker,
    RankRequest,
    State,
    TrainingExamples,
    UserQuery,
)

log = logging.getLogger(__name__)

DEFAULT_FUSION_WEIGHTS = {
    "similarity": 1.0,
    "recent_similarity": 0.5,
    "search_similarity": 1.0,
    "upstream": 0.1,
    "popularity": 0.05,
    "recent_popularity": 0.05,
    "co_engagement": 0.3,
    "recency": 0.05,
}
assert set(DEFAULT_FUSION_WEIGHTS) == set(COLUMNS), "one default weight per column"


class FusionRanker(Ranker):
    """score = Σ_c w_c * column_c over every one of COLUMNS (the interest, short-term and typed
    query similarities and the feature columns); the similarities come from the same pass over
    each candidate's vector. Equal scores keep the candidates' order: a user with no signal on a
    catalog with no statistics gets the recall stage's order back.

    weights : {"similarity": ..., "upstream": ..., ...}; missing names keep their defaults.
    """

    name = "fusion"

    def __init__(self, weights: dict[str, float] | None = None) -> None:
        unknown = set(weights or {}) - set(COLUMNS)
        if unknown:
            raise ValueError(f"weights has unknown names {sorted(unknown)}; known: {list(COLUMNS)}")
        self.weights = {**DEFAULT_FUSION_WEIGHTS, **(weights or {})}
        self.fitted = False

    @property
    def weights(self) -> Mapping[str, float]:
        """Read-only: assign a whole dict (as fit() does) to change them."""
        return MappingProxyType(self._weights)

    @weights.setter
    def weights(self, weights: dict[str, float]) -> None:
        self._weights = dict(weights)  # a plain dict, so that a ranker can be deep-copied (fit trains a copy)
        self._vector = np.array([weights[f] for f in FEATURE_NAMES], np.float32)  # feature weights, kernel order
        self._extra_weights = np.array([weights["recent_similarity"], weights["search_similarity"]], np.float32)
        self._recent_weight = self._extra_weights[:1]
        self._all_weights = np.array([weights[c] for c in COLUMNS], np.float32)

    def get_state(self) -> State:
        return {"weights": dict(self.weights), "fitted": self.fitted}

    def set_state(self, state: State) -> None:
        self.weights = {**DEFAULT_FUSION_WEIGHTS, **state.get("weights", {})}
        self.fitted = bool(state.get("fitted", False))

    def score(self, request: RankRequest) -> np.ndarray:
        return (request.columns() @ self._all_weights).astype(np.float32)

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        scoring = self.fused_scoring(request.query, request.recent, request.search, request.matrix.shape[1])
        return scoring.topk(request, k)

    def fused_scoring(
        self, query: UserQuery | None, recent: np.ndarray | None, search: np.ndarray | None, dim: int
    ) -> FusedScoring:
        if query is None:  # no interest yet: the features alone decide
            interests, interest_weights, sim_weight = np.zeros((1, dim), np.float32), None, 0.0
        else:
            interests, interest_weights, sim_weight = query.interests, query.weights, self._weights["similarity"]
        extra, extra_weights = self._extras(query, recent, search, dim)
        return FusedScoring(interests, interest_weights, sim_weight, extra, extra_weights, self._vector)

    def _extras(
        self, query: UserQuery | None, recent: np.ndarray | None, search: np.ndarray | None, dim: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The kernel's extra queries, (e, dim) float32, and their (e,) weights: the short-term
        vector and the typed query's, those there are (None, None: neither)."""
        if search is None:  # the usual request: no typed query
            if recent is None:
                return None, None
            return recent.reshape(1, -1), self._recent_weight
        return _with_search(recent, search, self._extra_weights)

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        out = []
        for row in request.columns():
            parts = {name: float(self.weights[name] * value) for name, value in zip(COLUMNS, row)}
            parts["score"] = sum(parts.values())
            out.append(parts)
        return out

    def fit(self, examples: TrainingExamples, l2: float = 1e-3, iterations: int = 25) -> None:
        """Pairwise logistic regression (Newton's method, each step halved until the loss
        falls): P(positive beats negative) = σ(w · (x_pos − x_neg)), averaged over every logged
        pair."""
        examples = examples.select(COLUMNS)
        pos, neg = examples.positives, examples.negatives
        if len(pos) == 0:
            log.warning("fusion.fit got no examples; keeping the current weights")
            return
        diff = (pos[:, None, :] - neg).reshape(-1, pos.shape[1]).astype(np.float64)
        w_all = np.array([self.weights[n] for n in COLUMNS], np.float64)
        # A feature that never varies in the log (upstream scores, absent from logs) keeps its
        # hand-set weight instead of being driven to 0 by the penalty.
        active = diff.std(axis=0) > 0
        diff, w = diff[:, active], w_all[active]

        def loss(w: np.ndarray) -> float:
            return float(np.mean(np.logaddexp(0.0, -(diff @ w))) + 0.5 * l2 * w @ w)

        for _ in range(iterations):
            z = diff @ w
            p = 1.0 / (1.0 + np.exp(np.clip(z, -30, 30)))  # σ(-z): the chance the pair is mis-ordered
            grad = -(diff * p[:, None]).mean(axis=0) + l2 * w
            hess = (diff * (p * (1 - p))[:, None]).T @ diff / len(diff) + l2 * np.eye(len(w))
            step, before = np.linalg.solve(hess, grad), loss(w)
            while loss(w - step) > before and np.abs(step).max() > 1e-9:  # a full Newton step can overshoot
                step /= 2
            w -= step
            if np.abs(step).max() < 1e-6:
                break
        w_all[active] = w
        self.weights = {n: float(x) for n, x in zip(COLUMNS, w_all)}
        self.fitted = True
        log.info("fusion weights learned from %d pairs: %s", len(diff), self.weights)


def _with_search(recent: np.ndarray | None, search: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's extra queries with a typed query's vector: (e, dim) float32 (the short-term
    vector, if any, then the query's) and their (e,) weights (`weights` holds both, in that order)."""
    if recent is None:
        return search.reshape(1, -1), weights[1:]
    return np.stack([recent, search]), weights
