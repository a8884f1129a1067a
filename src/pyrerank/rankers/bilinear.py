"""The bilinear ranker: fusion's blend plus uᵀ M i + bᵀ i, a learned low-rank interaction M
between the user's and the item's vectors and a learned item prior b (what the vector of an
item says about how often it is chosen, cold items included)."""

from __future__ import annotations

import numpy as np

from ..interfaces import RankRequest, State, TrainingExamples, UserQuery
from . import _training
from .fusion import FusionRanker


class BilinearRanker(_training.ChoiceModel, FusionRanker):
    """score = fusion's Σ_c w_c · column_c + uᵀ A Bᵀ i + bᵀ i, where u is the user's interest
    (:meth:`UserQuery.mean`) and i the candidate's unit vector. fit() learns the fusion weights
    first (as `fusion` does), then A, B (dim, low_rank) and b (dim,) as a choice model on top of
    them. Served in the same kernel pass as fusion: the interaction is one more query vector,
    B Aᵀ u + b. Untrained, or for a user with no signal, it ranks as fusion.

    low_rank : the rank of M; epochs, lr, l2 : Adam's passes over fit's examples, step and penalty
    """

    name = "bilinear"

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        low_rank: int = 32,
        epochs: int = 4,
        lr: float = 0.005,
        l2: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(weights)
        if not isinstance(low_rank, int) or low_rank < 1:
            raise ValueError(f"low_rank must be an int >= 1, got {low_rank!r}")
        _training.check_options(epochs, lr, l2)
        self.low_rank, self.epochs, self.lr, self.l2, self.seed = low_rank, epochs, lr, l2, seed
        self.a: np.ndarray | None = None  # (dim, low_rank) float32
        self.b: np.ndarray | None = None  # (dim, low_rank) float32
        self.prior: np.ndarray | None = None  # (dim,) float32
        self.validation: dict[str, float] = {}

    def interaction(self, query: UserQuery | None, dim: int) -> np.ndarray | None:
        """(dim,) float32 query vector B Aᵀ u + b whose dot with a candidate's unit vector is its
        learned part, for a user with `query` on a catalog `dim` wide; None before fit and for a
        user with no signal."""
        if self.a is None or self.b is None or self.prior is None:
            return None
        if dim != len(self.prior):
            raise ValueError(
                f"the bilinear ranker learned {len(self.prior)}-d vectors, the catalog's are {dim}-d: fit it again"
            )
        if query is None:  # a new user: the recall stage's order, as fusion keeps it
            return None
        return self.b @ (query.mean() @ self.a) + self.prior

    def _extras(
        self, query: UserQuery | None, recent: np.ndarray | None, search: np.ndarray | None, dim: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        extra, weights = super()._extras(query, recent, search, dim)
        learned = self.interaction(query, dim)
        if learned is None:
            return extra, weights
        if extra is None or weights is None:
            return learned.reshape(1, -1), np.ones(1, np.float32)
        return np.vstack([extra, learned]), np.append(weights, np.float32(1.0))

    def _learned_part(self, request: RankRequest) -> np.ndarray:
        learned = self.interaction(request.query, request.matrix.shape[1])
        if learned is None:
            return np.zeros(len(request.rows), np.float32)
        return (request.vectors() @ learned).astype(np.float32)

    def score(self, request: RankRequest) -> np.ndarray:
        return super().score(request) + self._learned_part(request)

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        out = super().explain(request)
        for parts, value in zip(out, self._learned_part(request).tolist()):
            parts["bilinear"] = value
            parts["score"] += value
        return out

    def fit(self, examples: TrainingExamples) -> None:  # type: ignore[override]
        super().fit(examples)
        examples = examples.select(tuple(self.weights))
        if len(examples) < 10:
            return
        dim = _training.vectors_of(examples)[2].shape[1]
        rng = np.random.default_rng(self.seed)
        w = np.array(list(self.weights.values()), np.float32)
        params = {
            "a": (rng.standard_normal((dim, self.low_rank)) / np.sqrt(dim)).astype(np.float32),
            "b": np.zeros((dim, self.low_rank), np.float32),
            "prior": np.zeros(dim, np.float32),
        }

        def forward(batch: _training.Batch):
            ua = batch.users @ params["a"]  # (b, r)
            ib = batch.items @ params["b"]  # (b, g, r)
            logits = batch.x @ w + np.einsum("br,bgr->bg", ua, ib) + batch.items @ params["prior"]

            def backward(dl: np.ndarray) -> dict[str, np.ndarray]:
                items = batch.items.reshape(-1, dim)
                return {
                    "a": batch.users.T @ np.einsum("bg,bgr->br", dl, ib),
                    "b": items.T @ (dl[:, :, None] * ua[:, None, :]).reshape(-1, self.low_rank),
                    "prior": dl.reshape(-1) @ items,
                }

            return logits, backward

        self.validation = _training.train(
            "bilinear", examples, params, forward, epochs=self.epochs, lr=self.lr, l2=self.l2, seed=self.seed
        )
        self.a, self.b, self.prior = params["a"], params["b"], params["prior"]

    def get_state(self) -> State:
        state = {**super().get_state(), "validation": self.validation}
        if self.a is not None:
            state.update(a=self.a, b=self.b, prior=self.prior)
        return state

    def set_state(self, state: State) -> None:
        super().set_state(state)
        self.a, self.b, self.prior = state.get("a"), state.get("b"), state.get("prior")
        self.validation = dict(state.get("validation", {}))
