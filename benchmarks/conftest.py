"""Shared catalogs for the kernel benchmarks: unit-norm Gaussian vectors, made once."""

from __future__ import annotations

import functools

import numpy as np

from pyrerank import ops

CATALOG_ROWS = 100_000


@functools.lru_cache(maxsize=6)
def catalog(dim: int, dtype: str) -> np.ndarray:
    """(100_000, dim) float32 or float16 rows L2-normalised, or int8 (ops.to_int8 of those)."""
    rng = np.random.default_rng(dim)
    m = rng.standard_normal((CATALOG_ROWS, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return ops.to_int8(m) if dtype == "int8" else m.astype(dtype)


@functools.lru_cache(maxsize=64)
def queries(dim: int, n_queries: int) -> np.ndarray:
    """(n_queries, dim) float32, or (dim,) for one query."""
    q = np.random.default_rng(n_queries).standard_normal((n_queries, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q[0].copy() if n_queries == 1 else q
