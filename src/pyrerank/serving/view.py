"""A process's view of a profile store: cached user records and the item statistics, brought up
to date with the store's log before every observe and rerank."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import warnings
from collections.abc import Hashable

import numpy as np

from ..errors import PyrerankWarning, StaleCursor, StoreError
from ..interfaces import InterestModel, LoggedEvent, ProfileStore, UserHistory
from .catalog import Catalog
from .item_stats import ItemStats
from .users import UserCache, UserRecord

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 10_000  # events this view appends between statistics snapshots, at least (durable stores)
# ... and at least the last snapshot's size over this, so that snapshots write at most this many
# bytes per appended event on average, whatever the catalog (a whole snapshot of 10M items with
# saturated links is ~20 GB: every 10,000 events it would be 2 MB written per event).
SNAPSHOT_BYTES_PER_EVENT = 256
USER_SAVE_EVERY = 64  # events applied to a user between keeping their record in the store


class StoreView:
    """Applies the store's events in log order, so every process holding a view of one store ends
    with the same statistics and user states. Thread-safe: one lock orders all changes."""

    def __init__(
        self,
        store: ProfileStore,
        interest: InterestModel,
        stats: ItemStats,
        users: UserCache,
        seen_kinds: frozenset[str],
    ) -> None:
        self.store, self.interest, self.stats, self.users = store, interest, stats, users
        self.seen_kinds = seen_kinds
        self.lock = threading.RLock()
        self._started = False
        self._appended = 0
        self._next_snapshot = SNAPSHOT_EVERY  # the value of _appended at which the next is due
        self._pseudonyms: dict[Hashable, Hashable] = {}  # forget-marker name -> user, see _user_named
        self._reads_begun = self._reads_applied = 0  # reads of the log, numbered as they begin (sync)
        self._claim_settings()

    def _claim_settings(self) -> None:
        """StoreError unless the statistics settings the store keeps (the first process to open it
        left its own) are this view's: processes that derive different statistics from one log
        would rank apart, and after a forget hold different counts."""
        ours = self.stats.settings
        try:
            kept = json.loads(self.store.claim_settings(json.dumps(ours, sort_keys=True)) or "")
        except ValueError:
            kept = None
        if not isinstance(kept, dict):
            raise StoreError(f"{self.store!r}: its kept statistics settings are damaged (not a JSON object)")
        differ = [f"{key}={kept[key]!r} (here {mine!r})" for key, mine in ours.items() if kept.get(key, mine) != mine]
        if differ:
            raise StoreError(
                f"{self.store!r} is shared by processes with other item statistics settings: {', '.join(differ)}. "
                "Every process on one store needs the same half_life, max_neighbors, exact_forget and forget_horizon. "
                "To change them, stop every process on the store, then run `pyrerank store-settings STORE --clear`"
            )

    def read_mark(self) -> int:
        """Taken when a request begins, for sync(since=...): every read of the log begun after
        this call applies all the events acknowledged before it."""
        return self._reads_begun

    def sync(self, catalog: Catalog, user: Hashable | None = None, since: int | None = None) -> UserHistory | None:
        """Apply every event logged since the last sync (by any process). With `user`, a user
        this view does not hold, their history as of the moved cursor where the store reads it
        in the same round trip (ProfileStore.read_with_user; for :meth:`record`), else None.
        `since`: the request's read_mark(); where a read begun after it was applied meanwhile
        (requests waiting on this lock share it), the log is not read again."""
        with self.lock:
            if not self._started:
                self._start(catalog)
            rebuild = user is not None and self.store.durable and user not in self.users
            if not rebuild and since is not None and self._reads_applied > since:
                return None
            self._reads_begun += 1
            number = self._reads_begun
            try:
                events, history = self.store.read_with_user(user) if rebuild else (self.store.read(), None)
            except StaleCursor:  # compacted past us: start again from the store's snapshot
                self._start(catalog, reload=True)
                events, history = self.store.read(), None
            if events:
                log.debug("%s store: applying %d logged events", self.store.name, len(events))
                self._apply_all(events, catalog)
            self._reads_applied = number
            return history

    def _start(self, catalog: Catalog, reload: bool = False) -> None:
        """Statistics from the store's snapshot where it has one (they replace what this view
        held; `reload`: so do no statistics and no user records where it has none); user records
        are rebuilt on demand."""
        if reload:
            self.stats.clear()
            self.users.clear()
        data = self.store.load_snapshot()
        if data is not None:
            self.stats.restore_snapshot(data, catalog.row_of)
        log.debug(
            "%s store: started from %s", self.store.name, "its statistics snapshot" if data else "the start of its log"
        )
        self._started = True

    def _apply_all(self, events: list[LoggedEvent], catalog: Catalog) -> None:
        unknown = 0
        for event in events:  # a loop, not sum(generator): observe applies one event, often
            if not self._apply(event, catalog):
                unknown += 1
        if unknown:
            warnings.warn(
                f"{unknown} logged events name items that are not in this catalog and were skipped",
                PyrerankWarning,
                stacklevel=4,
            )

    def _apply(self, event: LoggedEvent, catalog: Catalog) -> bool:
        """Fold one logged event into the statistics and, if cached, its user; False if its item
        is unknown here."""
        if event.forgets:
            user = self._user_named(event.user)
            self.users.delete(user)
            self.stats.forget(user)
            return True
        if event.item is None:  # text the user wrote
            row = None
        else:
            row = catalog.row(event.item)
            if row is None:
                return False
        if row is not None and event.counted and event.weight > 0:
            links = [r for r in map(catalog.row, event.links) if r is not None]
            self.stats.record(event.user, row, event.weight, event.timestamp, links)
        record = self.users.get(event.user)
        if record is None and not self.store.durable:  # no history to rebuild from later: start it now
            record = self.users.new_record()
            self.users.put(event.user, record)
        if record is not None:
            self._fold(record, row, event, catalog)
        return True

    def _user_named(self, name: Hashable) -> Hashable:
        """The user a forget marker names by the store's pseudonym (the id itself for a store no
        other process reads): looked up among the users this view knows, mapped on first need."""
        if not self.store.durable:
            return name
        user = self._pseudonyms.pop(name, None)
        if user is None:
            known = itertools.chain(self.stats.contributions.user_number, self.users.user_ids())
            self._pseudonyms = {self.store.pseudonym(u): u for u in known}
            user = self._pseudonyms.pop(name, name)
        return user

    def _fold(self, record: UserRecord, row: int | None, event: LoggedEvent, catalog: Catalog) -> None:
        """Apply an item event (`row`) or a text event (row None) to the user's record."""
        if row is not None:
            seen = event.kind is None or event.kind in self.seen_kinds  # logs before 0.3: every event
            record.apply(self.interest, row, catalog.vectors, event.weight, event.timestamp, seen)
        elif event.vector is not None and len(event.vector) == catalog.text_dim:
            record.apply_text(self.interest, catalog.text_query(event.vector), event.weight, event.timestamp)
        else:
            warnings.warn(
                f"a logged text event has a vector {len(event.vector)} wide, this catalog's encoder gives "  # type: ignore[arg-type]
                f"{catalog.text_dim}: skipped (was the encoder changed?)",
                PyrerankWarning,
                stacklevel=5,
            )
            return
        record.unsaved += 1

    def record(self, user: Hashable, catalog: Catalog, history: UserHistory | None = None) -> UserRecord | None:
        """The user's record as of the last sync: cached, or rebuilt from the store's history
        (`history` where :meth:`sync` brought it)."""
        with self.lock:
            record = self.users.get(user)
            if record is not None or not self.store.durable:
                return record
            for _ in range(10):
                try:
                    kept, events = history if history is not None else self.store.user_history(user)
                    break
                except StaleCursor:  # another process kept the user at a later point: catch up
                    self.sync(catalog)
            else:
                raise StoreError(
                    "could not catch up with the store to rebuild a user: it keeps moving past this reader"
                )
            events = [event for event in events if not event.forgets]  # markers name a pseudonym, not the user
            if kept is None and not events:
                return None
            record = self.users.new_record()
            if kept is not None:
                restored, width = UserRecord.from_bytes(kept, catalog.row)
                if width == catalog.dim:
                    record = restored
                else:  # kept before fit() changed the item vectors: its sums cannot be reused
                    warnings.warn(
                        f"a user's kept record has item vectors {width} wide, the catalog's are "
                        f"{catalog.dim}: rebuilt from the events after it only",
                        PyrerankWarning,
                        stacklevel=4,
                    )
            for event in events:
                row = None if event.item is None else catalog.row(event.item)
                if row is not None or event.item is None:
                    self._fold(record, row, event, catalog)
            self.users.put(user, record)
            log.debug("%s store: user %r rebuilt from %d logged events", self.store.name, user, len(events))
            return record

    def observe(
        self,
        user: Hashable,
        item: object,
        kind: str,
        weight: float,
        timestamp: float,
        counted: bool,
        catalog: Catalog,
        vector: np.ndarray | None = None,
    ) -> None:
        """Log one event (durably, for a durable store) and apply it; returns once it is kept.
        A text event has item None and the text's (text_dim,) float32 `vector`."""
        with self.lock:
            if not self._started:
                self._start(catalog)
            # Links come from the user as of the last sync: one round trip per event to a shared
            # store. Whatever they are, every process applies the logged ones.
            record = self.record(user, catalog)
            has_links = record is not None and weight > 0 and item is not None
            links = tuple(map(catalog.ids.__getitem__, record.co_links())) if has_links else ()  # type: ignore[union-attr]
            event = LoggedEvent(user, item, weight, timestamp, counted, links, kind, vector)  # type: ignore[arg-type]
            try:
                events = self.store.append(event)
            except StaleCursor:  # the event is kept; our view fell behind a compaction
                self._start(catalog, reload=True)
                events = self.store.read()
            self._apply_all(events, catalog)
            self._appended += 1
            if self.store.durable:
                self._keep(user, catalog)

    def _keep(self, user: Hashable, catalog: Catalog) -> None:
        """Every so often, hand the store the user's record and its statistics, so that it can
        drop history that they cover."""
        record = self.users.get(user)
        if self.store.keeps_user_records and record is not None and record.unsaved >= USER_SAVE_EVERY:
            self.store.save_user(user, record.to_bytes(catalog.ids, catalog.dim))
            record.unsaved = 0
        if self._appended >= self._next_snapshot:
            self.snapshot(catalog)

    def forget(self, user: Hashable, catalog: Catalog | None) -> bool:
        """Drop the user's record, events and counts (applying the store's forget marker takes
        them out of the statistics, here and in every process). A durable store then snapshots
        the statistics, so that no snapshot keeps the user either."""
        with self.lock:
            known = catalog is not None and self.record(user, catalog) is not None  # cached or in the log
            known = known or user in self.stats.contributions.user_number  # counted by fit()
            if self.store.durable:
                self._pseudonyms[self.store.pseudonym(user)] = user
            self.store.forget(user)
            self.users.delete(user)
            if catalog is not None:
                self.sync(catalog)
                if self.store.durable:
                    self.snapshot(catalog)
            return known

    def snapshot(self, catalog: Catalog) -> None:
        """Write the statistics as of the last sync to a durable store; the next is due after
        SNAPSHOT_EVERY more appended events, or more where this one was large."""
        with self.lock:
            self.sync(catalog)
            data = self.stats.snapshot(catalog.ids)
            self.store.save_snapshot(data)
            self._next_snapshot = self._appended + max(SNAPSHOT_EVERY, len(data) // SNAPSHOT_BYTES_PER_EVENT)
        log.debug("%s store: statistics snapshot of %d bytes kept", self.store.name, len(data))
