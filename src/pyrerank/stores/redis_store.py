"""A store on a Redis server, shared by processes on many machines: a stream holds the log,
a list per user holds that user's entries."""

from __future__ import annotations

import urllib.parse
from collections.abc import Hashable
from typing import Any

from .base import LoggedEvent, ProfileStore, StoreError, user_text

# Atomic: the event enters the log and its user's list together; one round trip returns the
# log from the caller's cursor (ARGV[2]) through the new entry.
APPEND = """
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
redis.call('RPUSH', KEYS[2], id .. ' ' .. ARGV[1])
return redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], id)
"""
# Atomic: every entry of the user leaves the log, then the "forgotten" marker enters it.
FORGET = """
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  redis.call('XDEL', KEYS[1], string.match(entry, '^(%S+)'))
end
redis.call('DEL', KEYS[2])
return redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
"""
PAGE = 10_000  # log entries per round trip when catching up


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


class RedisStore(ProfileStore):
    """url : "redis://[:password@]host:port/db", with an optional "?prefix=name" (default
    "pyrerank") so that several rerankers can share one database. An acknowledged event is in
    the server's memory; its survival of a server crash is the server's appendonly setting."""

    name = "redis"
    durable = True

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ImportError("the redis store needs the redis package: pip install 'pyrerank[redis]'") from exc
        self._errors: Any = redis.RedisError
        parts = urllib.parse.urlsplit(url)
        options = dict(urllib.parse.parse_qsl(parts.query))
        prefix = options.pop("prefix", "pyrerank")
        plain = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(options)))
        try:
            self._redis = redis.Redis.from_url(plain, socket_connect_timeout=5, socket_timeout=30)
        except ValueError as exc:
            raise ValueError(f"store must look like 'redis://[:password@]host:port/db': {exc}") from None
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{parts.path.lstrip('/') or 0}"
        self._call(self._redis.ping)
        self._log, self._snapshot, self._user_prefix = f"{prefix}:log", f"{prefix}:snapshot", f"{prefix}:user:"
        self._append = self._redis.register_script(APPEND)
        self._forget = self._redis.register_script(FORGET)
        self._cursor = "0-0"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:  # the password never appears: `where` has host, port and db only
            raise StoreError(f"Redis store at {self.where}: {exc}") from exc

    def _user_key(self, user: Hashable) -> str:
        return self._user_prefix + user_text(user)

    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        page = self._call(self._append, keys=[self._log, self._user_key(event.user)],
                          args=[event.to_json(), self._cursor])
        return self._take([(entry_id, dict(zip(fields[::2], fields[1::2]))) for entry_id, fields in page])

    def read(self) -> list[LoggedEvent]:
        events: list[LoggedEvent] = []
        while True:
            page = self._call(self._redis.xrange, self._log, min=f"({self._cursor}", max="+", count=PAGE)
            events += self._take(page)
            if len(page) < PAGE:
                return events

    def _take(self, page: list) -> list[LoggedEvent]:
        """Log entries [(id, {b"e": body})] as events, moving the cursor past them."""
        if page:
            self._cursor = page[-1][0].decode()
        return [LoggedEvent.from_json(fields[b"e"]) for _, fields in page]

    def user_events(self, user: Hashable) -> list[LoggedEvent]:
        cursor = _stream_id(self._cursor)
        out = []
        for entry in self._call(self._redis.lrange, self._user_key(user), 0, -1):
            entry_id, _, body = entry.decode().partition(" ")
            if _stream_id(entry_id) <= cursor:
                out.append(LoggedEvent.from_json(body))
        return out

    def forget(self, user: Hashable) -> None:
        self._call(self._forget, keys=[self._log, self._user_key(user)], args=[LoggedEvent(user, None).to_json()])

    def save_snapshot(self, data: bytes) -> None:
        self._call(self._redis.hset, self._snapshot, mapping={"cursor": self._cursor, "data": data})

    def load_snapshot(self) -> bytes | None:
        cursor, data = self._call(self._redis.hmget, self._snapshot, ["cursor", "data"])
        if data is None:
            return None
        self._cursor = cursor.decode()
        return bytes(data)

    def close(self) -> None:
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r})"
