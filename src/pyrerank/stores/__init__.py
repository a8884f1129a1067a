"""Built-in profile stores: ``memory``, ``sqlite`` and ``redis``. The interface they implement,
:class:`~pyrerank.interfaces.ProfileStore`, lives in :mod:`pyrerank.interfaces`."""

from ..errors import StaleCursor, StoreError
from ..interfaces import LoggedEvent, ProfileStore
from .memory import MemoryStore

__all__ = ["LoggedEvent", "MemoryStore", "ProfileStore", "StaleCursor", "StoreError"]
