"""The three plugin interfaces: Encoder, InterestModel and Ranker, and what flows between them."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

# A user's interest state: numpy arrays and JSON scalars only, so every store can persist it.
State = dict[str, Any]


class Encoder(abc.ABC):
    """Turns texts into vectors. Subclasses set `name` and `dim` and implement :meth:`encode`."""

    name: str
    dim: int

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised (a text with no content may be all 0)."""

    def encode_one(self, text: str) -> np.ndarray:
        """(dim,) float32 vector of one text."""
        return self.encode([text])[0]

    @staticmethod
    def check_texts(texts: Sequence[str]) -> list[str]:
        """`texts` as a list, or TypeError: implementations call this first in encode()."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string: wrap it in a list")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be str, got {type(t).__name__}")
        return texts


@dataclasses.dataclass(frozen=True, slots=True)
class UserQuery:
    """What a ranker scores candidates against: an item scores by its best-matching interest,
    ``max_j weights[j] * <interests[j], item>``.

    interests : (m, dim) float32, C-contiguous
    weights : (m,) float32, or None for all ones
    """

    interests: np.ndarray
    weights: np.ndarray | None = None


class InterestModel(abc.ABC):
    """Maintains a user's interest from feedback events. Holds configuration only: the per-user
    state is a :data:`State` dict that the caller stores, so one model serves every user."""

    name: ClassVar[str]

    @abc.abstractmethod
    def update(self, state: State, vector: np.ndarray, weight: float, timestamp: float) -> None:
        """Fold one event into `state` in place. `vector` (dim,) float32 is the item's;
        `weight` > 0 pulls towards it, < 0 pushes away; `timestamp` in seconds."""

    @abc.abstractmethod
    def query(self, state: State, now: float) -> UserQuery | None:
        """The user's query at time `now`, or None while the state holds no signal."""

    def new_state(self) -> State:
        """The state of a user with no events."""
        return {}


@dataclasses.dataclass(slots=True)
class RankRequest:
    """One user's candidate block, as handed to a Ranker.

    matrix : (n_rows, dim) int8, float16 or float32, the catalogue as stored: hand it to
             pyrerank.ops (which read an int8 row as a direction, row / ||row||), or use
             :meth:`vectors` for the candidates' float vectors
    rows : (n,) int64, candidate row numbers, distinct
    query : the user's query, or None for a user with no signal yet
    upstream : (n,) float32 scores from the recall stage, or None
    features : callable giving named (n,) float32 feature columns for these candidates
               (popularity, co-engagement, recency, ...), computed only when a ranker asks
    recent : (dim,) float32, the unit mean of the user's last few liked items (short-term
             taste, beside the interest model's long-term one), or None
    """

    matrix: np.ndarray
    rows: np.ndarray
    query: UserQuery | None
    upstream: np.ndarray | None = None
    features: Any = None
    recent: np.ndarray | None = None

    def vectors(self) -> np.ndarray:
        """(n, dim) float32 unit vectors of the candidates, whatever the matrix's dtype."""
        block = self.matrix[self.rows].astype(np.float32)
        if self.matrix.dtype == np.int8:
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-30)
        return block


class Ranker(abc.ABC):
    """Scores a candidate block for a user. Implement :meth:`score`; override :meth:`rank`
    where a faster fused path exists."""

    name: ClassVar[str]

    @abc.abstractmethod
    def score(self, request: RankRequest) -> np.ndarray:
        """(n,) float32 score of every candidate, higher is better."""

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best min(k, n) candidates: (k',) int64 catalogue rows and (k',) float32 scores,
        best first, ties broken by the lower row number."""
        scores = np.asarray(self.score(request), dtype=np.float32)
        order = np.lexsort((request.rows, -scores))[:k]
        return request.rows[order], scores[order]

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        """Per candidate, each part's contribution to its score (parts sum to "score")."""
        return [{"score": float(s)} for s in self.score(request)]

    def fit(self, examples: Any) -> None:
        """Learn parameters from logged feedback; rankers without parameters ignore it."""
