"""Run by .ci/run in a fresh virtual environment that holds only the manylinux wheel (and its
numpy and pluggy), with no compiler on PATH: the kernel imports and ranks like the numpy
reference on every instruction set this CPU runs, and the Reranker works end to end."""

import shutil

import numpy as np

import pyrerank as pr
from pyrerank import _core, ops
from pyrerank import _reference as ref

compilers = [tool for tool in ("cc", "gcc", "c++", "g++", "clang", "zig") if shutil.which(tool)]
assert not compilers, f"a compiler is on PATH: {compilers}"

rng = np.random.default_rng(0)
matrix = rng.standard_normal((2_000, 96)).astype(np.float32)
matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
query = rng.standard_normal(96).astype(np.float32)
rows = rng.choice(2_000, 500, replace=False).astype(np.int64)
for isa in _core.runnable_isas():
    _core.use_isa(isa)
    for m in (matrix, matrix.astype(np.float16), ops.to_int8(matrix)):
        got, scores = ops.topk(m, query, 10, rows)
        want, want_scores = ref.topk(m, query, 10, rows)
        assert got.tolist() == want.tolist(), (isa, m.dtype)
        np.testing.assert_allclose(scores, want_scores, atol=1e-3 * np.linalg.norm(query))

rr = pr.Reranker(encoder="hashing")
rr.add_items([1, 2, 3], ["a space opera", "a romantic comedy", "starships in deep space"])
rr.observe("u", 1, "like")
assert rr.rerank("u", [2, 3], k=1)[0].item == 3
print(f"wheel OK: pyrerank {pr.__version__}, kernels {_core.runnable_isas()}")
