"""Argument checks shared by pyrerank.ops: each names the parameter and shows what was wrong."""

from __future__ import annotations

import math
import operator
import os
import warnings
from typing import Any

import numpy as np

from .errors import PyrerankWarning
from .events import DEFAULT_WEIGHTS

F32, F16, I8, I64 = np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8), np.dtype(np.int64)
_AUTO_THREAD_WORK = 1 << 24  # multiply-adds below which one thread beats spawning more


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


CPU_COUNT = _cpu_count()


def _is_ready(value: Any, dtype: np.dtype) -> bool:
    """True for an ndarray already of `dtype` and C-contiguous: the fast path, no copy."""
    return type(value) is np.ndarray and value.dtype is dtype and value.flags.c_contiguous


def matrix(value: Any) -> np.ndarray:
    """A float32, float16 or int8 C-contiguous (n_rows, dim) array; converts once, with a warning."""
    if (_is_ready(value, F32) or _is_ready(value, F16) or _is_ready(value, I8)) and value.ndim == 2 and value.size:
        return value
    arr = np.asarray(value)
    if arr.dtype.kind != "f" and arr.dtype != I8:
        raise TypeError(
            f"matrix must hold floating-point vectors or int8 directions (ops.to_int8), got dtype {arr.dtype}"
        )
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array (n_rows, dim), got shape {arr.shape}")
    target = arr.dtype if arr.dtype in (F32, F16, I8) else F32
    if arr.dtype == target and arr.flags.c_contiguous:
        return arr
    warnings.warn(
        f"matrix of dtype {arr.dtype}, shape {arr.shape} was copied to a C-contiguous {target} array; "
        "convert the catalog once (np.ascontiguousarray(matrix, dtype=np.float32)) to avoid a copy per call",
        PyrerankWarning,
        stacklevel=3,
    )
    return np.ascontiguousarray(arr, dtype=target)


def vectors(value: Any, name: str, dim: int) -> np.ndarray:
    """A (dim,) or (q, dim) float32 C-contiguous array (finiteness is checked in C++)."""
    if _is_ready(value, F32) and 1 <= value.ndim <= 2 and value.shape[-1] == dim and value.size:
        return value
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be floating point, got dtype {arr.dtype}")
    if not 1 <= arr.ndim <= 2 or arr.shape[-1] != dim or arr.size == 0:
        raise ValueError(f"{name} must have shape ({dim},) or (q, {dim}) to match matrix, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=F32)


def float_array(value: Any, name: str, shape: tuple[int, ...], per: str = "") -> np.ndarray:
    """A float32 C-contiguous array of exactly `shape` (-1 matches any length); `per` says what
    the first axis counts, for the message (e.g. "one row per candidate in rows")."""
    if _is_ready(value, F32) and value.shape == shape:  # the usual request: nothing to convert
        return value
    arr = value if type(value) is np.ndarray else np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(want not in (-1, got) for want, got in zip(shape, arr.shape)):
        expected = "(" + ", ".join("any" if s == -1 else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {expected}{f' ({per})' if per else ''}, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def rows(value: Any, n_rows: int) -> np.ndarray | None:
    """None, or a non-empty 1-D int64 array of candidate row numbers (range checked in C++)."""
    if value is None or (_is_ready(value, I64) and value.ndim == 1 and value.size):
        return value
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"rows must be a 1-D array of row numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("rows must not be empty")
    if arr.dtype.kind not in "iu":
        hint = "; for a boolean mask use np.flatnonzero(mask)" if arr.dtype.kind == "b" else ""
        raise TypeError(f"rows must be integer row numbers, got dtype {arr.dtype}{hint}")
    if arr.dtype.kind == "u" and int(arr.max()) >= n_rows:
        raise IndexError(f"rows holds {int(arr.max())}, out of range for a matrix with {n_rows} rows")
    return np.ascontiguousarray(arr, dtype=I64)


MAX_K = 2**62  # a k past any candidate count; larger ones mean the same (every candidate)
MAX_THREADS = 4096


def k(value: Any) -> int:
    """A positive int (one past every candidate count is capped: the result is the same)."""
    if type(value) is int and 1 <= value <= MAX_K:
        return value
    return min(integer(value, "k", 1), MAX_K)


def integer(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    """An int (or numpy integer, not a bool) >= minimum (and <= maximum, if given), or an error
    naming `name`."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        as_int = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if as_int < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {as_int}")
    if maximum is not None and as_int > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {as_int}")
    return as_int


TIES = ("row", "position")


def ties(value: Any) -> str:
    """How equal scores are ordered: "row" or "position"."""
    if type(value) is str and value in TIES:
        return value
    raise ValueError(f"ties must be 'row' or 'position', got {value!r}")


def num_threads(value: Any, m: np.ndarray, q: np.ndarray, r: np.ndarray | None) -> int:
    """The caller's positive thread count, or (None) 1 for small work and every CPU for large.

    The work is n_candidates * q.size multiply-adds for matrix `m`, queries `q`, rows `r`.
    """
    if type(value) is int and 1 <= value <= MAX_THREADS:
        return value
    if value is None:
        work = (m.shape[0] if r is None else r.shape[0]) * q.size
        return 1 if work < _AUTO_THREAD_WORK else CPU_COUNT
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"num_threads must be an int or None, got {value!r}")
    if not 1 <= value <= MAX_THREADS:
        raise ValueError(f"num_threads must lie in [1, {MAX_THREADS}], got {value}")
    return int(value)


def candidates(value: Any) -> Any:
    """Candidate ids as given when they are a list, tuple or 1-D array, else as a list (any
    iterable but a str); TypeError naming candidates otherwise."""
    kind = type(value)
    if kind is list or kind is tuple or (kind is np.ndarray and value.ndim == 1):
        return value
    if isinstance(value, (str, bytes, np.ndarray)) or not hasattr(value, "__iter__"):
        raise TypeError(f"candidates must be an iterable of item ids (a list or a 1-D array), got {kind.__name__}")
    return list(value)


def user(value: Any) -> Any:
    """A user id: a str, an int (numpy integers become int) or a non-empty tuple of them. None,
    bools, floats (NaN included) and unhashables would silently share or lose a profile."""
    kind = type(value)
    if kind is str or kind is int:
        return value
    if isinstance(value, np.integer):
        return int(value)
    if kind is tuple and value:
        return tuple(user(v) for v in value)
    raise TypeError(f"user must be a str, an int or a non-empty tuple of them, got {kind.__name__} {value!r:.40}")


def boolean(value: Any, name: str) -> bool:
    """A bool (numpy's too): an int or a str here is a mistake, not a truth value."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r:.40}")


def kinds(value: Any, name: str) -> frozenset[str]:
    """Event kinds from DEFAULT_WEIGHTS (None: all of them)."""
    if value is None:
        return frozenset(DEFAULT_WEIGHTS)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a collection of event kinds, got {type(value).__name__}")
    out = frozenset(value)
    unknown = sorted(map(repr, out - set(DEFAULT_WEIGHTS)))
    if unknown:
        raise ValueError(f"{name} holds unknown kinds {', '.join(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
    return out


def finite_scalar(value: Any, name: str) -> float:
    """A finite float (a str is not one, even if it spells a number)."""
    if type(value) is float and math.isfinite(value):
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out
