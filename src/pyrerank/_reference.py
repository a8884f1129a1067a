"""Pure-numpy versions of every op in :mod:`pyrerank.ops`, the truth the kernel is tested against.

Scores are computed in float64 from the float32, float16 or int8 inputs and rounded to float32
at the end; ordering follows the kernel's rule (score descending, then row number ascending, or with
``ties="position"`` the earlier candidate; NaN ranks as -inf). Slow and simple on purpose.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _candidates(matrix: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float64 candidate vectors and their (n,) int64 row numbers; int8 rows are
    directions, scaled to unit length (all-zero rows stay zero)."""
    row_numbers = np.arange(matrix.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    vectors = matrix[row_numbers].astype(np.float64)
    if matrix.dtype == np.int8:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return vectors, row_numbers


def _tie_keys(row_numbers: np.ndarray, ties: str) -> np.ndarray:
    """(n,) what equal scores are ordered by: row numbers, or candidate positions."""
    return row_numbers if ties == "row" else np.arange(len(row_numbers))


def _best_first(scores: np.ndarray, rows: np.ndarray, k: int, ties: str = "row") -> tuple[np.ndarray, np.ndarray]:
    """The k best of (n,) float64 scores: (k',) int64 of `rows` (row numbers) and (k',) float32 scores."""
    clean = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((_tie_keys(rows, ties), -clean))[:k]
    return rows[order], clean[order].astype(np.float32)


def score(matrix: np.ndarray, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(n,) or (q, n) float32 dot products."""
    vectors, _ = _candidates(matrix, rows)
    return (np.asarray(query, np.float64) @ vectors.T).astype(np.float32)


def topk(matrix: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None):
    """Like ops.topk: (k',) or (q, k') int64 rows and float32 scores."""
    vectors, row_numbers = _candidates(matrix, rows)
    q = np.asarray(query, np.float64)
    if q.ndim == 1:
        return _best_first(vectors @ q, row_numbers, k)
    results = [_best_first(vectors @ one, row_numbers, k) for one in q]
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


def fused_scores(
    matrix,
    query,
    features=None,
    weights=None,
    *,
    sim_weight=1.0,
    interest_weights=None,
    extra=None,
    extra_weights=None,
    rows=None,
) -> np.ndarray:
    """(n,) float64: sim_weight * max_j(w_j * <q_j, row>) + Σ_e x_e <extra_e, row> + features @ weights."""
    vectors, _ = _candidates(matrix, rows)
    q = np.atleast_2d(np.asarray(query, np.float64))
    w = np.ones(q.shape[0]) if interest_weights is None else np.asarray(interest_weights, np.float64)
    out = sim_weight * (w[:, None] * (q @ vectors.T)).max(axis=0)
    if extra is not None:
        out = out + np.asarray(extra_weights, np.float64) @ (np.atleast_2d(np.asarray(extra, np.float64)) @ vectors.T)
    if features is not None:
        out = out + np.asarray(features, np.float64) @ np.asarray(weights, np.float64)
    return out


def fused_topk(
    matrix,
    query,
    features,
    weights,
    k,
    *,
    sim_weight=1.0,
    interest_weights=None,
    extra=None,
    extra_weights=None,
    rows=None,
    ties="row",
):
    """Like ops.fused_topk."""
    _, row_numbers = _candidates(matrix, rows)
    scores = fused_scores(
        matrix,
        query,
        features,
        weights,
        sim_weight=sim_weight,
        interest_weights=interest_weights,
        extra=extra,
        extra_weights=extra_weights,
        rows=rows,
    )
    return _best_first(scores, row_numbers, k, ties)


def multi_topk(matrix, interests, k, *, weights=None, rows=None, ties="row"):
    """Like ops.multi_topk."""
    return fused_topk(matrix, interests, None, None, k, interest_weights=weights, rows=rows, ties=ties)


def mmr(matrix, relevance, k, *, lambda_=0.5, rows=None, ties="row"):
    """Like ops.mmr: greedy picks with the full n x n similarity matrix (fine for tests)."""
    vectors, row_numbers = _candidates(matrix, rows)
    rel = np.asarray(relevance, np.float64)
    sims = vectors @ vectors.T
    n = len(row_numbers)
    taken = np.zeros(n, bool)
    max_sim = np.zeros(n)
    picks, values = [], []
    for t in range(min(k, n)):
        value = lambda_ * rel - (1.0 - lambda_) * max_sim
        value = np.where(np.isnan(value) | taken, -np.inf, value)
        candidates = np.flatnonzero(~taken)
        order = np.lexsort((_tie_keys(row_numbers, ties)[candidates], -value[candidates]))
        best = candidates[order[0]]
        taken[best] = True
        picks.append(row_numbers[best])
        values.append(value[best])
        max_sim = sims[best] if t == 0 else np.maximum(max_sim, sims[best])
    return np.asarray(picks, np.int64), np.asarray(values, np.float32)


def candidate_features(stats, rows, now, half_life, recency_scale, upstream, co_rows, co_values):
    """Like _core.candidate_features (column definitions in csrc/candidates.hpp): (n, 5) float32."""
    s = np.asarray(stats, np.float64)[np.asarray(rows, np.int64)]
    out = np.zeros((len(s), 5))
    out[:, 0] = s[:, 0]
    out[:, 1] = np.maximum(0.0, s[:, 1] - np.log(2.0) / half_life * np.maximum(0.0, now - s[:, 2]))
    out[:, 2] = 1.0 / (1.0 + np.maximum(0.0, now - s[:, 3]) / recency_scale)
    if upstream is not None and len(s) > 1:
        u = np.asarray(upstream, np.float64)
        if u.std() > 0:
            out[:, 3] = (u - u.mean()) / u.std()
    lookup = dict(zip(np.asarray(co_rows).tolist(), np.asarray(co_values, np.float64).tolist()))
    out[:, 4] = np.log1p([lookup.get(r, 0.0) for r in np.asarray(rows).tolist()])
    return out.astype(np.float32)


def decay_replay(vectors: np.ndarray, weights: np.ndarray, timestamps: np.ndarray, per_second: float, per_event: float):
    """(pos, neg, latest timestamp) of DecayInterest's closed form: each event's pull in Python
    floats, the (2, n) @ (n, dim) product in float64, rounded to float32."""
    latest = list(itertools.accumulate(timestamps.tolist(), max))
    pulls = np.zeros((2, len(latest)))
    for i, (weight, when) in enumerate(zip(weights.tolist(), latest)):
        pull = abs(weight) * math.exp((latest[-1] - when) * per_second + (len(latest) - 1 - i) * per_event)
        pulls[0 if weight > 0 else 1, i] = pull
    pos, neg = (pulls @ vectors.astype(np.float64)).astype(np.float32)
    return pos, neg, latest[-1]


def count_events(table: np.ndarray, rows, weights, times, half_life: float) -> None:
    """pyrerank._core.count_events, one event at a time in Python floats, in place."""
    for row, weight, t in zip(rows, weights, times):
        entry = table[row]
        fade = 0.5 ** (max(0.0, t - entry[2]) / half_life)
        entry[0] = math.log1p(math.expm1(entry[0]) + weight)
        entry[1] = math.log1p(math.expm1(entry[1]) * fade + weight)
        entry[2] = max(entry[2], t)
        entry[3] = max(entry[3], t)
