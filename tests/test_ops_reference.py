"""The C++ kernel agrees with the pure-numpy reference on every op, shape, dtype and thread count."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrerank import Ranked, _core, ops
from pyrerank import _reference as ref

DTYPES = [np.float32, np.float16]


@st.composite
def exact_problems(draw, max_rows=300, max_dim=70):
    """Small dyadic values: every dot product is exact in float32, so results must match the
    reference bit for bit, exact ties and their row-number tie-break included."""
    n_rows = draw(st.integers(1, max_rows))
    dim = draw(st.integers(1, max_dim))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([2, 3, 9]))  # few levels -> many exact ties
    matrix = (rng.integers(-(levels // 2), levels // 2 + 1, size=(n_rows, dim)) / 4).astype(np.float32)
    if draw(st.booleans()):  # duplicate rows and zero vectors
        matrix[rng.integers(0, n_rows, size=n_rows // 3)] = matrix[0]
        matrix[rng.integers(0, n_rows, size=n_rows // 5)] = 0.0
    dtype = draw(st.sampled_from(DTYPES))
    rows = None
    if draw(st.booleans()):
        n = draw(st.integers(1, 2 * n_rows))
        rows = rng.integers(0, n_rows, size=n).astype(np.int64)  # duplicates allowed
    n_queries = draw(st.sampled_from([None, 1, 2, 3, 5, 9]))
    shape = (dim,) if n_queries is None else (n_queries, dim)
    query = (rng.integers(-2, 3, size=shape) / 2).astype(np.float32)
    k = draw(st.integers(1, 2 * n_rows + 2))
    threads = draw(st.sampled_from([1, 2, 3, 8]))
    return matrix.astype(dtype), query, rows, k, threads


@given(exact_problems())
def test_topk_matches_reference_exactly(isa, problem):
    matrix, query, rows, k, threads = problem
    indices, scores = ops.topk(matrix, query, k, rows, num_threads=threads)
    want_indices, want_scores = ref.topk(matrix, query, k, rows)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(scores, want_scores)


@given(exact_problems())
def test_score_matches_reference_exactly(isa, problem):
    matrix, query, rows, _, threads = problem
    np.testing.assert_array_equal(ops.score(matrix, query, rows, num_threads=threads), ref.score(matrix, query, rows))


@given(exact_problems(), st.data())
def test_fused_and_multi_topk_match_reference_exactly(isa, problem, data):
    matrix, query, rows, k, threads = problem
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    interests = np.atleast_2d(query)
    n = matrix.shape[0] if rows is None else len(rows)
    n_features = data.draw(st.integers(1, 6))
    features = (rng.integers(-4, 5, size=(n, n_features)) / 4).astype(np.float32)
    weights = (rng.integers(-4, 5, size=n_features) / 2).astype(np.float32)
    interest_weights = (rng.integers(1, 5, size=len(interests)) / 2).astype(np.float32)
    sim_weight = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))
    n_extra = data.draw(st.integers(0, 3))
    extra = (rng.integers(-2, 3, size=(n_extra, matrix.shape[1])) / 2).astype(np.float32) if n_extra else None
    extra_weights = (rng.integers(-4, 5, size=n_extra) / 4).astype(np.float32) if n_extra else None
    ties = data.draw(st.sampled_from(["row", "position"]))
    options = dict(
        sim_weight=sim_weight,
        interest_weights=interest_weights,
        extra=extra,
        extra_weights=extra_weights,
        rows=rows,
        ties=ties,
    )
    got = ops.fused_topk(matrix, interests, features, weights, k, **options, num_threads=threads)
    want = ref.fused_topk(matrix, interests, features, weights, k, **options)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    got = ops.multi_topk(matrix, interests, k, weights=interest_weights, rows=rows, num_threads=threads, ties=ties)
    want = ref.multi_topk(matrix, interests, k, weights=interest_weights, rows=rows, ties=ties)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@given(
    exact_problems(max_rows=120),
    st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["row", "position"]),
)
def test_mmr_matches_reference_exactly(isa, problem, lambda_, seed, ties):
    matrix, _, rows, k, _ = problem
    n = matrix.shape[0] if rows is None else len(rows)
    relevance = (np.random.default_rng(seed).integers(-8, 9, size=n) / 4).astype(np.float32)
    got = ops.mmr(matrix, relevance, k, lambda_=lambda_, rows=rows, ties=ties)
    want = ref.mmr(matrix, relevance, k, lambda_=lambda_, rows=rows, ties=ties)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@st.composite
def float_problems(draw):
    """Unit-norm Gaussian vectors of realistic dimensions, as an encoder produces them."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_rows = draw(st.integers(1, 2000))
    dim = draw(st.sampled_from([1, 3, 16, 17, 31, 64, 100, 384, 385, 768]))
    matrix = rng.standard_normal((n_rows, dim)).astype(np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    rows = rng.integers(0, n_rows, size=draw(st.integers(1, 1500))) if draw(st.booleans()) else None
    query = rng.standard_normal((draw(st.integers(1, 7)), dim)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    return matrix, query, rows, draw(st.integers(1, 120)), draw(st.sampled_from(DTYPES + [np.int8]))


def assert_valid_topk(indices, scores, matrix, query, rows, k, rtol):
    """Scores match the reference's dot products within rtol of the largest."""
    all_scores = ref.score(matrix, query, rows).astype(np.float64)
    row_numbers = np.arange(matrix.shape[0]) if rows is None else rows
    assert_valid_best(indices, scores, all_scores, row_numbers, k, rtol * np.abs(all_scores).max(initial=1.0) + rtol)


def assert_valid_best(indices, scores, all_scores, row_numbers, k, tol):
    """The k best of (n,) reference `all_scores` of `row_numbers`: scores match within `tol`;
    nothing left out beats what was kept; order and ties (row number) hold."""
    by_row = dict(zip(row_numbers.tolist(), all_scores.tolist()))
    assert len(indices) == min(k, len(row_numbers))
    np.testing.assert_allclose(scores, [by_row[r] for r in indices.tolist()], rtol=0, atol=tol)
    assert np.all(np.diff(scores) <= 0)
    tied = np.diff(scores) == 0
    assert np.all(np.diff(indices)[tied] >= 0), "equal scores must come in row-number order"
    kept_rows = set(indices.tolist())
    kept = np.array([r in kept_rows for r in row_numbers.tolist()])
    if (~kept).any():
        assert all_scores[~kept].max() <= scores[-1] + tol


@given(float_problems())
def test_topk_close_to_reference_on_real_vectors(isa, problem):
    matrix, query, rows, k, dtype = problem
    m = ops.to_int8(matrix) if dtype == np.int8 else matrix.astype(dtype)
    indices, scores = ops.topk(m, query, k, rows)
    rtol = {np.float32: 1e-5, np.float16: 1e-3, np.int8: 3e-4}[dtype]  # int8: the query rounded to int16
    for one, (i, s) in zip(query, zip(indices, scores)):
        assert_valid_topk(i, s, m, one, rows, k, rtol)


@given(float_problems(), st.integers(0, 2**32 - 1))
def test_fused_topk_with_extra_queries_close_to_reference_on_real_vectors(isa, problem, seed):
    """One interest and its extra queries fold into one query in the kernel (their weighted sum
    is linear in the row): the scores stay the reference's within each dtype's tolerance."""
    matrix, query, rows, k, dtype = problem
    m = ops.to_int8(matrix) if dtype == np.int8 else matrix.astype(dtype)
    extra_weights = np.random.default_rng(seed).uniform(-1, 1, len(query) - 1).astype(np.float32)
    options = dict(sim_weight=0.8, extra=query[1:], extra_weights=extra_weights) if len(query) > 1 else {}
    got_rows, got_scores = ops.fused_topk(m, query[:1], None, None, k, rows=rows, **options)
    want = ref.fused_scores(m, query[:1], rows=rows, **options)
    row_numbers = np.arange(m.shape[0]) if rows is None else rows
    rtol = {np.float32: 1e-5, np.float16: 1e-3, np.int8: 3e-4}[dtype]
    assert_valid_best(got_rows, got_scores, want, row_numbers, k, rtol * (1.0 + np.abs(extra_weights).sum()) + rtol)


@pytest.mark.parametrize("dtype", DTYPES + [np.int8])
def test_large_multithreaded_topk_equals_single_threaded(isa, dtype, rng):
    matrix = rng.standard_normal((50_000, 96))
    matrix = ops.to_int8(matrix) if dtype == np.int8 else matrix.astype(dtype)
    queries = rng.standard_normal((4, 96)).astype(np.float32)
    one = ops.topk(matrix, queries, 50, num_threads=1)
    many = ops.topk(matrix, queries, 50, num_threads=4)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.sampled_from([1, 7, 31, 32, 33, 64, 95, 384, 448, 1000, 5000]),
    n_queries=st.integers(1, 6),
    zero_rows=st.booleans(),
)
def test_int8_scores_are_identical_on_every_isa_and_close_to_the_reference(seed, dim, n_queries, zero_rows):
    """Integer sums are exact, so every instruction set returns the same bits; all-zero rows score 0."""
    rng = np.random.default_rng(seed)
    matrix = ops.to_int8(rng.standard_normal((300, dim)))
    if zero_rows:
        matrix[::7] = 0
    queries = rng.standard_normal((n_queries, dim)).astype(np.float32) * np.float32(rng.uniform(1e-3, 1e3))
    rows = rng.integers(0, 300, 500).astype(np.int64)
    best = _core.isa()
    try:
        results = []
        for name in _core.runnable_isas():
            _core.use_isa(name)
            results.append(ops.score(matrix, queries, rows))
    finally:
        _core.use_isa(best)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    scale = np.linalg.norm(queries, axis=1, keepdims=True)  # |<q, unit row>| <= ||q||
    np.testing.assert_allclose(results[0] / scale, ref.score(matrix, queries, rows) / scale, rtol=0, atol=3e-4)
    if zero_rows:
        assert not results[0][:, rows % 7 == 0].any()


@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.sampled_from([1, 7, 31, 32, 33, 64, 95, 384, 448, 1000]),
    n_queries=st.integers(1, 5),
    n_candidates=st.integers(1, 300),
)
def test_int8_scores_with_known_norms_are_the_scores_without(seed, dim, n_queries, n_candidates):
    """The catalog's row_scale (1 / ||row||, as it stores them) spares the kernel the sums of
    squares and changes no bit of any score, on every instruction set and tile size."""
    rng = np.random.default_rng(seed)
    matrix = ops.to_int8(rng.standard_normal((300, dim)))
    matrix[::7] = 0
    norms = np.linalg.norm(matrix.astype(np.float32), axis=1)
    row_scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    queries = rng.standard_normal((n_queries, dim)).astype(np.float32)
    rows = rng.permutation(300)[:n_candidates].astype(np.int64)

    def ranked(scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        out = _core.fused_topk_keys(
            matrix, scale, rows, None, 300, None, None, n_candidates, queries, None, 1.0, None, None, None
        )
        return out[0], out[1]

    best = _core.isa()
    try:
        for name in _core.runnable_isas():
            _core.use_isa(name)
            (rows_known, scores_known), (rows_summed, scores_summed) = ranked(row_scale), ranked(None)
            np.testing.assert_array_equal(rows_known, rows_summed)
            np.testing.assert_array_equal(scores_known, scores_summed)
    finally:
        _core.use_isa(best)


def test_int8_mmr_picks_what_the_reference_picks(rng):
    matrix = ops.to_int8(rng.standard_normal((400, 64)))
    relevance = rng.random(400).astype(np.float32)
    rows = rng.choice(400, 300, replace=False).astype(np.int64)
    got = ops.mmr(matrix, relevance[:300], 25, lambda_=0.6, rows=rows)
    want = ref.mmr(matrix, relevance[:300], 25, lambda_=0.6, rows=rows)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def test_to_int8_keeps_directions(rng):
    matrix = rng.standard_normal((200, 384)) * rng.uniform(0.01, 100, (200, 1))
    matrix[5] = 0
    quantised = ops.to_int8(matrix)
    assert quantised.dtype == np.int8 and np.abs(quantised).max(axis=1)[np.arange(200) != 5].min() == 127
    assert not quantised[5].any()
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-30)
    back = quantised / np.maximum(np.linalg.norm(quantised, axis=1, keepdims=True), 1e-30)
    assert np.abs((unit * back).sum(axis=1)[np.arange(200) != 5] - 1).max() < 1e-4  # cosine with the original


