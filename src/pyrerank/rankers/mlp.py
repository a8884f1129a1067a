"""The mlp ranker: a small multilayer perceptron over the fusion columns and learned interactions
of the user's and the item's vectors, trained by fit as a choice model, served in numpy and the
C++ kernel (no torch per request)."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..interfaces import COLUMNS, FEATURE_NAMES, RankRequest, State, TrainingExamples
from . import _training
from .fusion import FusionRanker


class MLPRanker(_training.ChoiceModel):
    """score = v · x + w₂ · relu(W₁ z + b₁), a choice logit: fusion's linear blend v of the
    COLUMNS x (learned first, as `fusion` learns it) plus a learned correction over z = [the
    standardised COLUMNS; h interactions]: interaction j = Σ_d u_d · i_d · W_jd · dim (u the
    user's interest, :meth:`UserQuery.mean`, i the candidate's unit vector), scored by the
    kernel as h query vectors u ⊙ W_j · dim. Untrained, every score is 0 and candidates keep
    their order.

    hidden : width of the hidden layer; interactions : h; epochs, lr, l2, seed : training
    """

    name = "mlp"

    def __init__(
        self,
        hidden: int = 32,
        interactions: int = 8,
        epochs: int = 4,
        lr: float = 0.003,
        l2: float = 1e-5,
        seed: int = 0,
    ) -> None:
        for name, value in (("hidden", hidden), ("interactions", interactions)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        _training.check_options(epochs, lr, l2)
        self.hidden, self.interactions = hidden, interactions
        self.epochs, self.lr, self.l2, self.seed = epochs, lr, l2, seed
        self.params: dict[str, np.ndarray] = {}
        self.validation: dict[str, float] = {}
        self._folded: tuple[np.ndarray, np.ndarray] | None = None  # (w1, b1) for raw inputs

    def _inputs(self, columns: np.ndarray, interactions: np.ndarray) -> np.ndarray:
        """(..., c + h) float32 z from (..., c) raw columns and (..., h) interactions."""
        p = self.params
        return np.concatenate([(columns - p["mean"]) / p["std"], interactions], axis=-1, dtype=np.float32)

    def _fold(self) -> None:
        """The standardisation folded into the first layer: (w1, b1) for raw inputs."""
        p, c = self.params, len(COLUMNS)
        w1 = p["w1"].copy()
        w1[:c] /= p["std"][:, None]
        self._folded = (w1, p["b1"] - (p["mean"] / p["std"]) @ p["w1"][:c])

    def _logits(self, raw: np.ndarray) -> np.ndarray:
        """(n,) float32 logits of (n, c + h) raw inputs (columns, then interactions)."""
        assert self._folded is not None  # set with the params
        w1, b1 = self._folded
        hidden = raw @ w1
        hidden += b1
        out = np.maximum(hidden, 0.0, out=hidden) @ self.params["w2"] + raw[:, : len(COLUMNS)] @ self.params["linear"]
        return out.astype(np.float32)

    def _raw_inputs(self, request: RankRequest) -> np.ndarray:
        """(n, c + h) float32: every candidate's COLUMNS, then its h learned interactions with the
        user (0 with no signal), every similarity from one kernel pass over the candidates."""
        w, q = self.params["w"], request.query
        if request.matrix.shape[1] != w.shape[1]:
            raise ValueError(
                f"the mlp ranker learned {w.shape[1]}-d vectors, the catalog's are {request.matrix.shape[1]}-d: "
                "fit it again"
            )
        n, c = len(request.rows), len(COLUMNS)
        z = np.zeros((n, c + len(w)), np.float32)
        z[:, c - len(FEATURE_NAMES) : c] = request.features.matrix()
        queries, into = [], []  # query vectors and the columns of z their dots go to
        if q is not None:
            queries += [q.interests, q.mean() * w * np.float32(w.shape[1])]
            into += [0] * len(q.interests) + list(range(c, c + len(w)))
        for column, vector in ((1, request.recent), (2, request.search)):
            if vector is not None:
                queries.append(vector.reshape(1, -1))
                into.append(column)
        if queries:
            dots = _core.score(request.matrix, np.ascontiguousarray(np.vstack(queries), np.float32), request.rows)
            if q is not None:
                m = len(q.interests)
                interest = dots[:m] if q.weights is None else dots[:m] * q.weights[:, None]
                z[:, 0] = interest.max(axis=0)
                z[:, c:] = dots[m : m + len(w)].T
                dots, into = dots[m + len(w) :], into[m + len(w) :]
            z[:, into] = dots.T
        return z

    def score(self, request: RankRequest) -> np.ndarray:
        if not self.params:
            return np.zeros(len(request.rows), np.float32)
        return self._logits(self._raw_inputs(request))

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.score(request)
        if k < len(scores):  # only the candidates tied with the k-th best or above get sorted
            contenders = np.flatnonzero(scores >= np.partition(scores, len(scores) - k)[len(scores) - k])
        else:
            contenders = np.arange(len(scores))
        order = contenders[np.argsort(-scores[contenders], kind="stable")[:k]]  # ties: the recall order
        return request.rows[order], scores[order]

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        """Per candidate: how much its score would drop if each column took its average value
        ("interactions": if the user-item interactions were 0); "other" holds the rest."""
        if not self.params:
            return super().explain(request)
        c = len(COLUMNS)
        out = []
        for raw in self._raw_inputs(request):
            # rows: as is, then each column at its mean, then without interactions
            variants = np.tile(raw, (c + 2, 1))
            variants[np.arange(1, c + 1), np.arange(c)] = self.params["mean"]
            variants[-1, c:] = 0.0
            scores = self._logits(variants).tolist()
            parts = {name: scores[0] - s for name, s in zip((*COLUMNS, "interactions"), scores[1:])}
            parts["other"] = scores[0] - sum(parts.values())
            parts["score"] = scores[0]
            out.append(parts)
        return out

    def fit(self, examples: TrainingExamples) -> None:
        examples = examples.select(COLUMNS)
        if len(examples) < 10:
            return
        dim, h, c = _training.vectors_of(examples)[2].shape[1], self.interactions, len(COLUMNS)
        rng = np.random.default_rng(self.seed)
        linear = FusionRanker()
        linear.fit(examples)
        every = np.concatenate([examples.positives, examples.negatives.reshape(-1, c)])
        std = every.std(axis=0)
        p = {
            "mean": every.mean(axis=0).astype(np.float32),
            "std": np.where(std > 0, std, 1.0).astype(np.float32),
            "w": (rng.standard_normal((h, dim)) / np.sqrt(dim)).astype(np.float32),
            "w1": (rng.standard_normal((c + h, self.hidden)) * np.sqrt(2.0 / (c + h))).astype(np.float32),
            "b1": np.zeros(self.hidden, np.float32),
            "w2": np.zeros(self.hidden, np.float32),  # starts as the linear blend alone
            "linear": np.array([linear.weights[name] for name in COLUMNS], np.float32),
        }
        self.params = p
        learned = {k: p[k] for k in ("w", "w1", "b1", "w2")}

        def forward(batch: _training.Batch):
            ui = batch.users[:, None, :] * batch.items * np.float32(dim)  # (b, g, dim)
            z = self._inputs(batch.x, ui @ p["w"].T)
            a1 = z @ p["w1"] + p["b1"]
            h1 = np.maximum(a1, 0.0)

            def backward(dl: np.ndarray) -> dict[str, np.ndarray]:
                da1 = dl[:, :, None] * p["w2"] * (a1 > 0)
                d_inter = (da1 @ p["w1"].T)[:, :, c:]
                return {
                    "w": d_inter.reshape(-1, h).T @ ui.reshape(-1, dim),
                    "w1": z.reshape(-1, c + h).T @ da1.reshape(-1, self.hidden),
                    "b1": da1.sum(axis=(0, 1)),
                    "w2": np.einsum("bgk,bg->k", h1, dl),
                }

            return h1 @ p["w2"] + batch.x @ p["linear"], backward

        self.validation = _training.train(
            "mlp", examples, learned, forward, epochs=self.epochs, lr=self.lr, l2=self.l2, seed=self.seed
        )
        self._fold()

    def get_state(self) -> State:
        return {**self.params, "validation": self.validation}

    def set_state(self, state: State) -> None:
        self.params = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        self.validation = dict(state.get("validation", {}))
        self._folded = None
        if self.params:
            self._fold()
