"""Online logistic regression per user: P(engage | item) = σ(θᵀv + b), one SGD step per event."""

from __future__ import annotations

import math

import numpy as np

from ..interfaces import InterestModel, State, UserQuery
from ._common import check_positive


class LogisticInterest(InterestModel):
    """Positive events are label 1, negative events label 0, each weighted by |weight|; θ is
    the user's preference direction, so ranking by θᵀv ranks by predicted engagement.

    State: ``theta`` (dim,) float32, ``bias`` and ``n`` (events seen).
    """

    name = "logistic"

    def __init__(self, learning_rate: float = 0.5, l2: float = 1e-3) -> None:
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.l2 = float(l2)

    def update(self, state: State, vector: np.ndarray, weight: float, timestamp: float) -> None:
        if "theta" not in state:
            state.update(theta=np.zeros_like(vector, dtype=np.float32), bias=0.0, n=0)
        theta = state["theta"]
        label = 1.0 if weight > 0 else 0.0
        logit = float(theta @ vector) + state["bias"]
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
        step = self.learning_rate * abs(weight) * (label - p)
        theta *= 1.0 - self.learning_rate * self.l2
        theta += step * vector
        state["bias"] += step
        state["n"] += 1
        state["t"] = max(timestamp, state.get("t", timestamp))

    def query(self, state: State, now: float) -> UserQuery | None:
        if "theta" not in state or not state["theta"].any():
            return None
        return UserQuery(state["theta"].reshape(1, -1).copy())
