"""Conformance checks for Encoder, InterestModel and Ranker implementations (third-party ones
too): mixins for pytest classes."""

from __future__ import annotations

import json

import numpy as np

from .. import ops
from ..interfaces import Encoder, InterestModel, Ranker, RankRequest, UserQuery
from ..serving.features import NO_CO_SCORES, CandidateFeatures
from ..serving.item_stats import ItemStats

TEXTS = ["a space opera on a starship", "a romantic comedy in Paris", "", "ünïcödé ✓ and emoji 🎬", "x " * 600]


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


_TOPICS = ("space travel", "cooking in paris", "bees and honey", "haunted houses", "jazz piano")


def _item_texts(rows) -> list[str | None]:
    """The text of each row of the kit's catalog (rankers that read texts)."""
    return [f"{_TOPICS[r % len(_TOPICS)]}, part {r}" for r in rows]


class EncoderConformance:
    """Subclass and implement make_encoder()::

    from pyrerank.testing import EncoderConformance

    class TestMyEncoder(EncoderConformance):
        def make_encoder(self):
            return MyEncoder()
    """

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

    def test_replay_gives_the_state_of_updates_in_turn(self):
        """Equal, out-of-order and far-apart timestamps; negative and zero weights."""
        model = self.make_model()
        vectors = _unit_rows(12, self.dim, seed=1)
        weights = np.array([1.0, -0.5, 2.0, 0.0, 1.0, -1.0, 0.3, 1.0, 1.0, -2.0, 0.7, 1.0])
        timestamps = np.array([0.0, 5.0, 5.0, 3.0, 100.0, 2e5, 2e5, 1e6, 9e5, 1e6 + 1, 5e6, 5e6])
        expected = model.new_state()
        for vector, weight, timestamp in zip(vectors, weights.tolist(), timestamps.tolist()):
            model.update(expected, vector, weight, timestamp)
        got = model.replay(vectors, weights, timestamps)
        assert set(got) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
        assert model.query(model.replay(vectors[:0], weights[:0], timestamps[:0]), now=0.0) is None


def _best_match(q: UserQuery, items: np.ndarray) -> np.ndarray:
    sims = q.interests @ items.T
    if q.weights is not None:
        sims = sims * q.weights[:, None]
    return sims.max(axis=0)


def _assert_best_by_score(
    req: RankRequest, scores: np.ndarray, top_rows: np.ndarray, top_scores: np.ndarray, by: str
) -> None:
    """`top_rows` and `top_scores` (what `by` returned) are the best of the request's rows by
    `scores` (score()'s), with score()'s values, best first."""
    by_row = dict(zip(req.rows.tolist(), scores.tolist()))
    picked = np.array([by_row[r] for r in top_rows.tolist()], np.float32)
    np.testing.assert_allclose(top_scores, picked, atol=1e-4, err_msg=f"{by} scores differ from score()")
    assert np.all(np.diff(top_scores) <= 1e-6), f"{by} must return the best first"
    others = np.array([s for r, s in by_row.items() if r not in set(top_rows.tolist())])
    assert picked.min() >= others.max() - 1e-4, f"{by} left out a candidate that score() puts in the top k"


