"""The ProfileStore interface: an ordered, shared log of feedback events plus a snapshot of the
statistics derived from it.

Every process that opens a store keeps its own view (cached user records, item statistics)
and brings it up to date by applying the log's new events in log order before each observe
and rerank. All processes apply the same events in the same order, so they rank with the same
counts; a user's state is a function of that user's events, so a user evicted from memory (or
never seen by this process) is rebuilt from the log.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..errors import PyrerankError
from ..events import ItemId


class StoreError(PyrerankError):
    """A store cannot be opened or reached, or holds data it cannot read."""


class StaleCursor(Exception):
    """This reader is behind data it needs: entries it has not read were compacted away, or a
    kept record is newer than its cursor. Reload the snapshot (or read on) and try again."""


class LoggedEvent(NamedTuple):
    """One entry of the log: a feedback event, or (item None) the user being forgotten.

    links : the user's previous positive items that this event is co-engaged with; logged so
        that applying the event to the statistics needs no other user state.
    counted : whether the event adds to the shared statistics (observe(count=...)).
    """

    user: Hashable
    item: ItemId | None
    weight: float = 0.0
    timestamp: float = 0.0
    counted: bool = True
    links: tuple[ItemId, ...] = ()

    def to_json(self) -> str:
        return json.dumps([self.user, self.item, self.weight, self.timestamp, self.counted, list(self.links)],
                          default=_plain)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoggedEvent:
        user, item, weight, timestamp, counted, links = json.loads(text)
        return cls(user_key(user), item, weight, timestamp, counted, tuple(links))


def user_key(value: Any) -> Hashable:
    """A user id as it comes back from JSON: lists (tuples before) made hashable again."""
    return tuple(user_key(v) for v in value) if isinstance(value, list) else value


def _plain(value: Any) -> int:
    """numpy integers (ids taken from arrays) as the ints they equal."""
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def user_text(user: Hashable) -> str:
    """A user id as JSON text: the key a store indexes users by."""
    try:
        return json.dumps(user, default=_plain)
    except TypeError:
        raise TypeError(f"user ids must be str, int or tuples of them, got {type(user).__name__} {user!r}") from None


class ProfileStore(ABC):
    """An ordered event log shared by every process that opens it, read through a cursor that
    belongs to this instance (one instance per Reranker).

    durable : True if an appended event survives the process (and is seen by other processes).
    keeps_user_records : True if save_user keeps what it is given (and user_history returns it).
    """

    name: ClassVar[str]
    durable: ClassVar[bool] = False
    keeps_user_records: ClassVar[bool] = False

    @abstractmethod
    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        """Add `event` at the end of the log; returns only once the event is kept, with what
        read() would then return (the events after the cursor, through this one)."""

    @abstractmethod
    def read(self) -> list[LoggedEvent]:
        """The events after this instance's cursor, oldest first (other processes' included);
        moves the cursor past them."""

    @abstractmethod
    def user_history(self, user: Hashable) -> tuple[bytes | None, list[LoggedEvent]]:
        """`user`'s last kept record (see save_user) or None, and their events after it up to the
        cursor, oldest first; (None, []) where the store keeps no history. Raises StaleCursor if
        the kept record is newer than the cursor."""

    def save_user(self, user: Hashable, data: bytes) -> None:
        """Keep `data`, the user's record as of the cursor, so that rebuilding the user starts
        from it; the store may then drop the user's events before it."""

    @abstractmethod
    def forget(self, user: Hashable) -> None:
        """Delete `user`'s events and log that the user was forgotten (so other processes drop
        their copy of the user)."""

    def save_snapshot(self, data: bytes) -> None:
        """Keep `data` (the statistics as of the cursor) so that a process opening the store
        later starts from it instead of replaying the whole log."""

    def load_snapshot(self) -> bytes | None:
        """The last snapshot, moving the cursor to where it was taken; None if there is none."""
        return None

    def close(self) -> None:
        """Release connections; the log itself stays."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
