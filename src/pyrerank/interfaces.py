"""The plugin contract, whole: the Encoder, InterestModel, Ranker and ProfileStore interfaces and
every type that flows through them. A plugin author reads this module and nothing else.

- An :class:`Encoder` turns texts into unit vectors.
- An :class:`InterestModel` folds a user's events into a :data:`State` and turns it into a
  :class:`UserQuery`.
- A :class:`Ranker` scores a :class:`RankRequest` (a user's candidate block) and, if it learns,
  is trained by ``Reranker.fit`` on :class:`TrainingExamples` over the named :data:`COLUMNS`.
- A :class:`ProfileStore` keeps the ordered log of :class:`LoggedEvent` behind every user's
  state and the shared item statistics.
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import hashlib
import hmac
import json
import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np

from . import _core
from .errors import PyrerankWarning, StoreError
from .events import MAX_WEIGHT, ItemId

# A user's interest state, a ranker's learned state: numpy arrays and JSON scalars only, so that
# every store and every save can keep it without pickle.
State = dict[str, Any]


def split_state(state: State) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """`state` as (its numpy arrays, its JSON scalars)."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    return arrays, {k: v for k, v in state.items() if k not in arrays}


# The per-candidate feature columns the kernel computes from the shared item statistics, in its
# order (definitions in csrc/candidates.hpp), and every column a ranker can read or learn from.
FEATURE_NAMES: tuple[str, ...] = tuple(_core.FEATURE_NAMES)
COLUMNS: tuple[str, ...] = ("similarity", "recent_similarity", "search_similarity", *FEATURE_NAMES)


class Encoder(abc.ABC):
    """Turns texts into vectors. Subclasses set `name` and `dim` and implement :meth:`encode`.

    A registered encoder class receives the Reranker's ``encoder_options`` as keyword
    arguments, and ``device`` where its ``__init__`` takes one.
    """

    name: str
    dim: int

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised (a text with no content may be all 0)."""

    def encode_one(self, text: str) -> np.ndarray:
        """(dim,) float32 vector of one text."""
        return self.encode([text])[0]

    @staticmethod
    def check_texts(texts: Sequence[str]) -> list[str]:
        """`texts` as a list, or TypeError: implementations call this first in encode()."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string: wrap it in a list")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be str, got {type(t).__name__}")
        return texts


@dataclasses.dataclass(frozen=True, slots=True)
class UserQuery:
    """What a ranker scores candidates against: an item scores by its best-matching interest,
    ``max_j weights[j] * <interests[j], item>``.

    interests : (m, dim) float32, C-contiguous
    weights : (m,) float32, or None for all ones
    """

    interests: np.ndarray
    weights: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        """(dim,) float32: the interests averaged by weight, one vector for the whole user."""
        if len(self.interests) == 1:
            return self.interests[0]
        w = np.ones(len(self.interests), np.float32) if self.weights is None else self.weights
        return (w @ self.interests / max(float(np.abs(w).sum()), 1e-30)).astype(np.float32)


class InterestModel(abc.ABC):
    """Maintains a user's interest from feedback events. Holds configuration only: the per-user
    state is a :data:`State` dict that the caller stores, so one model serves every user."""

    name: ClassVar[str]

    @abc.abstractmethod
    def update(self, state: State, vector: np.ndarray, weight: float, timestamp: float) -> None:
        """Fold one event into `state` in place. `vector` (dim,) float32 is the item's;
        `weight` > 0 pulls towards it, < 0 pushes away; `timestamp` in seconds."""

    @abc.abstractmethod
    def query(self, state: State, now: float) -> UserQuery | None:
        """The user's query at time `now`, or None while the state holds no signal."""

    def new_state(self) -> State:
        """The state of a user with no events."""
        return {}

    def replay(self, vectors: np.ndarray, weights: np.ndarray, timestamps: np.ndarray) -> State:
        """The state after these events, oldest first, from :meth:`new_state`: (n, dim) float32
        item vectors, (n,) float64 weights and timestamps. The same as :meth:`update` for each
        in turn, within float32 rounding. Override it with a closed form where one exists: a
        model that does is rebuilt from a cold user's few events (a few hundred bytes held per
        user) instead of holding their state (see pyrerank.serving.users)."""
        state = self.new_state()
        for vector, weight, timestamp in zip(vectors, weights.tolist(), timestamps.tolist()):
            self.update(state, vector, weight, timestamp)
        return state


