"""Scoring, top-k, fused scoring and MMR over an item-vector matrix, in C++.

The catalog `matrix` is ``(n_rows, dim)`` float32, float16 or int8; float rows are
L2-normalised upstream, so a dot product is a cosine. An int8 row holds a direction without
its length (make one with :func:`to_int8`): every op reads it as ``row / ||row||`` (an all-zero
row scores 0), so scores are cosines again, at a quarter of float32's bytes; int8 matrices
may be at most ``_core.MAX_INT8_DIM`` (65,536) wide. Pass the matrix C-contiguous in one of those dtypes: other float
arrays are copied once per call, with a :class:`~pyrerank.errors.PyrerankWarning`. float16
halves the memory read per score; accumulation is float32 (int8: exact integer sums against
the query rounded to int16, then one float scale per row).

``rows`` (optional) is a 1-D int64 array of candidate row numbers into ``matrix``, so a
candidate subset is scored without copying the catalog. Duplicates are scored as separate
candidates. Returned ``indices`` are always row numbers of ``matrix``, best first, ties broken
by the lower row number (``ties="position"`` in :func:`fused_topk`, :func:`multi_topk` and
:func:`mmr`: by the earlier entry of ``rows``, so a recall stage's order survives equal scores);
when ``k`` exceeds the number of candidates, all of them are returned.
A NaN score (from a NaN in the catalog, which is not re-checked per call) ranks as ``-inf``.

Every function checks its arguments first and raises ``TypeError`` (wrong kind or dtype),
``ValueError`` (wrong shape, NaN/inf, bad k) or ``IndexError`` (row number out of range),
naming the parameter. The GIL is released while the kernel runs. ``num_threads=None`` uses
one thread for small inputs and every available CPU for large ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core
from . import _validate as check

__all__ = ["score", "topk", "multi_topk", "fused_topk", "mmr", "isa", "to_int8"]

PER_CANDIDATE = "one per candidate: per entry of rows, or per row of matrix without rows"


def isa() -> str:
    """Instruction set the kernel uses on this CPU: ``"avx512vnni"``, ``"avx512"``, ``"avx2"``
    or ``"generic"``."""
    return _core.isa()


def to_int8(matrix: npt.ArrayLike) -> np.ndarray:
    """(n, dim) int8 rows pointing the way `matrix`'s (n, dim) float rows point: each row
    scaled so that its largest magnitude becomes 127, then rounded (an all-zero row stays
    zero). Cosines with the rows move by about 1e-3; the ops read each row as row / ||row||."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.dtype.kind not in "fiu":
        raise TypeError(f"matrix must be a 2-D numeric array, got dtype {m.dtype} and shape {m.shape}")
    m = m.astype(np.float32)
    if not np.isfinite(m).all():
        raise ValueError("matrix must be finite")
    largest = np.abs(m).max(axis=1, keepdims=True)
    scale = np.divide(127.0, largest, out=np.zeros_like(largest), where=largest > 0)
    return np.rint(m * scale).astype(np.int8)


