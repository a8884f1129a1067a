"""Built-in profile stores: `memory`, `sqlite` and `redis`, registered through the same hook as any
plugin's. The interface they implement, :class:`~pyrerank.interfaces.ProfileStore`, lives in
:mod:`pyrerank.interfaces`."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def register_profile_stores(register: Register) -> None:
    from .memory import MemoryStore
    from .redis_store import RedisStore
    from .sqlite import SQLiteStore

    register(MemoryStore)
    register(SQLiteStore)
    register(RedisStore)
