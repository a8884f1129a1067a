"""Collaborative item vectors: a low-rank factorisation of which items the same users engage with.

fit() appends them to the items' text vectors, so one dot product scores a candidate by both
what it is about and who engages with it; items nobody engaged with (and items added later)
get a collaborative vector predicted from their text by :func:`text_projection`.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 20  # matrix entries multiplied at once: bounds the temporary (chunk, k) array


def item_factors(
    a: np.ndarray, b: np.ndarray, n_items: int, dim: int, *, iterations: int = 6, seed: int = 0
) -> np.ndarray:
    """(n_items, dim) float32 unit rows (zero rows for items in no pair) from item pairs
    (a[i], b[i]) of catalog rows, given in both directions, a pair counted once per occurrence.

    The positive pointwise mutual information of the pair counts, factorised by randomized
    subspace iteration into its top `dim` eigenvectors, each scaled by √eigenvalue.
    """
    out = np.zeros((n_items, dim), np.float32)
    if len(a) == 0 or dim == 0:
        return out
    keys, counts = np.unique(np.asarray(a, np.int64) * n_items + np.asarray(b, np.int64), return_counts=True)
    rows, cols = keys // n_items, keys % n_items  # sorted by row
    totals = np.bincount(rows, weights=counts, minlength=n_items)
    pmi = np.log(counts * counts.sum() / (totals[rows] * totals[cols]))
    keep = pmi > 0
    rows, cols, values = rows[keep], cols[keep], pmi[keep].astype(np.float32)
    items = np.unique(rows)
    if len(items) == 0:
        return out
    local = np.full(n_items, -1, np.int64)
    local[items] = np.arange(len(items))
    rows, cols = local[rows], local[cols]

    def times(x: np.ndarray) -> np.ndarray:
        """P @ x for the (items, items) PPMI matrix P, chunk by chunk of its entries."""
        product = np.zeros((len(items), x.shape[1]), np.float32)
        for start in range(0, len(values), _CHUNK):
            r, c, v = rows[start : start + _CHUNK], cols[start : start + _CHUNK], values[start : start + _CHUNK]
            firsts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            product[r[firsts]] += np.add.reduceat(v[:, None] * x[c], firsts, axis=0)
        return product

    k = min(dim + 8, len(items))
    basis = np.random.default_rng(seed).standard_normal((len(items), k)).astype(np.float32)
    for _ in range(iterations):
        basis, _ = np.linalg.qr(times(basis))
    eigenvalues, vectors = np.linalg.eigh(basis.T @ times(basis))  # P is symmetric
    top = np.argsort(eigenvalues)[::-1][:dim]
    factors = (basis @ vectors[:, top]) * np.sqrt(np.clip(eigenvalues[top], 0.0, None))
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    out[items, : factors.shape[1]] = np.divide(factors, norms, out=np.zeros_like(factors), where=norms > 0)
    return out


def text_projection(text: np.ndarray, factors: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """(text_dim, c) float32 ridge-regression map from text vectors to collaborative vectors,
    learned on the items that have one: text (n, text_dim) float32 unit rows, factors (n, c)
    float32 from :func:`item_factors` (zero rows: items in no pair, left out). An item nobody
    has engaged with yet gets ``unit(text @ map)``: where the audiences of items with texts
    like its own sit."""
    warm = np.flatnonzero(np.abs(factors).sum(axis=1) > 0)
    x, y = text[warm].astype(np.float64), factors[warm].astype(np.float64)
    return np.linalg.solve(x.T @ x + l2 * np.eye(text.shape[1]), x.T @ y).astype(np.float32)
