"""What users would otherwise ship: random, popularity, item co-engagement, and the pyrerank
methods behind the same small interface."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


class Method:
    """A ranker under evaluation: sees events, scores a user's 100 candidates (item rows).

    observe(..., in_train=True) marks an event already counted in the train statistics.
    """

    name = "method"

    def observe(self, user: int, row: int, kind: str, timestamp: float, in_train: bool = False) -> None:
        pass

    def score(self, user: int, rows: np.ndarray, now: float) -> np.ndarray:
        raise NotImplementedError


class RandomScores(Method):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, user, rows, now):
        return self.rng.random(len(rows))


class Popularity(Method):
    """Train interaction counts per item."""

    name = "popularity"

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts

    def score(self, user, rows, now):
        return self.counts[rows]


class CoEngagement(Method):
    """Σ over the user's last 50 positives j (newest age 0) of 0.9^age · co(j, c), where co(j, c)
    counts, over train users, how often j and c are liked within `window` positives of each other.

    (EVAL.md does not define co-engagement further; a window of 5 comes closest to its reference
    figures, see the README.)
    """

    name = "co-engagement"

    def __init__(
        self, sequences: list[np.ndarray], n_items: int, history: int = 50, decay: float = 0.9, window: int = 5
    ) -> None:
        from scipy import sparse

        left, right = [], []
        for seq in sequences:  # each: one train user's liked item rows in time order
            for offset in range(1, window + 1):
                left += [seq[:-offset], seq[offset:]]
                right += [seq[offset:], seq[:-offset]]
        a = np.concatenate(left) if left else np.zeros(0, np.int64)
        b = np.concatenate(right) if right else np.zeros(0, np.int64)
        self.co = sparse.csr_matrix((np.ones(len(a), np.float32), (a, b)), shape=(n_items, n_items))
        self.history, self.decay = history, decay
        self.recent: dict[int, list[int]] = defaultdict(list)

    def observe(self, user, row, kind, timestamp, in_train=False):
        if kind == "like":
            self.recent[user].append(row)

    def score(self, user, rows, now):
        recent = self.recent[user][-self.history :]
        if not recent:
            return np.zeros(len(rows))
        weights = self.decay ** np.arange(len(recent) - 1, -1, -1, dtype=np.float64)
        return np.asarray(self.co[recent][:, rows].T @ weights).ravel()


class PyrerankMethod(Method):
    """A pr.Reranker: observe() and rerank() exactly as an app would call them."""

    def __init__(self, name: str, reranker, item_ids: np.ndarray) -> None:
        self.name, self.rr, self.item_ids = name, reranker, item_ids

    def observe(self, user, row, kind, timestamp, in_train=False):
        self.rr.observe(user, int(self.item_ids[row]), kind, timestamp=float(timestamp), count=not in_train)

    def score(self, user, rows, now):
        ranked = self.rr.rerank(user, self.item_ids[rows], k=len(rows), now=float(now))
        by_item = {r.item: r.score for r in ranked}
        return np.array([by_item[i] for i in self.item_ids[rows].tolist()])
