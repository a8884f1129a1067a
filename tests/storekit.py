"""Shared by the store tests and the child processes they start: a small catalogue, a
deterministic event stream, and the rankings two rerankers are compared by."""

from __future__ import annotations

import itertools

import numpy as np

import pyrerank as pr

TOPICS = ["space starship", "paris romance", "bees nature", "haunted horror", "jazz music", "mountain climbing"]
STYLES = ["documentary", "comedy", "drama", "thriller", "animated"]
ITEMS = [f"{topic} {style} {n}" for n, (topic, style) in enumerate(itertools.product(TOPICS, STYLES))]
KINDS = ["view", "click", "like", "purchase", "skip", "dislike"]
USERS = [f"u{i}" for i in range(8)]


def make_reranker(store="memory", **options) -> pr.Reranker:
    rr = pr.Reranker(encoder="hashing", store=store, **options)
    rr.add_items(list(range(len(ITEMS))), ITEMS)
    return rr


def events(n: int, seed: int = 0, users=USERS) -> list[tuple[str, int, str, float]]:
    """n (user, item, kind, timestamp) events, timestamps increasing."""
    rng = np.random.default_rng(seed)
    return [(str(rng.choice(users)), int(rng.integers(len(ITEMS))), str(rng.choice(KINDS)), 1_000.0 + 10.0 * i)
            for i in range(n)]


def feed(rr: pr.Reranker, stream) -> None:
    for user, item, kind, t in stream:
        rr.observe(user, item, kind, timestamp=t)


def rankings(rr: pr.Reranker, users=USERS) -> dict[str, list[tuple[int, float]]]:
    """Each user's top 10 of the whole catalogue at one fixed moment."""
    return {u: [(r.item, round(r.score, 5)) for r in rr.rerank(u, np.arange(len(ITEMS)), k=10, now=10**7)]
            for u in users}
