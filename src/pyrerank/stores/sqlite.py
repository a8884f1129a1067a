"""A durable store in one SQLite file: write-ahead log, one committed row per event."""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from collections.abc import Hashable

from ..errors import StoreError
from ..interfaces import LoggedEvent, ProfileStore, user_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user, seq);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, data BLOB NOT NULL);
"""


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
    """

    name = "sqlite"
    durable = True

    def __init__(self, url: str) -> None:
        self.path, options = parse_url(url)
        synchronous = options.pop("synchronous", "full").upper()
        if synchronous not in ("FULL", "NORMAL") or options:
            raise ValueError(f"store {url!r}: the only option is synchronous=full|normal")
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"SQLite store {self.path!r} cannot use a write-ahead log (journal mode {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        self._cursor = 0
        self._seen_version: int | None = None  # PRAGMA data_version: moves when another connection commits
        self._wrote = True

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc

    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        self._run("INSERT INTO events (user, body) VALUES (?, ?)", (user_text(event.user), event.to_json()))
        self._wrote = True
        return self.read()

    def read(self) -> list[LoggedEvent]:
        version = self._run("PRAGMA data_version")[0][0]
        if not self._wrote and version == self._seen_version:
            return []
        rows = self._run("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (self._cursor,))
        self._seen_version, self._wrote = version, False
        if rows:
            self._cursor = rows[-1][0]
        return LoggedEvent.parse_rows(rows, repr(self))

    def user_history(self, user: Hashable) -> tuple[bytes | None, list[LoggedEvent]]:
        # Every event stays in the log (replaying the statistics needs them), so the full
        # history is read from the (user, seq) index rather than kept records.
        rows = self._run(
            "SELECT seq, body FROM events WHERE user = ? AND seq <= ? ORDER BY seq", (user_text(user), self._cursor)
        )
        return None, LoggedEvent.parse_rows(rows, repr(self))

    def forget(self, user: Hashable) -> None:
        key = user_text(user)
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM events WHERE user = ?", (key,))
                    self._db.execute(
                        "INSERT INTO events (user, body) VALUES (?, ?)", (key, LoggedEvent(user, None).to_json())
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc
        self._wrote = True

    def save_snapshot(self, data: bytes) -> None:
        self._run("INSERT OR REPLACE INTO snapshot (id, seq, data) VALUES (1, ?, ?)", (self._cursor, data))

    def load_snapshot(self) -> bytes | None:
        rows = self._run("SELECT seq, data FROM snapshot WHERE id = 1")
        if not rows:
            return None
        self._cursor, self._wrote = rows[0][0], True
        return bytes(rows[0][1])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
