"""Feedback events: what a user did to an item, how much it counts, and when."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Hashable

ItemId = int | str
UserId = Hashable

# How much each kind of event moves a user's interest. Positive kinds pull the interest
# towards the item, negative kinds push it away. Callers override per event with `weight=`.
DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 0.25,
    "click": 1.0,
    "like": 2.0,
    "purchase": 3.0,
    "skip": -0.5,
    "dislike": -2.0,
}


# Text the user wrote (Reranker.observe_text) moves their interest towards what it is about.
TEXT_WEIGHTS: dict[str, float] = {
    "query": 1.0,
    "review": 2.0,
    "post": 1.0,
}


MAX_WEIGHT = 1e6  # |weight| of one event: far past any kind's default, far below overflowing a sum


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One feedback event. `timestamp` is seconds (any epoch, consistently); None means now.

    `weight` None takes the kind's default from :data:`DEFAULT_WEIGHTS`.
    """

    user: UserId
    item: ItemId
    kind: str = "click"
    timestamp: float | None = None
    weight: float | None = None


def event_weight(kind: str, weight: float | None, kinds: dict[str, float] = DEFAULT_WEIGHTS) -> float:
    """The signed weight of an event: the explicit `weight`, else the kind's default in `kinds`."""
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {sorted(kinds)}, got {type(kind).__name__}")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}, got {kind!r:.40}")
    if weight is None:
        return kinds[kind]
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise TypeError(f"weight must be a real number, got {type(weight).__name__}")
    w = float(weight)
    if not abs(w) <= MAX_WEIGHT:  # NaN fails this too
        raise ValueError(f"weight must be finite with |weight| <= {MAX_WEIGHT:g}, got {weight!r}")
    return w
