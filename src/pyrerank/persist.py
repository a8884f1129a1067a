"""Save and load a Reranker as numpy arrays plus JSON: never pickle.

Layout of the folder: ``reranker.json`` (configuration, item ids, metadata, user ids and
scalars), ``arrays.npz`` (item vectors, statistics, co-engagement triples, user arrays).
A save writes a new folder beside the target and renames it into place, so a crash never
leaves a half-written save under the target name.
"""

from __future__ import annotations

import io
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
from .stores.base import user_key

FORMAT = 1


def save(rr, path: str | os.PathLike) -> None:
    target = Path(path)
    catalog = rr._catalog()
    arrays: dict[str, np.ndarray] = {"vectors": catalog.matrix}
    stats = rr.stats
    with stats.lock:
        arrays["item_stats"] = stats.table.copy()
        arrays["co"] = stats.co.triples()
    users = []
    for i, (user, record) in enumerate(rr.users.items()):
        state_arrays, scalars = record.split_state()
        arrays.update({f"user{i}.{key}": value for key, value in state_arrays.items()})
        users.append({"id": user, "scalars": scalars, "recent": record.recent})
    config = {
        "format": FORMAT,
        "encoder": rr.encoder.name if rr._encoder is not None else (
            rr._encoder_spec if isinstance(rr._encoder_spec, str) else rr._encoder_spec.name),
        "interest": rr.interest.name,
        "ranker": rr.ranker.name,
        "ranker_weights": dict(getattr(rr.ranker, "weights", None) or {}) or None,
        "dtype": str(catalog.dtype),
        "text_dim": catalog.text_dim,
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
        rr.catalog = Catalog(config.get("text_dim", vectors.shape[1]), config["dtype"], dim=vectors.shape[1])
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
            rr.users.put(user_key(user["id"]), UserRecord(state=state, recent=[int(r) for r in user["recent"]]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PyrerankError(f"saved reranker at {str(folder)!r} is corrupt: {exc!r}") from exc
    return rr


def stats_snapshot(stats, catalog: Catalog) -> bytes:
    """The item statistics as npz bytes keyed by item id (a process whose catalogue has other
    rows can restore them): ``ids`` (JSON), ``table`` (n, 4) float64, ``co`` (m, 3) float64."""
    with stats.lock:
        table = stats.table[: len(catalog)].copy()
        co = stats.co.triples()
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.array(json.dumps(catalog.ids[: len(table)])), table=table, co=co)
    return buffer.getvalue()


def restore_stats(stats, data: bytes, catalog: Catalog) -> None:
    """Replace `stats` by a :func:`stats_snapshot`; items not in `catalog` are left out."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            ids, table, co = json.loads(str(npz["ids"])), npz["table"], npz["co"]
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise PyrerankError(f"the store's statistics snapshot is corrupt: {exc}") from exc
    here = np.array([catalog.row_of.get(i, -1) for i in ids], np.int64)
    with stats.lock:
        stats.resize(len(catalog))
        known = here >= 0
        stats.table[here[known]] = table[known]
        for a, b, c in co:
            ra, rb = here[int(a)], here[int(b)]
            if ra >= 0 and rb >= 0:
                stats.co.neighbors.setdefault(int(ra), {})[int(rb)] = float(c)
                stats.co.version[int(ra)] = stats.co.version.get(int(ra), 0) + 1