def replays_in_closed_form(model: InterestModel) -> bool:
    """Whether `model` overrides :meth:`InterestModel.replay` (a rebuild cheaper than updates)."""
    return type(model).replay is not InterestModel.replay


class FeatureSource(Protocol):
    """Per-candidate feature columns for one request, computed on first use (one C++ pass).

    names : the columns it offers, :data:`FEATURE_NAMES`
    """

    names: tuple[str, ...]

    def matrix(self, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
        """(n, len(names)) float32, C-contiguous, aligned with the request's candidates."""
        ...


@dataclasses.dataclass(slots=True)
class RankRequest:
    """One user's candidate block, as handed to a Ranker.

    matrix : (n_rows, dim) int8, float16 or float32, the catalog as stored: hand it to
             pyrerank.ops (which read an int8 row as a direction, row / ||row||), or use
             :meth:`vectors` for the candidates' float vectors
    rows : (n,) int64, candidate row numbers, distinct
    query : the user's query, or None for a user with no signal yet
    upstream : (n,) float32 scores from the recall stage, or None
    features : the candidates' feature columns (popularity, co-engagement, recency, ...)
    recent : (dim,) float32, the unit mean of the user's last few liked items (short-term
             taste, beside the interest model's long-term one), or None
    search : (dim,) float32 unit vector of the text typed with this request
             (``rerank(query=...)``), or None
    history : (h,) int64 rows of the user's latest liked items, oldest first, and
    texts : rows -> their items' texts (None for an item added without one); both set where the
            ranker says it reads texts (:attr:`Ranker.needs_texts`), else None
    """

    matrix: np.ndarray
    rows: np.ndarray
    query: UserQuery | None
    upstream: np.ndarray | None
    features: FeatureSource
    recent: np.ndarray | None = None
    search: np.ndarray | None = None
    history: np.ndarray | None = None
    texts: Callable[[Sequence[int]], list[str | None]] | None = None

    def subset(self, index: np.ndarray) -> RankRequest:
        """The same request for the candidates at positions `index` ((m,) int64) only."""
        upstream = None if self.upstream is None else self.upstream[index]
        return dataclasses.replace(
            self, rows=self.rows[index], upstream=upstream, features=_SubsetFeatures(self.features, index)
        )

    def vectors(self) -> np.ndarray:
        """(n, dim) float32 unit vectors of the candidates, whatever the matrix's dtype."""
        block = self.matrix[self.rows].astype(np.float32)
        if self.matrix.dtype == np.int8:
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-30)
        return block

    def similarity(self) -> np.ndarray:
        """(n,) float32: max_j w_j <interest_j, item> per candidate; zeros without a query."""
        q = self.query
        if q is None:
            return np.zeros(len(self.rows), np.float32)
        sims = _core.score(self.matrix, q.interests, self.rows)
        if q.weights is not None:
            sims = sims * q.weights[:, None]
        return sims.max(axis=0)

    def recent_similarity(self) -> np.ndarray:
        """(n,) float32: <recent, item> per candidate; zeros without a short-term vector."""
        if self.recent is None:
            return np.zeros(len(self.rows), np.float32)
        return _core.score(self.matrix, self.recent, self.rows)

    def search_similarity(self) -> np.ndarray:
        """(n,) float32: <search, item> per candidate; zeros without a typed query."""
        if self.search is None:
            return np.zeros(len(self.rows), np.float32)
        return _core.score(self.matrix, self.search, self.rows)

    def columns(self, names: tuple[str, ...] = COLUMNS) -> np.ndarray:
        """(n, len(names)) float32: the named columns of :data:`COLUMNS` for every candidate."""
        unknown = [name for name in names if name not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown columns {unknown}; known: {', '.join(COLUMNS)}")
        features = self.features.matrix()
        picked = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}
        if "similarity" in names:
            picked["similarity"] = self.similarity()
        if "recent_similarity" in names:
            picked["recent_similarity"] = self.recent_similarity()
        if "search_similarity" in names:
            picked["search_similarity"] = self.search_similarity()
        return np.column_stack([picked[name] for name in names]).astype(np.float32).reshape(len(self.rows), -1)


