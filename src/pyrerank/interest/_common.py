"""Helpers shared by the interest models."""

from __future__ import annotations

import math

import numpy as np

DAY = 86_400.0


def unit(v: np.ndarray) -> np.ndarray:
    """v / ||v|| along the last axis (float32); zero vectors stay zero."""
    if v.ndim == 1:  # the common case, without norm()'s general machinery: one dot product, no temporary
        norm = math.sqrt(float(v @ v))
        return (v / np.float32(norm)).astype(np.float32, copy=False) if norm > 0 else np.zeros_like(v, np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v, dtype=np.float32), where=norm > 0).astype(np.float32, copy=False)


def decay_factor(state: dict, timestamp: float, half_life: float) -> float:
    """How much the state's memories fade between its last event and `timestamp` (>= 0 s)."""
    elapsed = max(0.0, timestamp - state.get("t", timestamp))
    return 0.5 ** (elapsed / half_life)


def check_positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value
