"""The protocols of docs/EVAL.md (replay-100, full): split, sampling, tie rule, metrics, and the
reference figures on the real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pyrerank.eval import baselines, metrics, movielens, protocol
from pyrerank.eval.run import Experiment


def write_ratings(folder: Path, ratings: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ratings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "rating", "timestamp"])
        w.writerows(ratings)


def write_movielens(folder: Path, ratings: list[tuple], n_items: int = 300) -> Path:
    write_ratings(folder, ratings)
    with open(folder / "movies.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["movieId", "title", "genres"])
        w.writerows(
            [
                (i, f"Movie {i}, the sequel ({1950 + i % 70})", "Comedy|Drama" if i % 2 else "Action")
                for i in range(1, n_items + 1)
            ]
        )
    return folder


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    ratings = []
    for user in (1, 2, 3):
        n = {1: 30, 2: 19, 3: 25}[user]  # user 2 has too few ratings to be tested
        items = rng.choice(np.arange(1, 301), n, replace=False)
        for t, item in enumerate(items):
            ratings.append((user, int(item), 4.5 if t % 4 else 2.0, 1000 * user + t))
    return movielens.load(write_movielens(tmp_path / "tiny", ratings))


def test_split_takes_the_last_ten_positives_of_eligible_users(tiny):
    sp = protocol.split(tiny)
    assert sp.users == [1, 3]
    for user in sp.users:
        start, stop = sp.spans[user]
        positives = start + np.flatnonzero(tiny.rating[start:stop] >= 4.0)
        assert np.flatnonzero(sp.is_test[start:stop]).tolist() == (positives[-10:] - start).tolist()


def test_candidates_are_unrated_distinct_and_seeded(tiny):
    sp = protocol.split(tiny)
    a = list(protocol.steps(tiny, sp, realtime=True, seed=0))
    b = list(protocol.steps(tiny, sp, realtime=True, seed=0))
    c = list(protocol.steps(tiny, sp, realtime=True, seed=1))
    assert len(a) == 20 and all(len(s.candidates) == 100 for s in a)
    for s in a:
        start, stop = sp.spans[s.user]
        rated = set(tiny.item[start:stop].tolist())
        assert len(set(s.candidates.tolist())) == 100
        assert s.candidates[0] in rated and not rated & set(s.candidates[1:].tolist())
    assert all(np.array_equal(x.candidates, y.candidates) for x, y in zip(a, b))
    assert not all(np.array_equal(x.candidates, y.candidates) for x, y in zip(a, c))


def test_realtime_observes_the_target_and_what_followed_static_nothing(tiny):
    sp = protocol.split(tiny)
    realtime = list(protocol.steps(tiny, sp, realtime=True))
    static = list(protocol.steps(tiny, sp, realtime=False))
    start, stop = sp.spans[1]
    test_idx = (start + np.flatnonzero(sp.is_test[start:stop])).tolist()
    assert realtime[0].observe_before == list(range(start, test_idx[0])) == static[0].observe_before
    assert realtime[1].observe_before == list(range(test_idx[0], test_idx[1]))
    assert all(s.observe_before == [] for s in static[1:10])


def test_full_ranks_the_target_among_every_item_not_yet_observed(tiny):
    """The full protocol (docs/EVAL.md): no sampling; what the user has observed so far in the
    replay is out, what they rate later is in."""
    sp = protocol.split(tiny)
    for realtime in (True, False):
        full = list(protocol.steps(tiny, sp, realtime=realtime, protocol="full"))
        sampled = list(protocol.steps(tiny, sp, realtime=realtime))
        assert [s.observe_before for s in full] == [s.observe_before for s in sampled]
        observed: dict[int, set] = {}
        for step in full:
            observed.setdefault(step.user, set()).update(tiny.item[step.observe_before].tolist())
            target, others = int(step.candidates[0]), set(step.candidates[1:].tolist())
            assert target not in observed[step.user] and target not in others
            assert others == set(tiny.item_ids.tolist()) - observed[step.user] - {target}
    with pytest.raises(ValueError, match="protocol must be one of replay-100, full, cold-items"):
        next(protocol.steps(tiny, sp, realtime=True, protocol="sampled"))


def test_cold_items_ranks_cold_targets_among_cold_items_and_never_observes_cold_events(tmp_path):
    rng = np.random.default_rng(3)
    ratings = [
        (user, int(item), 4.5 if t % 4 else 2.0, 1000 * user + t)
        for user in (1, 2, 3)
        for t, item in enumerate(rng.choice(np.arange(1, 301), 60, replace=False))
    ]
    tiny = movielens.load(write_movielens(tmp_path / "cold", ratings, n_items=1000))
    sp = protocol.split(tiny)
    cold = set(protocol.cold_items(tiny).tolist())
    assert len(cold) == int(0.2 * len(tiny.item_ids))
    steps = list(protocol.steps(tiny, sp, realtime=True, protocol="cold-items"))
    assert steps, "the tiny data set has cold test targets"
    previous: dict[int, int] = {}
    for step in steps:
        start, stop = sp.spans[step.user]
        rated = set(tiny.item[start:stop].tolist())
        target, others = int(step.candidates[0]), step.candidates[1:].tolist()
        assert target in cold and len(others) == 99 and set(others) <= cold and not rated & set(others)
        assert not cold & set(tiny.item[step.observe_before].tolist()), "a cold event was observed"
        assert step.observe_quietly == ([previous[step.user]] if step.user in previous else [])
        idx = start + int(np.flatnonzero(tiny.item[start:stop] == target)[0])
        previous[step.user] = idx
    with pytest.raises(ValueError, match="cold-items is a realtime protocol"):
        next(protocol.steps(tiny, sp, realtime=False, protocol="cold-items"))


def test_ties_count_against_the_target_and_metrics():
    assert protocol.rank_of_target(np.zeros(100)) == 99
    assert protocol.rank_of_target(np.r_[1.0, np.zeros(99)]) == 0
    m = metrics.accuracy(np.array([0, 9, 10, 99]))
    assert m["HR@10"] == 0.5
    assert m["NDCG@10"] == pytest.approx((1 + 1 / np.log2(11)) / 4)
    assert m["MRR"] == pytest.approx((1 + 1 / 10 + 1 / 11 + 1 / 100) / 4)


def test_co_engagement_baseline_is_the_definition_in_eval_md():
    """Brute force over docs/EVAL.md's formula: binary train positives X, C = XᵀX, cosine-scaled
    counts weighted 0.9^age over the last 50 positives (newest age 0)."""
    pytest.importorskip("scipy", reason="the co-engagement baseline needs the eval extra")
    rng = np.random.default_rng(4)
    n_items = 30
    sequences = [rng.choice(n_items, rng.integers(1, 12)) for _ in range(25)]  # repeats allowed
    method = baselines.CoEngagement(sequences, n_items)
    x = np.zeros((len(sequences), n_items))
    for u, seq in enumerate(sequences):
        x[u, seq] = 1.0
    c = x.T @ x
    history = [int(i) for i in rng.choice(n_items, 60)]
    for row in history:
        method.observe("u", row, "like", 0.0)
    method.observe("u", 3, "view", 0.0)  # not a positive: no effect
    rows = np.arange(n_items)
    last = history[-50:]
    want = [
        sum(
            0.9 ** (len(last) - 1 - j) * c[h, r] / (np.sqrt(c[h, h]) * np.sqrt(c[r, r]) + 1e-9)
            for j, h in enumerate(last)
        )
        for r in rows
    ]
    np.testing.assert_allclose(method.score("u", rows, 0.0), want, rtol=1e-6)
    assert np.all(method.score("nobody", rows, 0.0) == 0)


def test_a_slice_of_movielens_runs_end_to_end(movielens_dir, tmp_path):
    with open(movielens_dir / "ratings.csv") as f:
        rows = [r for r in csv.reader(f)][1:]
    users = sorted({int(r[0]) for r in rows})[:40]
    keep = [r for r in rows if int(r[0]) in users]
    folder = tmp_path / "slice"
    write_ratings(folder, keep)
    for name in ("movies.csv", "tags.csv"):
        (folder / name).write_bytes((movielens_dir / name).read_bytes())
    ex = Experiment(folder, encoder="hashing", progress=False)
    results = ex.run(("random", "popularity", "content", "pyrerank"), "realtime")
    assert results["popularity"]["HR@10"] > results["random"]["HR@10"] + 0.2
    assert results["pyrerank"]["NDCG@10"] > results["random"]["NDCG@10"] + 0.1
    for m in results.values():
        assert 0 <= m["NDCG@10"] <= m["HR@10"] <= 1 and 0 < m["coverage"] <= 1


@pytest.mark.slow
def test_reference_baselines_are_reproduced(movielens_dir):
    """docs/EVAL.md: seed 0, 531 users, 5,310 steps; its reference figures for random scores,
    popularity and recency-weighted co-engagement."""
    pytest.importorskip("scipy", reason="the co-engagement baseline needs the eval extra")
    ex = Experiment(movielens_dir, encoder="hashing", progress=False)
    assert len(ex.split.users) == 531 and ex.split.is_test.sum() == 5310
    reference = {
        "random": (0.104, 0.046, 0.051),
        "popularity": (0.671, 0.420, 0.357),
        "co-engagement": (0.755, 0.537, 0.478),
    }
    got = ex.run(tuple(reference), "realtime")
    for method, want in reference.items():
        for metric, value in zip(("HR@10", "NDCG@10", "MRR"), want):
            assert abs(got[method][metric] - value) <= 0.005, (method, metric, got[method][metric])


def test_eval_all_protocols_gives_one_report_with_click_metrics(tmp_path, capsys):
    """`pyrerank eval --protocol all`: every method on replay-100, full and cold-items in one
    table and one results.json; a click model's held-out ROC-AUC beside its ranking figures."""
    from pyrerank.cli import main

    rng = np.random.default_rng(3)
    ratings = [
        (user, int(item), 4.5 if t % 4 else 2.0, 1000 * user + t)
        for user in (1, 2, 3, 4)
        for t, item in enumerate(rng.choice(np.arange(1, 301), 60, replace=False))
    ]
    folder = write_movielens(tmp_path / "data", ratings, n_items=1000)
    args = ["eval", "--data", str(folder), "--protocol", "all", "--methods", "random,pyrerank:mlp"]
    assert main([*args, "--variant", "realtime", "--encoder", "hashing", "--quiet", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert list(saved["results"]) == ["realtime", "realtime, full", "realtime, cold-items"]
    assert saved["config"]["steps"]["realtime, full"] == 40
    for by_method in saved["results"].values():
        assert 0.5 < by_method["pyrerank:mlp"]["AUC"] <= 1 and "AUC" not in by_method["random"]
    table = capsys.readouterr().out
    assert table.count("| pyrerank:mlp |") == 3 and "| random | realtime, cold-items |" in table
