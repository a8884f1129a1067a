"""What a Reranker's save holds, part by part, and how a Reranker takes it back (the file format
itself is pyrerank.persist).

Parts: ``config`` (encoder, interest and ranker names, dtype, exact_forget, forget_horizon,
max_neighbors), ``catalog`` (vectors as stored, row scales, ids, metadata), ``item_stats``
(counts, links, and where exact_forget keeps them the unsettled per-user contributions, the
settled counts and the undo log), ``ranker`` (what it learned) and ``users`` (the records a
memory store holds, as the columns of pyrerank.serving.user_columns: opening a save slices a
few arrays however many users there are; saves before 0.5 held one byte blob of records in the
format a durable store keeps).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import PyrerankError
from .interfaces import Ranker, split_state, user_key
from .persist import Part
from .serving.catalog import Catalog
from .serving.item_stats import ItemStats
from .serving.user_columns import from_columns, to_columns
from .serving.users import UserCache, UserRecord

SETTINGS = ("encoder", "interest", "ranker", "dtype")
LATER_SETTINGS = ("exact_forget", "forget_horizon", "max_neighbors")  # absent from older saves


def parts_of(
    config: dict[str, Any], catalog: Catalog, stats: ItemStats, ranker: Ranker, users: UserCache
) -> dict[str, Part]:
    """Everything a save holds, copied (the caller holds the locks that keep it consistent)."""
    ids, records = zip(*users.items()) if len(users) else ((), ())
    user_arrays, user_meta = to_columns(records)
    ranker_arrays, ranker_scalars = split_state(ranker.get_state())
    return {
        "config": ({}, config),
        "catalog": catalog.to_arrays(),
        "item_stats": stats.to_arrays(),
        "ranker": ({k: v.copy() for k, v in ranker_arrays.items()}, ranker_scalars),
        "users": (user_arrays, {**user_meta, "ids": list(ids), "width": catalog.dim}),
    }


def settings(parts: dict[str, Part], path: str | os.PathLike) -> dict[str, Any]:
    """The constructor settings a save names (encoder and its options, interest, ranker, dtype,
    and exact_forget, forget_horizon and max_neighbors where it names them: saves from before them take the
    constructor's defaults)."""
    try:
        config = parts["config"][1]
        named = {key: config[key] for key in LATER_SETTINGS if key in config}
        return {**{key: config[key] for key in SETTINGS}, "encoder_options": config.get("encoder_options"), **named}
    except (KeyError, TypeError) as exc:
        raise PyrerankError(f"saved model at {str(path)!r} is corrupt: no {exc} in its config") from exc


def restore(
    parts: dict[str, Part], *, dtype: str, stats: ItemStats, ranker: Ranker | None, users: UserCache | None
) -> Catalog:
    """The saved catalog; the saved statistics into `stats`, what the ranker learned into
    `ranker` (None: not the saved ranker) and the saved users into `users` (None: a durable
    store has its own)."""
    catalog = Catalog.from_arrays(*parts["catalog"])
    if str(catalog.dtype) != dtype:
        raise PyrerankError(f"the saved catalog holds {catalog.dtype} vectors, its config says {dtype}")
    stats_arrays, stats_meta = parts["item_stats"]
    if len(stats_arrays["table"]) != len(catalog):
        raise PyrerankError(f"item statistics cover {len(stats_arrays['table'])} items, the catalog has {len(catalog)}")
    stats.load_arrays(stats_arrays, stats_meta)
    if ranker is not None:
        arrays, scalars = parts["ranker"]
        ranker.set_state({**scalars, **arrays})
    if users is None:
        return catalog
    arrays, meta = parts["users"]
    if "blob" in arrays:
        _restore_records(arrays, meta, catalog, users)
        return catalog
    if meta.get("width") != catalog.dim:
        raise PyrerankError(
            f"the saved users were built on vectors {meta.get('width')} wide, the catalog's are {catalog.dim}"
        )
    try:
        ids = list(meta["ids"])
        records = from_columns(arrays, meta, len(ids), len(catalog), keep_logs=users.replay is not None)
    except (KeyError, TypeError, ValueError) as exc:
        raise PyrerankError(f"the saved users' records are corrupt: {exc}") from exc
    for user, record in zip(ids, records):
        users.put(user_key(user), record)
    return catalog


def _restore_records(arrays: dict[str, np.ndarray], meta: dict[str, Any], catalog: Catalog, users: UserCache) -> None:
    """Users as saves before 0.5 held them: one blob of UserRecord.to_bytes records."""
    blob, ends, ids = arrays["blob"], arrays["ends"], meta["ids"]
    if len(ends) != len(ids) or (len(ends) and (int(ends[-1]) != len(blob) or (np.diff(ends) < 0).any())):
        raise PyrerankError("the saved users' records do not match their ids")
    for i, user in enumerate(ids):
        start = int(ends[i - 1]) if i else 0
        record, width = UserRecord.from_bytes(blob[start : int(ends[i])].tobytes(), catalog.row)
        if width != catalog.dim:
            raise PyrerankError(f"user record {i} was built on vectors {width} wide, the catalog's are {catalog.dim}")
        users.put(user_key(user), record)
