"""Past one machine, on Ray (the ``ray`` extra): a catalogue encoded by a pool of actors and a
batch job re-ranking every user's candidates, both Ray Data pipelines that read and write
parquet, and the HTTP service as Ray Serve replicas. The cluster is Ray's (``ray start``);
nothing here manages machines.

    import pyrerank.distributed as prd
    prd.encode("items.parquet", "vectors/", actors=8)              # id, text -> id, vector
    ids, vectors = prd.read_vectors("vectors/")
    rr.add_items(ids, vectors=vectors); rr.save("model/")
    prd.rerank("model/", "requests.parquet", "ranked/", k=20)       # user, candidates -> user, items, scores
    prd.serve("model/", store="redis://host:6379/0", replicas=4)    # the HTTP service, on a shared store

Each actor holds one model (one encoder, or one Reranker opened from a save: item vectors
memory-mapped, user state from the save or from a shared store such as Redis).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from . import _validate as check
from .errors import PyrerankError


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise PyrerankError('pyrerank.distributed needs Ray: pip install "pyrerank[ray]"') from exc
    return ray


def _connect(address: str | None) -> Any:
    """Ray, connected to the cluster at `address` (None: RAY_ADDRESS, else a local one)."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray


def _dataset(ray: Any, source: Any, what: str) -> Any:
    """A Ray Dataset from a parquet or CSV path (file or folder), an iterable of dicts, or a Dataset."""
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{what}: {path!r} does not exist")
        csv = path.endswith(".csv") or (os.path.isdir(path) and any(p.endswith(".csv") for p in os.listdir(path)))
        return ray.data.read_csv(path) if csv else ray.data.read_parquet(path)
    if isinstance(source, ray.data.Dataset):
        return source
    if isinstance(source, Iterable):
        rows = list(source)
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{what} must be a parquet/CSV path, a Ray Dataset or a non-empty iterable of dicts")
        return ray.data.from_items(rows)
    raise TypeError(
        f"{what} must be a parquet/CSV path, a Ray Dataset or an iterable of dicts, got {type(source).__name__}"
    )


def _check_counts(**values: object) -> None:
    """An error naming the first of `values` that is not an int >= 1."""
    for name, value in values.items():
        check.integer(value, name, 1)


class _Encode:
    """One encoder per actor: {id, text} batches -> {id, vector}."""

    def __init__(self, encoder: str, options: dict[str, Any], id_column: str, text_column: str) -> None:
        from .plugins import get_encoder

        self.encoder, self.id_column, self.text_column = get_encoder(encoder, **options), id_column, text_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch[self.text_column].tolist()]
        return {"id": batch[self.id_column], "vector": self.encoder.encode(texts)}


