"""Time-decayed positive and negative centroids (Rocchio): the default interest model."""

from __future__ import annotations

import math

import numpy as np

from .. import _core
from ..interfaces import InterestModel, State, UserQuery
from ._common import DAY, check_positive, decay_factor, unit


class DecayInterest(InterestModel):
    """query = unit(Σ decayed positive vectors) − negative_weight · unit(Σ decayed negative vectors).

    Every event's pull fades with `half_life` seconds of the user's own event time and by
    `event_decay` per later event (users often act in bursts, where clock time says little), so
    recent taste dominates; skips and dislikes build the negative centroid, which pushes similar
    items down. State: ``pos``, ``neg`` (dim,) float32 sums and ``t``, the last event time.
    """

    name = "decay"

    def __init__(self, half_life: float = 30 * DAY, negative_weight: float = 0.5, event_decay: float = 0.95) -> None:
        self.half_life = check_positive("half_life", half_life)
        self.negative_weight = float(negative_weight)
        if not 0.0 < event_decay <= 1.0:
            raise ValueError(f"event_decay must lie in (0, 1], got {event_decay!r}")
        self.event_decay = float(event_decay)

    def update(self, state: State, vector: np.ndarray, weight: float, timestamp: float) -> None:
        if "pos" not in state:
            state.update(pos=np.zeros_like(vector, dtype=np.float32), neg=np.zeros_like(vector, dtype=np.float32))
        fade = decay_factor(state, timestamp, self.half_life) * self.event_decay
        if fade != 1.0:
            state["pos"] *= fade
            state["neg"] *= fade
        target = state["pos"] if weight > 0 else state["neg"]
        target += abs(weight) * vector
        state["t"] = max(timestamp, state.get("t", timestamp))

    def replay(self, vectors: np.ndarray, weights: np.ndarray, timestamps: np.ndarray) -> State:
        """update() for each event in turn, in closed form: event i's pull is |weight_i| times the
        fades of every later event, event_decay ** (n - 1 - i) · 0.5 ** ((T - T_i) / half_life)
        with T_i the latest timestamp up to event i (the fades' elapsed times sum to T - T_i).
        One C++ pass (_core.decay_replay): numpy's per-call cost was most of a cold user's replay."""
        if len(weights) == 0:
            return self.new_state()
        per_second, per_event = -math.log(2.0) / self.half_life, math.log(self.event_decay)
        pos, neg, latest = _core.decay_replay(vectors, weights, timestamps, per_second, per_event)
        return {"pos": pos, "neg": neg, "t": latest}

    def query(self, state: State, now: float) -> UserQuery | None:
        if "pos" not in state:
            return None
        q = unit(state["pos"]) - self.negative_weight * unit(state["neg"])
        return UserQuery(q.reshape(1, -1)) if q.any() else None
