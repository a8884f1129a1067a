"""Several interest centroids per user, grown online: an item scores by its best match."""

from __future__ import annotations

import numpy as np

from ..interfaces import InterestModel, State, UserQuery
from ._common import DAY, check_positive, decay_factor, unit


class MultiInterest(InterestModel):
    """Up to `max_interests` decayed centroids. A liked item joins the closest centroid when
    their cosine is at least `merge_threshold` (or all slots are taken), else it starts a new
    one. Skips and dislikes build one negative centroid subtracted from every interest.

    An interest's weight is mass / (mass + 1): one stray click counts half as much as a
    well-established taste. State: ``centroids`` (m, dim), ``mass`` (m,), ``neg`` (dim,), ``t``.
    """

    name = "multi"

    def __init__(
        self,
        max_interests: int = 4,
        merge_threshold: float = 0.45,
        half_life: float = 30 * DAY,
        negative_weight: float = 0.5,
    ) -> None:
        if not isinstance(max_interests, int) or max_interests < 1:
            raise ValueError(f"max_interests must be an int >= 1, got {max_interests!r}")
        self.max_interests = max_interests
        self.merge_threshold = float(merge_threshold)
        self.half_life = check_positive("half_life", half_life)
        self.negative_weight = float(negative_weight)

    def update(self, state: State, vector: np.ndarray, weight: float, timestamp: float) -> None:
        dim = vector.shape[0]
        if "centroids" not in state:
            state.update(
                centroids=np.zeros((0, dim), np.float32), mass=np.zeros(0, np.float32), neg=np.zeros(dim, np.float32)
            )
        fade = decay_factor(state, timestamp, self.half_life)
        if fade != 1.0:
            state["centroids"] *= fade
            state["mass"] *= fade
            state["neg"] *= fade
        state["t"] = max(timestamp, state.get("t", timestamp))
        if weight < 0:
            state["neg"] += -weight * vector
            return
        centroids, mass = state["centroids"], state["mass"]
        if len(mass):
            sims = unit(centroids) @ vector
            best = int(np.argmax(sims))
            if sims[best] >= self.merge_threshold or len(mass) == self.max_interests:
                centroids[best] += weight * vector
                mass[best] += weight
                return
        state["centroids"] = np.vstack([centroids, weight * vector[None, :]]).astype(np.float32)
        state["mass"] = np.append(mass, np.float32(weight)).astype(np.float32)

    def query(self, state: State, now: float) -> UserQuery | None:
        if "centroids" not in state or not len(state["mass"]):
            if "neg" in state and state["neg"].any():
                return UserQuery((-self.negative_weight * unit(state["neg"])).reshape(1, -1))
            return None
        interests = unit(state["centroids"]) - self.negative_weight * unit(state["neg"])
        mass = state["mass"]
        return UserQuery(np.ascontiguousarray(interests, np.float32), (mass / (mass + 1.0)).astype(np.float32))
