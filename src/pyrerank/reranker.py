"""The one entry point: a catalog, per-user interest that moves on every event, a ranker."""

from __future__ import annotations

import copy
import inspect
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from . import _core, persist, saving
from . import _validate as check
from .encoders.cache import CachedEncoder
from .errors import PyrerankError, PyrerankWarning, StoreError
from .events import TEXT_WEIGHTS, Event, ItemId, event_weight
from .interfaces import (
    Encoder,
    Explainer,
    InterestModel,
    ProfileStore,
    Ranker,
    RankRequest,
    State,
    UserQuery,
    replays_in_closed_form,
)
from .learning.replay import replay_for_fit
from .plugins import get_encoder, get_store, registry
from .serving.catalog import CandidateKeys, Catalog, check_dtype, unit_rows
from .serving.explanation import Explanation, evidence
from .serving.features import NO_CO_SCORES, CandidateFeatures, co_engagement_scores, co_recent, gather_arguments
from .serving.item_stats import FORGET_HORIZON, ItemStats
from .serving.undo_log import MAX_SLOTS
from .serving.users import EventLog, UserCache
from .serving.view import StoreView

log = logging.getLogger(__name__)  # debug: one line per observe, rerank and forget (off by default)
T = TypeVar("T")


class Ranked(NamedTuple):
    """One re-ranked candidate."""

    item: ItemId
    score: float


class UserSide(NamedTuple):
    """What a rank request holds of its user (see RankRequest): seen rows ((m,) int64 ascending,
    or None: none left out), query, short-term vector, co-engagement scores, and the liked rows
    for rankers that read texts (else None)."""

    seen: np.ndarray | None
    query: UserQuery | None
    recent: np.ndarray | None
    co_scores: _core.CoScores | None
    history: np.ndarray | None


def _resolve(kind: str, spec: Any, interface: type, options: dict[str, Any] | None, device: str | None) -> Any:
    """An instance as given, or the registered `kind` named `spec` built with `options`."""
    if isinstance(spec, interface):
        if options:
            raise TypeError(f"{kind}_options apply only when {kind} is given by name, not as an instance")
        return spec
    if kind == "store":  # a URL names the store by its scheme; get_store refuses anything else
        return get_store(spec, **(options or {}))
    if isinstance(spec, str):
        return registry.create(kind, spec, device=device, **(options or {}))
    raise TypeError(f"{kind} must be a registered name or a {interface.__name__} instance, got {spec!r}")


