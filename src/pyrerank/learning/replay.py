"""Reranker.fit: replay a historical log to build the item statistics and ranker training examples."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Hashable

import numpy as np

from .._progress import progress_bar
from ..errors import PyrerankWarning
from ..events import Event, event_weight
from ..interfaces import COLUMNS, InterestModel, Ranker, RankRequest, TrainingExamples
from ..serving.catalog import Catalog
from ..serving.features import NO_CO_SCORES, CandidateFeatures, co_engagement_scores
from ..serving.item_stats import ItemStats
from ..serving.users import UserRecord
from .collab import item_factors, text_projection

log = logging.getLogger(__name__)

# The share of fit's example groups whose items are presented as new ones (vectors predicted from
# their text, no counts), so that learned rankers also learn to place items nobody engaged with.
COLD_SHARE = 0.2


@dataclasses.dataclass
class FitResult:
    """What fit computed, aside from the serving state: the item statistics with the log's counts
    added, a catalog copy whose rows carry collaborative vectors (None: the rows stay as they
    are) and the ranker's training examples (None: the ranker learns nothing)."""

    stats: ItemStats
    catalog: Catalog | None
    examples: TrainingExamples | None


def replay_for_fit(
    events: list[Event],
    *,
    catalog: Catalog,
    stats: ItemStats,
    interest: InterestModel,
    ranker: Ranker,
    collaborative_dim: int,
    negatives: int,
    max_examples: int,
    seed: int,
    progress: bool | None = None,
) -> FitResult:
    """Replays `events` in time order through private per-user records (never the store), twice,
    changing nothing it is given: the caller swaps the result in.

    Pass 1 adds the log's counts to a copy of `stats`. Pass 2 featurises, before each
    positive event of a user with history, the positive item and `negatives` random catalog
    items as rerank() would at that moment, except that the counts come from the other half of
    the users (each of their events counted twice, to stand for all): an example must not see
    its own event in the counts (serving never sees the next event's). For a ranker that
    overrides Ranker.fit, those (positive, negatives) groups become TrainingExamples over every
    one of COLUMNS, with the users' and the items' vectors.
    """
    if negatives < 1 or max_examples < 0:
        raise ValueError(f"negatives must be >= 1 and max_examples >= 0, got {negatives} and {max_examples}")
    rng = np.random.default_rng(seed)
    resolved, unknown = [], 0
    clock = time.time()
    for e in events:
        if not isinstance(e, Event):
            raise TypeError(f"events must be pyrerank.Event objects, got {type(e).__name__}")
        row = catalog.row_of.get(e.item)
        if row is None:
            unknown += 1
            continue
        resolved.append(
            (clock if e.timestamp is None else float(e.timestamp), e.user, row, event_weight(e.kind, e.weight))
        )
    if unknown:
        warnings.warn(f"fit skipped {unknown} events whose items are not in the catalog", PyrerankWarning, stacklevel=3)
    resolved.sort(key=lambda r: r[0])

    learns = type(ranker).fit is not Ranker.fit
    # Pass 1: the log's counts, into a copy of the shared statistics (what serving will start
    # from) and into one statistics table per half of the users.
    stats = stats.copy()
    folds = [ItemStats(stats.half_life, stats.co.max_neighbors, exact_forget=False) for _ in range(2)]
    for fold_stats in folds:
        fold_stats.resize(len(catalog))
    fold_of: dict[Hashable, int] = {}
    records: dict[Hashable, UserRecord] = {}
    pairs: list[tuple[int, int]] = []
    for t, user, row, w in progress_bar(resolved, len(resolved), "fit: counting", progress, "event"):
        record = records.setdefault(user, UserRecord())
        fold = fold_of.setdefault(user, len(fold_of) % 2)
        if w > 0:
            links = record.co_links()
            stats.record(user, row, w, t, links)
            for _ in range(2):  # half the users stand for all: their counts on the scale serving sees
                folds[fold].record(user, row, w, t, links)
            pairs += [(row, other) for other in links if other != row]
        record.apply(interest, row, catalog.vectors, w, t, False)
    fitted = None
    if collaborative_dim or catalog.dim != catalog.text_dim:
        a, b = np.array(pairs, np.int64).reshape(-1, 2).T
        factors = item_factors(np.r_[a, b], np.r_[b, a], len(catalog), collaborative_dim, seed=seed)
        projection = text_projection(catalog.texts(), factors) if factors.any() else None
        fitted = catalog.with_collaborative(factors, projection)
        catalog = fitted
    if not learns:
        return FitResult(stats, fitted, None)
    # Pass 2: each positive (with history) beside random items, featurised as rerank() would
    # see them at the positive's moment: counts of the whole log, but from the other half of
    # the users, so that no example counts its own event (serving never has the next event's
    # counts); time-dependent features (recency, trending) as of that moment.
    n_candidates = sum(1 for _, _, _, w in resolved if w > 0)
    keep = min(1.0, max_examples / max(1, n_candidates))
    records = {}
    positives, negs, users, groups = [], [], [], []
    no_user = np.zeros(catalog.dim, np.float32)
    n = len(catalog)
    as_new = catalog.with_predicted(catalog.texts())  # (n, dim): each item as if nobody had engaged with it
    no_stats = ItemStats()
    no_stats.resize(1 + negatives)
    for t, user, row, w in progress_bar(resolved, len(resolved), "fit: examples", progress, "event"):
        record = records.setdefault(user, UserRecord())
        if w > 0 and record.recent and rng.random() < keep:
            others = rng.integers(0, n, size=negatives)
            others[others == row] = (row + 1) % n
            rows = np.concatenate([[row], others]).astype(np.int64)
            query, recent = interest.query(record.state, t), record.short_term(catalog)
            if rng.random() < COLD_SHARE:  # the group's items as new ones: text-predicted vectors, no counts
                here = np.arange(len(rows))
                features = CandidateFeatures(no_stats, here, None, NO_CO_SCORES, t)
                request = RankRequest(as_new[rows], here, query, None, features, recent)
                rows = rows + n  # their rows in the examples' item vectors
            else:
                other_half = folds[1 - fold_of[user]]
                features = CandidateFeatures(other_half, rows, None, co_engagement_scores(other_half, record.recent), t)
                request = RankRequest(catalog.matrix, rows, query, None, features, recent)
            x = request.columns(COLUMNS)
            positives.append(x[0])
            negs.append(x[1:])
            users.append(no_user if request.query is None else request.query.mean())
            groups.append(rows)
        record.apply(interest, row, catalog.vectors, w, t, False)
    width = len(COLUMNS)
    examples = TrainingExamples(
        COLUMNS,
        np.asarray(positives, np.float32).reshape(-1, width),
        np.asarray(negs, np.float32).reshape(-1, negatives, width),
        np.asarray(users, np.float32).reshape(-1, catalog.dim),
        np.asarray(groups, np.int64).reshape(-1, 1 + negatives),
        np.vstack([catalog.vectors(np.arange(n)), as_new]),
    )
    log.info(
        "fit replayed %d events from %d users (%d training positives)", len(resolved), len(records), len(positives)
    )
    return FitResult(stats, fitted, examples)
