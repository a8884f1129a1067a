"""A durable store in one SQLite file: write-ahead log, one committed row per event.

The file stays bounded under a steady stream, as a Redis store's memory does: every statistics
snapshot deletes the events at or before the previous snapshot that a kept user record covers
(``save_user``), so what remains is, per user, the events since their last kept record. A
process whose cursor falls behind that point gets StaleCursor and restarts from the snapshot.
Each compaction is one transaction, so a kill -9 in the middle of one loses nothing. The pages
a replaced snapshot and deleted events free are reused, and the write-ahead log is cut back to
WAL_LIMIT after each checkpoint, so the file's size follows what is kept: the snapshot (bounded
by items, plus ~21 bytes per counted event with ``exact_forget``, the default), the user
records, and each user's events since their last record.

Every event row and the statistics snapshot carry a CRC-32 of their position and content, so a
page damaged on disk (which SQLite's own checks can miss) is a StoreError naming the row, never
a silently different ranking. Rows written before checksums existed (crc NULL) are read as they
are.

A forgotten user leaves nothing in the file: deleted rows are overwritten with zeros
(``secure_delete``), the forget marker names the user by a keyed hash (the key, random per file,
is in the file), and the write-ahead log is checkpointed and truncated after the user's rows
and the snapshot that counted them are gone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.parse
import warnings
import zlib
from collections.abc import Callable, Hashable
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
from .sqlite_wal import wal_commits_lost

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user, seq);
CREATE TABLE IF NOT EXISTS snapshot (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER);
CREATE TABLE IF NOT EXISTS secret (id INTEGER PRIMARY KEY CHECK (id = 1), value BLOB NOT NULL);
INSERT OR IGNORE INTO secret (id, value) VALUES (1, randomblob(32));
CREATE TABLE IF NOT EXISTS records (
  user TEXT PRIMARY KEY, seq INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trimmed (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
INSERT OR IGNORE INTO trimmed (id, seq) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS snapshot_parts (part INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS format (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
"""
# The store's format (interfaces.STORE_FORMAT), raised to ?1 by each process that opens it, never lowered.
CLAIM_FORMAT = """
INSERT INTO format (id, version) VALUES (1, ?1)
ON CONFLICT (id) DO UPDATE SET version = max(version, excluded.version)
"""
FORMAT = "SELECT COALESCE((SELECT version FROM format WHERE id = 1), 0)"
# A snapshot is kept in parts of at most this many bytes: the first in `snapshot`, the others in
# `snapshot_parts` (SQLite refuses a value over 1 GB, and a snapshot with saturated co-engagement
# links holds ~2 KB per item). The checksum covers the whole.
PART_BYTES = 256 << 20
BUSY_SECONDS = 30  # how long a statement waits for another connection's lock
# Bytes the write-ahead log keeps after a checkpoint (it grows past them while a snapshot is written).
WAL_LIMIT = 16 << 20
# The events a snapshot no longer needs: at or before the previous snapshot (every reader that
# has not read them restarts from a snapshot) and covered by their user's kept record.
COMPACT = """
DELETE FROM events WHERE seq <= ?1
  AND seq <= (SELECT records.seq FROM records WHERE records.user = events.user)
"""
# One statement, so one implicit transaction: the row, its position and its checksum together;
# nothing in a store of a format newer than ?3 (the read after it names the error).
INSERT_EVENT = f"""
INSERT INTO events (seq, user, body, crc)
SELECT n, ?1, ?2, pyrerank_crc(n, ?1, ?2)
FROM (SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1 AS n)
WHERE ({FORMAT}) <= ?3
"""


def _crc(seq: int, user: str, body: str | bytes) -> int:
    """CRC-32 of a row's position and content."""
    content = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    return zlib.crc32(content, zlib.crc32(f"{seq}\x00{user}\x00".encode("utf-8", "surrogatepass")))


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """ "sqlite:///relative/path.db", "sqlite:////absolute/path.db" (as SQLAlchemy), with an optional
    "?synchronous=normal" -> (path, options)."""
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError(f"store must look like 'sqlite:///path.db' or 'sqlite:////abs/path.db', got {url!r}")
    path, _, query = url[len("sqlite:///") :].partition("?")
    return path, dict(urllib.parse.parse_qsl(query))


