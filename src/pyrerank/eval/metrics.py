"""Ranking metrics of replay-100 (accuracy from target ranks, beyond-accuracy from top-10 lists)."""

from __future__ import annotations

import itertools

import numpy as np

K = 10


def accuracy(ranks: np.ndarray) -> dict[str, float]:
    """HR@10, NDCG@10 and MRR from (steps,) int target ranks (0 = first)."""
    ranks = np.asarray(ranks, np.float64)
    hit = ranks < K
    return {
        "HR@10": float(hit.mean()),
        "NDCG@10": float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean()),
        "MRR": float((1.0 / (ranks + 1)).mean()),
    }


def beyond_accuracy(
    top_lists: list[np.ndarray], vectors: np.ndarray, popularity: np.ndarray, n_items: int
) -> dict[str, float]:
    """Coverage, intra-list diversity and novelty of top-10 lists.

    top_lists : per step, (<= 10,) int64 item rows; vectors : (n_items, dim) L2-normalised
    popularity : (n_items,) train interaction counts (novelty uses −log2 of the share, +1 smoothed)
    """
    coverage = len(set(itertools.chain.from_iterable(t.tolist() for t in top_lists))) / n_items
    share = (popularity + 1.0) / (popularity.sum() + len(popularity))
    diversity, novelty = [], []
    for top in top_lists:
        v = vectors[top].astype(np.float64)
        sims = v @ v.T
        n = len(top)
        diversity.append((n * n - sims.sum()) / (n * (n - 1)) if n > 1 else 0.0)
        novelty.append(float(-np.log2(share[top]).mean()))
    return {"coverage": coverage, "diversity": float(np.mean(diversity)), "novelty": float(np.mean(novelty))}
