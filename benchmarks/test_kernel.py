"""Top-k kernel against numpy, torch and faiss, single-threaded, with a memory-read yardstick.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 pytest benchmarks/test_kernel.py \
       --benchmark-json=benchmarks/kernel.json && python benchmarks/report.py benchmarks/kernel.json

Cases: n candidates (a full scan of an n-row matrix, or a subset of n rows gathered from a
100 000-row catalog), d, k, one query or 64, float32, float16 or int8 (pyrerank and probe
only: numpy and torch have no int8 x float product). `probe` reads the same number of bytes
from a contiguous block: the memory-bandwidth floor for a scan.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import CATALOG_ROWS, catalog, queries
from test_reranker import percentiles

from pyrerank import ops

SUBSET_POOL = 32  # distinct candidate subsets cycled through (see the `candidates` fixture)


def cases():
    for n, d, k, nq, dtype, mode in itertools.product(
        [100, 1_000, 10_000, 100_000],
        [384, 768],
        [10, 100],
        [1, 64],
        ["float32", "float16", "int8"],
        ["full", "subset"],
    ):
        if mode == "subset" and n == CATALOG_ROWS:
            continue  # a subset of every row is the full scan
        if k >= n:
            continue
        yield pytest.param(n, d, k, nq, dtype, mode, id=f"{mode}-n{n}-d{d}-k{k}-q{nq}-{dtype}")


def _numpy_topk(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    top = np.take_along_axis(scores, part, axis=-1)
    return np.take_along_axis(part, np.argsort(-top, axis=-1), axis=-1)


class Problem:
    """The matrix, query and candidate rows of one case; `rows` cycles through a pool of
    subsets, so that cached rows from the previous call do not flatter any implementation."""

    def __init__(self, n, d, k, nq, dtype, mode):
        full = catalog(d, dtype)
        self.k, self.query = k, queries(d, nq)
        if mode == "full":
            self.matrix = full if n == CATALOG_ROWS else np.ascontiguousarray(full[:n])
            self.pool = [None]
        else:
            self.matrix = full
            rng = np.random.default_rng(n)
            self.pool = [
                np.sort(rng.choice(CATALOG_ROWS, n, replace=False)).astype(np.int64) for _ in range(SUBSET_POOL)
            ]
        self.bytes = n * d * np.dtype(dtype).itemsize
        self.calls = 0

    def next_rows(self):
        self.calls += 1
        return self.pool[self.calls % len(self.pool)]


@pytest.mark.parametrize("n, d, k, nq, dtype, mode", list(cases()))
@pytest.mark.parametrize("impl", ["pyrerank", "numpy", "torch", "faiss", "probe"])
def test_topk(benchmark, impl, n, d, k, nq, dtype, mode):
    if dtype == "int8" and impl in ("numpy", "torch", "faiss"):
        pytest.skip("no int8 x float32 product to compare with")
    p = Problem(n, d, k, nq, dtype, mode)
    benchmark.group = f"{mode}-n{n}-d{d}-k{k}-q{nq}-{dtype}"
    benchmark.extra_info.update(n=n, d=d, k=k, nq=nq, dtype=dtype, mode=mode, bytes=p.bytes, isa=ops.isa())
    if impl == "pyrerank":
        benchmark(lambda: ops.topk(p.matrix, p.query, k, p.next_rows(), num_threads=1))
    elif impl == "numpy":

        def run():
            rows = p.next_rows()
            block = p.matrix if rows is None else p.matrix[rows]
            return _numpy_topk(p.query @ block.T, k)

        benchmark(run)
    elif impl == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        t_matrix = torch.from_numpy(p.matrix)
        t_query = torch.from_numpy(p.query).to(t_matrix.dtype)

        def run():
            rows = p.next_rows()
            block = t_matrix if rows is None else t_matrix[torch.from_numpy(rows)]
            scores = block @ t_query.T if nq > 1 else torch.mv(block, t_query)
            return torch.topk(scores, k, dim=0)

        benchmark(run)
    elif impl == "faiss":
        faiss = pytest.importorskip("faiss")
        if mode != "full" or dtype != "float32":
            pytest.skip("IndexFlatIP holds float32 and scans the whole index (no candidate gather)")
        faiss.omp_set_num_threads(1)
        index = faiss.IndexFlatIP(d)
        index.add(p.matrix)
        q2 = np.atleast_2d(p.query)
        benchmark(lambda: index.search(q2, k))
    else:  # probe: the same number of bytes read from one contiguous block
        block = np.ascontiguousarray(catalog(d, dtype)[:n])
        benchmark(lambda: ops._read_all(block))


@pytest.mark.parametrize("pool", [SUBSET_POOL, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("norms", ["known", "summed"])
def test_int8_row_norms(benchmark, norms, pool):
    """1,000 rows of the 100,000 × 384 int8 catalog, one query, k=10, through the call a rerank
    makes (_core.fused_topk_keys, rows already resolved, no features): the rows' norms given
    (row_scale, as a Reranker's catalog keeps them: 8-row tiles on AVX-512) or summed from
    each row's squares in the kernel (row_scale None: 4-row tiles). warm: one list, its rows
    cached; cold: 32 lists in turn."""
    from pyrerank import _core

    matrix, query = catalog(384, "int8"), queries(384, 1)
    norms_f32 = np.linalg.norm(matrix.astype(np.float32), axis=1)
    row_scale = (1.0 / norms_f32).astype(np.float32) if norms == "known" else None
    rng = np.random.default_rng(11)
    lists = [rng.choice(CATALOG_ROWS, 1_000, replace=False).astype(np.int64) for _ in range(pool)]
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % pool
        keys = lists[state["i"]]
        return _core.fused_topk_keys(
            matrix, row_scale, keys, None, CATALOG_ROWS, None, None, 10, query, None, 1.0, None, None, None
        )

    benchmark.group = "int8 row norms: 1,000 rows of 100,000 x 384, one query, k=10"
    benchmark.extra_info.update(isa=ops.isa())
    benchmark.pedantic(call, rounds=5_000, iterations=1, warmup_rounds=100)
    percentiles(benchmark)