def test_nan_rows_rank_last(rng):
    matrix = rng.standard_normal((20, 8)).astype(np.float32)
    matrix[3] = np.nan
    indices, scores = ops.topk(matrix, matrix[5], 20)
    assert indices[-1] == 3 and scores[-1] == -np.inf


def test_k_larger_than_candidates_returns_all_sorted(rng):
    matrix = rng.standard_normal((7, 4)).astype(np.float32)
    indices, scores = ops.topk(matrix, matrix[0], 1000)
    assert sorted(indices.tolist()) == list(range(7))
    assert np.all(np.diff(scores) <= 0)


@given(
    st.lists(st.integers(-3, 3_000), max_size=600),
    st.lists(st.integers(0, 2_000), max_size=300),
    st.integers(0, 2_500),
    st.booleans(),
)
def test_candidate_rows_agree_with_a_python_reference(keys, seen, n_rows, with_upstream):
    """Ids looked up in a table (ids past it, rows past n_rows and -1 entries unknown), repeats
    and seen rows left out, the first occurrence kept, scores kept beside their rows."""
    table = np.random.default_rng(len(keys)).permutation(2_500).astype(np.int64)
    table[::7] = -1
    keys_array, seen_array = np.array(keys, np.int64), np.array(seen, np.int64)  # in any order (a user's: ascending)
    upstream = np.arange(len(keys), dtype=np.float32) if with_upstream else None
    rows, kept_upstream, unknown, repeated = _core.candidate_rows(
        keys_array, seen_array, upstream, table=table, n_rows=n_rows
    )
    want_rows, want_positions, taken, want_unknown, want_repeated, seen_set = [], [], set(), 0, 0, set(seen)
    for i, key in enumerate(keys):
        row = int(table[key]) if 0 <= key < len(table) else -1
        if not 0 <= row < n_rows:
            want_unknown += 1
        elif row in taken:
            want_repeated += 1
        else:
            taken.add(row)
            if row not in seen_set:
                want_rows.append(row)
                want_positions.append(i)
    assert rows.tolist() == want_rows
    assert (unknown, repeated) == (want_unknown, want_repeated)
    if with_upstream:
        assert kept_upstream.tolist() == want_positions
    else:
        assert kept_upstream is None


