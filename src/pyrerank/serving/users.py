"""Per-user records (interest state, recent items, derived caches) and the in-memory cache of
them that every store serves from."""

from __future__ import annotations

import array
import bisect
import dataclasses
import io
import json
import marshal
import math
import struct
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..errors import PyrerankError
from ..events import DEFAULT_WEIGHTS
from ..interfaces import InterestModel, State, UserQuery, split_state

if TYPE_CHECKING:
    from .catalog import Catalog

HISTORY = 50  # recent positive items kept per user (co-engagement scores, recency)
CO_PAIRS = 5  # a new positive is linked with this many of the user's previous positives
RECENT_ITEMS = 3  # liked items averaged into the short-term vector (RankRequest.recent)
HOT_USERS = 1_000  # the most recently used users are held as records with their derived caches (~50 KB each)
PACKED_WIDTH = 64  # a cold user's float32 state rows at least this wide are held as int8 (see pack)
LOGGED_EVENTS = 32  # a record built from at most this many item events keeps them: held cold, it is them
EVENTS_TAG = b"E"  # how a record packed as its events starts (a marshal-packed one never does)
# The tag, bytes a weight, events, the latest time and unsaved: 20 bytes, so that the rows after them are aligned.
EVENTS_HEADER = struct.Struct("<cBHdQ")
RECORD_MAGIC = b"PYRR\x01"  # how a record kept by a store (UserRecord.to_bytes) starts
KIND_WEIGHTS = tuple(sorted(set(DEFAULT_WEIGHTS.values())))  # a packed event weighted so is one byte
KIND_CODES = {weight: code for code, weight in enumerate(KIND_WEIGHTS)}


def rows_array(rows: Any = ()) -> array.array:
    """Catalog rows as a compact int32 array (4 bytes a row, not a Python int each)."""
    return array.array("i", rows)


@dataclasses.dataclass(slots=True)
class EventLog:
    """The item events a record was built from, oldest first: catalog rows, weights,
    timestamps and whether each made its item seen (1) or not (0)."""

    rows: array.array = dataclasses.field(default_factory=rows_array)
    weights: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    timestamps: array.array = dataclasses.field(default_factory=lambda: array.array("d"))
    seen: bytearray = dataclasses.field(default_factory=bytearray)

    def append(self, row: int, weight: float, timestamp: float, seen: bool) -> None:
        self.rows.append(row)
        self.weights.append(weight)
        self.timestamps.append(timestamp)
        self.seen.append(seen)

    def to_parts(self) -> tuple[bytes, bytes, float, bytes, bytes]:
        """(rows, weights, the latest timestamp, each timestamp's distance below it as float32,
        seen): 9 to 17 bytes an event. Weights are a byte each (their KIND_WEIGHTS index) where
        every one is a kind's default, else float32 where each is one exactly, else float64; seen
        is empty where every event made its item seen. The latest time stays exact, the others
        within float32 of their distance (a second in a year apart: a pull changes by ~1e-7 at a
        30-day half-life)."""
        try:
            weights = bytes(map(KIND_CODES.__getitem__, self.weights))
        except KeyError:
            narrow = array.array("f", self.weights.tolist())
            weights = (narrow if narrow == self.weights else self.weights).tobytes()
        latest = max(self.timestamps, default=0.0)
        below = array.array("f", [latest - t for t in self.timestamps])
        seen = b"" if self.seen.count(0) == 0 else bytes(self.seen)
        return self.rows.tobytes(), weights, latest, below.tobytes(), seen

    @classmethod
    def from_parts(cls, rows: bytes, weights: bytes, latest: float, below: bytes, seen: bytes) -> EventLog:
        log = cls()
        log.rows.frombytes(rows)
        n = len(log.rows)
        if len(weights) == n:  # a byte each: KIND_WEIGHTS indices
            log.weights.fromlist([KIND_WEIGHTS[code] for code in weights])
        elif len(weights) == 4 * n:  # float32
            narrow = array.array("f")
            narrow.frombytes(weights)
            log.weights.fromlist(narrow.tolist())
        else:
            log.weights.frombytes(weights)
        distances = array.array("f")
        distances.frombytes(below)
        log.timestamps = array.array("d", [latest - d for d in distances])
        log.seen += seen or b"\x01" * n
        return log


# A cold record's interest state, rebuilt from its events with the catalog's vectors (see pack).
Replay = Callable[[EventLog], State]


