"""Bad input raises the named exception with a message that names the parameter: never a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyrerank import PyrerankWarning, _core, ops

M = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
Q = M[0].copy()
ROWS = np.arange(10, dtype=np.int64)
# fused_topk's features as the statistics to gather them from (candidate_features' arguments but rows)
GATHER = (np.zeros((50, 4)), 0.0, 1.0, 1.0, None, None)
W5 = np.zeros(5, np.float32)
M8 = ops.to_int8(M)

# (call, exception, text the message must contain)
BAD_CALLS = [
    (lambda: ops.topk(M[0], Q, 3), ValueError, "matrix must be a non-empty 2-D"),
    (lambda: ops.topk(M[None], Q, 3), ValueError, "shape (1, 50, 8)"),
    (lambda: ops.topk(np.zeros((0, 8), np.float32), Q, 3), ValueError, "non-empty"),
    (lambda: ops.topk(M.astype(np.int32), Q, 3), TypeError, "matrix must hold floating-point vectors or int8"),
    (
        lambda: ops.topk(np.ones((2, 65_537), np.int8), np.ones(65_537, np.float32), 1),
        ValueError,
        "an int8 matrix may be at most 65536 wide, got shape (2, 65537)",
    ),
    (lambda: ops.to_int8(np.array([[1.0, np.nan]])), ValueError, "matrix must be finite"),
    (lambda: ops.to_int8(M[0]), TypeError, "matrix must be a 2-D numeric array"),
    (lambda: ops.topk(M, Q[:5], 3), ValueError, "query must have shape (8,) or (q, 8)"),
    (lambda: ops.topk(M, np.zeros((2, 2, 8), np.float32), 3), ValueError, "query must have shape"),
    (lambda: ops.topk(M, np.zeros((0, 8), np.float32), 3), ValueError, "query"),
    (lambda: ops.topk(M, Q.astype(np.int64), 3), TypeError, "query must be floating point"),
    (lambda: ops.topk(M, np.where(np.arange(8) == 2, np.nan, Q), 3), ValueError, "query must be finite"),
    (lambda: ops.topk(M, np.full(8, np.inf, np.float32), 3), ValueError, "query must be finite"),
    (lambda: ops.topk(M, Q, 0), ValueError, "k must be >= 1, got 0"),
    (lambda: ops.topk(M, Q, -5), ValueError, "k must be >= 1"),
    (lambda: ops.topk(M, Q, 2.5), TypeError, "k must be an integer"),
    (lambda: ops.topk(M, Q, True), TypeError, "k must be an integer"),
    (
        lambda: ops.topk(M, Q, 3, np.array([1, 50])),
        IndexError,
        "rows[1] = 50 is out of range for a matrix with 50 rows",
    ),
    (lambda: ops.topk(M, Q, 3, np.array([-1, 2])), IndexError, "rows[0] = -1"),
    (lambda: ops.topk(M, Q, 3, np.array([2**40], np.uint64)), IndexError, "out of range"),
    (lambda: ops.topk(M, Q, 3, np.array([1.0, 2.0])), TypeError, "rows must be integer row numbers"),
    (lambda: ops.topk(M, Q, 3, np.ones(50, bool)), TypeError, "np.flatnonzero"),
    (lambda: ops.topk(M, Q, 3, np.array([], np.int64)), ValueError, "rows must not be empty"),
    (lambda: ops.topk(M, Q, 3, []), ValueError, "rows must not be empty"),
    (lambda: ops.topk(M, Q, 3, ROWS.reshape(2, 5)), ValueError, "rows must be a 1-D array"),
    (lambda: ops.topk(M, Q, 3, num_threads=0), ValueError, "num_threads must lie in [1, 4096], got 0"),
    (lambda: ops.topk(M, Q, 3, num_threads=2**40), ValueError, "num_threads must lie in [1, 4096]"),
    (lambda: ops.topk(M, Q * 1e30, 3), ValueError, "query must be finite with |value| <= 1e15"),
    (lambda: ops.mmr(M, np.full(50, 1e20), 3), ValueError, "relevance must be finite with |value| <= 1e15"),
    (
        lambda: ops.fused_topk(M, Q, np.zeros((50, 1)), np.zeros(1), 3, sim_weight=1e30),
        ValueError,
        "sim_weight must be finite with |value| <= 1e15",
    ),
    (lambda: ops.topk(M, Q, 3, num_threads="2"), TypeError, "num_threads"),
    (lambda: ops.score(M, Q[:3]), ValueError, "query must have shape"),
    (
        lambda: ops.fused_topk(M, Q, np.zeros((10, 2)), np.zeros(2), 3, rows=ROWS[:5]),
        ValueError,
        "features must have shape (5, any)",
    ),
    (
        lambda: ops.fused_topk(M, Q, np.zeros((10, 2)), np.zeros(3), 3, rows=ROWS),
        ValueError,
        "weights must have shape (2,)",
    ),
    (
        lambda: ops.fused_topk(M, Q, np.full((10, 2), np.nan), np.zeros(2), 3, rows=ROWS),
        ValueError,
        "features must be finite",
    ),
    (
        lambda: ops.fused_topk(M, Q, np.zeros((10, 2)), np.array([0, np.inf]), 3, rows=ROWS),
        ValueError,
        "weights must be finite",
    ),
    (lambda: ops.fused_topk(M, Q, np.zeros((10, 2)), None, 3, rows=ROWS), ValueError, "given together"),
    (lambda: ops.fused_topk(M, Q, None, None, 3, sim_weight=np.nan), ValueError, "sim_weight must be finite"),
    (lambda: ops.fused_topk(M, Q, np.array([["a", "b"]] * 50), np.zeros(2), 3), TypeError, "features must be numeric"),
    (lambda: ops.multi_topk(M, M[:3], 3, weights=np.ones(2)), ValueError, "interest_weights must have shape (3,)"),
    (
        lambda: ops.fused_topk(M, Q, None, None, 3, extra=M[:2]),
        ValueError,
        "extra and extra_weights must be given together",
    ),
    (
        lambda: ops.fused_topk(M, Q, None, None, 3, extra=M[:2, :4], extra_weights=[1, 1]),
        ValueError,
        "extra must have shape",
    ),
    (
        lambda: ops.fused_topk(M, Q, None, None, 3, extra=M[:2], extra_weights=[1.0]),
        ValueError,
        "extra_weights must have shape (2,)",
    ),
    (
        lambda: ops.fused_topk(M, Q, None, None, 3, extra=np.full((1, 8), np.nan), extra_weights=[1.0]),
        ValueError,
        "extra must be finite",
    ),
    (lambda: ops.multi_topk(M, M[:3], 3, weights=[1, np.nan, 1]), ValueError, "interest_weights must be finite"),
    (lambda: ops.mmr(M, np.zeros(49), 3), ValueError, "relevance must have shape (50,)"),
    (lambda: ops.mmr(M, np.zeros(50), 3, lambda_=1.5), ValueError, "lambda_ must lie in [0, 1]"),
    (lambda: ops.mmr(M, np.full(50, np.nan), 3), ValueError, "relevance must be finite"),
    (lambda: ops.mmr(M, np.zeros(50), 3, ties="candidate"), ValueError, "ties must be 'row' or 'position'"),
    (lambda: ops.fused_topk(M, Q, None, None, 3, ties=None), ValueError, "ties must be 'row' or 'position'"),
]


@pytest.mark.parametrize("call, error, text", BAD_CALLS, ids=[f"case{i}" for i in range(len(BAD_CALLS))])
def test_bad_input_raises_named_error(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


# The kernel re-checks what reaches it directly, bypassing pyrerank.ops.
BAD_CORE_CALLS = [
    (
        lambda: _core.topk(M.astype(np.float64), Q, 3, num_threads=1),
        TypeError,
        "matrix must be float32, float16 or int8, got float64",
    ),
    (lambda: _core.topk(np.asfortranarray(M), Q, 3, num_threads=1), ValueError, "matrix must be C-contiguous"),
    (lambda: _core.topk([[1.0]], Q, 3, num_threads=1), TypeError, "matrix must be a numpy array, got list"),
    (
        lambda: _core.topk(M, Q[:4], 3, num_threads=1),
        ValueError,
        "query has dimension 4 but matrix rows have dimension 8",
    ),
    (lambda: _core.topk(M, Q.astype(np.float64), 3, num_threads=1), TypeError, "query must be float32"),
    (lambda: _core.topk(M, Q, 0), ValueError, "k must be >= 1"),
    (lambda: _core.topk(M, Q, 3, ROWS.astype(np.int32)), TypeError, "rows must be int64"),
    (lambda: _core.topk(M, Q, 3, np.array([99])), IndexError, "out of range"),
    (lambda: _core.topk(M, Q, 3, num_threads=0), ValueError, "num_threads must be >= 1"),
    (lambda: _core.score(M, np.zeros((2, 2, 8), np.float32)), ValueError, "query must have shape"),
    (
        lambda: _core.fused_topk(M, Q[None], np.zeros((5, 2), np.float32), np.zeros(2, np.float32), 3),
        ValueError,
        "features has shape (5, 2) but there are 50 candidates",
    ),
    (
        lambda: _core.fused_topk(M, Q, (np.zeros((50, 4)), 0.0, 1.0, 1.0), np.zeros(5, np.float32), 3, rows=ROWS),
        ValueError,
        "features as a tuple are candidate_features' arguments but rows (6), with rows",
    ),
    (
        lambda: _core.fused_topk(M, Q, GATHER, W5, 3),
        ValueError,
        "features as a tuple are candidate_features' arguments but rows (6), with rows",
    ),
    (
        lambda: _core.fused_topk(M, Q, GATHER, np.zeros(4, np.float32), 3, rows=ROWS),
        ValueError,
        "weights has shape (4,) but there are 5 features",
    ),
    (
        lambda: _core.fused_topk(M, Q, GATHER[:4] + (np.zeros(3, np.float32),) + GATHER[5:], W5, 3, rows=ROWS),
        ValueError,
        "scores must have one value per candidate",
    ),
    (lambda: _core.mmr(M, np.zeros(50, np.float32), 3, lambda_=2.0), ValueError, "lambda_ must lie in [0, 1]"),
    (
        lambda: _core.candidate_features(np.zeros((50, 4)), ROWS, 0.0, 1.0, 1.0, None, (ROWS, np.ones(10, np.float32))),
        TypeError,
        "co_scores must be a CoScores (co_user_scores) or None",
    ),
    (lambda: _core.CoScores(np.array([3, 5, 3]), np.ones(3, np.float32)), ValueError, "rows must be distinct"),
    (lambda: _core.CoScores(np.array([-1]), np.ones(1, np.float32)), ValueError, "rows must lie in [0, 2**31)"),
    (lambda: _core.CoScores(ROWS, np.ones(9, np.float32)), ValueError, "rows and values must be 1-D and of one length"),
    (lambda: _core.CoScores(ROWS[:1], np.array([np.nan], np.float32)), ValueError, "values"),
    (lambda: _core.use_isa("sse9"), ValueError, "isa must be one this CPU and build can run"),
    (
        lambda: _core.candidate_features(np.zeros((50, 4)), None, 0.0, 1.0, 1.0, None, None),
        TypeError,
        "rows must be a numpy array, got NoneType",
    ),
    (
        lambda: _core.candidate_features(np.zeros((50, 4)), np.array([50]), 0.0, 1.0, 1.0, None, None),
        IndexError,
        "rows[0] = 50 is out of range for a matrix with 50 rows",
    ),
    (
        lambda: _core.candidate_features(np.zeros((50, 4), np.float32), ROWS, 0.0, 1.0, 1.0, None, None),
        TypeError,
        "stats must be a C-contiguous (n_rows, 4) float64",
    ),
    (
        lambda: _core.candidate_features(np.zeros((50, 4)), ROWS, 0.0, 0.0, 1.0, None, None),
        ValueError,
        "half_life and recency_scale must be > 0",
    ),
    (lambda: _core.mmr(M, np.zeros(50, np.float32), 3, ties="rows"), ValueError, "ties must be 'row' or 'position'"),
    (lambda: _keyed(n_rows=51), ValueError, "n_rows must lie in [0, 50], got 51"),
    (lambda: _keyed(keys=np.zeros(0, np.int64)), ValueError, "keys must not be empty"),
    (lambda: _keyed(keys=ROWS.astype(np.int32)), TypeError, "keys must be a 1-D C-contiguous int64 array"),
    (lambda: _keyed(table=[0, 1]), TypeError, "table must be a numpy array"),
    (
        lambda: _keyed(keys=np.array(["a", "b"]), table=_core.StringIndex()),
        TypeError,
        "str ids must be a list or tuple",
    ),
    (lambda: _keyed(keys=[], table=_core.StringIndex()), ValueError, "keys must not be empty"),
    (lambda: _core.decay_replay(np.ones((3, 4)), np.ones(3), np.ones(2), -1.0, -0.1), ValueError, "of one length"),
    (lambda: _core.decay_replay(np.ones((0, 4)), np.ones(0), np.ones(0), -1.0, -0.1), ValueError, "length > 0"),
    (lambda: _core.decay_replay(np.ones((2, 4)), np.ones((2, 2)), np.ones((2, 2)), -1, -0.1), ValueError, "1-D"),
    (lambda: _core.decay_replay(np.ones((2, 4)), np.ones(3), np.ones(3), -1.0, -0.1), ValueError, "vectors must be"),
    (lambda: _core.scaled_rows(np.ones((3, 4), np.int8), np.array([3]), np.ones(3, np.float32)), IndexError, "row"),
    (lambda: _core.scaled_rows(np.ones((3, 4), np.int8), np.array([0]), np.ones(2, np.float32)), ValueError, "scale"),
    (lambda: _keyed(features=np.zeros((10, 5), np.float32)), ValueError, "features must be candidate_features'"),
    (lambda: _keyed(features=(np.zeros((40, 4)),) + GATHER[1:]), ValueError, "stats must have a row for each"),
    (lambda: _keyed(k=0), ValueError, "k must be >= 1"),
    (lambda: _keyed(row_scale=np.ones(50, np.float32)), ValueError, "row_scale goes with an int8 matrix only"),
    (lambda: _keyed(matrix=M8, row_scale=np.ones(49, np.float32)), ValueError, "one value per matrix row (50)"),
    (lambda: _keyed(matrix=M8, row_scale=np.ones(50)), TypeError, "row_scale must be float32"),
    (lambda: _keyed(matrix=M8, row_scale=[1.0] * 50), TypeError, "row_scale must be a numpy array"),
    (lambda: _core.named_pairs(list, ["a"], np.zeros(1, np.int64), np.ones(1)), TypeError, "cls must be a tuple"),
    (lambda: _core.named_pairs(tuple, ("a",), np.zeros(1, np.int64), np.ones(1)), TypeError, "ids must be a list"),
    (lambda: _core.named_pairs(tuple, ["a"], np.array([1]), np.ones(1)), IndexError, "rows[0] = 1 is out of range"),
    (lambda: _core.named_pairs(tuple, ["a"], np.array([-1]), np.ones(1)), IndexError, "rows[0] = -1 is out of range"),
    (lambda: _core.named_pairs(tuple, ["a"], np.zeros(2, np.int64), np.ones(1)), ValueError, "of one length"),
]


def _keyed(keys=ROWS, table=None, n_rows=50, features=GATHER, k=3, matrix=M, row_scale=None):
    """_core.fused_topk_keys with one argument bad at a time (the rest valid)."""
    return _core.fused_topk_keys(
        matrix, row_scale, keys, table, n_rows, None, features, k, Q, None, 1.0, None, None, W5
    )


@pytest.mark.parametrize("call, error, text", BAD_CORE_CALLS, ids=[f"core{i}" for i in range(len(BAD_CORE_CALLS))])
def test_kernel_rechecks_input(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


def test_bad_input_in_a_subprocess_raises_instead_of_crashing():
    """A segfault would kill pytest itself; run every bad call in a child and read its exit."""
    script = textwrap.dedent(
        """
        import sys
        sys.path[:0] = [{tests!r}]
        from test_ops_errors import BAD_CALLS, BAD_CORE_CALLS
        for call, error, _ in BAD_CALLS + BAD_CORE_CALLS:
            try:
                call()
            except error:
                continue
            sys.exit("no error raised")
        print("all raised")
        """
    ).format(tests=str(__import__("pathlib").Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all raised"


def test_float64_or_strided_matrix_is_converted_with_a_warning():
    want = ops.topk(M, Q, 5)
    with pytest.warns(PyrerankWarning, match="copied"):
        got = ops.topk(M.astype(np.float64), Q, 5)
    np.testing.assert_array_equal(got[0], want[0])
    with pytest.warns(PyrerankWarning, match="copied"):
        got = ops.topk(np.asfortranarray(M), Q, 5)
    np.testing.assert_array_equal(got[0], want[0])


def test_lists_and_float64_queries_are_accepted_without_warning():
    got = ops.topk(M, Q.astype(np.float64).tolist(), 5, rows=list(range(20)))
    np.testing.assert_array_equal(got[0], ops.topk(M, Q, 5, rows=np.arange(20))[0])


def test_a_huge_k_means_every_candidate():
    rows, scores = ops.topk(M, Q, 2**70)
    assert len(rows) == 50 and np.all(np.diff(scores) <= 0)
    assert len(ops.fused_topk(M, Q, None, None, 2**63, rows=ROWS)[0]) == 10