def score(
    matrix: npt.ArrayLike,
    query: npt.ArrayLike,
    rows: npt.ArrayLike | None = None,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    """Dot products of `query` with every candidate row.

    Parameters
    ----------
    matrix : (n_rows, dim) float32, float16 or int8
    query : (dim,) or (q, dim) float
    rows : (n,) int64, optional; all rows when omitted

    Returns
    -------
    (n,) float32 for a 1-D query, (q, n) float32 for a 2-D one.
    """
    m = check.matrix(matrix)
    q = check.vectors(query, "query", m.shape[1])
    r = check.rows(rows, m.shape[0])
    return _core.score(m, q, r, num_threads=check.num_threads(num_threads, m, q, r))


def topk(
    matrix: npt.ArrayLike,
    query: npt.ArrayLike,
    k: int,
    rows: npt.ArrayLike | None = None,
    *,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` candidates with the highest dot product with `query`.

    Parameters
    ----------
    matrix : (n_rows, dim) float32, float16 or int8
    query : (dim,) float for one user, or (q, dim) float for q users at once
    k : int >= 1
    rows : (n,) int64, optional; all rows when omitted

    Returns
    -------
    indices : (k',) int64 or (q, k') int64, row numbers of `matrix`, k' = min(k, n)
    scores : (k',) float32 or (q, k') float32, descending
    """
    m = check.matrix(matrix)
    q = check.vectors(query, "query", m.shape[1])
    r = check.rows(rows, m.shape[0])
    return _core.topk(m, q, check.k(k), r, num_threads=check.num_threads(num_threads, m, q, r))


def multi_topk(
    matrix: npt.ArrayLike,
    interests: npt.ArrayLike,
    k: int,
    *,
    weights: npt.ArrayLike | None = None,
    rows: npt.ArrayLike | None = None,
    num_threads: int | None = None,
    ties: str = "row",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k for a user held as several interest vectors: an item scores by its best match.

    ``score[i] = max_j weights[j] * <interests[j], matrix[row_i]>``

    Parameters
    ----------
    interests : (m, dim) float
    weights : (m,) float, optional (all ones)

    Returns
    -------
    indices : (k',) int64, scores : (k',) float32 — as :func:`topk` for one query.
    """
    return fused_topk(
        matrix, interests, None, None, k, interest_weights=weights, rows=rows, num_threads=num_threads, ties=ties
    )


def fused_topk(
    matrix: npt.ArrayLike,
    query: npt.ArrayLike,
    features: npt.ArrayLike | None,
    weights: npt.ArrayLike | None,
    k: int,
    *,
    sim_weight: float = 1.0,
    interest_weights: npt.ArrayLike | None = None,
    extra: npt.ArrayLike | None = None,
    extra_weights: npt.ArrayLike | None = None,
    rows: npt.ArrayLike | None = None,
    num_threads: int | None = None,
    ties: str = "row",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by a blend of similarities and per-candidate features, in one pass over the rows.

    ``score[i] = sim_weight * sim[i] + Σ_e extra_weights[e] * <extra[e], row_i> + features[i] @ weights``
    where ``sim[i]`` is the dot product with `query`, or for an ``(m, dim)`` query the best
    weighted match as in :func:`multi_topk`.

    Parameters
    ----------
    query : (dim,) or (m, dim) float
    features : (n, f) float, aligned with the candidates (the order of `rows`), or None
    weights : (f,) float, or None together with `features`
    interest_weights : (m,) float, optional
    extra : (e, dim) float, optional: more query vectors whose similarities are added, each
        times its weight in `extra_weights` (e,) (e.g. the user's most recent items)
    ties : "row" (equal scores: lower row number first) or "position" (earlier entry of `rows`)

    Returns
    -------
    indices : (k',) int64, scores : (k',) float32 — as :func:`topk` for one query.
    """
    m = check.matrix(matrix)
    q = check.vectors(query, "query", m.shape[1]).reshape(-1, m.shape[1])
    k = check.k(k)
    r = check.rows(rows, m.shape[0])
    n = m.shape[0] if r is None else r.shape[0]
    if (features is None) != (weights is None):
        raise ValueError("features and weights must be given together (or both None)")
    feats = w = None
    if features is not None:
        feats = check.float_array(features, "features", (n, -1), PER_CANDIDATE)
        w = check.float_array(weights, "weights", (feats.shape[1],))
    iw = None if interest_weights is None else check.float_array(interest_weights, "interest_weights", (q.shape[0],))
    sw = check.finite_scalar(sim_weight, "sim_weight")
    if (extra is None) != (extra_weights is None):
        raise ValueError("extra and extra_weights must be given together (or both None)")
    ex = ew = None
    if extra is not None:
        ex = check.vectors(extra, "extra", m.shape[1]).reshape(-1, m.shape[1])
        ew = check.float_array(extra_weights, "extra_weights", (ex.shape[0],))
    threads = check.num_threads(num_threads, m, q, r)
    return _core.fused_topk(
        m,
        q,
        feats,
        w,
        k,
        sim_weight=sw,
        interest_weights=iw,
        extra=ex,
        extra_weights=ew,
        rows=r,
        num_threads=threads,
        ties=check.ties(ties),
    )


def mmr(
    matrix: npt.ArrayLike,
    relevance: npt.ArrayLike,
    k: int,
    *,
    lambda_: float = 0.5,
    rows: npt.ArrayLike | None = None,
    ties: str = "row",
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy maximal-marginal-relevance selection of `k` diverse, relevant candidates.

    Each step picks the candidate maximising
    ``lambda_ * relevance[i] - (1 - lambda_) * max_{s picked} <row_i, row_s>``
    (the second term is 0 for the first pick), without an n x n similarity matrix.

    Parameters
    ----------
    relevance : (n,) float, aligned with the candidates
    lambda_ : float in [0, 1]; 1 is pure relevance order, 0 pure diversity
    ties : "row" or "position", as in :func:`fused_topk`

    Returns
    -------
    indices : (k',) int64 row numbers in pick order
    scores : (k',) float32, the objective at pick time (not necessarily descending)
    """
    m = check.matrix(matrix)
    k = check.k(k)
    r = check.rows(rows, m.shape[0])
    n = m.shape[0] if r is None else r.shape[0]
    rel = check.float_array(relevance, "relevance", (n,), PER_CANDIDATE)
    lam = check.finite_scalar(lambda_, "lambda_")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda_ must lie in [0, 1], got {lam}")
    return _core.mmr(m, rel, k, lambda_=lam, rows=r, ties=check.ties(ties))


def _read_all(matrix: Any) -> int:
    """Read every byte of `matrix` once; benchmarks use it as the memory-bandwidth bound."""
    return _core.read_all(check.matrix(matrix))
