"""Reranker.fit: replay a historical log to build global statistics and ranker training pairs."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Hashable

import numpy as np

from .errors import PyrerankWarning
from .events import Event, event_weight
from .features import CO_DECAY, CandidateFeatures
from .interfaces import Ranker, RankRequest
from .profiles import UserRecord
from .rankers.fusion import COLUMNS, PairwiseExamples, columns

log = logging.getLogger(__name__)


def replay_for_fit(rr, events: list[Event], *, negatives: int, max_examples: int, seed: int) -> None:
    """Replays `events` in time order through private per-user records (never the store).

    Before each positive event of a user with history, the positive item and `negatives`
    random catalogue items are featurised exactly as rerank() would at that moment; after it,
    the event updates the global statistics and the private record.
    """
    if negatives < 1 or max_examples < 0:
        raise ValueError(f"negatives must be >= 1 and max_examples >= 0, got {negatives} and {max_examples}")
    catalog = rr._catalog()
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
        resolved.append((clock if e.timestamp is None else float(e.timestamp), e.user, row, event_weight(e.kind, e.weight)))
    if unknown:
        warnings.warn(f"fit skipped {unknown} events whose items are not in the catalogue", PyrerankWarning, stacklevel=3)
    resolved.sort(key=lambda r: r[0])

    learns = type(rr.ranker).fit is not Ranker.fit
    n_candidates = sum(1 for _, _, _, w in resolved if w > 0)
    keep = min(1.0, max_examples / max(1, n_candidates))
    matrix = catalog.matrix
    records: dict[Hashable, UserRecord] = {}
    positives, negs = [], []
    for t, user, row, w in resolved:
        record = records.setdefault(user, UserRecord())
        if learns and w > 0 and record.recent and rng.random() < keep:
            others = rng.integers(0, len(catalog), size=negatives)
            others[others == row] = (row + 1) % len(catalog)
            rows = np.concatenate([[row], others]).astype(np.int64)
            profile = rr.stats.co.profile(record.recent, CO_DECAY)
            request = RankRequest(matrix, rows, rr.interest.query(record.state, t), None,
                                  CandidateFeatures(rr.stats, rows, None, profile, t), record.short_term(matrix))
            x = columns(request)
            positives.append(x[0])
            negs.append(x[1:])
        if w > 0:
            rr.stats.record(row, w, t, record.co_links())
        record.apply(rr.interest, row, matrix[row].astype(np.float32), w, t)
    if learns:
        width = len(COLUMNS)
        rr.ranker.fit(PairwiseExamples(np.asarray(positives, np.float32).reshape(-1, width),
                                       np.asarray(negs, np.float32).reshape(-1, negatives, width)))
    log.info("fit replayed %d events from %d users (%d training positives)", len(resolved), len(records), len(positives))
