"""Many users' records as a few columns, numpy arrays plus JSON: the form a save holds them in,
so that opening a save of a million users slices a dozen arrays instead of parsing a file per
user. Exact: states keep their dtypes and bytes, logs their float64 weights and times."""

from __future__ import annotations

import array
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..interfaces import split_state
from .users import EventLog, UserRecord, rows_array

# A log's columns: (array.array type code, numpy dtype), one value per event.
LOG_COLUMNS = {"log_rows": ("i", np.int32), "log_weights": ("d", np.float64), "log_times": ("d", np.float64)}


def to_columns(records: Sequence[UserRecord]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """`records` (n of them) as (arrays, JSON). Each ragged column holds the users' values one
    after another, and its ``_ends`` (n,) int64 where each user's end:
    ``recent``, ``seen`` int32 catalog rows; the logs' ``log_rows`` int32, ``log_weights``,
    ``log_times`` float64 and ``log_seen`` uint8 (ends ``log_ends``), with ``has_log`` (n,) bool
    (a record without a log holds its state only); for each state array key K, ``state.K`` uint8
    raw C-order bytes, ``state.K.shape`` (n, max ndim) int64 padded with -1 and ``state.K.dtype``
    (n,) int16, an index into the JSON's ``state_dtypes[K]`` (-1: the user has no K). JSON:
    ``scalars``, each user's scalar state values."""
    states = [split_state(record.state) for record in records]
    arrays = {
        **_ragged("recent", [record.recent.tobytes() for record in records], np.int32),
        **_ragged("seen", [record.seen.tobytes() for record in records], np.int32),
        "has_log": np.array([record.log is not None for record in records], bool),
    }
    logs = [record.log or EventLog() for record in records]
    arrays.update(_ragged("log_seen", [bytes(log.seen) for log in logs], np.uint8))
    arrays["log_ends"] = arrays.pop("log_seen_ends")
    for name, field in zip(LOG_COLUMNS, ("rows", "weights", "timestamps")):
        arrays[name] = np.frombuffer(b"".join(getattr(log, field).tobytes() for log in logs), LOG_COLUMNS[name][1])
    state_dtypes: dict[str, list[str]] = {}
    for key in sorted({key for state_arrays, _ in states for key in state_arrays}):
        values = [state_arrays.get(key) for state_arrays, _ in states]
        held = [v for v in values if v is not None]
        dtypes = sorted({v.dtype.str for v in held})
        shapes = np.full((len(values), max(v.ndim for v in held)), -1, np.int64)
        codes = np.full(len(values), -1, np.int16)
        for i, value in enumerate(values):
            if value is not None:
                shapes[i, : value.ndim], codes[i] = value.shape, dtypes.index(value.dtype.str)
        data = [b"" if v is None else np.ascontiguousarray(v).tobytes() for v in values]
        arrays.update(_ragged(f"state.{key}", data, np.uint8))
        arrays[f"state.{key}.shape"], arrays[f"state.{key}.dtype"] = shapes, codes
        state_dtypes[key] = dtypes
    return arrays, {"scalars": [scalars for _, scalars in states], "state_dtypes": state_dtypes}


def _ragged(name: str, parts: list[bytes], dtype: Any) -> dict[str, np.ndarray]:
    """{name: the parts' values one after another, name_ends: (n,) int64 where each ends}."""
    itemsize = np.dtype(dtype).itemsize
    ends = np.cumsum([len(part) // itemsize for part in parts], dtype=np.int64)
    return {name: np.frombuffer(b"".join(parts), dtype), f"{name}_ends": ends}


def from_columns(
    arrays: dict[str, np.ndarray], meta: dict[str, Any], n_users: int, n_rows: int, keep_logs: bool
) -> Iterator[UserRecord]:
    """The records of :func:`to_columns`, checked against `n_users` and a catalog of `n_rows`
    (ValueError, KeyError or TypeError naming what does not fit, before the first record);
    logs are left out unless `keep_logs`."""
    arrays = {name: np.asarray(column) for name, column in arrays.items()}  # memory-mapped: plain views, faster slices
    recent = _starts(arrays, "recent", n_users, _rows(arrays["recent"], "recent", n_rows))
    seen = _starts(arrays, "seen", n_users, _rows(arrays["seen"], "seen", n_rows))
    n_events = _rows(arrays["log_rows"], "log_rows", n_rows)
    logs = _starts(arrays, "log", n_users, n_events)
    for name, (_, dtype) in {**LOG_COLUMNS, "log_seen": ("B", np.uint8)}.items():
        if arrays[name].dtype != dtype or arrays[name].shape != (n_events,):
            raise ValueError(f"{name} is not one {np.dtype(dtype)} per logged event")
    has_log, scalars = arrays["has_log"], meta["scalars"]
    if has_log.shape != (n_users,) or not isinstance(scalars, list) or len(scalars) != n_users:
        raise ValueError("has_log or scalars are not one per user")
    if not all(isinstance(s, dict) for s in scalars):
        raise ValueError("a user's scalar state is not a JSON object")
    states = {key: _state_column(arrays, key, n_users, names) for key, names in dict(meta["state_dtypes"]).items()}
    return _records(arrays, recent, seen, logs if keep_logs else None, scalars, states)


def _records(
    arrays: dict[str, np.ndarray],
    recent: list[int],
    seen: list[int],
    logs: list[int] | None,
    scalars: list[dict[str, Any]],
    states: dict[str, tuple[np.ndarray, list[int], np.ndarray, list[np.dtype | None]]],
) -> Iterator[UserRecord]:
    has_log = arrays["has_log"].tolist()
    for i, user_scalars in enumerate(scalars):
        state: dict[str, Any] = {}
        for key, (data, starts, shapes, dtypes) in states.items():
            if dtypes[i] is not None:
                shape = tuple(int(d) for d in shapes[i] if d >= 0)
                state[key] = np.frombuffer(data[starts[i] : starts[i + 1]], dtypes[i]).reshape(shape).copy()
        state.update(user_scalars)
        log = None
        if logs is not None and has_log[i]:
            rows, weights, times = (
                array.array(code, arrays[name][logs[i] : logs[i + 1]].tobytes())
                for name, (code, _) in LOG_COLUMNS.items()
            )
            log = EventLog(rows, weights, times, bytearray(arrays["log_seen"][logs[i] : logs[i + 1]].tobytes()))
        yield UserRecord(
            stored_state=state,
            recent=rows_array(arrays["recent"][recent[i] : recent[i + 1]].tobytes()),
            seen=rows_array(arrays["seen"][seen[i] : seen[i + 1]].tobytes()),
            log=log,
        )


def _rows(rows: np.ndarray, name: str, n_rows: int) -> int:
    """How many catalog rows `rows` holds, once checked: 1-D int32, each in [0, n_rows)."""
    if rows.dtype != np.int32 or rows.ndim != 1:
        raise ValueError(f"{name} is not a 1-D int32 column of catalog rows")
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= n_rows):
        raise ValueError(f"{name} holds catalog rows outside [0, {n_rows})")
    return len(rows)


def _starts(arrays: dict[str, np.ndarray], name: str, n_users: int, total: int) -> list[int]:
    """Where each user's part of ragged column `name` (of `total` values) starts, and its end:
    n_users + 1 ints from ``name_ends``, checked to run through the column in order."""
    ends = arrays[f"{name}_ends"]
    if ends.shape != (n_users,) or ends.dtype != np.int64:
        raise ValueError(f"{name}_ends is not one int64 per user")
    starts = np.concatenate([np.zeros(1, np.int64), ends])
    if (np.diff(starts) < 0).any() or int(starts[-1]) != total:
        raise ValueError(f"{name}_ends does not run through its column in order")
    return starts.tolist()


def _state_column(
    arrays: dict[str, np.ndarray], key: str, n_users: int, dtype_names: list[str]
) -> tuple[np.ndarray, list[int], np.ndarray, list[np.dtype | None]]:
    """State array `key`: its bytes, where each user's start (n_users + 1), (n_users, ndim)
    shapes padded with -1 and each user's dtype (None: not held), checked to agree."""
    data, shapes, codes = arrays[f"state.{key}"], arrays[f"state.{key}.shape"], arrays[f"state.{key}.dtype"]
    kinds = [np.dtype(name) for name in dtype_names]
    if any(kind.hasobject for kind in kinds) or data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"state {key!r} is not raw bytes of plain dtypes")
    if shapes.ndim != 2 or len(shapes) != n_users or codes.shape != (n_users,) or (shapes < -1).any():
        raise ValueError(f"state {key!r} has not one shape and dtype per user")
    if ((codes < -1) | (codes >= len(kinds))).any():
        raise ValueError(f"state {key!r} names a dtype it does not list")
    starts = _starts(arrays, f"state.{key}", n_users, len(data))
    itemsizes = np.array([kind.itemsize for kind in kinds] + [0], np.int64)[codes]  # code -1: 0 bytes
    if (np.where(shapes >= 0, shapes, 1).prod(axis=1) * itemsizes != np.diff(starts)).any():
        raise ValueError(f"state {key!r} has bytes that do not fill its shapes")
    return data, starts, shapes, [kinds[c] if c >= 0 else None for c in codes.tolist()]
