"""The default store: nothing leaves the process."""

from __future__ import annotations

from collections.abc import Hashable

from ..interfaces import LoggedEvent, ProfileStore, UserHistory


class MemoryStore(ProfileStore):
    """Events are applied and dropped: user state lives only in the Reranker's memory (bounded by
    its `max_users`; an evicted user starts afresh) and is gone when the process ends."""

    name = "memory"

    def __init__(self) -> None:
        self._pending: list[LoggedEvent] = []

    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        self._pending.append(event)
        return self.read()

    def read(self) -> list[LoggedEvent]:
        events, self._pending = self._pending, []
        return events

    def user_history(self, user: Hashable) -> UserHistory:
        return None, []

    def forget(self, user: Hashable) -> None:
        self._pending.append(LoggedEvent(user, None))
