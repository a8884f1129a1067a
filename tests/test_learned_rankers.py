"""The learned rankers, bilinear and mlp: conformance when trained, what they learn, the click
metrics fit reports, and a whole Reranker fit/save/load with each."""

from __future__ import annotations

import numpy as np
import pytest
from topics import ITEMS, assert_space_fan_served_and_saved, topic_history

import pyrerank as pr
from pyrerank.interfaces import COLUMNS, TrainingExamples
from pyrerank.rankers._training import choice_metrics
from pyrerank.rankers.bilinear import BilinearRanker
from pyrerank.rankers.mlp import MLPRanker
from pyrerank.testing import RankerConformance

DIM, CATALOG_SIZE, NEGATIVES = 16, 100, 4


def unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=-1, keepdims=True)).astype(np.float32)


def hidden_taste_examples(n: int = 3000, seed: int = 0) -> TrainingExamples:
    """Groups whose positive is the candidate with the highest uᵀ M i for a hidden diagonal M of ±1s:
    the cosine similarity column says nothing about it, only a learned interaction can."""
    rng = np.random.default_rng(seed)
    items = unit(rng.standard_normal((CATALOG_SIZE, DIM)))
    m = np.diag(rng.choice([-1.0, 1.0], DIM))  # a taste cosine (all +1) cannot see
    users = unit(rng.standard_normal((n, DIM)))
    rows = np.stack([rng.choice(CATALOG_SIZE, 1 + NEGATIVES, replace=False) for _ in range(n)])
    taste = np.einsum("nd,de,nge->ng", users, m, items[rows])
    best = taste.argmax(axis=1)
    rows[np.arange(n), 0], rows[np.arange(n), best] = rows[np.arange(n), best], rows[np.arange(n), 0]
    x = rng.standard_normal((n, 1 + NEGATIVES, len(COLUMNS))).astype(np.float32)  # noise columns
    x[:, :, COLUMNS.index("similarity")] = np.einsum("nd,ngd->ng", users, items[rows])
    return TrainingExamples(COLUMNS, x[:, 0], x[:, 1:], users, rows, items)


@pytest.fixture(scope="module")
def examples() -> TrainingExamples:
    return hidden_taste_examples()


def trained(cls, examples):
    ranker = cls(epochs=8) if cls is MLPRanker else cls(epochs=8, lr=0.02)
    ranker.fit(examples)
    return ranker


@pytest.mark.parametrize("cls", [BilinearRanker, MLPRanker])
def test_a_learned_interaction_finds_what_cosine_cannot(cls, examples):
    ranker = trained(cls, examples)
    assert ranker.validation["auc"] > 0.8 and ranker.validation["groups"] == 300  # the latest 10%
    similarity = np.concatenate([examples.positives[:, None], examples.negatives], axis=1)[:, :, 0]
    labels = np.zeros_like(similarity)
    labels[:, 0] = 1
    assert choice_metrics(similarity, labels)["auc"] < 0.6  # cosine alone: barely better than chance


def test_choice_metrics_match_counting_every_pair():
    rng = np.random.default_rng(3)
    logits = np.round(rng.standard_normal((40, 5)), 1)  # ties on purpose
    labels = np.zeros((40, 5), np.float32)
    labels[np.arange(40), rng.integers(0, 5, 40)] = 1
    got = choice_metrics(logits, labels)
    pairs = [
        np.mean([(g[labels[i] == 1][0] > o) + 0.5 * (g[labels[i] == 1][0] == o) for o in g[labels[i] == 0]])
        for i, g in enumerate(logits)
    ]
    assert got["auc"] == pytest.approx(np.mean(pairs), abs=1e-4) and got["groups"] == 40
    chosen = np.exp(logits[labels == 1]) / np.exp(logits).sum(axis=1)
    assert got["log_loss"] == pytest.approx(-np.mean(np.log(chosen)), abs=1e-4)


@pytest.mark.parametrize("cls", [BilinearRanker, MLPRanker])
def test_probabilities_follow_the_scores(cls, examples):
    ranker = trained(cls, examples)
    request = TestTrainedMLP()._request(pr.UserQuery(unit(np.ones((1, DIM)))))
    scores, chances = ranker.score(request), ranker.probability(request)
    assert chances.dtype == np.float32 and ((chances > 0) & (chances < 1)).all() and chances.sum() == pytest.approx(1)
    assert (np.argsort(scores, kind="stable") == np.argsort(chances, kind="stable")).all()


class TestTrainedBilinear(RankerConformance):
    def make_ranker(self):
        return trained(BilinearRanker, hidden_taste_examples(600))


