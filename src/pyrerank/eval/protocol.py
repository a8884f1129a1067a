"""The protocols of docs/EVAL.md: split, candidates (replay-100's 99 sampled negatives, or full:
every item not yet observed), tie rule, realtime/static."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from .movielens import Ratings

POSITIVE, DISLIKE = 4.0, 2.0
MIN_RATINGS, MIN_POSITIVES, TEST_STEPS, NEGATIVES = 20, 15, 10, 99


def kind_of(rating: float) -> str:
    """like (>= 4), dislike (<= 2), else a plain view."""
    return "like" if rating >= POSITIVE else "dislike" if rating <= DISLIKE else "view"


@dataclasses.dataclass
class Split:
    """Test users and their steps; everything else is train.

    is_test : (n,) bool over the sorted ratings, True for test steps
    users : test user ids, ascending; spans[u] = (start, stop) of u's ratings
    """

    is_test: np.ndarray
    users: list[int]
    spans: dict[int, tuple[int, int]]


def split(data: Ratings) -> Split:
    is_test = np.zeros(len(data.user), bool)
    starts = np.flatnonzero(np.r_[True, data.user[1:] != data.user[:-1]])
    stops = np.r_[starts[1:], len(data.user)]
    users, spans = [], {}
    for start, stop in zip(starts.tolist(), stops.tolist()):
        positives = start + np.flatnonzero(data.rating[start:stop] >= POSITIVE)
        if stop - start >= MIN_RATINGS and len(positives) >= MIN_POSITIVES:
            is_test[positives[-TEST_STEPS:]] = True
            user = int(data.user[start])
            users.append(user)
            spans[user] = (start, stop)
    return Split(is_test, users, spans)


def rank_of_target(scores: np.ndarray) -> int:
    """How many of the other candidates score >= the target (index 0): ties count against it."""
    return int((scores[1:] >= scores[0]).sum())


@dataclasses.dataclass
class Step:
    user: int
    candidates: np.ndarray  # item ids, target first: (100,) for replay-100, every unobserved item for full
    observe_before: list[int]  # rating indices to observe before ranking this step
    observe_quietly: list[int] = dataclasses.field(default_factory=list)  # ... for the user only (count=False)


PROTOCOLS = ("replay-100", "full", "cold-items")
COLD_SHARE, COLD_SEED = 0.2, 7


def cold_items(data: Ratings) -> np.ndarray:
    """The item ids the cold-items protocol holds out: 20% of the ascending ids, drawn with
    ``numpy.random.default_rng(7)``, sorted."""
    n = int(COLD_SHARE * len(data.item_ids))
    return np.sort(np.random.default_rng(COLD_SEED).choice(data.item_ids, n, replace=False))


def _cold_steps(data: Ratings, sp: Split) -> Iterator[Step]:
    """cold-items (realtime): only test steps whose target is cold count; candidates are the
    target and 99 cold items the user never rated (``default_rng((1, userId))``); events on cold
    items are never observed, except each target, for its user only, after its step."""
    cold = cold_items(data)
    is_cold = np.isin(data.item, cold)
    for user in sp.users:
        start, stop = sp.spans[user]
        pool = cold[~np.isin(cold, data.item[start:stop])]
        rng = np.random.default_rng((1, user))
        observed_upto, quiet = start, list[int]()
        for idx in (start + np.flatnonzero(sp.is_test[start:stop] & is_cold[start:stop])).tolist():
            negatives = rng.choice(pool, min(NEGATIVES, len(pool)), replace=False)  # fewer only in tiny data
            before = [i for i in range(observed_upto, idx) if not is_cold[i]]
            yield Step(user, np.concatenate([[data.item[idx]], negatives]), before, quiet)
            observed_upto, quiet = idx, [idx]


def steps(data: Ratings, sp: Split, *, realtime: bool, seed: int = 0, protocol: str = "replay-100") -> Iterator[Step]:
    """Every test step of every test user, in userId order, with the events to observe first.

    replay-100 negatives: 99 drawn without replacement from the ascending ids of items the user
    never rated, with ``numpy.random.default_rng((seed, userId))``, one rng per user. full: every
    catalog item the user has not observed so far in the replay (ascending ids), no sampling.
    cold-items: see :func:`_cold_steps`.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "cold-items":
        if not realtime:
            raise ValueError("cold-items is a realtime protocol (each target is observed after its step)")
        yield from _cold_steps(data, sp)
        return
    for user in sp.users:
        start, stop = sp.spans[user]
        rated = np.unique(data.item[start:stop])
        pool = data.item_ids[~np.isin(data.item_ids, rated)]
        rng = np.random.default_rng((seed, user))
        test_idx = start + np.flatnonzero(sp.is_test[start:stop])
        observed_upto = start
        for step_no, idx in enumerate(test_idx.tolist()):
            if protocol == "full":
                seen = data.item[start : idx if realtime or step_no == 0 else observed_upto]
                unseen = ~np.isin(data.item_ids, seen) & (data.item_ids != data.item[idx])
                negatives = data.item_ids[unseen]
            else:
                negatives = rng.choice(pool, NEGATIVES, replace=False)
            if step_no == 0:
                before = list(range(start, idx))  # warm-up, both variants
            elif realtime:
                before = list(range(observed_upto, idx))  # the previous target and what followed
            else:
                before = []
            if step_no == 0 or realtime:
                observed_upto = idx
            yield Step(user, np.concatenate([[data.item[idx]], negatives]), before)
