"""Two stages: a cheap ranker over every candidate, a costly one over its top few."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..interfaces import Ranker, RankRequest, State, TrainingExamples


class Cascade(Ranker):
    """Ranks every candidate with `first`, then re-scores its best `top` with `second`: those
    score ``first + weight * second`` (both stages' scores are log-odds for the learned rankers,
    so this is the product of the two click models), shifted to stay above the rest, which keep
    `first`'s scores. Built through the registry, like every ranker::

        second = pr.get_ranker("cross-encoder", model=DIR)
        pr.get_ranker("cascade", first=pr.get_ranker("bilinear"), second=second, top=50)

    first, second : Rankers (``pr.get_ranker(name, **options)`` builds a registered one)
    top : candidates the second stage reads; weight : its share of their scores (> 0)

    ``Reranker.fit`` trains `first` (train a cross-encoder with ``pr.train_cross_encoder``); a
    save keeps what `first` learned: reopen it with ``Reranker.load(path, ranker=<the cascade>)``.
    """

    name = "cascade"

    def __init__(self, first: Ranker, second: Ranker, *, top: int = 50, weight: float = 1.0) -> None:
        self.first, self.second = first, second
        for stage, ranker in (("first", first), ("second", second)):
            if not isinstance(ranker, Ranker):
                raise TypeError(
                    f"{stage} must be a Ranker (pr.get_ranker(name) builds a registered one), got {ranker!r}"
                )
            if ranker.diversifies:
                raise ValueError(f"{stage} must rank by its scores: {ranker.name!r} diversifies (put MMR outside)")
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise ValueError(f"top must be an int >= 1, got {top!r}")
        if not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"weight must be a number > 0, got {weight!r}")
        self.top, self.weight = top, float(weight)
        self.needs_texts = self.first.needs_texts or self.second.needs_texts

    @property
    def validation(self) -> dict[str, float]:
        """The click model's held-out figures: the second stage's, else the first's ({} if none)."""
        return getattr(self.second, "validation", None) or getattr(self.first, "validation", None) or {}

    def _scored(self, request: RankRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n,) scores, (m,) positions of the first stage's best m = min(top, n), and their (m,)
        second-stage scores."""
        first = np.asarray(self.first.score(request), np.float32)
        best = np.argsort(-first, kind="stable")[: self.top]
        second = np.asarray(self.second.score(request.subset(best)), np.float32)
        blended = first[best] + np.float32(self.weight) * second
        rest = np.ones(len(first), bool)
        rest[best] = False
        if rest.any():  # the second stage's picks stay above everything it did not read
            blended += np.float32(max(0.0, float(first[rest].max()) - float(blended.min()) + 1.0))
        scores = first.copy()
        scores[best] = blended
        return scores, best, second

    def score(self, request: RankRequest) -> np.ndarray:
        return self._scored(request)[0]

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        """The first stage's parts, plus the second stage's (weighted) for its top candidates
        and, as the part "cascade", the shift that keeps those above the rest."""
        parts = self.first.explain(request)
        scores, best, second = self._scored(request)
        for position, value in zip(best.tolist(), second.tolist()):
            parts[position][self.second.name] = self.weight * value
        for p, score in zip(parts, scores.tolist()):
            shift = score - p["score"] - p.get(self.second.name, 0.0)
            if abs(shift) > 1e-6 * max(1.0, abs(score)):
                p["cascade"] = shift
            p["score"] = score
        return parts

    def fit(self, examples: TrainingExamples) -> None:
        self.first.fit(examples)

    def get_state(self) -> State:
        return self.first.get_state()

    def set_state(self, state: State) -> None:
        self.first.set_state(state)

    def __deepcopy__(self, memo: dict[int, Any]) -> Cascade:
        """A copy with its own first stage (what fit trains), sharing the second."""
        out = copy.copy(self)
        out.first = copy.deepcopy(self.first, memo)
        return out