class TestTrainedMLP(RankerConformance):
    def make_ranker(self):
        return trained(MLPRanker, hidden_taste_examples(600))


class TestUntrainedMLP(RankerConformance):
    def make_ranker(self):
        return MLPRanker()


class TestUntrainedBilinear(RankerConformance):
    def make_ranker(self):
        return BilinearRanker()


@pytest.mark.parametrize("name", ["bilinear", "mlp"])
def test_fit_trains_it_and_a_save_keeps_it(name, tmp_path):
    rr = pr.Reranker(encoder="hashing", ranker=name)
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    rr.fit(topic_history(80), collaborative_dim=8)
    assert 0.5 < rr.ranker.validation["auc"] <= 1.0 and rr.ranker.validation["log_loss"] > 0
    back = assert_space_fan_served_and_saved(rr, tmp_path / "saved")
    assert back.ranker.validation == rr.ranker.validation
    explained = rr.explain("fan", 8)
    assert explained["score"] == pytest.approx(rr.rerank("fan", [8])[0].score, abs=1e-4)


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="low_rank must be an int >= 1"):
        pr.Reranker(encoder="hashing", ranker="bilinear", ranker_options={"low_rank": 0})
    with pytest.raises(ValueError, match="hidden must be an int >= 1"):
        pr.Reranker(encoder="hashing", ranker="mlp", ranker_options={"hidden": 2.5})
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        pr.Reranker(encoder="hashing", ranker="mlp", ranker_options={"epochs": -1})
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        pr.Reranker(encoder="hashing", ranker="bilinear", ranker_options={"lr": float("nan")})
    with pytest.raises(ValueError, match="l2 must be a number >= 0"):
        pr.get_ranker("bilinear", l2=-1.0)


def test_a_ranker_fitted_on_other_vectors_says_so(examples):
    ranker = trained(MLPRanker, examples)
    request = TestTrainedMLP()._request(pr.UserQuery(unit(np.ones((1, 8)))))
    request.matrix, request.recent = np.ascontiguousarray(request.matrix[:, :8]), None
    with pytest.raises(ValueError, match="learned 16-d vectors, the catalog's are 8-d"):
        ranker.score(request)


def test_mlp_scores_from_one_kernel_pass_equal_the_columns_they_stand_for(examples):
    """score() gathers every similarity in one kernel pass: it equals the MLP applied to
    RankRequest.columns() and the interactions u ⊙ W_j · dim computed in numpy."""
    ranker = trained(MLPRanker, examples)
    request = TestTrainedMLP()._request(pr.UserQuery(unit(np.ones((2, DIM))), np.array([1.0, 0.5], np.float32)))
    request.search = unit(np.arange(DIM, dtype=np.float32))
    p = ranker.params
    inter = (request.vectors() * request.query.mean() * DIM) @ p["w"].T
    z = np.hstack([(request.columns() - p["mean"]) / p["std"], inter])
    want = np.maximum(z @ p["w1"] + p["b1"], 0) @ p["w2"] + request.columns() @ p["linear"]
    np.testing.assert_allclose(ranker.score(request), want, rtol=1e-4, atol=1e-4)


def test_fit_is_deterministic_for_a_seed():
    def fitted(seed):
        rr = pr.Reranker(encoder="hashing")
        rr.add_items(list(ITEMS), list(ITEMS.values()))
        return rr.fit(topic_history(80), collaborative_dim=8, seed=seed)

    a, b, c = fitted(0), fitted(0), fitted(1)
    np.testing.assert_array_equal(a.catalog.matrix, b.catalog.matrix)
    for key in ("a", "b", "prior"):
        np.testing.assert_array_equal(a.ranker.get_state()[key], b.ranker.get_state()[key])
    assert not np.array_equal(a.ranker.get_state()["b"], c.ranker.get_state()["b"])


def test_fit_draws_progress_bars_when_asked(capsys):
    pytest.importorskip("tqdm")
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    rr.fit(topic_history(80), progress=True)
    err = capsys.readouterr().err
    assert "fit: counting" in err and "fit: examples" in err
    rr.fit(topic_history(80), progress=False)
    assert capsys.readouterr().err == ""


def test_fit_trains_a_copy_so_a_rerank_in_flight_keeps_the_ranker_of_its_catalog():
    """rerank builds its request under the lock and ranks outside it: a fit that changes the
    item vectors in between must not hand that request a ranker trained on the new ones."""
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    before = rr.ranker
    rr.fit(topic_history(), collaborative_dim=8)
    assert rr.ranker is not before and before.a is None  # the old one untouched, still for 384-d rows
    assert rr.ranker.a.shape[0] == rr.catalog.dim == 384 + 8
