"""Each user's positive events in time order: what the language-model training reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping

from ..events import Event, ItemId, event_weight


def liked_sequences(events: Iterable[Event], known: Mapping[ItemId, str]) -> list[list[tuple[float, ItemId]]]:
    """Per user, their positive events on items in `known` as (timestamp, item), in time order
    (events without a timestamp count as time 0 and keep their given order)."""
    by_user: dict[Hashable, list[tuple[float, int, ItemId]]] = defaultdict(list)
    for i, e in enumerate(events):
        if not isinstance(e, Event):
            raise TypeError(f"events must be pyrerank.Event objects, got {type(e).__name__}")
        if e.item in known and event_weight(e.kind, e.weight) > 0:
            by_user[e.user].append((0.0 if e.timestamp is None else float(e.timestamp), i, e.item))
    return [[(t, item) for t, _, item in sorted(liked)] for liked in by_user.values()]
