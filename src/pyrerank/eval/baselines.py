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

    def click_metrics(self) -> dict[str, float]:
        """{"AUC": ..., "log-loss": ...} of a click model on its held-out training examples; {} for others."""
        return {}


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
    """The recency-weighted item co-engagement baseline, exactly as docs/EVAL.md defines it.

    X is the binary (train user x item) matrix of train positives and C = XᵀX; a candidate c
    scores Σ_j 0.9^age_j · C[h_j, c] / (n_{h_j} · n_c + 1e-9) over the user's last 50 positives
    h_j observed so far (newest age 0), with n_i = √C[i, i]. Counts come from train only.
    """

    name = "co-engagement"

    def __init__(self, sequences: list[np.ndarray], n_items: int, history: int = 50, decay: float = 0.9) -> None:
        from scipy import sparse

        users = np.repeat(np.arange(len(sequences)), [len(seq) for seq in sequences])
        items = np.concatenate(sequences) if sequences else np.zeros(0, np.int64)
        x = sparse.csr_matrix((np.ones(len(items), np.float32), (users, items)), shape=(len(sequences), n_items))
        x.sum_duplicates()
        x.data[:] = 1.0  # binary: a user who liked an item twice counts once
        self.co = (x.T @ x).tocsr()
        self.norms = np.sqrt(self.co.diagonal()).astype(np.float64)
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
        counts = self.co[recent][:, rows].toarray()  # (m, n)
        scaled = counts / (self.norms[recent][:, None] * self.norms[rows][None, :] + 1e-9)
        return weights @ scaled


class PyrerankMethod(Method):
    """A pr.Reranker: observe() and rerank() exactly as an app would call them; with
    `user_texts` ({user: [(timestamp, text), ...]} oldest first), each text a user wrote before
    the moment of a rerank is fed to observe_text first."""

    def __init__(self, name: str, reranker, item_ids: np.ndarray, user_texts: dict | None = None) -> None:
        self.name, self.rr, self.item_ids = name, reranker, item_ids
        self.user_texts = user_texts or {}
        self.texts_fed: dict[int, int] = {}  # user -> how many of their texts were observed

    def click_metrics(self):
        validation = getattr(self.rr.ranker, "validation", None)
        return {"AUC": validation["auc"], "log-loss": validation["log_loss"]} if validation else {}

    def observe(self, user, row, kind, timestamp, in_train=False):
        self.rr.observe(user, int(self.item_ids[row]), kind, timestamp=float(timestamp), count=not in_train)

    def score(self, user, rows, now):
        texts, fed = self.user_texts.get(user, ()), self.texts_fed.get(user, 0)
        while fed < len(texts) and texts[fed][0] <= now:
            self.rr.observe_text(user, texts[fed][1], kind="post", timestamp=float(texts[fed][0]))
            fed += 1
        self.texts_fed[user] = fed
        ranked = self.rr.rerank(user, self.item_ids[rows], k=len(rows), now=float(now))
        by_item = {r.item: r.score for r in ranked}
        return np.array([by_item[i] for i in self.item_ids[rows].tolist()])