@given(
    st.integers(1, 3_000),
    st.lists(st.tuples(st.integers(0, 2_999), st.integers(0, 2_999)), max_size=40),
    st.lists(st.integers(0, 2_999), max_size=10),
    st.integers(0, 2**32 - 1),
)
def test_mark_duplicates_keeps_each_rows_first_occurrence(n, copies, unknown, seed):
    """Distinct rows with repeats (each a copy of another position's row) and unknown (-1)
    entries, as string-id lists arrive after their lookup: each row's later occurrences become
    -2, everything else is left as it was, and the count returned is the number marked."""
    rows = np.random.default_rng(seed).permutation(100_000)[:n].astype(np.int64)
    for source, target in copies:
        rows[target % n] = rows[source % n]
    rows[[i % n for i in unknown]] = -1
    want, taken = [], set()
    for row in rows.tolist():
        want.append(-2 if row in taken else row)
        if row >= 0:
            taken.add(row)
    marked = rows.copy()
    assert _core.mark_duplicates(marked) == want.count(-2)
    assert marked.tolist() == want


@given(
    st.lists(st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=8)), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 10**6), st.floats(allow_nan=True, width=32)), max_size=12),
    st.sampled_from([np.float32, np.float64]),
)
def test_named_pairs_are_the_named_tuples_python_builds(ids, picks, dtype):
    """What rerank returns: (id, float score) pairs of the Ranked type, ids taken from the list
    itself (the same objects), scores as Python floats of the array's values."""
    rows = np.array([row % len(ids) for row, _ in picks], np.int64)
    scores = np.array([score for _, score in picks], dtype)
    pairs = _core.named_pairs(Ranked, ids, rows, scores)
    want = [Ranked(ids[row], score) for row, score in zip(rows.tolist(), scores.tolist())]
    assert all(type(p) is Ranked for p in pairs)
    assert [p.item for p in pairs] == [w.item for w in want]
    assert all(p.item is ids[row] for p, row in zip(pairs, rows.tolist()))
    assert np.array_equal([p.score for p in pairs], [w.score for w in want], equal_nan=True)