class _SubsetFeatures:
    """A FeatureSource's rows at positions `index` only."""

    names = FEATURE_NAMES

    def __init__(self, whole: FeatureSource, index: np.ndarray) -> None:
        self.whole, self.index = whole, index

    def matrix(self, names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
        return np.ascontiguousarray(self.whole.matrix(names)[self.index])


@dataclasses.dataclass(frozen=True)
class TrainingExamples:
    """Logged choices for learning: each logged positive beside negatives drawn at the same
    moment, every candidate described by the same named columns (see :data:`COLUMNS`).

    For rankers that read vectors too (Reranker.fit always fills these):

    users : (p, dim) float32, the user's :meth:`UserQuery.mean` at each positive's moment
        (zeros for a user with no signal), or None
    rows : (p, 1 + m) int64 catalog rows of each group's positive, then its negatives, or None
    item_vectors : (r, dim) float32 unit item vectors that `rows` index, or None (fit's: every
        catalog item, then every item again as a new one, its vector predicted from its text:
        the groups whose rows point there have no counts, as a new item has none)

    Examples come in the log's time order: :meth:`split` holds out the latest.
    """

    columns: tuple[str, ...]
    positives: np.ndarray
    negatives: np.ndarray
    users: np.ndarray | None = None
    rows: np.ndarray | None = None
    item_vectors: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.positives)

    def select(self, names: Sequence[str]) -> TrainingExamples:
        """The same examples over `names` only (each must be one of `columns`)."""
        missing = [name for name in names if name not in self.columns]
        if missing:
            raise ValueError(f"these examples have no columns {missing}; they have {list(self.columns)}")
        index = [self.columns.index(name) for name in names]
        return dataclasses.replace(
            self, columns=tuple(names), positives=self.positives[:, index], negatives=self.negatives[:, :, index]
        )

    def split(self, held_out: float) -> tuple[TrainingExamples, TrainingExamples]:
        """(the earlier examples, the latest `held_out` share of them) for validation."""
        cut = len(self) - int(round(held_out * len(self)))

        def part(index: slice) -> TrainingExamples:
            return dataclasses.replace(
                self,
                positives=self.positives[index],
                negatives=self.negatives[index],
                users=None if self.users is None else self.users[index],
                rows=None if self.rows is None else self.rows[index],
            )

        return part(slice(0, cut)), part(slice(cut, None))


