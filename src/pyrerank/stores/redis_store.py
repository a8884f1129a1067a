"""A store on a Redis server, shared by processes on many machines.

Keys, under a prefix: ``log`` (a stream: every event, in order), ``snapshot`` (statistics as of
a log position; past PART_BYTES, the rest in a list ``snapshot:parts:<token>`` it names),
``trimmed`` (the log holds nothing older than this), ``epoch`` (a token set
once: a process that finds it gone or changed knows the server lost data, and resynchronises),
``user:<id>`` (a list of the user's entries since ``record:<id>``, their record as of a log
position), ``secret`` (keys the hash that names a forgotten user in the log), ``format`` (the
newest STORE_FORMAT of the processes that connected: a process that reads only older formats
refuses the store, at connect or at its next call, instead of skipping entries it cannot read),
``settings`` (the item statistics settings of the first process to open it: ProfileStore.claim_settings).
Memory stays bounded: each statistics snapshot trims the log to the previous snapshot's
position, each kept user record trims that user's list, and ``user_ttl`` expires users who stop
coming back.

forget() deletes the user's keys and every log entry of theirs; the server's own files (RDB
snapshots, the append-only file) hold older copies until it rewrites them (BGREWRITEAOF).

Durability is the server's: an acknowledged event survives a server crash only with
``appendonly yes`` and ``appendfsync always``. The store reads those settings on connect and
warns (``?durability=warn``, the default), refuses (``strict``) or says nothing (``relaxed``).
"""

from __future__ import annotations

import secrets
import urllib.parse
import warnings
from collections.abc import Hashable
from typing import Any

from ..errors import PyrerankWarning, StaleCursor, StoreError
from ..interfaces import (
    STORE_FORMAT,
    LoggedEvent,
    ProfileStore,
    UserHistory,
    check_store_format,
    keyed_pseudonym,
    user_text,
)
from .listed import from_listed, to_listed

DURABILITY = ("warn", "strict", "relaxed")
_warned: set[str] = set()  # servers already warned about, once per process

OLDER = """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
"""
# KEYS log, user list, user record, trimmed, epoch, format; ARGV body, cursor, ttl, the event as its
# user's list keeps it (listed.to_listed: binary, without the user and the links, which rebuilding
# the user does not need), STORE_FORMAT. The event enters the log and its user's list together,
# and one round trip returns the log from the cursor through it; in a store of a newer format
# nothing enters (the format is returned for the error).
APPEND = """
local form = redis.call('GET', KEYS[6]) or '0'
if (tonumber(form) or 0) > tonumber(ARGV[5]) then return {'', {}, '', form} end
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
redis.call('RPUSH', KEYS[2], id .. ' ' .. ARGV[4])
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return {redis.call('GET', KEYS[4]) or '0-0', redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], id),
        redis.call('GET', KEYS[5]) or '', form}
"""
# KEYS log, trimmed, epoch, format; ARGV cursor, count: the trim mark, the log's entries after the
# cursor, the epoch, the store's format.
LOG_PAGE = """redis.call('GET', KEYS[2]) or '0-0', redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]),
        redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '0'"""
