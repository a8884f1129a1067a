"""Profile stores: where the event log behind every user's state and the shared statistics lives."""

from .base import LoggedEvent, ProfileStore
from .memory import MemoryStore

__all__ = ["LoggedEvent", "MemoryStore", "ProfileStore"]