@dataclasses.dataclass(slots=True, eq=False)
class UserRecord:
    """A user's interest state, recent positive rows (newest last) and the rows they have seen
    (distinct, ascending: a new one is found and placed by bisection), the events it was built
    from while they are few (`log`: None where its cache cannot replay them, and once it holds
    more than LOGGED_EVENTS, text or state from elsewhere), plus derived caches that are rebuilt
    on demand, never persisted, and dropped when the user leaves the most recently used
    (UserCache)."""

    stored_state: State = dataclasses.field(default_factory=dict)  # read it as `state`
    recent: array.array = dataclasses.field(default_factory=rows_array)
    seen: array.array = dataclasses.field(default_factory=rows_array)
    seen_array: np.ndarray | None = None  # (len(seen),) int64 rows, rebuilt when seen grows
    query: UserQuery | None = None
    recent_vector: np.ndarray | None = None
    query_valid: bool = False
    co_scores_key: Any = None
    co_scores: _core.CoScores | None = None
    unsaved: int = 0  # events applied since the store last kept this record (durable stores)
    positives: int = 0  # positive events applied in this process: `recent` changed if this did
    log: EventLog | None = None  # UserCache.new_record starts one where the cache can replay it
    # Set on a record unpacked from its events: `state` is replayed from `log` when first read,
    # so that events which only append to the log (observe) never pay for the replay.
    unreplayed: Replay | None = None

    @property
    def state(self) -> State:
        """The interest state (replayed from the log on first use after an unpack)."""
        if self.unreplayed is not None:
            self.stored_state, self.unreplayed = self.unreplayed(self.log), None  # type: ignore[arg-type]
        return self.stored_state

    def to_arrays(self, ids: list, width: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(state arrays, JSON): scalars, the recent items by id and the item-vector `width`
        the state was built with."""
        arrays, scalars = split_state(self.state)
        seen = [ids[r] for r in self.seen]
        return arrays, {"scalars": scalars, "recent": [ids[r] for r in self.recent], "seen": seen, "width": width}

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], row: Callable[[Any], int | None]
    ) -> tuple[UserRecord, int]:
        """The inverse of to_arrays, item ids looked up with `row` (Catalog.row): the record
        (items no longer in the catalog left out) and the item-vector width its state was built with."""
        state: State = {k: v.copy() for k, v in arrays.items()}
        state.update(meta["scalars"])
        recent = rows_array(r for r in map(row, meta["recent"]) if r is not None)
        seen = rows_array(sorted({r for r in map(row, meta.get("seen", ())) if r is not None}))  # 0.3+
        return cls(stored_state=state, recent=recent, seen=seen), int(meta["width"])

    def to_bytes(self, ids: list, width: int) -> bytes:
        """:meth:`to_arrays` in one buffer, for a store to keep: RECORD_MAGIC, the length of a JSON
        header (uint32, little-endian), the header (to_arrays' JSON and each array's name, dtype
        and shape) and the arrays' bytes in that order. Reading it runs no code (no pickle)."""
        arrays, meta = self.to_arrays(ids, width)
        meta["arrays"] = [[name, value.dtype.str, list(value.shape)] for name, value in arrays.items()]
        header = json.dumps(meta).encode()
        values = [np.ascontiguousarray(value).tobytes() for value in arrays.values()]
        return b"".join([RECORD_MAGIC, len(header).to_bytes(4, "little"), header, *values])

    @classmethod
    def from_bytes(cls, data: bytes, row: Callable[[Any], int | None]) -> tuple[UserRecord, int]:
        """The inverse of to_bytes; it also reads the npz records of pyrerank before 0.5.
        PyrerankError if `data` is not a whole record."""
        try:
            arrays, meta = _npz_record(data) if data[:4] == b"PK\x03\x04" else _record_parts(data)
            return cls.from_arrays(arrays, meta, row)
        except (ValueError, KeyError, TypeError, OSError, RecursionError, zipfile.BadZipFile) as exc:
            raise PyrerankError(f"a kept user record is corrupt: {exc!r}") from exc

    def pack(self) -> bytes:
        """This record in one compact buffer (derived caches left out), for a user outside the
        most recently used. Where it has its log: the events alone (9 to 17 bytes each; unpack
        replays them). Otherwise its state, float32 rows at least PACKED_WIDTH wide as
        int8 steps of max|row| / 127 (a quarter of the bytes; each value moves by at most half a
        step), and its rows. In-process only: stores keep :meth:`to_bytes`."""
        if self.log is not None:
            return _packed_as_events(self.log, self.unsaved)
        values = tuple(map(_pack_value, self.state.values()))
        rows = (self.recent.tobytes(), self.seen.tobytes())
        return marshal.dumps((tuple(self.state), values, *rows, self.unsaved, self.positives))

    @classmethod
    def unpack(cls, data: bytes, replay: Replay | None = None) -> UserRecord:
        """The inverse of pack: state rows as their int8 steps times max|row| / 127, or the
        events, from which `replay` rebuilds the state when it is first read (within float32
        rounding of what it was)."""
        if data[:1] == EVENTS_TAG:
            if replay is None:
                raise ValueError("a user record packed as its events needs the interest model's replay")
            log, unsaved = _packed_events(data)
            return cls.from_log(log, replay, unsaved=unsaved)
        keys, values, recent, seen, unsaved, positives = marshal.loads(data)
        record = cls(dict(zip(keys, map(_unpack_value, values))), rows_array(), rows_array())
        record.recent.frombytes(recent)
        record.seen.frombytes(seen)
        record.unsaved, record.positives = unsaved, positives
        return record

    @classmethod
    def from_log(cls, log: EventLog, replay: Replay, unsaved: int = 0) -> UserRecord:
        """The record that applying `log`'s events to a new one gives, its state left to `replay`
        until first read."""
        liked = [row for row, weight in zip(log.rows, log.weights) if weight > 0]
        seen = sorted({row for row, flag in zip(log.rows, log.seen) if flag})
        recent = rows_array(liked[-HISTORY:])
        return cls({}, recent, rows_array(seen), unsaved=unsaved, positives=len(liked), log=log, unreplayed=replay)

    def renumber(self, remap: np.ndarray) -> None:
        """Follow a catalog renumbering (`remap`: old row -> new row, -1 for a removed item)."""
        self.recent = rows_array(int(remap[r]) for r in self.recent if remap[r] >= 0)
        self.seen = rows_array(int(remap[r]) for r in self.seen if remap[r] >= 0)  # remap keeps the order
        if self.log is not None:  # a removed item's pull stays in the state, which its log no longer gives
            rows = remap[np.frombuffer(self.log.rows, np.int32)]
            if (rows >= 0).all():
                self.log.rows = rows_array(rows.tolist())
            else:
                self.drop_log()
        self.drop_derived()

    def drop_log(self) -> None:
        """Hold the state from now on, not the events (replayed first if it still waits for it)."""
        _ = self.state
        self.log = None

    def drop_derived(self) -> None:
        """Forget the derived caches (rebuilt on the next rerank)."""
        self.seen_array, self.query, self.recent_vector, self.query_valid = None, None, None, False
        self.co_scores_key, self.co_scores = None, None

    def short_term(self, catalog: Catalog) -> np.ndarray | None:
        """(dim,) float32 unit mean of the vectors of the last RECENT_ITEMS liked rows, or None."""
        if not self.recent:
            return None
        total = catalog.vector_sum(np.frombuffer(self.recent, np.int32)[-RECENT_ITEMS:])  # the mean's direction
        norm = math.sqrt(float(total @ total))
        return total / np.float32(norm) if norm > 0 else None

    def co_links(self) -> list[int]:
        """The rows a new positive event is co-engaged with: the user's last CO_PAIRS positives."""
        return self.recent[-CO_PAIRS:].tolist()

    def seen_rows(self) -> np.ndarray | None:
        """(len(seen),) int64 rows this user has seen, ascending, or None if none."""
        if not self.seen:
            return None
        if self.seen_array is None or len(self.seen_array) != len(self.seen):
            self.seen_array = np.frombuffer(self.seen, np.int32).astype(np.int64)
        return self.seen_array

    def apply_text(self, interest: InterestModel, vector: np.ndarray, weight: float, timestamp: float) -> None:
        """Fold text the user wrote ((dim,) float32 unit vector) into their interest: it moves
        like an item event would, but names no item (no history, nothing seen)."""
        interest.update(self.state, vector, weight, timestamp)
        self.drop_log()  # a text's vector is not the catalog's: the state no longer replays
        self.query_valid = False

    def apply(
        self,
        interest: InterestModel,
        row: int,
        vector_of: Callable[[int], np.ndarray],
        weight: float,
        timestamp: float,
        seen: bool,
    ) -> None:
        """Fold one event on catalog `row` (its item vector: `vector_of(row)`, (dim,) float32, read
        only if the state is) into this user's interest and history; `seen`: the item counts as
        seen from now on."""
        if self.unreplayed is None or len(self.log.rows) >= LOGGED_EVENTS:  # type: ignore[union-attr]
            interest.update(self.state, vector_of(row), weight, timestamp)  # else the replay will apply it
        if self.log is not None:
            if len(self.log.rows) < LOGGED_EVENTS:
                self.log.append(row, weight, timestamp, seen)
            else:
                self.log = None
        if seen:
            at = bisect.bisect_left(self.seen, row)
            if at == len(self.seen) or self.seen[at] != row:
                self.seen.insert(at, row)
        if weight > 0:
            self.recent.append(row)
            del self.recent[:-HISTORY]
            self.positives += 1
        self.query_valid = False


def _record_parts(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, JSON) of a UserRecord.to_bytes buffer, checked to hold exactly what its header
    says (ValueError otherwise)."""
    start = len(RECORD_MAGIC) + 4
    if not data.startswith(RECORD_MAGIC) or len(data) < start:
        raise ValueError("it does not start as a user record")
    end = start + int.from_bytes(data[len(RECORD_MAGIC) : start], "little")
    meta = json.loads(data[start:end])
    if not isinstance(meta, dict):
        raise ValueError("its header is not a JSON object")
    arrays, at = {}, end
    for name, dtype, shape in meta.pop("arrays"):
        kind = np.dtype(dtype)
        if kind.hasobject or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"array {name!r} has dtype {dtype} and shape {shape}")
        count = math.prod(shape)
        arrays[name] = np.frombuffer(data, kind, count, at).reshape(shape)  # ValueError past the end
        at += count * kind.itemsize
    if at != len(data):
        raise ValueError(f"{len(data) - at} bytes after its arrays")
    return arrays, meta


def _npz_record(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, JSON) of a record kept by pyrerank before 0.5, an npz file."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(str(npz["__meta__"]))
        return {k: npz[k] for k in npz.files if k != "__meta__"}, meta


def _packed_as_events(log: EventLog, unsaved: int) -> bytes:
    """EVENTS_HEADER, then the log's parts (EventLog.to_parts) but its latest time."""
    rows, weights, latest, below, seen = log.to_parts()
    n = len(log.rows)
    return b"".join(
        (EVENTS_HEADER.pack(EVENTS_TAG, len(weights) // n if n else 1, n, latest, unsaved), rows, weights, below, seen)
    )


def _packed_events(packed: bytes) -> tuple[EventLog, int]:
    """The event log and unsaved count of a record packed as its events."""
    _, width, n, latest, unsaved = EVENTS_HEADER.unpack_from(packed)
    rows = EVENTS_HEADER.size
    weights = rows + 4 * n
    below = weights + width * n
    seen = below + 4 * n
    log = EventLog.from_parts(packed[rows:weights], packed[weights:below], latest, packed[below:seen], packed[seen:])
    return log, unsaved


def _packed_rows(packed: bytes) -> array.array:
    """The rows of a record packed as its events."""
    rows = rows_array()
    rows.frombytes(packed[EVENTS_HEADER.size : EVENTS_HEADER.size + 4 * EVENTS_HEADER.unpack_from(packed)[2]])
    return rows


def _renumbered(packed: bytes, moves: list[int]) -> bytes | None:
    """A packed record (UserRecord.pack) with its rows renumbered as UserRecord.renumber does
    (`moves`: old row -> new row, -1 for a removed item), without unpacking its state; None for
    a record packed as its events where one of them is on a removed item."""
    if packed[:1] == EVENTS_TAG:
        old = _packed_rows(packed)
        rows = [moves[r] for r in old]
        if rows and min(rows) < 0:
            return None
        start = EVENTS_HEADER.size
        return b"".join((packed[:start], rows_array(rows).tobytes(), packed[start + 4 * len(old) :]))
    parts = list(marshal.loads(packed))  # (keys, values, recent, seen, unsaved, positives)
    for at in (2, 3):
        parts[at] = rows_array([m for m in (moves[r] for r in array.array("i", parts[at])) if m >= 0]).tobytes()
    return marshal.dumps(tuple(parts))


def _pack_value(value: Any) -> Any:
    """A state value as marshal-able parts: (shape, _core.pack_rows bytes) for wide float32
    rows, (shape, dtype, bytes) for other arrays, [value] for a scalar."""
    if type(value) is not np.ndarray:
        return [value]
    if value.dtype.char == "f" and 0 < value.ndim <= 2 and value.shape[-1] >= PACKED_WIDTH:
        return (value.shape, _core.pack_rows(value))
    return (value.shape, value.dtype.str, value.tobytes())


def _unpack_value(parts: Any) -> Any:
    if type(parts) is list:
        return parts[0]
    if len(parts) == 2:
        shape, packed = parts
        return _core.unpack_rows(packed, shape)
    shape, dtype, data = parts
    return np.frombuffer(data, dtype).reshape(shape).copy()


class UserCache:
    """User records held in process memory, the least recently used evicted past `max_users`.
    Only the HOT_USERS most recently used are held as records with their derived caches; the
    others are packed (UserRecord.pack) and unpacked when next used. With `replay` (the
    interest state of a log's events, by the catalog's vectors of the moment), a user with at
    most LOGGED_EVENTS item events is held as those events (9 to 17 bytes each); any other as
    their state in int8 and their rows (about a quarter of a record's bytes)."""

    def __init__(self, max_users: int | None = 1_000_000, replay: Replay | None = None) -> None:
        if max_users is not None and (isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1):
            raise ValueError(f"max_users must be an int >= 1 or None, got {max_users!r}")
        self.max_users = max_users
        self.replay = replay
        self._records: OrderedDict[Hashable, UserRecord | bytes] = OrderedDict()  # bytes: packed
        self._hot: OrderedDict[Hashable, UserRecord] = OrderedDict()
        self._lock = threading.Lock()

    def _touch(self, user: Hashable, record: UserRecord) -> None:
        self._records[user] = record
        self._records.move_to_end(user)
        self._hot[user] = record
        self._hot.move_to_end(user)
        if len(self._hot) > HOT_USERS:
            cold, cold_record = self._hot.popitem(last=False)
            self._records[cold] = cold_record.pack()

    def new_record(self) -> UserRecord:
        """A record for a user with no events, logging them where this cache can replay them."""
        return UserRecord(log=EventLog() if self.replay is not None else None)

    def get(self, user: Hashable) -> UserRecord | None:
        """The user's record (unpacked if it was packed: from then on it is this object that
        holds the user's changes), or None."""
        with self._lock:
            held = self._records.get(user)
            if held is None:
                return None
            record = UserRecord.unpack(held, self.replay) if isinstance(held, bytes) else held
            self._touch(user, record)
            return record

    def __contains__(self, user: Hashable) -> bool:
        with self._lock:
            return user in self._records

    def put(self, user: Hashable, record: UserRecord) -> None:
        with self._lock:
            self._touch(user, record)
            if self.max_users is not None and len(self._records) > self.max_users:
                gone, _ = self._records.popitem(last=False)
                self._hot.pop(gone, None)

    def delete(self, user: Hashable) -> bool:
        with self._lock:
            self._hot.pop(user, None)
            return self._records.pop(user, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._hot.clear()

    def items(self) -> Iterator[tuple[Hashable, UserRecord]]:
        """Every held (user, record), least recently used first; a packed user's record is an
        unpacked copy (changes to it are not kept: see renumber)."""
        with self._lock:
            held = list(self._records.items())
        return ((user, UserRecord.unpack(r, self.replay) if isinstance(r, bytes) else r) for user, r in held)

    def user_ids(self) -> list[Hashable]:
        with self._lock:
            return list(self._records)

    def renumber(self, remap: np.ndarray) -> None:
        """Every held record follows a catalog renumbering (see UserRecord.renumber); packed ones
        have their rows rewritten as packed (a few µs each), unless they are events on an item
        that goes: those are replayed first, while its vector is still in the catalog."""
        moves = remap.tolist()
        with self._lock:
            for user, held in list(self._records.items()):
                if not isinstance(held, bytes):
                    held.renumber(remap)
                    continue
                moved = _renumbered(held, moves)
                if moved is None:
                    record = UserRecord.unpack(held, self.replay)
                    record.renumber(remap)
                    moved = record.pack()
                self._records[user] = moved

    def settle(self, rows: set[int]) -> None:
        """Records built from events on any of `rows` keep their state from now on, not their
        events: call it before those rows' vectors change, so that the pull of the old vectors
        stays (as it does in the state of any other record)."""
        if self.replay is None or not rows:  # no record is packed as its events, or no row changes
            return
        with self._lock:
            for user, held in list(self._records.items()):
                if isinstance(held, UserRecord):
                    if held.log is not None and not rows.isdisjoint(held.log.rows):
                        held.drop_log()
                    continue
                if held[:1] == EVENTS_TAG and not rows.isdisjoint(_packed_rows(held)):
                    record = UserRecord.unpack(held, self.replay)
                    record.drop_log()
                    self._records[user] = record.pack()

    def __len__(self) -> int:
        return len(self._records)
