"""A tiny catalog of four topics and users who each like one topic: what the tests of learning
rankers fit on (a plain module the test files import)."""

from __future__ import annotations

import numpy as np

import pyrerank as pr

ITEMS = {i: f"{topic} story number {i}" for i, topic in enumerate(["space", "paris", "bees", "horror"] * 10)}


def topic_history(n_users: int = 60) -> list[pr.Event]:
    """Users who each like 6 items of one topic (item % 4), in time order; each topic's fans fall
    in both halves of the users that fit() forms."""
    rng = np.random.default_rng(0)
    out = []
    for u in range(n_users):
        topic = (u // 2) % 4
        for t, item in enumerate(rng.choice(np.arange(topic, 40, 4), 6, replace=False)):
            out.append(pr.Event(f"u{u}", int(item), "like", timestamp=1000.0 * u + t))
    return out


def assert_space_fan_served_and_saved(rr: pr.Reranker, folder) -> pr.Reranker:
    """A user who likes two space stories gets space stories from the fitted `rr`, and the same
    list from its save reopened; returns the reopened Reranker."""
    rr.observe("fan", 0, "like")
    rr.observe("fan", 4, "like")
    top = [r.item for r in rr.rerank("fan", list(range(1, 40)), k=5)]
    assert sum(item % 4 == 0 for item in top) >= 4, top
    rr.save(folder)
    back = pr.Reranker.load(folder)
    assert type(back.ranker) is type(rr.ranker)
    assert back.rerank("fan", list(range(1, 40)), k=5) == rr.rerank("fan", list(range(1, 40)), k=5)
    return back