READ = f"return {{{LOG_PAGE}}}"
# KEYS log, trimmed, epoch, format, user record, user list; ARGV cursor, count. READ, and a user's
# kept record and list read at the same moment (a user this process rebuilds: one round trip, not two).
READ_WITH_USER = (
    f"return {{{LOG_PAGE}, redis.call('HMGET', KEYS[5], 'cursor', 'data'), redis.call('LRANGE', KEYS[6], 0, -1)}}"
)
# KEYS format; ARGV this process's STORE_FORMAT: the store's format raised to it (never lowered); what it is now.
CLAIM_FORMAT = """
local found = redis.call('GET', KEYS[1])
local n = tonumber(found or '0')
if n and n < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return found
"""
# KEYS log, user list, user record, format; ARGV marker, the start of the user's log entries,
# STORE_FORMAT; the store's format (in a store of a newer one, nothing changes). Every one of
# the user's entries leaves the log (those a kept record covers are no longer in the user's list:
# the log is scanned for them, up to two snapshot intervals of entries), then the marker enters.
FORGET = """
local form = redis.call('GET', KEYS[4]) or '0'
if (tonumber(form) or 0) > tonumber(ARGV[3]) then return form end
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  redis.call('XDEL', KEYS[1], string.match(entry, '^(%S+)'))
end
redis.call('DEL', KEYS[2], KEYS[3])
local start = '-'
while true do
  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
  if #page == 0 then break end
  for _, entry in ipairs(page) do
    if string.sub(entry[2][2], 1, #ARGV[2]) == ARGV[2] then redis.call('XDEL', KEYS[1], entry[1]) end
  end
  start = '(' .. page[#page][1]
end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
return form
"""
# KEYS snapshot, log, trimmed, parts; ARGV cursor, data, has_parts. Never replaces a newer
# snapshot; `parts` (staged beforehand: a list of the parts after `data`) replaces the old one's;
# trims the log to the previous snapshot, so a reader one snapshot interval behind still finds
# its entries.
SAVE_SNAPSHOT = (
    OLDER
    + """
local previous = redis.call('HGET', KEYS[1], 'cursor')
if previous and not older(previous, ARGV[1]) then
  redis.call('UNLINK', KEYS[4])
  return 0
end
local old_parts = redis.call('HGET', KEYS[1], 'parts')
if old_parts then redis.call('UNLINK', old_parts) end
redis.call('HDEL', KEYS[1], 'parts')
redis.call('HSET', KEYS[1], 'cursor', ARGV[1], 'data', ARGV[2])
if ARGV[3] == '1' then
  redis.call('PERSIST', KEYS[4])
  redis.call('HSET', KEYS[1], 'parts', KEYS[4])
end
if previous then
  redis.call('XTRIM', KEYS[2], 'MINID', previous)
  redis.call('SET', KEYS[3], previous)
end
return 1
"""
)
# KEYS user record, user list; ARGV cursor, data, ttl. Never replaces a newer record; drops the
# list entries the record covers.
SAVE_USER = (
    OLDER
    + """
local current = redis.call('HGET', KEYS[1], 'cursor')
if current and not older(current, ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[1], 'data', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
local drop = 0
for i, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if older(ARGV[1], string.match(entry, '^(%S+)')) then break end
  drop = i
end
if drop > 0 then redis.call('LTRIM', KEYS[2], drop, -1) end
return 1
"""
)
# KEYS snapshot: its cursor and its parts, read together.
LOAD_SNAPSHOT = """
local cursor, data, parts = unpack(redis.call('HMGET', KEYS[1], 'cursor', 'data', 'parts'))
if not data then return {} end
return {cursor, data, parts and redis.call('LRANGE', parts, 0, -1) or {}}
"""
PAGE = 10_000  # log entries per round trip when catching up
# A snapshot goes to the server in parts of at most this many bytes (Redis refuses a value over
# 512 MB, and a snapshot with saturated co-engagement links holds ~2 KB per item). Parts staged
# by a process that dies before its snapshot takes over expire after STAGED_TTL seconds.
PART_BYTES = 64 << 20
STAGED_TTL = 3_600


def _stream_id(text: str | bytes) -> tuple[int, int]:
    """A stream id "ms-seq" as a pair; ValueError if `text` is not one."""
    ms, dash, seq = (text.decode() if isinstance(text, bytes) else text).partition("-")
    if not (dash and ms.isdigit() and seq.isdigit()):
        raise ValueError(f"not a stream id: {str(text)[:40]!r}")
    return int(ms), int(seq)