def encode(
    source: Any,
    out_dir: str | os.PathLike,
    *,
    encoder: str = "minilm",
    encoder_options: dict[str, Any] | None = None,
    id_column: str = "id",
    text_column: str = "text",
    actors: int = 2,
    batch_size: int = 256,
    gpus_per_actor: float = 0.0,
    address: str | None = None,
) -> Path:
    """Encode a catalogue on the Ray cluster and write (id, vector) parquet shards to `out_dir`
    (read them with :func:`read_vectors`); returns `out_dir`.

    source : a parquet or CSV file or folder, a Ray Dataset, or an iterable of dicts, with
        columns `id_column` and `text_column`
    encoder, encoder_options : a registered encoder, built once in each actor (on a GPU actor,
        ``{"device": "cuda", "fp16": True}``)
    actors : the pool's size; batch_size : texts per call; gpus_per_actor : GPUs each actor holds
    address : the cluster ("auto", "ray://host:port", ...); None: RAY_ADDRESS, else a local Ray
    """
    _check_counts(actors=actors, batch_size=batch_size)
    if not isinstance(gpus_per_actor, (int, float)) or gpus_per_actor < 0:
        raise ValueError(f"gpus_per_actor must be a number >= 0, got {gpus_per_actor!r}")
    ray = _connect(address)
    dataset = _dataset(ray, source, "source")
    missing = {id_column, text_column} - set(dataset.columns())
    if missing:
        raise ValueError(f"source has no column {sorted(missing)}; it has {dataset.columns()}")
    encoded = dataset.select_columns([id_column, text_column]).map_batches(
        _Encode,
        fn_constructor_kwargs={
            "encoder": encoder,
            "options": dict(encoder_options or {}),
            "id_column": id_column,
            "text_column": text_column,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus_per_actor,
    )
    encoded.write_parquet(str(out_dir))
    return Path(out_dir)


def read_vectors(folder: str | os.PathLike) -> tuple[list[Any], np.ndarray]:
    """(ids, (n, dim) float32 vectors) from the shards :func:`encode` wrote, in id order (no Ray needed)."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(folder))
    ids = table.column("id").to_pylist()
    vectors = np.stack([np.asarray(v, np.float32) for v in _tensor_rows(table.column("vector"))])
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], vectors[order]


def _tensor_rows(column: Any) -> list[Any]:
    """The rows of a parquet column Ray wrote from a numpy (n, dim) array (a tensor extension
    type, or its list storage when read without Ray's types registered)."""
    chunks = column.chunks
    storage = [chunk.storage if hasattr(chunk, "storage") else chunk for chunk in chunks]
    return [row for chunk in storage for row in chunk.to_numpy(zero_copy_only=False)]


class _Rerank:
    """One Reranker per actor, opened from a save: {user, candidates[, scores]} batches ->
    {user, items, scores}."""

    def __init__(self, model: str, options: dict[str, Any], k: int, now: float) -> None:
        from .reranker import Reranker

        self.rr, self.k, self.now = Reranker.load(model, **options), k, now

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        users, items, scores = [], [], []
        upstream = batch.get("scores")
        for i, (user, candidates) in enumerate(zip(batch["user"].tolist(), batch["candidates"])):
            given = None if upstream is None else np.asarray(upstream[i], np.float32)
            ranked = self.rr.rerank(user, np.asarray(candidates).tolist(), self.k, scores=given, now=self.now)
            users.append(user)
            items.append([r.item for r in ranked])
            scores.append(np.array([r.score for r in ranked], np.float32))
        return {"user": np.array(users, dtype=object), "items": _ragged(items), "scores": _ragged(scores)}


def _ragged(rows: list[Any]) -> np.ndarray:
    """An object array of per-row lists (Ray writes it as a list column)."""
    out = np.empty(len(rows), dtype=object)
    out[:] = [np.asarray(r) for r in rows]
    return out


def rerank(
    model: str | os.PathLike,
    requests: Any,
    out_dir: str | os.PathLike,
    *,
    k: int = 10,
    now: float | None = None,
    store: str | None = None,
    actors: int = 2,
    batch_size: int = 256,
    address: str | None = None,
) -> Path:
    """Re-rank every request of `requests` on the Ray cluster, each actor holding the Reranker
    saved at `model`, and write (user, items, scores) parquet shards to `out_dir`: every row
    exactly what ``Reranker.load(model, store=store).rerank(user, candidates, k, scores=scores,
    now=now)`` returns in one process. Returns `out_dir`.

    requests : a parquet file or folder, a Ray Dataset, or an iterable of dicts with columns
        user, candidates (a list of item ids) and optionally scores (a list of floats)
    now : the moment every request is ranked at (default: when the job starts, one for all)
    store : user state from this shared store URL (e.g. "redis://host:6379/0"); None: the users
        the save holds
    """
    _check_counts(actors=actors, batch_size=batch_size, k=k)
    if not Path(model, "model.json").is_file():
        raise FileNotFoundError(f"model: {str(model)!r} is not a folder Reranker.save wrote")
    ray = _connect(address)
    dataset = _dataset(ray, requests, "requests")
    missing = {"user", "candidates"} - set(dataset.columns())
    if missing:
        raise ValueError(f"requests has no column {sorted(missing)}; it has {dataset.columns()}")
    options = {} if store is None else {"store": store}
    ranked = dataset.map_batches(
        _Rerank,
        fn_constructor_kwargs={
            "model": str(Path(model).resolve()),
            "options": options,
            "k": k,
            "now": time.time() if now is None else float(now),
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    ranked.write_parquet(str(out_dir))
    return Path(out_dir)


def serve(
    bundle: str | os.PathLike,
    *,
    store: str,
    replicas: int = 2,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key_file: str | None = None,
    name: str = "pyrerank",
    address: str | None = None,
) -> str:
    """Run the HTTP service of ``pyrerank serve`` (the same ASGI app) as `replicas` Ray Serve
    replicas on the cluster, each opening the save at `bundle` on the shared `store` (a Redis
    URL, so that an event observed through one replica is in the next rerank through any
    other); returns the base URL. ``ray.serve.shutdown()`` (or ``serve.delete(name)``) stops it.
    Needs ``pip install "pyrerank[ray,serve]"``."""
    _check_counts(replicas=replicas)
    folder = Path(bundle).resolve()
    if not (folder / "model.json").is_file():
        raise FileNotFoundError(f"bundle: {str(bundle)!r} is not a folder Reranker.save wrote")
    _connect(address)
    try:
        from ray import serve as ray_serve
    except ImportError as exc:
        raise PyrerankError('serving on Ray needs Ray Serve: pip install "pyrerank[ray]"') from exc

    def build() -> Any:  # runs in each replica
        from .reranker import Reranker
        from .serve.app import create_app
        from .serve.runner import read_api_key

        return create_app(
            Reranker.load(folder, store=store), api_key=read_api_key(api_key_file), close_on_shutdown=True
        )

    replica = type("PyrerankReplica", (), {"__doc__": "One pyrerank service replica."})
    deployment: Any = ray_serve.deployment(ray_serve.ingress(build)(replica), name=name, num_replicas=replicas)
    ray_serve.start(http_options={"host": host, "port": port})
    ray_serve.run(deployment.bind(), name=name, route_prefix="/")
    return f"http://{host}:{port}"
