"""Collaborative item vectors learned by fit(): who engages with what, beside the text."""

from __future__ import annotations

import numpy as np
import pytest

import pyrerank as pr
from pyrerank.learning.collab import item_factors


def cluster_pairs(rng, clusters, users=200, per_user=6):
    """Item pairs of users who each engage with items of one cluster (both directions)."""
    a, b = [], []
    for _ in range(users):
        items = rng.choice(clusters[rng.integers(len(clusters))], per_user, replace=False)
        for i in range(per_user):
            for j in range(i + 1, per_user):
                a += [items[i], items[j]]
                b += [items[j], items[i]]
    return np.array(a), np.array(b)


def test_items_engaged_by_the_same_users_get_close_vectors():
    rng = np.random.default_rng(0)
    clusters = [np.arange(0, 20), np.arange(20, 40), np.arange(40, 60)]
    a, b = cluster_pairs(rng, clusters)
    f = item_factors(a, b, n_items=70, dim=8)
    assert f.shape == (70, 8) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f[:60], axis=1), 1.0, rtol=1e-5)
    assert not f[60:].any()  # nobody engaged with items 60..69
    sims = f[:60] @ f[:60].T
    same = np.equal.outer(np.arange(60) // 20, np.arange(60) // 20)
    assert sims[same].mean() > 0.8 > 0.2 > sims[~same].mean()


def test_no_pairs_or_no_dimensions_give_zero_vectors():
    assert not item_factors(np.zeros(0, np.int64), np.zeros(0, np.int64), 5, 4).any()
    assert item_factors(np.array([0, 1]), np.array([1, 0]), 5, 0).shape == (5, 0)


TEXTS = [
    "deep space starship battle",
    "starship crew in deep space",
    "paris romantic comedy",
    "romantic love story in paris",
    "bees and flowers documentary",
    "honey bees nature film",
]


def fitted(collaborative_dim=16):
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(list(range(len(TEXTS))), TEXTS)
    log = [
        pr.Event(f"u{u}", item, "like", timestamp=float(10 * u + i))  # each user: one topic's two items
        for u in range(30)
        for i, item in enumerate((2 * (u % 3), 2 * (u % 3) + 1))
    ]
    rr.fit(log, collaborative_dim=collaborative_dim)
    return rr


def collaborative_part(rr, rows):
    """(n, c) unit collaborative halves of the catalog rows `rows`."""
    cf = rr.catalog.vectors(rows)[:, rr.catalog.text_dim :]
    return cf / np.linalg.norm(cf, axis=1, keepdims=True)


def test_fit_appends_collaborative_vectors_and_new_items_get_them_from_their_text(tmp_path):
    rr = fitted()
    assert rr.catalog.dim == rr.catalog.text_dim + 16
    rr.add_items([100, 101], ["starship fleet in deep space", "a cookbook of soups"])  # after fit: no engagement
    new, space, paris = collaborative_part(rr, [6, 7]), collaborative_part(rr, [0, 1]), collaborative_part(rr, [2, 3])
    assert (new[0] @ space.T).min() > 0.5 > (new[0] @ paris.T).max()  # predicted from its text: the space audience
    rr.observe("v", 0, "like")
    assert [r.item for r in rr.rerank("v", [101, 100], k=2)] == [100, 101]
    rr.save(tmp_path / "saved")
    again = pr.Reranker.load(tmp_path / "saved")
    assert again.catalog.dim == rr.catalog.dim and again.catalog.text_dim == rr.catalog.text_dim
    assert again.rerank("v", [101, 100, 3], k=3) == rr.rerank("v", [101, 100, 3], k=3)
    np.testing.assert_array_equal(again.catalog.projection, rr.catalog.projection)
    again.add_items([102], ["deep space"])  # a loaded catalog still takes text-width vectors
    assert collaborative_part(again, [8])[0] @ space[0] > 0.5


def test_items_nobody_engaged_with_before_fit_get_collaborative_vectors_from_their_text():
    rr = pr.Reranker(encoder="hashing")
    rr.add_items([0, 1, 2, 3, 9], [*TEXTS[:4], "romantic paris love comedy"])
    log = [pr.Event(f"u{u}", 2 * (u % 2) + i, "like", float(10 * u + i)) for u in range(20) for i in (0, 1)]
    rr.fit(log, collaborative_dim=8)
    cold = collaborative_part(rr, [4])[0]
    assert cold @ collaborative_part(rr, [2])[0] > 0.5 > cold @ collaborative_part(rr, [0])[0]


def test_collaborative_vectors_link_items_their_users_share():
    rr = fitted()
    cf = collaborative_part(rr, np.arange(len(TEXTS)))  # each row is [text; collaborative] / √2
    assert cf[0] @ cf[1] > 0.9 > 0.1 > cf[0] @ cf[2]  # 0 and 1 are liked by the same users; 0 and 2 never together


def test_collaborative_dim_zero_keeps_text_vectors_and_bad_values_are_refused():
    assert fitted(0).catalog.dim == fitted(0).catalog.text_dim
    with pytest.raises(ValueError, match="collaborative_dim must be >= 0"):
        fitted(-1)
    with pytest.raises(TypeError, match="collaborative_dim must be an integer"):
        fitted(2.5)


def test_fit_that_changes_item_vectors_drops_users_held_in_memory():
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(list(range(len(TEXTS))), TEXTS)
    rr.observe("early", 0, "like")
    with pytest.warns(pr.PyrerankWarning, match="1 user records held in memory were dropped"):
        rr.fit([pr.Event("u", 0, "like", 1.0), pr.Event("u", 2, "like", 2.0)], collaborative_dim=4)
    assert len(rr.rerank("early", [1, 2], k=2)) == 2  # ranked as a new user, no dimension clash
