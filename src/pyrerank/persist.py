"""Save and load a Reranker as numpy arrays plus JSON: never pickle.

Layout of the folder: ``reranker.json`` (configuration, item ids, metadata, user ids and
scalars), ``arrays.npz`` (item vectors, statistics, co-engagement triples, user arrays).
A save writes a new folder beside the target and renames it into place, so a crash never
leaves a half-written save under the target name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import Catalog
from .errors import PyrerankError
from .profiles import UserRecord

FORMAT = 1


def save(rr, path: str | os.PathLike) -> None:
    target = Path(path)
    catalog = rr._catalog()
    arrays: dict[str, np.ndarray] = {"vectors": catalog.matrix}
    stats = rr.stats
    with stats.lock:
        arrays["item_stats"] = stats.table.copy()
        triples = [(a, b, c) for a, links in stats.co.neighbors.items() for b, c in links.items()]
    arrays["co"] = np.array(triples, np.float64).reshape(-1, 3)
    users = []
    for i, (user, record) in enumerate(rr.store.items()):
        scalars = {}
        for key, value in record.state.items():
            if isinstance(value, np.ndarray):
                arrays[f"user{i}.{key}"] = value
            else:
                scalars[key] = value
        users.append({"id": user, "scalars": scalars, "recent": record.recent})
    config = {
        "format": FORMAT,
        "encoder": rr.encoder.name if rr._encoder is not None else (
            rr._encoder_spec if isinstance(rr._encoder_spec, str) else rr._encoder_spec.name),
        "interest": rr.interest.name,
        "ranker": rr.ranker.name,
        "ranker_weights": getattr(rr.ranker, "weights", None),
        "dtype": str(catalog.dtype),
        "ids": catalog.ids,
        "metadata": [[k, v] for k, v in catalog.metadata.items()],
        "users": users,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "reranker.json").write_text(json.dumps(config))
        np.savez(staging / "arrays.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load(path: str | os.PathLike, **parts: Any):
    """A Reranker from `path`. `parts` (encoder=, interest=, ranker=) override the saved names,
    e.g. to pass instances of third-party classes."""
    from .reranker import Reranker

    folder = Path(path)
    try:
        config = json.loads((folder / "reranker.json").read_text())
        with open(folder / "arrays.npz", "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError as exc:
        raise PyrerankError(f"no saved reranker at {str(folder)!r}: {exc.filename} is missing") from exc
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise PyrerankError(f"saved reranker at {str(folder)!r} is corrupt or truncated: {exc}") from exc
    try:
        if config.get("format") != FORMAT:
            raise PyrerankError(f"saved reranker format {config.get('format')!r} is not {FORMAT}")
        rr = Reranker(encoder=parts.get("encoder", config["encoder"]), interest=parts.get("interest", config["interest"]),
                      ranker=parts.get("ranker", config["ranker"]), dtype=config["dtype"])
        if config.get("ranker_weights") and hasattr(rr.ranker, "weights"):
            rr.ranker.weights = dict(config["ranker_weights"])
        ids = config["ids"]
        vectors = arrays["vectors"]
        if vectors.shape[0] != len(ids):
            raise PyrerankError(f"saved reranker at {str(folder)!r} is corrupt: {len(ids)} ids but {vectors.shape[0]} vectors")
        metadata = dict((k, v) for k, v in config["metadata"])
        rr.catalog = Catalog(vectors.shape[1], config["dtype"])
        rr.catalog.check_ids(ids)
        rr.catalog.upsert(ids, vectors, [metadata.get(i) for i in ids])  # bit-exact: no re-normalising
        stats = rr.stats
        if arrays["item_stats"].shape != (len(ids), 4):
            raise PyrerankError(f"saved reranker at {str(folder)!r} is corrupt: item_stats has shape "
                                f"{arrays['item_stats'].shape}, expected ({len(ids)}, 4)")
        stats.table = np.ascontiguousarray(arrays["item_stats"], np.float64)
        for a, b, c in arrays["co"]:
            stats.co.neighbors.setdefault(int(a), {})[int(b)] = float(c)
        for i, user in enumerate(config["users"]):
            state = dict(user["scalars"])
            prefix = f"user{i}."
            state.update({k[len(prefix):]: v.copy() for k, v in arrays.items() if k.startswith(prefix)})
            rr.store.put(_user_id(user["id"]), UserRecord(state=state, recent=[int(r) for r in user["recent"]]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PyrerankError(f"saved reranker at {str(folder)!r} is corrupt: {exc!r}") from exc
    return rr


def _user_id(value: Any) -> Any:
    """JSON turns tuples into lists; user ids must stay hashable."""
    return tuple(value) if isinstance(value, list) else value
