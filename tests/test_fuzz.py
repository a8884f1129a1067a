"""A fuzz of the public API: every call gets one hostile argument among valid ones. It must work,
warn, or raise TypeError/ValueError/IndexError/KeyError/PyrerankError whose message names that
argument; never another exception, a crash or a hang.

PYRERANK_FUZZ_SECONDS sets the duration (a few seconds here; the README cites a 5-minute run).
"""

from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np
import pytest

import pyrerank as pr
from pyrerank import ops
from pyrerank.testing.stores import ITEMS, make_reranker

HOSTILE = [
    None,
    True,
    math.nan,
    math.inf,
    -1,
    0,
    2**70,
    -(2**70),
    1e308,
    1e30,
    -0.0,
    "x",
    "",
    "\ud800",
    b"bytes",
    [],
    [1, "a"],
    [[1]],
    [2**70],
    [None],
    (),
    {"a": 1},
    object(),
    np.array([np.nan], np.float32),
    np.zeros((2, 2)),
    np.zeros((3, 8), np.float32),
    np.array(["a"]),
    np.int64(3),
    np.float32(1.5),
    np.arange(5, dtype=np.uint64),
    np.full(8, 1e30, np.float32),
    (x for x in [1, 2]),
]
ALLOWED = (TypeError, ValueError, IndexError, KeyError, pr.PyrerankError)
M = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
M /= np.linalg.norm(M, axis=1, keepdims=True)


def _calls(rr: pr.Reranker) -> dict:
    """name -> (function, valid keyword arguments)."""
    return {
        "rerank": (
            rr.rerank,
            {
                "user": "u",
                "candidates": [1, 2, 3],
                "k": 2,
                "scores": None,
                "now": 5.0,
                "exclude_seen": True,
                "query": None,
            },
        ),
        "observe": (rr.observe, {"user": "u", "item": 1, "kind": "like", "timestamp": 1.0, "weight": None}),
        "observe_text": (
            rr.observe_text,
            {"user": "u", "text": "a space opera review", "kind": "review", "timestamp": 1.0, "weight": None},
        ),
        "explain": (rr.explain, {"user": "u", "item": 2, "scores": None, "now": 5.0, "query": None}),
        "forget": (rr.forget, {"user": "u"}),
        "add_items": (rr.add_items, {"ids": [1000], "texts": ["a new item"], "vectors": None, "metadata": None}),
        "remove_items": (lambda ids: make_reranker().remove_items(ids), {"ids": []}),  # it may remove: not rr's
        "metadata": (rr.metadata, {"item": 1}),
        "topk": (ops.topk, {"matrix": M, "query": M[0], "k": 3, "rows": None, "num_threads": None}),
        "score": (ops.score, {"matrix": M, "query": M[0], "rows": None, "num_threads": None}),
        "fused_topk": (
            ops.fused_topk,
            {
                "matrix": M,
                "query": M[0],
                "features": np.zeros((50, 2)),
                "weights": np.ones(2),
                "k": 3,
                "sim_weight": 1.0,
                "rows": None,
            },
        ),
        "mmr": (ops.mmr, {"matrix": M, "relevance": np.ones(50), "k": 3, "lambda_": 0.5, "rows": None}),
    }


def test_hostile_arguments_are_refused_by_name():
    seconds = float(os.environ.get("PYRERANK_FUZZ_SECONDS", "5"))
    rng = np.random.default_rng(int(os.environ.get("PYRERANK_FUZZ_SEED", "0")))
    rr = make_reranker()
    calls = _calls(rr)
    names = sorted(calls)
    stop, tried, refused = time.monotonic() + seconds, 0, 0
    while time.monotonic() < stop:
        name = names[int(rng.integers(len(names)))]
        function, valid = calls[name]
        parameter = sorted(valid)[int(rng.integers(len(valid)))]
        hostile = HOSTILE[int(rng.integers(len(HOSTILE)))]
        if isinstance(hostile, type(x for x in [])):
            hostile = (x for x in [1, 2])  # a fresh generator each time
        arguments = {**valid, parameter: hostile}
        tried += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning is an acceptable outcome
            try:
                function(**arguments)
            except ALLOWED as exc:
                refused += 1
                message = str(exc.args[0]) if exc.args else ""
                assert parameter in message or (parameter == "kind" and "kind must be" in message), (
                    f"{name}({parameter}={hostile!r:.60}) raised {type(exc).__name__} not naming it: {message!r:.200}"
                )
            except Exception as exc:  # anything else is a bug
                pytest.fail(f"{name}({parameter}={hostile!r:.60}) raised {type(exc).__name__}: {exc!r:.200}")
    assert tried > 200 and refused > tried // 4, (tried, refused)
    assert len(rr.rerank("u", list(range(len(ITEMS))), k=5)) == 5  # still serving
