"""Conformance checks any Encoder, InterestModel or Ranker (third-party ones too) should pass,
and a private Redis server for tests of stores.

Use as mixins in a pytest module::

    from pyrerank.testing import EncoderConformance

    class TestMyEncoder(EncoderConformance):
        def make_encoder(self):
            return MyEncoder()
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import ops
from .features import CandidateFeatures
from .interfaces import Encoder, InterestModel, Ranker, RankRequest, UserQuery
from .stats import GlobalStats

TEXTS = ["a space opera on a starship", "a romantic comedy in Paris", "", "ünïcödé ✓ and emoji 🎬", "x " * 600]


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@contextlib.contextmanager
def redis_server(folder: str | Path) -> Iterator[str]:
    """A private redis-server (from PATH) on a free loopback port, nothing saved to disk: yields
    its URL, and stops it on exit. Raises FileNotFoundError without redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on PATH (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


class EncoderConformance:
    """Subclass and implement make_encoder()."""

    def make_encoder(self) -> Encoder:
        raise NotImplementedError

    def test_shape_dtype_and_norm(self):
        enc = self.make_encoder()
        assert isinstance(enc, Encoder) and isinstance(enc.name, str) and enc.dim > 0
        out = enc.encode(TEXTS)
        assert out.shape == (len(TEXTS), enc.dim) and out.dtype == np.float32
        norms = np.linalg.norm(out, axis=1)
        assert np.all(np.isfinite(out))
        assert np.all((np.abs(norms - 1) < 1e-3) | (norms == 0))

    def test_deterministic_and_batch_independent(self):
        enc = self.make_encoder()
        together = enc.encode(TEXTS)
        alone = np.stack([enc.encode_one(t) for t in TEXTS])
        np.testing.assert_allclose(together, alone, atol=1e-4)

    def test_similar_texts_are_closer(self):
        enc = self.make_encoder()
        a, b, c = enc.encode(["starship battle in deep space", "a space war between starships", "baking bread at home"])
        assert a @ b > a @ c

    def test_empty_list_and_bad_input(self):
        enc = self.make_encoder()
        assert enc.encode([]).shape == (0, enc.dim)
        for bad in ("one string", [1, 2]):
            try:
                enc.encode(bad)
            except TypeError:
                continue
            raise AssertionError(f"encode({bad!r}) should raise TypeError")


class InterestModelConformance:
    """Subclass and implement make_model()."""

    dim = 16

    def make_model(self) -> InterestModel:
        raise NotImplementedError

    def test_no_signal_without_events(self):
        model = self.make_model()
        assert model.query(model.new_state(), now=0.0) is None

    def test_positive_event_pulls_towards_item(self):
        model = self.make_model()
        items = _unit_rows(20, self.dim)
        state = model.new_state()
        model.update(state, items[3], 1.0, 100.0)
        q = model.query(state, now=100.0)
        assert isinstance(q, UserQuery) and q.interests.dtype == np.float32 and q.interests.shape[1] == self.dim
        scores = _best_match(q, items)
        assert int(np.argmax(scores)) == 3

    def test_negative_event_pushes_away(self):
        model = self.make_model()
        items = _unit_rows(20, self.dim)
        state = model.new_state()
        model.update(state, items[0], 1.0, 0.0)
        before = _best_match(model.query(state, 0.0), items)[5]
        model.update(state, items[5], -2.0, 1.0)
        after = _best_match(model.query(state, 1.0), items)[5]
        assert after < before

    def test_state_is_arrays_and_json(self):
        model = self.make_model()
        state = model.new_state()
        for i, v in enumerate(_unit_rows(5, self.dim)):
            model.update(state, v, 1.0 if i % 2 else -0.5, float(i))
        for key, value in state.items():
            if not isinstance(value, np.ndarray):
                json.dumps({key: value})


def _best_match(q: UserQuery, items: np.ndarray) -> np.ndarray:
    sims = q.interests @ items.T
    if q.weights is not None:
        sims = sims * q.weights[:, None]
    return sims.max(axis=0)


class RankerConformance:
    """Subclass and implement make_ranker()."""

    def make_ranker(self) -> Ranker:
        raise NotImplementedError

    def _request(self, query: UserQuery | None, n: int = 30, dtype: str = "float32") -> RankRequest:
        matrix = _unit_rows(100, 16, seed=1)
        matrix = ops.to_int8(matrix) if dtype == "int8" else matrix.astype(dtype)
        rows = np.arange(0, 100, 100 // n, dtype=np.int64)[:n]
        stats = GlobalStats()
        stats.resize(100)
        features = CandidateFeatures(stats, rows, None, (np.zeros(0, np.int64), np.zeros(0, np.float32)), 0.0)
        return RankRequest(matrix, rows, query, None, features)

    def test_rank_agrees_with_score(self):
        ranker = self.make_ranker()
        req = self._request(UserQuery(_unit_rows(1, 16, seed=2)))
        scores = ranker.score(req)
        assert scores.shape == (len(req.rows),)
        top_rows, top_scores = ranker.rank(req, 5)
        assert len(top_rows) == 5 and top_rows.dtype == np.int64 and set(top_rows) <= set(req.rows.tolist())
        assert len(set(top_rows.tolist())) == 5

    def test_every_catalogue_dtype_scores_alike(self):
        """The Reranker stores int8 rows by default: a ranker must read them as directions
        (through pyrerank.ops or RankRequest.vectors()), not as raw numbers."""
        ranker = self.make_ranker()
        query = UserQuery(_unit_rows(1, 16, seed=4))
        want = ranker.score(self._request(query))
        for dtype in ("float16", "int8"):
            np.testing.assert_allclose(ranker.score(self._request(query, dtype=dtype)), want, atol=0.02, err_msg=dtype)

    def test_k_larger_than_candidates_and_cold_user(self):
        ranker = self.make_ranker()
        rows, _ = ranker.rank(self._request(None, n=7), 50)
        assert sorted(rows.tolist()) == sorted(self._request(None, n=7).rows.tolist())

    def test_explain_parts_sum_to_score(self):
        ranker = self.make_ranker()
        req = self._request(UserQuery(_unit_rows(1, 16, seed=3)), n=5)
        for parts, score in zip(ranker.explain(req), ranker.score(req)):
            assert abs(parts["score"] - float(score)) < 1e-4
            others = sum(v for k, v in parts.items() if k != "score")
            assert len(parts) == 1 or abs(others - parts["score"]) < 1e-4