class Reranker:
    """Re-ranks a user's candidates by a language-model view of items and of the user's events.

    Parameters
    ----------
    encoder, interest, ranker : a registered name (see ``pyrerank plugins``) or an instance;
        ``encoder="transformers:/path/to/model"`` loads any local Hugging Face model directory;
        ``encoder=None`` for vectors only (``add_items(ids, vectors=...)``; no texts, no queries).
        The default ranker, ``bilinear``, ranks as ``fusion`` until fit() has trained it.
    store : where events and the state derived from them live: "memory" (default),
        "sqlite:///path.db" (durable; "sqlite:////abs/path.db" for an absolute path),
        "redis://[:password@]host:port/db" (shared by processes), another registered store's
        URL, or a ProfileStore instance. See ``pyrerank.stores``.
    explainer : what turns explain()'s parts into reasons in words: "template" (default, no
        model) or a registered plugin's name, or an Explainer instance
    encoder_options, interest_options, ranker_options, store_options, explainer_options :
        keyword arguments for the part named by the matching argument (an unknown one raises
        TypeError naming it)
    max_users : user records held in memory; past it the least recently used are evicted
        (a durable store rebuilds an evicted user from its log on next use)
    device : "cpu", "cuda", ...; handed to every part whose class takes a ``device`` argument
        (the model-running encoders pick the best one when it is None)
    dtype : how item vectors are stored: "int8" (default; a quarter of float32's memory and of
        the bytes each rerank reads; each row keeps its direction, see pyrerank.ops.to_int8),
        "float16" (half) or "float32". Similarities move by about 1e-3 in int8 or float16.
    cache_dir : keep encoded texts on disk here, so re-runs never re-encode
    exclude_seen : rerank leaves out items the user has already seen (default True; rerank's
        own `exclude_seen` overrides it per call). An item the user engaged with sits at the
        centre of their interest and would top every list; apps where people buy or watch the
        same thing again (groceries, music) pass False, or narrow `seen_kinds`.
    seen_kinds : the event kinds after which an item counts as seen (default: every kind in
        pyrerank.events.DEFAULT_WEIGHTS, "skip" and "dislike" included)
    exact_forget : keep who counted what in the item statistics (~21 bytes per counted event and
        ~40 per user with one among them, in memory and in a durable store's snapshot), so that
        forget() takes a user's counts out exactly (default True). False: forget() still erases
        the user's record, logged events and id, but their anonymous counts stay in popularity,
        trending and co-engagement
    forget_horizon : with exact_forget, how many of the latest counted events forget() takes out
        exactly (default 1,000,000; up to 65,536 more are kept). Older events are
        settled: they stay in the counts as anonymous ones, and memory and a durable store's
        snapshot stay bounded by the horizon, not by every event ever counted. None: never
        settle (exact for every event; ~21 bytes per counted event, without end). Processes
        sharing a durable store need the same exact_forget, forget_horizon and max_neighbors
        (each derives its statistics from the log): the store keeps the first one's and
        refuses others with a StoreError (``pyrerank store-settings STORE --clear`` drops them)
    max_neighbors : co-engagement links kept per item (default 256; the weakest makes room for a
        new one): every process holds items × max_neighbors × 8 bytes of them, 20 GB at 10M
        items with the default, so large catalogs pass fewer; at most 32,767

    Thread-safe: observe and rerank may be called from many threads at once; changes to state
    are applied one at a time in the store's order, and the scoring kernel runs outside the
    lock (and outside the GIL). Close a Reranker with a durable store (or use it in a ``with``).
    """

    def __init__(
        self,
        encoder: str | Encoder = "minilm",
        interest: str | InterestModel = "decay",
        ranker: str | Ranker = "bilinear",
        store: str | ProfileStore = "memory",
        *,
        encoder_options: dict[str, Any] | None = None,
        interest_options: dict[str, Any] | None = None,
        ranker_options: dict[str, Any] | None = None,
        store_options: dict[str, Any] | None = None,
        explainer: str | Explainer = "template",
        explainer_options: dict[str, Any] | None = None,
        max_users: int | None = 1_000_000,
        device: str | None = None,
        dtype: str = "int8",
        cache_dir: str | None = None,
        exclude_seen: bool = True,
        seen_kinds: Iterable[str] | None = None,
        exact_forget: bool = True,
        forget_horizon: int | None = FORGET_HORIZON,
        max_neighbors: int = 256,
    ) -> None:
        if isinstance(encoder, str):  # built on first use: a model loads only when texts need encoding
            registry.check_options("encoder", encoder.partition(":")[0], encoder_options or {})
        elif encoder is not None and not isinstance(encoder, Encoder):
            raise TypeError(f"encoder must be a registered name, an Encoder instance or None, got {encoder!r}")
        elif encoder_options:
            raise TypeError("encoder_options apply only when encoder is given by name")
        self._encoder_spec: str | Encoder | None = encoder
        self._encoder_options = dict(encoder_options or {})
        self._device, self._cache_dir = device, cache_dir
        self._encoder: CachedEncoder | None = None
        self.interest: InterestModel = _resolve("interest", interest, InterestModel, interest_options, device)
        self.ranker: Ranker = _resolve("ranker", ranker, Ranker, ranker_options, device)
        self.store: ProfileStore = _resolve("store", store, ProfileStore, store_options, None)
        self.explainer: Explainer = _resolve("explainer", explainer, Explainer, explainer_options, device)
        self.users = UserCache(max_users, self._replayed_state if replays_in_closed_form(self.interest) else None)
        check_dtype(dtype)
        self.dtype = dtype
        self.catalog: Catalog | None = None
        self.stats = ItemStats(
            max_neighbors=check.integer(max_neighbors, "max_neighbors", 1, MAX_SLOTS),
            exact_forget=check.boolean(exact_forget, "exact_forget"),
            forget_horizon=None if forget_horizon is None else check.integer(forget_horizon, "forget_horizon", 0),
        )
        self.exclude_seen = check.boolean(exclude_seen, "exclude_seen")
        try:
            self.view = StoreView(
                self.store, self.interest, self.stats, self.users, check.kinds(seen_kinds, "seen_kinds")
            )
        except StoreError:  # refused (another process's settings): a store this call opened is closed again
            if not isinstance(store, ProfileStore):
                self.store.close()
            raise
        self._lock = threading.RLock()  # catalog changes

    # -- parts ---------------------------------------------------------------------------
    @property
    def encoder(self) -> CachedEncoder:
        """The encoder, built on first use (a model loads only when texts need encoding)."""
        with self._lock:
            if self._encoder is None:
                spec = self._encoder_spec
                if spec is None:
                    raise ValueError("this Reranker has no encoder (encoder=None): give items vectors=, not texts")
                if isinstance(spec, str):
                    spec = get_encoder(spec, device=self._device, **self._encoder_options)
                self._encoder = CachedEncoder(spec, self._cache_dir)
            return self._encoder

    # -- catalog -----------------------------------------------------------------------
    def add_items(
        self,
        ids: Sequence[ItemId] | np.ndarray,
        texts: Sequence[str] | None = None,
        *,
        vectors: np.ndarray | None = None,
        metadata: Sequence[Any] | None = None,
    ) -> None:
        """Add items, or replace the vectors of ids already present.

        ids : n distinct ints (>= 0) or strs; texts : n strs, encoded unless `vectors` given
        vectors : (n, dim) float, L2-normalised here; must be finite and non-zero
        metadata : n JSON-serialisable values, kept for the app
        With a ranker that reads texts (a cross-encoder), the texts are kept too, also when
        `vectors` are given beside them. A replaced vector changes no user's interest: their
        past events keep the pull of the vector they had (replacing reads every held user's
        record first, ~1.2 µs each: 1.2 s at 1M held users). Replaced vectors are written in
        place (the catalog is not copied); a rerank scoring at that moment notices and scores
        again once they are written, so it sees each row before or after, never part of each.
        """
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"ids must be a sequence of item ids (int or str), got {type(ids).__name__}")
        ids = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) if isinstance(i, np.integer) else i for i in ids]
        Catalog.check_id_types(ids)
        if texts is None and vectors is None:
            raise ValueError("add_items needs texts or vectors")
        if len(set(ids)) != len(ids):
            seen: set = set()
            for item in ids:
                if item in seen:
                    raise ValueError(f"ids must be distinct, {item!r} appears more than once")
                seen.add(item)
        for name, seq in (("texts", texts), ("metadata", metadata)):
            if isinstance(seq, (str, bytes)) or (seq is not None and not isinstance(seq, (Sequence, np.ndarray))):
                raise TypeError(f"{name} must be a sequence with one entry per id, got {type(seq).__name__}")
            if seq is not None and len(seq) != len(ids):
                raise ValueError(f"{name} has {len(seq)} entries but ids has {len(ids)}")
        if vectors is None:
            assert texts is not None
            vectors = self.encoder.encode(list(texts))
            empty = np.flatnonzero(~np.asarray(vectors).any(axis=1))
            if len(empty):
                i = int(empty[0])
                raise ValueError(
                    f"texts[{i}] = {texts[i][:40]!r} encodes to an all-zero vector with encoder "
                    f"{self.encoder.name!r} (nothing in it that encoder uses): give it words or pass vectors="
                )
        vectors = unit_rows(vectors, len(ids))
        with self._lock:
            if self.catalog is None:
                self.catalog = Catalog(vectors.shape[1], self.dtype)
            if vectors.shape[1] != self.catalog.text_dim:
                raise ValueError(
                    f"vectors have dimension {vectors.shape[1]} but the catalog's text vectors have "
                    f"{self.catalog.text_dim}"
                )
            self.catalog.check_ids(ids)
            kept = None if texts is None or not self.ranker.needs_texts else Encoder.check_texts(texts)
            with self.view.lock:  # no event lands between settling its user and the new vectors
                if len(self.users):
                    self.users.settle({row for row in map(self.catalog.row, ids) if row is not None})
                self.catalog.upsert(ids, vectors, metadata, kept)
            self.stats.resize(len(self.catalog))

    def remove_items(self, ids: Sequence[ItemId] | np.ndarray) -> None:
        """Remove items: they are no longer ranked (as candidates they are unknown ids), their
        statistics and links go, and users' histories forget them; their effect on users'
        interest stays. All or nothing: an unknown id raises KeyError and removes none. The
        catalog is this process's: another process sharing the store keeps its own."""
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"ids must be a sequence of item ids (int or str), got {type(ids).__name__}")
        ids = list(ids)
        Catalog.check_id_types(ids)
        if not ids:
            return
        with self._lock, self.view.lock:
            catalog = self._catalog()
            missing = [item for item in ids if item not in catalog.row_of]
            if missing:
                raise KeyError(f"ids: item {missing[0]!r} is not in the catalog (nothing was removed)")
            rows = np.array([catalog.row_of[item] for item in ids], np.int64)
            self.view.sync(catalog)  # events logged until now are applied to the old rows
            smaller, remap = catalog.without(rows)
            self.stats.keep_rows(remap, len(smaller))
            self.users.renumber(remap)
            self.catalog = smaller

    def metadata(self, item: ItemId) -> Any:
        """The metadata given with `item` to add_items (None if none was); KeyError for an item
        not in the catalog."""
        with self._lock:
            self._row(item)
            return self._catalog().metadata.get(item)

    def _catalog(self) -> Catalog:
        if self.catalog is None:
            raise LookupError("the catalog is empty: call add_items() first")
        return self.catalog

    def _row(self, item: ItemId) -> int:
        if not isinstance(item, (str, int, np.integer)) or isinstance(item, bool):
            raise TypeError(f"item must be an item id (int or str), got {type(item).__name__}")
        row = self._catalog().row(item)
        if row is None:
            raise KeyError(f"item {item!r} is not in the catalog; add it with add_items() first")
        return row

    # -- events --------------------------------------------------------------------------
    def observe(
        self,
        user: Hashable,
        item: ItemId,
        kind: str = "click",
        *,
        timestamp: float | None = None,
        weight: float | None = None,
        count: bool = True,
    ) -> None:
        """Record one event; the very next rerank for `user` reflects it.

        count : also add it to the shared item statistics (popularity, co-engagement). Pass
            False when rebuilding a user's profile from history that fit() already counted.
        """
        user = check.user(user)
        w = event_weight(kind, weight)
        t = time.time() if timestamp is None else check.finite_scalar(timestamp, "timestamp")
        with self._lock:
            self._row(item)
            self.view.observe(user, item, kind, w, t, count, self._catalog())
        if log.isEnabledFor(logging.DEBUG):
            log.debug("observe user=%r item=%r kind=%s weight=%g time=%.3f counted=%s", user, item, kind, w, t, count)

    def observe_text(
        self,
        user: Hashable,
        text: str,
        kind: str = "query",
        *,
        timestamp: float | None = None,
        weight: float | None = None,
    ) -> None:
        """Record text the user wrote (a search query, a review, a post): it is encoded and moves
        the user's interest towards what it is about, as an item event would; the very next
        rerank reflects it. kind : one of pyrerank.events.TEXT_WEIGHTS ("query", "review",
        "post"); weight : overrides the kind's (negative: away from it)."""
        user = check.user(user)
        w = event_weight(kind, weight, TEXT_WEIGHTS)
        t = time.time() if timestamp is None else check.finite_scalar(timestamp, "timestamp")
        vector = self._text_vector(text, "text")
        with self._lock:
            self.view.observe(user, None, kind, w, t, False, self._catalog(), vector=vector)
        log.debug("observe_text user=%r kind=%s weight=%g time=%.3f (%d characters)", user, kind, w, t, len(text))

    def _replayed_state(self, log: EventLog) -> State:
        """A cold user's interest state, rebuilt from their events with this catalog's vectors."""
        rows, weights, timestamps = (np.array(part) for part in (log.rows, log.weights, log.timestamps))
        return self.interest.replay(self._catalog().vectors(rows), weights, timestamps)

    def _text_vector(self, text: Any, name: str) -> np.ndarray:
        """(text_dim,) float32 unit vector of one text, or an error naming `name`."""
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        catalog = self._catalog()
        vector = self.encoder.encode([text])[0]
        if len(vector) != catalog.text_dim:
            raise ValueError(
                f"the encoder gives {len(vector)}-d vectors, the catalog's text vectors are {catalog.text_dim}"
            )
        if not vector.any():
            raise ValueError(f"{name} = {text[:40]!r} encodes to an all-zero vector with encoder {self.encoder.name!r}")
        return vector

    def forget(self, user: Hashable) -> bool:
        """Erase the user: their state, their events in the store, and what they added to item
        popularity, trending and co-engagement (here, in every process sharing the store and in
        what fit() counted), so the statistics equal those of a log without their events among
        the latest ``forget_horizon`` counted ones; durable
        stores keep no byte of the id (see pyrerank.stores). True if there was anything. What
        fit() learned from the user (collaborative vectors, ranker weights) stays until the
        next fit; so do the anonymous counts of their events older than ``forget_horizon``
        counted events (all of them with ``exact_forget=False``)."""
        user = check.user(user)
        with self._lock:
            found = self.view.forget(user, self.catalog)
        log.debug("forget user=%r: %s", user, "erased" if found else "nothing known")
        return found

    # -- ranking -------------------------------------------------------------------------
    def _user_side(self, user: Hashable, catalog: Catalog, now: float, exclude_seen: bool, since: int) -> UserSide:
        """What a request for `user` holds of them at time `now`, after applying every event
        logged before the request began (`since`, its StoreView.read_mark(); the caller holds
        the catalog lock)."""
        with self.view.lock:
            history = self.view.sync(catalog, user, since)
            record = self.view.record(user, catalog, history)
            if record is None:
                return UserSide(None, None, None, NO_CO_SCORES, None)
            if not record.query_valid:
                record.query = self.interest.query(record.state, now)
                record.recent_vector = record.short_term(catalog)
                record.query_valid = True
            key = (record.positives, self.stats.co.version_sum(co_recent(record.recent)))
            if record.co_scores_key != key:
                with self.stats.lock:
                    record.co_scores = co_engagement_scores(self.stats, record.recent)
                record.co_scores_key = key
            return UserSide(
                record.seen_rows() if exclude_seen else None,
                record.query,
                record.recent_vector,
                record.co_scores,
                # only rankers that read texts read it: no copy per request for the others
                np.array(record.recent, np.int64) if self.ranker.needs_texts else None,
            )

    @staticmethod
    def _candidate_keys(catalog: Catalog, candidates: Any) -> CandidateKeys:
        """catalog.candidate_keys, naming an element that cannot be an id."""
        try:
            return catalog.candidate_keys(candidates)
        except TypeError:  # an unhashable element: no id is one
            bad = next((c for c in candidates if not isinstance(c, Hashable)), None)
            if bad is None:
                raise
            raise TypeError(f"candidates must hold item ids (int or str), got {type(bad).__name__}") from None

    def _request(
        self, side: UserSide, candidates: Any, upstream: np.ndarray | None, now: float, searched: np.ndarray | None
    ) -> tuple[RankRequest, int, int]:
        """The ranker's input for the user of `side` over `candidates` (the seen rows in `side`
        left out), consistent with one state of the catalog (the caller holds the catalog lock),
        and how many candidate ids were unknown and how many repeated (both left out);
        `searched`: a typed query's vector as catalog.text_query gives it, or None."""
        catalog = self._catalog()
        keys = self._candidate_keys(catalog, candidates)
        rows, upstream, unknown, repeated = catalog.candidate_rows(keys, side.seen, upstream)
        features = CandidateFeatures(self.stats, rows, upstream, side.co_scores, now)
        texts = catalog.text_of if self.ranker.needs_texts else None
        request = RankRequest(
            catalog.matrix, rows, side.query, upstream, features, side.recent, searched, side.history, texts
        )
        return request, unknown, repeated

    def _warn_dropped(self, candidates: Any, unknown: int, repeated: int) -> None:
        """The PyrerankWarnings for candidate ids left out, naming a few unknown ones."""
        if unknown:
            rows, _ = self._catalog().rows_for(candidates)
            examples = [candidates[i] for i in np.flatnonzero(rows == -1)[:5]]
            warnings.warn(
                f"{unknown} candidate ids are not in the catalog and were left out, e.g. {examples}",
                PyrerankWarning,
                stacklevel=3,
            )
        if repeated:
            warnings.warn(
                f"{repeated} duplicate candidate ids were dropped (first kept)", PyrerankWarning, stacklevel=3
            )

    def rerank(
        self,
        user: Hashable,
        candidates: Sequence[ItemId] | np.ndarray,
        k: int = 10,
        *,
        scores: Sequence[float] | np.ndarray | None = None,
        now: float | None = None,
        exclude_seen: bool | None = None,
        query: str | None = None,
    ) -> list[Ranked]:
        """The best `k` of `candidates` for `user`, best first.

        candidates : item ids (a numpy int array is fastest); unknown ids are left out and
                     duplicates dropped, each with a PyrerankWarning
        scores : the recall stage's score per candidate, blended by rankers that use it
        now : the time ranking happens at (seconds), default the clock
        exclude_seen : leave out items the user has seen (None: the Reranker's default)
        query : text typed with this request (a search box): its similarity to each candidate
            is blended with the user's interest (the fusion column "search_similarity", which
            fit() weighs where logs hold queries); it does not change the user (observe_text
            does)
        """
        user, k = check.user(user), check.k(k)
        now = time.time() if now is None else check.finite_scalar(now, "now")
        exclude = self.exclude_seen if exclude_seen is None else check.boolean(exclude_seen, "exclude_seen")
        candidates = check.candidates(candidates)
        if len(candidates) == 0:
            return []
        upstream = None if scores is None else check.float_array(scores, "scores", (len(candidates),))
        search = None if query is None else self._text_vector(query, "query")  # encoded outside the lock
        since = self.view.read_mark()  # before waiting on the lock: a read begun while we wait serves us
        with self._lock:  # a request sees the catalog before or after a change, never half of it
            catalog = self._catalog()
            ids = catalog.ids  # this catalog's: remove_items replaces the catalog, never its rows
            ranker = self.ranker  # this catalog's: fit swaps in a ranker trained on new item vectors
            rewrites = catalog.rewrites
            side = self._user_side(user, catalog, now, exclude, since)
            searched = None if search is None else catalog.text_query(search)
            scoring = ranker.fused_scoring(side.query, side.recent, searched, catalog.dim)
            if scoring is None:  # the ranker's own rank() on a RankRequest
                request, unknown, repeated = self._request(side, candidates, upstream, now, searched)
            else:  # resolved, filtered and scored in one C++ call
                keyed, matrix, row_scale = self._candidate_keys(catalog, candidates), catalog.matrix, catalog.row_scale
                features = None
                if scoring.feature_weights is not None:  # this catalog's statistics table, as for the rows
                    features = gather_arguments(self.stats, upstream, side.co_scores, now)
        if scoring is not None:  # outside the lock and the GIL
            fused = (matrix, row_scale, *keyed, side.seen, features, k, *scoring)
            out_rows, out_scores, ranked, unknown, repeated = self._unrewritten(
                catalog, rewrites, _core.fused_topk_keys, fused
            )
        else:
            ranked = len(request.rows)
            out_rows, out_scores = (
                self._unrewritten(catalog, rewrites, ranker.rank, (request, k))
                if ranked
                else (request.rows, np.zeros(0, np.float32))
            )
        if unknown or repeated:
            self._warn_dropped(candidates, unknown, repeated)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rerank user=%r: %d of %d candidates ranked, k=%d", user, ranked, len(candidates), k)
        return _core.named_pairs(Ranked, ids, out_rows, out_scores)  # Ranked(...) without a Python call each

    def _unrewritten(self, catalog: Catalog, rewrites: int, score: Callable[..., T], arguments: tuple) -> T:
        """score(*arguments), which reads `catalog`'s rows outside the lock; again, holding the
        lock (so no add_items is writing), if add_items began rewriting rows in place since
        `rewrites` was read under the lock: the rows read may have been part old, part new."""
        result = score(*arguments)
        if catalog.rewrites != rewrites:
            with self._lock:
                result = score(*arguments)
        return result

    def explain(
        self,
        user: Hashable,
        item: ItemId,
        *,
        scores: float | None = None,
        now: float | None = None,
        query: str | None = None,
    ) -> Explanation:
        """Why `item` scores what it does for `user`: a dict of each part's contribution
        ("score" is their sum), with ``.reasons``, sentences naming the user's liked items it
        resembles, what others engaged with alongside it, trends, the query (see the
        ``explainer`` option), and the ``.evidence`` behind them."""
        user = check.user(user)
        now = time.time() if now is None else check.finite_scalar(now, "now")
        upstream = None if scores is None else np.array([check.finite_scalar(scores, "scores")], np.float32)
        search = None if query is None else self._text_vector(query, "query")
        since = self.view.read_mark()
        with self._lock:
            row = self._row(item)
            catalog = self._catalog()
            side = self._user_side(user, catalog, now, False, since)
            searched = None if search is None else catalog.text_query(search)
            request, _, _ = self._request(side, [item], upstream, now, searched)
            parts = self.ranker.explain(request)[0]
            with self.view.lock:
                found = evidence(catalog, self.stats, self.view.record(user, catalog), row, parts, query)
        return Explanation(parts, self.explainer.reasons(found), found)

    # -- learning ------------------------------------------------------------------------
    def fit(
        self,
        events: Iterable[Event],
        *,
        collaborative_dim: int = 64,
        negatives: int = 4,
        max_examples: int = 50_000,
        seed: int = 0,
        progress: bool | None = None,
    ) -> Reranker:
        """Learn from a historical log (and return self): adds its counts to the global statistics, gives every item
        a collaborative vector of `collaborative_dim` (0: none) from who engaged with what,
        appended to its text vector (items nobody engaged with get one their text predicts; see
        pyrerank.learning.collab), and trains the ranker on (positive, `negatives` sampled
        items) groups featurised at each positive's moment (see pyrerank.learning.replay).
        The ranker is trained on a copy, which replaces ``self.ranker`` at the end. The same
        log and `seed` give the same model. `progress`: bars on stderr (None: only on
        a terminal). All or nothing: everything is computed aside and swapped in
        at the end, so a fit that raises leaves the Reranker as it was. Call it before serving:
        observe and rerank wait while it runs, and user records held in memory restart when the
        item vectors change (durable stores rebuild them from their log). With a durable store
        the counts reach processes that open it afterwards (through the statistics snapshot
        written here)."""
        check.integer(collaborative_dim, "collaborative_dim", 0)
        events = list(events)
        with self._lock:  # all or nothing: computed aside, swapped in at the end
            catalog = self._catalog()
            self.view.sync(catalog)  # statistics from the store first: fit adds to them
            result = replay_for_fit(
                events,
                catalog=catalog,
                stats=self.stats,
                interest=self.interest,
                ranker=self.ranker,
                collaborative_dim=collaborative_dim,
                negatives=negatives,
                max_examples=max_examples,
                seed=seed,
                progress=progress,
            )
            ranker = self.ranker
            if result.examples is not None:  # trained aside: reranks in flight keep the ranker of their catalog
                ranker = copy.deepcopy(self.ranker)
                ranker.fit(result.examples)
            with self.view.lock:
                self.ranker = ranker
                self.stats.replace_with(result.stats)
                if result.catalog is not None:
                    catalog.install(result.catalog)
                    if len(self.users):  # their states have the old width
                        warnings.warn(
                            f"fit changed the item vectors: {len(self.users)} user records held in memory were dropped",
                            PyrerankWarning,
                            stacklevel=2,
                        )
                        self.users.clear()
            if self.store.durable:  # the counts join the store's statistics for processes that open it later
                self.view.snapshot(catalog)
        return self

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Snapshot the statistics into a durable store (so the next process starts from there
        rather than replaying the log) and release its connections."""
        if self.store.durable and self.catalog is not None:
            self.view.snapshot(self.catalog)
        self.store.close()

    def __enter__(self) -> Reranker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the catalog, item statistics, what the ranker learned, the encoder's name and
        the user records held in memory to folder `path`: a bundle of numpy arrays and JSON that
        :meth:`load` opens in milliseconds, plus ~20 µs a held user (see pyrerank.saving and
        pyrerank.persist)."""
        config = {
            "encoder": self._encoder_name(),
            "encoder_options": self._encoder_options or None,  # JSON: a path, a batch size, ...
            "interest": self.interest.name,
            "ranker": self.ranker.name,
            "exact_forget": self.stats.exact_forget,
            "forget_horizon": self.stats.forget_horizon,
            "max_neighbors": self.stats.co.max_neighbors,
        }
        with self._lock, self.view.lock:  # one consistent state, copied; written outside the locks
            parts = saving.parts_of(
                {**config, "dtype": self.dtype}, self._catalog(), self.stats, self.ranker, self.users
            )
        persist.save(path, parts)

    @classmethod
    def load(cls, path: str | os.PathLike, *, trust_paths: bool = False, **options: Any) -> Reranker:
        """A Reranker saved by :meth:`save`. `options` are the constructor's (store=, max_users=,
        device=, ranker_options=, ...; encoder=, interest=, ranker= replace the saved names, e.g.
        with instances of third-party classes); an unknown one raises TypeError naming it.

        The item vectors are memory-mapped, not copied (processes opening one bundle share its
        pages), and checked; no model loads until a text needs encoding. A save is data, not
        code: a model path it names (``encoder="transformers:DIR"``) is followed only inside the
        save's folder, unless `trust_paths` (a save you made yourself) or an `encoder=` of yours
        replaces it. With a durable `store`, user records come from the store, not the save, and
        so do the item statistics once the store holds a snapshot of its own."""
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise TypeError(f"Reranker.load() got unknown options {unknown}; it takes {sorted(_OPTIONS)}")
        parts = persist.load(path)
        settings = saving.settings(parts, path)
        if options.get("dtype", settings["dtype"]) != settings["dtype"]:
            raise ValueError(f"dtype {options['dtype']!r} differs from the saved catalog's {settings['dtype']!r}")
        if "encoder" in options:
            settings.pop("encoder_options")  # the saved encoder's options are not yours
        elif not trust_paths:
            settings["encoder"] = persist.encoder_inside(settings["encoder"], Path(path))
        rr = cls(**{**settings, **options})
        try:
            rr.catalog = saving.restore(
                parts,
                dtype=rr.dtype,
                stats=rr.stats,
                ranker=rr.ranker if rr.ranker.name == settings["ranker"] else None,
                users=None if rr.store.durable else rr.users,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PyrerankError(f"saved model at {str(path)!r} is corrupt: {exc!r}") from exc
        return rr

    def _encoder_name(self) -> str | None:
        spec = self._encoder_spec
        return spec if spec is None or isinstance(spec, str) else spec.name

    def __repr__(self) -> str:
        n = 0 if self.catalog is None else len(self.catalog)
        return (
            f"Reranker(encoder={self._encoder_name()!r}, interest={self.interest.name!r}, ranker={self.ranker.name!r}, "
            f"store={self.store!r}, items={n}, users in memory={len(self.users)})"
        )


# Every constructor option, which Reranker.load takes too.
_OPTIONS = frozenset(inspect.signature(Reranker.__init__).parameters) - {"self"}