class RedisStore(ProfileStore):
    """url : "redis://[:password@]host:port/db", options "?prefix=name" (default "pyrerank"; lets
    several rerankers share a database) and "?user_ttl=seconds" (forget users idle that long;
    default never). An acknowledged event is in the server's memory; whether it survives a crash
    of the server is the server's appendonly setting."""

    name = "redis"
    durable = True
    keeps_user_records = True

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ImportError("the redis store needs the redis package: pip install 'pyrerank[redis]'") from exc
        self._errors: Any = redis.RedisError
        form = "store must look like 'redis://[:password@]host:port/db[?prefix=name&user_ttl=seconds]'"
        try:  # no message here may quote the URL: it can hold a password
            parts = urllib.parse.urlsplit(url)
            self.where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{parts.path.lstrip('/') or 0}"
        except ValueError:
            raise ValueError(f"{form}; its host or port is not valid") from None
        options = dict(urllib.parse.parse_qsl(parts.query))
        prefix = options.pop("prefix", "pyrerank")
        durability = options.pop("durability", "warn")
        if durability not in DURABILITY:
            raise ValueError(f"Redis store at {self.where}: durability must be one of {', '.join(DURABILITY)}")
        try:
            self.user_ttl = int(options.pop("user_ttl", 0))
        except ValueError:
            raise ValueError(f"Redis store at {self.where}: user_ttl must be a whole number of seconds") from None
        plain = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(options)))
        try:
            self._redis = redis.Redis.from_url(plain, socket_connect_timeout=5, socket_timeout=30)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{form} ({type(exc).__name__} from the redis client)") from None
        self._call(self._redis.ping)
        if durability != "relaxed":
            self._check_durability(durability == "strict", redis.ResponseError)
        self._prefix = prefix
        self._log, self._snapshot, self._trimmed = f"{prefix}:log", f"{prefix}:snapshot", f"{prefix}:trimmed"
        self._epoch_key, self._format_key = f"{prefix}:epoch", f"{prefix}:format"
        self._settings_key = f"{prefix}:settings"
        self._claim_format()
        self._epoch = self._claim_epoch()
        self._call(self._redis.set, f"{prefix}:secret", secrets.token_bytes(32), nx=True)
        self._secret = self._call(self._redis.get, f"{prefix}:secret")
        self._scripts = {
            name: self._redis.register_script(code)
            for name, code in (
                ("append", APPEND),
                ("read", READ),
                ("read_with_user", READ_WITH_USER),
                ("forget", FORGET),
                ("snapshot", SAVE_SNAPSHOT),
                ("load_snapshot", LOAD_SNAPSHOT),
                ("user", SAVE_USER),
            )
        }
        self._cursor = "0-0"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:  # the password never appears: `where` has host, port and db only
            raise StoreError(f"Redis store at {self.where}: {exc}") from exc

    def _check_durability(self, strict: bool, denied: type[Exception]) -> None:
        """Warn (or, strict, refuse) where the server's persistence can lose acknowledged events."""
        try:
            settings = self._call(self._redis.config_get, "append*")
            found = f"appendonly={settings.get('appendonly')}, appendfsync={settings.get('appendfsync')}"
            safe = settings.get("appendonly") == "yes" and settings.get("appendfsync") == "always"
        except StoreError as exc:
            if not isinstance(exc.__cause__, denied):
                raise
            found, safe = "its persistence settings are not readable (CONFIG is disabled)", False
        if safe:
            return
        message = (
            f"Redis store at {self.where} can lose acknowledged events if the server crashes ({found}): "
            "configure it with appendonly yes and appendfsync always, or pass ?durability=relaxed to accept this"
        )
        if strict:
            raise StoreError(message)
        if self.where not in _warned:
            _warned.add(self.where)
            warnings.warn(message, PyrerankWarning, stacklevel=5)

    def _claim_format(self) -> None:
        """Raise the store's format to STORE_FORMAT (never lower it); StoreError if it is newer."""
        self._check_format(self._call(self._redis.eval, CLAIM_FORMAT, 1, self._format_key, STORE_FORMAT))

    def _check_format(self, found: bytes | str | None) -> None:
        """StoreError if the store's format (the `format` key's value) is newer than STORE_FORMAT."""
        try:
            number = int(found or 0)
        except ValueError:
            raise StoreError(
                f"Redis store at {self.where}: key {self._format_key!r} is damaged (not a number)"
            ) from None
        check_store_format(f"Redis store at {self.where}", number)

    def _claim_epoch(self) -> bytes:
        """The server's data epoch: set by the first process to connect (or to notice a loss)."""
        self._call(self._redis.set, self._epoch_key, secrets.token_hex(8), nx=True)
        return self._call(self._redis.get, self._epoch_key) or b""

    def _keys(self, user: Hashable) -> tuple[str, str]:
        """The user's list and record keys."""
        text = user_text(user)
        return f"{self._prefix}:user:{text}", f"{self._prefix}:record:{text}"

    def _mark(self, value: bytes, key: str) -> tuple[int, int]:
        """The stream id kept in `key` (a cursor mark); StoreError if the key is damaged."""
        try:
            return _stream_id(value)
        except ValueError:
            raise StoreError(f"Redis store at {self.where}: key {key!r} is damaged (not a stream id)") from None

    def _take(self, trimmed: bytes, page: list, epoch: bytes, form: bytes) -> list[LoggedEvent]:
        """Log entries [id, [b"e", body]] as events, moving the cursor past them; StaleCursor if
        entries after the cursor were trimmed before this reader saw them, or if the server lost
        its data (the epoch changed); StoreError if a process of a newer store format connected
        (`form`). A malformed entry is skipped with a warning (LoggedEvent.parse_rows)."""
        self._check_format(form)
        if epoch != self._epoch:
            warnings.warn(
                f"Redis store at {self.where} lost data (restarted without persistence, or flushed): this "
                "process starts again from what the server holds now",
                PyrerankWarning,
                stacklevel=4,
            )
            self._claim_format()
            self._epoch, self._cursor = self._claim_epoch(), "0-0"
            raise StaleCursor("the server's data epoch changed")
        if self._mark(trimmed, self._trimmed) > _stream_id(self._cursor):
            raise StaleCursor(f"the log was trimmed to {trimmed.decode()}, past this reader's {self._cursor}")
        rows = [
            (entry_id.decode(), fields[1] if len(fields) == 2 and fields[0] == b"e" else b"")
            for entry_id, fields in page
        ]
        if page:
            self._cursor = rows[-1][0]
        return LoggedEvent.parse_rows(rows, repr(self))

    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        """Raises StaleCursor after keeping the event if this reader fell behind a trim."""
        user_list, record = self._keys(event.user)
        body = event.to_json()
        listed = to_listed(event)
        trimmed, page, epoch, form = self._call(
            self._scripts["append"],
            keys=[self._log, user_list, record, self._trimmed, self._epoch_key, self._format_key],
            args=[body, self._cursor, self.user_ttl, listed, STORE_FORMAT],
        )
        return self._take(trimmed, page, epoch, form)

    def read(self) -> list[LoggedEvent]:
        events: list[LoggedEvent] = []
        while True:
            trimmed, page, epoch, form = self._call(
                self._scripts["read"],
                keys=[self._log, self._trimmed, self._epoch_key, self._format_key],
                args=[self._cursor, PAGE],
            )
            events += self._take(trimmed, page, epoch, form)
            if len(page) < PAGE:
                return events

    def read_with_user(self, user: Hashable) -> tuple[list[LoggedEvent], UserHistory | None]:
        user_list, record = self._keys(user)
        trimmed, page, epoch, form, (kept_at, data), entries = self._call(
            self._scripts["read_with_user"],
            keys=[self._log, self._trimmed, self._epoch_key, self._format_key, record, user_list],
            args=[self._cursor, PAGE],
        )
        events = self._take(trimmed, page, epoch, form)
        if len(page) == PAGE:  # more of the log to read: the user's history is read after it
            return events + self.read(), None
        try:
            return events, self._history(user, record, kept_at, data, entries)
        except StaleCursor:  # the events are taken: the caller asks for the history again
            return events, None

    def user_history(self, user: Hashable) -> UserHistory:
        user_list, record = self._keys(user)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hmget(record, ["cursor", "data"])
        pipe.lrange(user_list, 0, -1)
        (kept_at, data), entries = self._call(pipe.execute)
        return self._history(user, record, kept_at, data, entries)

    def _history(
        self, user: Hashable, record: str, kept_at: bytes | None, data: bytes | None, entries: list[bytes]
    ) -> UserHistory:
        """user_history from the user's record fields and list entries as read from the server."""
        cursor = _stream_id(self._cursor)
        kept = None if kept_at is None else self._mark(kept_at, record)
        if kept is not None and kept > cursor:
            raise StaleCursor(f"user {user!r} was kept at {kept[0]}-{kept[1]}, past this reader's {self._cursor}")
        rows: list[tuple[str, str | bytes]] = []
        for position, entry in enumerate(entries):
            entry_id, _, body = entry.partition(b" ")
            try:
                at = _stream_id(entry_id)
            except (ValueError, UnicodeDecodeError):
                rows.append((f"user list entry {position}", b""))  # malformed: parse_rows skips it
                continue
            if at <= cursor and (kept is None or at > kept):
                rows.append((entry_id.decode(), body))
        events = LoggedEvent.parse_rows(rows, repr(self), lambda body: from_listed(body, user))
        return (None if data is None else bytes(data)), events

    def save_user(self, user: Hashable, data: bytes) -> None:
        self._call(
            self._scripts["user"], keys=list(reversed(self._keys(user))), args=[self._cursor, data, self.user_ttl]
        )

    def pseudonym(self, user: Hashable) -> str:
        return keyed_pseudonym(self._secret, user)

    def forget(self, user: Hashable) -> None:
        marker = LoggedEvent(self.pseudonym(user), None).to_json()
        keys, start = [self._log, *self._keys(user), self._format_key], f"[{user_text(user)}, "
        self._check_format(self._call(self._scripts["forget"], keys=keys, args=[marker, start, STORE_FORMAT]))

    def save_snapshot(self, data: bytes) -> None:
        view = memoryview(data)
        parts_key = f"{self._snapshot}:parts:{secrets.token_hex(8)}"
        for start in range(PART_BYTES, len(data), PART_BYTES):  # staged, then taken over in one script
            self._call(self._redis.rpush, parts_key, bytes(view[start : start + PART_BYTES]))
            self._call(self._redis.expire, parts_key, STAGED_TTL)
        keys = [self._snapshot, self._log, self._trimmed, parts_key]
        has_parts = "1" if len(data) > PART_BYTES else "0"
        self._call(self._scripts["snapshot"], keys=keys, args=[self._cursor, bytes(view[:PART_BYTES]), has_parts])

    def load_snapshot(self) -> bytes | None:
        found = self._call(self._scripts["load_snapshot"], keys=[self._snapshot], args=[])
        if not found:
            return None
        cursor, first, parts = found
        self._mark(cursor or b"", self._snapshot)
        self._cursor = cursor.decode()
        return b"".join([first, *parts])

    def claim_settings(self, settings: str | None) -> str | None:
        if settings is not None:
            self._call(self._redis.set, self._settings_key, settings, nx=True)
        kept = self._call(self._redis.get, self._settings_key)
        return None if kept is None else bytes(kept).decode("utf-8", "replace")

    def clear_settings(self) -> None:
        self._call(self._redis.delete, self._settings_key)

    def close(self) -> None:
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r})"