class FusedScoring(NamedTuple):
    """A ranker's score as one pass of the C++ kernel over each candidate's row:
    ``sim_weight * max_j interest_weights[j] * <interests[j], row>
    + sum_e extra_weights[e] * <extra[e], row> + features . feature_weights``.

    interests : (m, dim) float32; interest_weights : (m,) float32, or None for all ones
    extra : (e, dim) float32 and extra_weights : (e,) float32, or both None
    feature_weights : (len(FEATURE_NAMES),) float32 over the request's feature columns, or None
        for a score without them
    (A NamedTuple: one is built on every rerank, ~2.7x quicker than a frozen dataclass.)
    """

    interests: np.ndarray
    interest_weights: np.ndarray | None = None
    sim_weight: float = 1.0
    extra: np.ndarray | None = None
    extra_weights: np.ndarray | None = None
    feature_weights: np.ndarray | None = None

    def topk(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best min(k, n) of the request's candidates by this score, as Ranker.rank returns
        them (equal scores keep the candidates' order)."""
        features = None
        if self.feature_weights is not None:
            source = request.features  # the serving path's gathers its columns in the kernel call
            gather = getattr(source, "kernel_input", None)
            features = gather() if gather is not None else source.matrix()
        return _core.fused_topk(
            request.matrix,
            self.interests,
            features,
            self.feature_weights,
            k,
            sim_weight=self.sim_weight,
            interest_weights=self.interest_weights,
            extra=self.extra,
            extra_weights=self.extra_weights,
            rows=request.rows,
            ties="position",
        )


class Ranker(abc.ABC):
    """Scores a candidate block for a user. Implement :meth:`score`; override :meth:`rank`
    where a faster path exists (:meth:`fused_scoring` where the score is one kernel pass),
    :meth:`fit` to learn from logged feedback, and
    :meth:`get_state` / :meth:`set_state` so that a save keeps what was learned.

    diversifies : True for a ranker whose order deliberately departs from its scores (such as
        MMR); a ranker that does not must rank exactly by :meth:`score`.
    needs_texts : True for a ranker that reads the items' texts (``RankRequest.texts``): the
        Reranker then keeps the texts given to ``add_items``
    """

    name: ClassVar[str]
    diversifies: ClassVar[bool] = False
    needs_texts: bool = False

    @abc.abstractmethod
    def score(self, request: RankRequest) -> np.ndarray:
        """(n,) float32 score of every candidate, higher is better."""

    def rank(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best min(k, n) candidates: (k',) int64 catalog rows and (k',) float32 scores,
        best first, ties kept in the candidates' (the recall stage's) order."""
        scores = np.asarray(self.score(request), dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return request.rows[order], scores[order]

    def fused_scoring(
        self, query: UserQuery | None, recent: np.ndarray | None, search: np.ndarray | None, dim: int
    ) -> FusedScoring | None:
        """This ranker's score for a user as one kernel pass, given what a RankRequest would hold
        (`query`, `recent`, `search`; `dim` the catalog's width), or None where it is not one
        (the default). Where it returns one, it must rank by :meth:`score` as :meth:`rank` does
        (the conformance suite checks), because the Reranker then skips :meth:`rank` and filters
        and scores the candidates in one C++ call (int ids resolved there too): a subclass that
        changes :meth:`score` or :meth:`rank` overrides this too."""
        return None

    def explain(self, request: RankRequest) -> list[dict[str, float]]:
        """Per candidate, each part's contribution to its score (parts sum to "score")."""
        return [{"score": float(s)} for s in self.score(request)]

    def fit(self, examples: TrainingExamples) -> None:  # noqa: B027 (optional: most rankers learn nothing)
        """Learn parameters from logged feedback (``Reranker.fit`` calls it only on rankers
        that override it)."""

    def get_state(self) -> State:
        """What the ranker learned, as numpy arrays and JSON scalars (saved with the model)."""
        return {}

    def set_state(self, state: State) -> None:  # noqa: B027 (optional, with get_state)
        """Restore what :meth:`get_state` returned. From an opened save, arrays of 1 MiB or more
        are read-only memory maps: copy one before changing it in place."""


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What an explanation of one item's place for one user can name.

    item, item_name : the item and its display name (its metadata's "title" or "name", the
        metadata itself if a str, else the id)
    parts : the ranker's contributions to the score ("score" is their sum)
    liked : up to 3 (name, similarity) of the user's recent liked items most like this one,
        most similar first
    co_engaged : up to 3 (name, count) of the user's recent items that other users engaged
        with together with this one, most often first
    query : the text typed with the request, or None
    """

    item: ItemId
    item_name: str
    parts: dict[str, float]
    liked: tuple[tuple[str, float], ...] = ()
    co_engaged: tuple[tuple[str, float], ...] = ()
    query: str | None = None


class Explainer(abc.ABC):
    """Turns the evidence behind one ranked item into reasons a person can read. Registered
    through the ``register_explainers`` hook and chosen with ``Reranker(explainer=name)``; one
    may run a local language model over the evidence (the built-in "template" needs none)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def reasons(self, evidence: Evidence) -> list[str]:
        """Readable reasons, the strongest first (may be empty)."""


class LoggedEvent(NamedTuple):
    """One entry of a store's log: a feedback event, or (item None) the user being forgotten.

    links : the user's previous positive items that this event is co-engaged with; logged so
        that applying the event to the statistics needs no other user state.
    counted : whether the event adds to the shared statistics (observe(count=...)).
    kind : the event's kind ("click", "like", ...; None in logs written before 0.3), which
        decides whether the item counts as seen (Reranker's seen_kinds).
    vector : for text the user wrote (item None, see Reranker.observe_text): its (text_dim,)
        float32 unit vector, so that rebuilding the user needs no encoder.
    """

    user: Hashable
    item: ItemId | None
    weight: float = 0.0
    timestamp: float = 0.0
    counted: bool = True
    links: tuple[ItemId, ...] = ()
    kind: str | None = None
    vector: np.ndarray | None = None

    @property
    def forgets(self) -> bool:
        """True for the marker that the user (named by the store's pseudonym) was forgotten."""
        return self.item is None and self.vector is None

    def to_json(self) -> str:
        row = [self.user, self.item, self.weight, self.timestamp, self.counted, list(self.links), self.kind]
        if self.vector is not None:
            row.append(base64.b64encode(np.asarray(self.vector, "<f4").tobytes()).decode("ascii"))
        return json.dumps(row, default=_plain)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoggedEvent:
        """The event `text` holds; ValueError if it is not one that observe or forget could have
        logged (wrong shape or types, a non-finite or out-of-range weight or time)."""
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"not JSON ({type(exc).__name__})") from None
        if not isinstance(row, list) or len(row) not in (6, 7, 8):
            raise ValueError("not a list of 6 to 8 fields")
        user, item, weight, timestamp, counted, links, kind, encoded = row + [None] * (8 - len(row))
        if not _is_user(user) or not (item is None or _is_item(item)):
            raise ValueError("user or item of the wrong type")
        numbers = (weight, timestamp)
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in numbers):
            raise ValueError("weight or timestamp not a finite number")
        if abs(weight) > MAX_WEIGHT or not isinstance(counted, bool):
            raise ValueError("weight out of range or counted not a bool")
        if not isinstance(links, list) or not all(_is_item(link) for link in links):
            raise ValueError("links not a list of item ids")
        if not (kind is None or isinstance(kind, str)):
            raise ValueError("kind not a str")
        vector = None if encoded is None else _text_vector(encoded)
        if vector is not None and item is not None:
            raise ValueError("an event on an item with a text vector")
        return cls(user_key(user), item, float(weight), float(timestamp), counted, tuple(links), kind, vector)

    @classmethod
    def parse_rows(
        cls,
        rows: Iterable[tuple[Any, str | bytes]],
        where: str,
        parse: Callable[[str | bytes], LoggedEvent] | None = None,
    ) -> list[LoggedEvent]:
        """The events of a store's (position, text) rows, oldest first, read by `parse` (default
        from_json; ValueError for a malformed row). A malformed row is left out, with one
        PyrerankWarning naming `where` and the positions (never the content), so that every
        process applies the same valid rows around it."""
        parse = parse or cls.from_json
        events, bad = [], []
        for position, text in rows:
            try:
                events.append(parse(text))
            except ValueError:
                bad.append(position)
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            warnings.warn(
                f"{where}: {len(bad)} malformed log rows were skipped (positions {shown})",
                PyrerankWarning,
                stacklevel=3,
            )
        return events


MAX_TEXT_DIM = 65_536  # the widest text vector a logged event may carry
UserHistory = tuple[bytes | None, list[LoggedEvent]]  # a user's kept record (or None) and their events after it


def _text_vector(encoded: Any) -> np.ndarray:
    """The (d,) float32 vector a text event's base64 field holds; ValueError unless finite and
    1 to 65,536 wide."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (TypeError, ValueError):
        raise ValueError("vector not base64") from None
    if not 0 < len(raw) <= 4 * MAX_TEXT_DIM or len(raw) % 4:
        raise ValueError("vector of the wrong length")
    vector = np.frombuffer(raw, "<f4").astype(np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("vector not finite")
    return vector


def _is_item(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _is_user(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_user(v) for v in value)
    return _is_item(value)


def user_key(value: Any) -> Hashable:
    """A user id as it comes back from JSON: lists (tuples before) made hashable again."""
    return tuple(user_key(v) for v in value) if isinstance(value, list) else value


def keyed_pseudonym(secret: bytes, user: Hashable) -> str:
    """A name for `user` that does not show the id: "forgotten:" and an HMAC-SHA256 of the id
    keyed with `secret` (whoever holds the secret can test a guessed id against it)."""
    digest = hmac.new(secret, user_text(user).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"forgotten:{digest[:32]}"


def user_text(user: Hashable) -> str:
    """A user id as JSON text: the key a store indexes users by."""
    try:
        return json.dumps(user, default=_plain)
    except TypeError:
        raise TypeError(f"user ids must be str, int or tuples of them, got {type(user).__name__} {user!r}") from None


def _plain(value: Any) -> int:
    """numpy integers (ids taken from arrays) as the ints they equal."""
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# The layout of what a durable store holds (logged events, user lists and records, statistics
# snapshots): 1 before 0.5; 2 since (user lists in binary, compact per-event contributions); 3
# since snapshots may hold settled events (the forget horizon: settled counts, an undo log, links
# read off settled tails), which a format-2 process would recount without. A store marks itself
# with the newest format of the processes that opened it, and a process refuses a store marked
# newer than it reads (check_store_format), rather than skip what it cannot read.
STORE_FORMAT = 3


def check_store_format(where: str, found: int) -> None:
    """StoreError if the store at `where` is marked with a format newer than STORE_FORMAT."""
    if found > STORE_FORMAT:
        raise StoreError(
            f"{where} holds data written by a newer pyrerank (store format {found}; this one reads formats up to "
            f"{STORE_FORMAT}): upgrade this process; every process sharing a store must be upgraded together"
        )


class ProfileStore(abc.ABC):
    """Where user profiles come from: an ordered event log shared by every process that opens
    it, read through a cursor that belongs to this instance (one instance per Reranker), plus
    a snapshot of the item statistics derived from it.

    Every process keeps its own view (cached user records, item statistics) and brings it up
    to date by applying the log's new events in log order before each observe and rerank, so
    all processes rank with the same counts, and a user evicted from memory is rebuilt from
    the log. ``pyrerank.testing.StoreConformance`` checks an implementation against that.

    durable : True if an appended event survives the process (and is seen by other processes).
    keeps_user_records : True if save_user keeps what it is given (and user_history returns it).
    """

    name: ClassVar[str]
    durable: ClassVar[bool] = False
    keeps_user_records: ClassVar[bool] = False

    @abc.abstractmethod
    def append(self, event: LoggedEvent) -> list[LoggedEvent]:
        """Add `event` at the end of the log; returns only once the event is kept, with what
        read() would then return (the events after the cursor, through this one). May raise
        :class:`~pyrerank.errors.StaleCursor` after keeping it."""

    @abc.abstractmethod
    def read(self) -> list[LoggedEvent]:
        """The events after this instance's cursor, oldest first (other processes' included);
        moves the cursor past them."""

    @abc.abstractmethod
    def user_history(self, user: Hashable) -> UserHistory:
        """`user`'s last kept record (see save_user) or None, and their events after it up to the
        cursor, oldest first; (None, []) where the store keeps no history. Their ``links`` may
        be empty: only the statistics read them, from the log. Raises StaleCursor if the kept
        record is newer than the cursor."""

    def read_with_user(self, user: Hashable) -> tuple[list[LoggedEvent], UserHistory | None]:
        """read(), and where the store can take it in the same round trip, :meth:`user_history`
        of `user` as of the moved cursor (else None: the caller asks for it after applying the
        events). For a user this process must rebuild; the default reads the log only."""
        return self.read(), None

    def save_user(self, user: Hashable, data: bytes) -> None:  # noqa: B027 (optional, a no-op by default)
        """Keep `data`, the user's record as of the cursor, so that rebuilding the user starts
        from it; the store may then drop the user's events before it."""

    @abc.abstractmethod
    def forget(self, user: Hashable) -> None:
        """Delete every trace of `user` (events, kept record), then log the marker
        ``LoggedEvent(self.pseudonym(user), None)`` so that other processes forget the user too."""

    def pseudonym(self, user: Hashable) -> Hashable:
        """What the forget marker calls `user`. A durable store returns :func:`keyed_pseudonym`
        with a secret of its own, so that its log keeps no id of a forgotten user; the default
        is the id itself."""
        return user

    def save_snapshot(self, data: bytes) -> None:  # noqa: B027 (optional, a no-op by default)
        """Keep `data` (the statistics as of the cursor) so that a process opening the store
        later starts from it instead of replaying the whole log."""

    def load_snapshot(self) -> bytes | None:
        """The last snapshot, moving the cursor to where it was taken; None if there is none."""
        return None

    def claim_settings(self, settings: str | None) -> str | None:
        """Keep `settings` (JSON text: what every process applying this store's log must share to
        derive the same statistics from it) unless the store holds some already (None: keep
        nothing); return what it holds, or None. The default, for a store no other process opens,
        holds none and returns `settings`."""
        return settings

    def clear_settings(self) -> None:  # noqa: B027 (optional, a no-op by default)
        """Drop the kept settings, so that the next process to open the store keeps its own."""

    def close(self) -> None:  # noqa: B027 (optional, a no-op by default)
        """Release connections; the log itself stays."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