def test_candidate_rows_of_marked_rows_need_no_table():
    """Rows already looked up (string ids): -1 unknown, -2 repeated, seen ones left out."""
    rows, upstream, unknown, repeated = _core.candidate_rows(np.array([5, -1, 3, -2, 9, 4], np.int64), np.array([9]))
    assert rows.tolist() == [5, 3, 4] and upstream is None and (unknown, repeated) == (1, 1)


def _crc32c_bitwise(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@given(st.binary(max_size=300), st.binary(max_size=40))
def test_crc32c_agrees_with_the_bitwise_definition(data, more):
    """The checksum saves are checked with: CRC-32C, continued across calls as one stream."""
    assert _core.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert _core.crc32c(data) == _crc32c_bitwise(data)
    assert _core.crc32c(more, _core.crc32c(data)) == _crc32c_bitwise(data + more)
    assert _core.crc32c(np.frombuffer(data + bytes(-len(data) % 4), np.int32)) == _crc32c_bitwise(
        data + bytes(-len(data) % 4)
    )


# Keys of 15-18 bytes over two letters straddle the 16 bytes a slot holds in place, differing
# only near the end; longer keys (multi-byte text) live in the index's arena.
ID_TEXT = st.text(max_size=12) | st.text("ab", min_size=15, max_size=18)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(ID_TEXT, unique=True, max_size=3_000),
    probes=st.lists(ID_TEXT | st.integers(), max_size=200),
)
def test_string_index_agrees_with_a_dict(keys, probes):
    index = _core.StringIndex()
    index.add(keys[: len(keys) // 2], 0)  # two batches: the second may grow the table
    index.add(keys[len(keys) // 2 :], len(keys) // 2)
    row_of = {key: row for row, key in enumerate(keys)}
    queries = probes + keys[::7]
    expected = np.array([row_of.get(q, -1) if isinstance(q, str) else -1 for q in queries], np.int64)
    seen: set = set()
    for i, row in enumerate(expected):  # a repeated row is reported as -2
        if row >= 0:
            expected[i] = -2 if row in seen else row
            seen.add(row)
    rows, dropped = index.rows(queries)
    np.testing.assert_array_equal(rows, expected)
    assert dropped == int((expected < 0).sum()) and len(index) == len(keys)


@given(
    events=st.lists(
        st.tuples(st.sampled_from([1.0, -1.0, 0.0, 0.5, -0.25, 3.0]), st.floats(-1e9, 1e10)), min_size=1, max_size=40
    ),
    half_life=st.floats(1.0, 1e8),
    event_decay=st.floats(0.5, 1.0),
    dim=st.integers(1, 70),
)
def test_decay_replay_matches_the_reference(events, half_life, event_decay, dim):
    """Out-of-order, equal and far-apart timestamps; zero and negative weights."""
    weights, timestamps = (np.array(column, np.float64) for column in zip(*events))
    vectors = np.random.default_rng(len(events)).standard_normal((len(events), dim)).astype(np.float32)
    per_second, per_event = -math.log(2.0) / half_life, math.log(event_decay)
    pos, neg, latest = _core.decay_replay(vectors, weights, timestamps, per_second, per_event)
    want_pos, want_neg, want_latest = ref.decay_replay(vectors, weights, timestamps, per_second, per_event)
    scale = float(np.abs(weights).sum() * np.abs(vectors).max())  # float32 sums: error relative to the terms
    np.testing.assert_allclose(pos, want_pos, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(neg, want_neg, rtol=1e-5, atol=1e-6 * scale)
    assert latest == want_latest and pos.shape == neg.shape == (dim,) and pos.dtype == np.float32


def test_string_index_lookups_while_another_thread_adds_keys():
    """rows() looks up without the GIL while add() grows the index (the Reranker resolves str
    ids outside its catalog lock): an id added before a lookup began is always found at its
    row; one added meanwhile is found at its row or not at all, never at another. Long ids
    (arena) and short ones (in their slot) both."""
    keys = [f"id-{i}" if i % 2 else f"a-much-longer-item-id-{i}" for i in range(60_000)]
    index = _core.StringIndex()
    index.add(keys[:1_000], 0)
    added = [1_000]  # how many keys are in the index, written by the adding thread only
    looking, lookups, failures = threading.Event(), [0], []

    def add() -> None:
        looking.wait()
        for start in range(1_000, len(keys), 200):  # grows the table six times over
            index.add(keys[start : start + 200], start)
            added[0] = start + 200
            time.sleep(0)  # lets the other thread run between batches as well as during them

    def look() -> None:
        rng = np.random.default_rng(0)
        while added[0] < len(keys) and not failures:
            known = added[0]
            picks = rng.choice(len(keys), 2_000, replace=False)
            rows, _ = index.rows([keys[i] for i in picks])
            wrong = (rows != picks) & ((picks < known) | (rows != -1))
            if wrong.any():
                failures.append(f"{int(wrong.sum())} wrong rows with {known} keys added")
            lookups[0] += 1
            looking.set()

    threads = [threading.Thread(target=add), threading.Thread(target=look)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and lookups[0] > 10
    assert (index.rows(keys)[0] == np.arange(len(keys))).all()


@given(data=st.data())
def test_candidate_features_match_the_reference(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_rows = data.draw(st.integers(1, 400))
    stats = np.column_stack(
        [
            np.log1p(rng.integers(0, 50, n_rows)),
            np.log1p(rng.random(n_rows) * 20),
            rng.random(n_rows) * 1e6,
            rng.random(n_rows) * 1e6,
        ]
    ).astype(np.float64)
    stats[rng.random(n_rows) < 0.3, 3] = -np.inf  # never engaged
    rows = rng.integers(0, n_rows, data.draw(st.integers(1, 600))).astype(np.int64)
    upstream = data.draw(st.sampled_from([None, "random", "constant"]))
    upstream = (
        None
        if upstream is None
        else (rng.standard_normal(len(rows)) if upstream == "random" else np.full(len(rows), 0.3)).astype(np.float32)
    )
    p = data.draw(st.integers(0, n_rows))
    co_rows = np.sort(rng.choice(n_rows, p, replace=False)).astype(np.int64)
    co_values = (rng.random(p) * 5 * (rng.random(p) < 0.8)).astype(np.float32)  # some zeros
    args = (stats, rows, 5e5, 7 * 86400.0, 86400.0, upstream, _core.CoScores(co_rows, co_values) if p else None)
    features = _core.candidate_features(*args)
    want = ref.candidate_features(*args[:-1], co_rows, co_values)
    np.testing.assert_allclose(features, want, rtol=2e-6, atol=2e-6)
    # The serving path hands fused_topk these arguments (all but the rows) to gather the same
    # features inside its own call, block by block: the same ranking, bit for bit, with one
    # interest or two, with or without an extra query (the short-term vector), on any threads.
    matrix = rng.standard_normal((n_rows, 16)).astype(np.float32)
    query = rng.standard_normal((data.draw(st.integers(1, 2)), 16)).astype(np.float32)
    weights = rng.standard_normal(5).astype(np.float32)
    extra = {"extra": query[:1] * 0.5, "extra_weights": np.array([0.7], np.float32)} if data.draw(st.booleans()) else {}
    k, threads = data.draw(st.integers(1, 20)), data.draw(st.sampled_from([1, 3]))
    options = dict(rows=rows, ties="position", num_threads=threads, **extra)
    given_matrix = _core.fused_topk(matrix, query, features, weights, k, **options)
    gathered = _core.fused_topk(matrix, query, (args[0], *args[2:]), weights, k, **options)
    for a, b in zip(given_matrix, gathered):
        np.testing.assert_array_equal(a, b)