class SQLiteStore(ProfileStore):
    """Events in an SQLite database in WAL mode; several processes may share the file.

    synchronous : "full" (default): each acknowledged event is on disk, surviving a power cut;
        "normal": it survives a crash of the process (kill -9), not of the machine, and appends
        are several times faster (benchmarks/test_stores.py::test_observe_throughput).
    verify : "rows" (default): each row's checksum is checked as it is read; "full" also runs
        SQLite's integrity check on open (time grows with the file), which finds damaged pages
        and indexes that row checksums cannot see.
    """

    name = "sqlite"
    durable = True
    keeps_user_records = True

    def __init__(self, url: str) -> None:
        self.path, options = parse_url(url)
        synchronous = options.pop("synchronous", "full").upper()
        verify = options.pop("verify", "rows")
        if synchronous not in ("FULL", "NORMAL") or verify not in ("rows", "full") or options:
            raise ValueError(f"store {url!r}: the options are synchronous=full|normal and verify=rows|full")
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS)
            self._db.create_function("pyrerank_crc", 3, _crc, deterministic=True)
            mode = self._wal_mode()
            if mode != "wal":
                raise StoreError(f"SQLite store {self.path!r} cannot use a write-ahead log (journal mode {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free space
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            self._check_wal()  # before anything is written: a first write would restart the log
            self._db.executescript(SCHEMA)
            if verify == "full":
                found = self._db.execute("PRAGMA integrity_check").fetchall()
                if found != [("ok",)]:
                    raise StoreError(f"SQLite store {self.path!r} is damaged: {found[0][0][:200]}")
            self._secret = bytes(self._db.execute("SELECT value FROM secret WHERE id = 1").fetchone()[0])
            self._db.execute(CLAIM_FORMAT, (STORE_FORMAT,))
            self._check_format(self._db.execute(FORMAT).fetchone()[0])
            for table in ("events", "snapshot"):  # files from before checksums: add the column
                if "crc" not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                    try:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER")
                    except sqlite3.OperationalError:  # another process added it first
                        pass
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text decodes to neither
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        self._cursor = 0
        self._seen_version: int | None = None  # PRAGMA data_version: moves when another connection commits
        self._wrote = True
        self._purge_pending = False  # a user was forgotten: truncate the write-ahead log after the next snapshot

    def _check_format(self, found: int) -> None:
        """StoreError if the file's format is newer than STORE_FORMAT (a newer process opened it)."""
        check_store_format(f"SQLite store {self.path!r}", found)

    def _wal_mode(self) -> str:
        """Switch to (or confirm) WAL mode; the journal mode. Processes opening a new file at once
        can get "database is locked" here without SQLite's busy wait: try again for up to 30 s."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return str(self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _check_wal(self) -> None:
        """StoreError if damage in the write-ahead log would make SQLite drop committed events.
        Reads the log file only (never the "-shm" index: closing a second descriptor of it would
        drop this process's SQLite locks), under the write lock, so no writer is half way."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            with open(f"{self.path}-wal", "rb") as f:
                wal = f.read()
        except FileNotFoundError:
            return
        finally:
            self._db.execute("COMMIT")
        if wal_commits_lost(wal):
            raise StoreError(
                f"SQLite store {self.path!r} is damaged: its write-ahead log holds committed events that "
                "SQLite can no longer read"
            )

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text decodes to neither
            raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc

    def _transaction(self, work: Callable[[sqlite3.Connection], Any], write: bool = True) -> Any:
        """work(db) in one transaction: all of it is kept, or none; with `write` False, a read
        transaction (what it reads is one state of the file)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    out = work(self._db)
                    self._db.execute("COMMIT")
                    return out
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text decodes to neither
            raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc

    @staticmethod
    def _insert(db: sqlite3.Connection, user: str, body: str) -> None:
        db.execute(INSERT_EVENT, (user, body, STORE_FORMAT))

    def _checked(self, rows: list[tuple]) -> list[LoggedEvent]:
        """Events of (seq, user, body, crc) rows; StoreError naming the first damaged row."""
        for seq, user, body, crc in rows:
            if crc is not None and crc != _crc(seq, user, body):
                raise StoreError(f"SQLite store {self.path!r}: event log row {seq} is damaged (checksum mismatch)")
        return LoggedEvent.parse_rows([(seq, body) for seq, _, body, _ in rows], repr(self))

    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        self._run(INSERT_EVENT, (user_text(event.user), event.to_json(), STORE_FORMAT))
        self._wrote = True
        return self.read()

    def read(self) -> list[LoggedEvent]:
        """Raises StaleCursor if a compaction deleted events this reader has not read."""
        version = self._run("PRAGMA data_version")[0][0]
        if not self._wrote and version == self._seen_version:
            return []
        trimmed, form = self._run(f"SELECT (SELECT seq FROM trimmed WHERE id = 1), ({FORMAT})")[0]
        self._check_format(form)
        if trimmed > self._cursor:
            raise StaleCursor(f"SQLite store {self.path!r} was compacted past this reader's position {self._cursor}")
        rows = self._run("SELECT seq, user, body, crc FROM events WHERE seq > ? ORDER BY seq", (self._cursor,))
        events = self._checked(rows)  # before the cursor moves: a damaged row stops here, every time
        self._seen_version, self._wrote = version, False
        if rows:
            self._cursor = rows[-1][0]
        return events

    def user_history(self, user: Hashable) -> UserHistory:
        key = user_text(user)
        kept = self._run("SELECT seq, data, crc FROM records WHERE user = ?", (key,))
        since, data = 0, None
        if kept:
            since, blob, crc = kept[0]
            data = bytes(blob)
            if crc != _crc(since, key, data):
                raise StoreError(f"SQLite store {self.path!r}: a user's kept record is damaged (checksum mismatch)")
            if since > self._cursor:
                raise StaleCursor(f"SQLite store {self.path!r}: a user's kept record is newer than this reader")
        rows = self._run(
            "SELECT seq, user, body, crc FROM events WHERE user = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (key, since, self._cursor),
        )
        return data, self._checked(rows)

    def save_user(self, user: Hashable, data: bytes) -> None:
        """Keep the user's record as of the cursor (never over a newer one); the events it covers
        go at a later snapshot."""
        key, seq = user_text(user), self._cursor
        self._run(
            "INSERT INTO records (user, seq, data, crc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user) DO UPDATE "
            "SET seq = excluded.seq, data = excluded.data, crc = excluded.crc WHERE excluded.seq > records.seq",
            (key, seq, data, _crc(seq, key, data)),
        )

    def pseudonym(self, user: Hashable) -> str:
        return keyed_pseudonym(self._secret, user)

    def forget(self, user: Hashable) -> None:
        key, name = user_text(user), self.pseudonym(user)

        def work(db: sqlite3.Connection) -> None:
            self._check_format(db.execute(FORMAT).fetchone()[0])  # else the marker would not enter
            db.execute("DELETE FROM events WHERE user = ?", (key,))
            db.execute("DELETE FROM records WHERE user = ?", (key,))
            self._insert(db, user_text(name), LoggedEvent(name, None).to_json())

        self._transaction(work)
        self._wrote = self._purge_pending = True
        self._truncate_wal()

    def _truncate_wal(self) -> None:
        """Copy the write-ahead log into the database and empty it, so that no page image with
        a deleted row stays in it; waits up to ~5 s for readers of older pages to finish."""
        for _ in range(100):
            busy = self._run("PRAGMA wal_checkpoint(TRUNCATE)")[0][0]
            if not busy:
                return
            time.sleep(0.05)
        warnings.warn(
            f"SQLite store {self.path!r}: another connection kept reading, so the write-ahead log still "
            "holds pages with a forgotten user's rows until the next checkpoint",
            PyrerankWarning,
            stacklevel=4,
        )

    def save_snapshot(self, data: bytes) -> None:
        """Keep the statistics as of the cursor (never over a newer snapshot), and compact: the
        events at or before the snapshot it replaces that kept user records cover are deleted,
        all in one transaction."""
        cursor = self._cursor
        crc = _crc(cursor, "snapshot", data)
        parts = [memoryview(data)[i : i + PART_BYTES] for i in range(0, max(len(data), 1), PART_BYTES)]

        def work(db: sqlite3.Connection) -> None:
            previous = db.execute("SELECT seq FROM snapshot WHERE id = 1").fetchone()
            if previous is not None and previous[0] > cursor:
                return
            db.execute("DELETE FROM snapshot_parts")
            db.execute(
                "INSERT OR REPLACE INTO snapshot (id, seq, data, crc) VALUES (1, ?, ?, ?)", (cursor, parts[0], crc)
            )
            db.executemany("INSERT INTO snapshot_parts (part, data) VALUES (?, ?)", enumerate(parts[1:], 1))
            if previous is not None and db.execute(COMPACT, (previous[0],)).rowcount:
                db.execute("UPDATE trimmed SET seq = MAX(seq, ?) WHERE id = 1", (previous[0],))

        self._transaction(work)
        if self._purge_pending:  # the replaced snapshot counted a forgotten user
            self._purge_pending = False
            self._truncate_wal()
        elif len(data) >= WAL_LIMIT:
            self._empty_wal_if_idle()

    def _empty_wal_if_idle(self) -> None:
        """Empty the write-ahead log now unless a reader holds it (then it is left for later).
        After a large snapshot: readers look every page up in the log's index until it is
        emptied, even once its pages are in the database (a 300 MB snapshot read in 9.7 s from
        the log, 0.56 s once it was emptied)."""
        with self._lock:
            self._db.execute("PRAGMA busy_timeout=0")  # never wait for readers here
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error:
                pass  # busy: the next checkpoint does it
            finally:
                self._db.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")

    def load_snapshot(self) -> bytes | None:
        def read(db: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
            first = db.execute("SELECT seq, data, crc FROM snapshot WHERE id = 1").fetchall()
            return first, db.execute("SELECT data FROM snapshot_parts ORDER BY part").fetchall()

        rows, parts = self._transaction(read, write=False)  # parts and first of one snapshot
        if not rows:
            return None
        seq, first, crc = rows[0]
        data = b"".join([first, *(part for (part,) in parts)])
        if crc is not None and crc != _crc(seq, "snapshot", data):
            raise StoreError(f"SQLite store {self.path!r}: the statistics snapshot is damaged (checksum mismatch)")
        self._cursor, self._wrote = seq, True
        return data

    def claim_settings(self, settings: str | None) -> str | None:
        def work(db: sqlite3.Connection) -> list[tuple]:
            if settings is not None:
                db.execute("INSERT OR IGNORE INTO settings (id, value) VALUES (1, ?)", (settings,))
            return db.execute("SELECT value FROM settings WHERE id = 1").fetchall()

        kept = self._transaction(work)
        return str(kept[0][0]) if kept else None

    def clear_settings(self) -> None:
        self._run("DELETE FROM settings")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