class RankerConformance:
    """Subclass and implement make_ranker()."""

    def make_ranker(self) -> Ranker:
        raise NotImplementedError

    def _request(self, query: UserQuery | None, n: int = 30, dtype: str = "float32") -> RankRequest:
        """n candidates of a 100-row catalog whose items have popularity, recency, co-engagement
        and texts, so every feature column varies; a short-term vector and a history of liked
        rows with the query."""
        matrix = _unit_rows(100, 16, seed=1)
        matrix = ops.to_int8(matrix) if dtype == "int8" else matrix.astype(dtype)
        rows = np.arange(0, 100, 100 // n, dtype=np.int64)[:n]
        stats = ItemStats()
        stats.resize(100)
        rng = np.random.default_rng(7)
        for t in range(200):
            stats.record(
                "u", int(rng.integers(100)), float(rng.uniform(0.5, 3)), float(t * 3600), [int(rng.integers(100))]
            )
        co_scores = stats.co.user_scores([int(r) for r in rows[:3]], 0.9) if query is not None else NO_CO_SCORES
        features = CandidateFeatures(stats, rows, None, co_scores, 200 * 3600.0)
        recent = None if query is None else _unit_rows(1, 16, seed=5)[0]
        history = None if query is None else np.array([1, 5, 9], np.int64)
        return RankRequest(matrix, rows, query, None, features, recent, history=history, texts=_item_texts)

    def test_rank_agrees_with_score(self):
        """rank() returns the best min(k, n) candidates by score() with score()'s values, best
        first (a ranker that diversifies: distinct candidates, all of them when k >= n)."""
        ranker = self.make_ranker()
        req = self._request(UserQuery(_unit_rows(1, 16, seed=2)))
        scores = np.asarray(ranker.score(req))
        assert scores.shape == (len(req.rows),) and scores.dtype == np.float32
        top_rows, top_scores = ranker.rank(req, 5)
        assert top_rows.dtype == np.int64 and top_scores.dtype == np.float32 and len(top_rows) == len(top_scores) == 5
        assert len(set(top_rows.tolist())) == 5 and set(top_rows.tolist()) <= set(req.rows.tolist())
        all_rows, _ = ranker.rank(req, len(req.rows) + 3)
        assert sorted(all_rows.tolist()) == sorted(req.rows.tolist())
        if not ranker.diversifies:
            _assert_best_by_score(req, scores, top_rows, top_scores, "rank()")

    def test_fused_scoring_ranks_by_score(self):
        """Where a ranker describes its score as one kernel pass (Ranker.fused_scoring), the
        Reranker scores int ids with it instead of calling rank(): it must pick the best by
        score(), as rank() does, with and without a user signal and a typed query."""
        ranker = self.make_ranker()
        search = _unit_rows(1, 16, seed=6)[0]
        for query in (UserQuery(_unit_rows(1, 16, seed=2)), UserQuery(_unit_rows(3, 16, seed=8)), None):
            for typed in (None, search):
                req = self._request(query)
                req.search = typed
                scoring = ranker.fused_scoring(req.query, req.recent, req.search, req.matrix.shape[1])
                if scoring is not None:
                    case = f"fused_scoring (query={query is not None}, typed={typed is not None})"
                    _assert_best_by_score(req, np.asarray(ranker.score(req)), *scoring.topk(req, 7), case)

    def test_every_catalog_dtype_scores_alike(self):
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

    def test_new_user_keeps_the_recall_order(self):
        """A user with no signal on a catalog with no statistics: every score ties, and the
        recall stage's order (the candidates' order, not their row numbers) decides; a ranker
        that diversifies picks the first candidate first."""
        ranker = self.make_ranker()
        rows = np.random.default_rng(11).permutation(100)[:20].astype(np.int64)
        stats = ItemStats()
        stats.resize(100)
        features = CandidateFeatures(stats, rows, None, NO_CO_SCORES, 0.0)
        request = RankRequest(_unit_rows(100, 16, seed=1), rows, None, None, features, None)
        ranked, _ = ranker.rank(request, len(rows))
        if ranker.diversifies:
            assert ranked[0] == rows[0], "a diversifying ranker must take the recall position as relevance"
        else:
            assert ranked.tolist() == rows.tolist(), "equal scores must keep the candidates' order"

    def test_explain_parts_sum_to_score(self):
        ranker = self.make_ranker()
        req = self._request(UserQuery(_unit_rows(1, 16, seed=3)), n=5)
        for parts, score in zip(ranker.explain(req), ranker.score(req)):
            assert abs(parts["score"] - float(score)) < 1e-4
            others = sum(v for k, v in parts.items() if k != "score")
            assert len(parts) == 1 or abs(others - parts["score"]) < 1e-4
