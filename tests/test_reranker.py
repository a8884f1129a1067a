"""The Reranker facade: the contract app code is written against."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyrerank as pr
from pyrerank import ops

TEXTS = {
    0: "starship battle in deep space",
    1: "deep space starship opera",
    2: "romantic comedy in paris",
    3: "paris romantic love story",
    4: "honey bees nature documentary",
    5: "bees nature documentary with flowers",
    6: "haunted house horror",
    7: "haunted manor horror at night",
}


@pytest.fixture(params=["int8", "float16", "float32"])
def rr(request):
    r = pr.Reranker(encoder="hashing", dtype=request.param)
    r.add_items(list(TEXTS), list(TEXTS.values()))
    return r


def rank_of(ranked, item):
    return [r.item for r in ranked].index(item)


def test_like_lifts_similar_item_and_dislike_sinks_it(rr):
    candidates = [0, 1, 2, 3, 6, 7, 5]
    before = rank_of(rr.rerank("u", candidates, k=7), 5)
    rr.observe("u", 4, "like")
    after_like = rank_of(rr.rerank("u", candidates, k=7), 5)
    assert before > 0 and after_like == 0
    rr.observe("u", 6, "dislike")
    ranked = rr.rerank("u", candidates, k=7, exclude_seen=False)
    assert {rank_of(ranked, 6), rank_of(ranked, 7)} == {5, 6}, "the disliked item and its twin go last"
    ranked = rr.rerank("u", candidates, k=7)
    assert 6 not in [x.item for x in ranked] and rank_of(ranked, 7) == 5, "seen: left out by default"


@pytest.mark.parametrize("interest", ["decay", "multi", "logistic"])
@pytest.mark.parametrize("ranker", ["cosine", "fusion", "mmr"])
def test_every_combination_reacts_to_the_next_event(interest, ranker):
    r = pr.Reranker(encoder="hashing", interest=interest, ranker=ranker)
    r.add_items(list(TEXTS), list(TEXTS.values()))
    r.observe("u", 4, "like")
    top = r.rerank("u", [0, 2, 5, 6], k=1)[0].item
    assert top == 5


def test_int8_catalog_ranks_like_float32():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3_000, 384)).astype(np.float32)
    ranked = {}
    for dtype in ("int8", "float32"):
        r = pr.Reranker(encoder="hashing", ranker="cosine", dtype=dtype)
        r.add_items(np.arange(3_000), vectors=vectors)
        for item in (5, 17, 400):
            r.observe("u", item, "like", timestamp=1.0)
        ranked[dtype] = r.rerank("u", np.arange(3_000), k=20, now=2.0)
    assert r.catalog.matrix.nbytes == 4 * 3_000 * 384
    assert [x.item for x in ranked["int8"][:3]] == [x.item for x in ranked["float32"][:3]]
    assert len({x.item for x in ranked["int8"]} & {x.item for x in ranked["float32"]}) >= 18
    np.testing.assert_allclose(
        [x.score for x in ranked["int8"][:3]], [x.score for x in ranked["float32"][:3]], atol=2e-3
    )


def test_rank_request_vectors_are_unit_rows_whatever_the_dtype():
    rng = np.random.default_rng(3)
    unit = rng.standard_normal((50, 32)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    rows = np.array([4, 9, 31])
    for matrix in (unit, unit.astype(np.float16), ops.to_int8(unit)):
        got = pr.RankRequest(matrix, rows, None, None, features=None).vectors()
        assert got.dtype == np.float32 and got.shape == (3, 32)
        np.testing.assert_allclose(got, unit[rows], atol=0.01)


def test_bad_dtype_is_refused_up_front():
    with pytest.raises(ValueError, match="dtype must be one of 'int8', 'float16', 'float32', got 'int4'"):
        pr.Reranker(encoder="hashing", dtype="int4")
    r = pr.Reranker(encoder="hashing")
    with pytest.raises(ValueError, match="dtype 'int8' holds vectors up to 65536 wide"):
        r.add_items([1], vectors=np.ones((1, 70_000), np.float32))


def test_multi_interest_user_keeps_both_tastes():
    r = pr.Reranker(encoder="hashing", interest="multi", ranker="cosine")
    r.add_items(list(TEXTS), list(TEXTS.values()))
    for item in (0, 1, 4, 5):
        r.observe("u", item, "like")
    top2 = {x.item for x in r.rerank("u", [0, 1, 2, 3, 4, 5, 6, 7], k=4, exclude_seen=False)}
    assert top2 == {0, 1, 4, 5}


def test_results_are_ranked_pairs(rr):
    rr.observe("u", 0, "click")
    ranked = rr.rerank("u", [1, 2, 3], k=2)
    assert len(ranked) == 2 and all(isinstance(r, pr.Ranked) for r in ranked)
    assert ranked[0].score >= ranked[1].score


def test_numpy_and_list_candidates_agree(rr):
    rr.observe("u", 0, "like")
    assert rr.rerank("u", np.array([3, 1, 2]), k=3) == rr.rerank("u", [3, 1, 2], k=3)


def test_str_ids():
    r = pr.Reranker(encoder="hashing")
    r.add_items([f"m{i}" for i in TEXTS], list(TEXTS.values()))
    r.observe("u", "m0", "like")
    assert r.rerank("u", ["m2", "m1", "m6"], k=1)[0].item == "m1"


def test_unknown_and_duplicate_candidates_warn_and_are_dropped(rr):
    with pytest.warns(pr.PyrerankWarning, match="not in the catalog"):
        ranked = rr.rerank("u", [1, 99, 2], k=5)
    assert {r.item for r in ranked} == {1, 2}
    with pytest.warns(pr.PyrerankWarning, match="duplicate"):
        ranked = rr.rerank("u", [1, 2, 1], k=5)
    assert sorted(r.item for r in ranked) == [1, 2]


def test_edge_inputs(rr):
    assert rr.rerank("u", [], k=3) == []
    with pytest.raises(ValueError, match="k must be >= 1"):
        rr.rerank("u", [1], k=0)
    with pytest.raises(ValueError, match="scores must have shape"):
        rr.rerank("u", [1, 2], k=1, scores=[0.5])
    with pytest.raises(ValueError, match="scores must be finite"):
        rr.rerank("u", [1, 2], k=1, scores=[0.5, np.nan])
    with pytest.raises(KeyError, match="not in the catalog"):
        rr.observe("u", 1234, "click")
    with pytest.raises(ValueError, match="kind must be one of"):
        rr.observe("u", 1, "poke")
    with pytest.raises(ValueError, match="ids must be distinct"):
        rr.add_items([50, 50], ["a", "b"])
    with pytest.raises(TypeError, match="ids must all be int"):
        rr.add_items(["x"], ["a"])
    with pytest.raises(ValueError, match="must be finite"):
        rr.add_items([60], vectors=np.full((1, 384), np.nan))
    with pytest.raises(
        pr.UnknownPluginError, match="registered: bilinear, cascade, cosine, cross-encoder, fusion, mlp, mmr"
    ):
        pr.Reranker(encoder="hashing", ranker="nope")
    with pytest.raises(ValueError, match=r"vectors must have shape \(1, dim\)"):
        rr.add_items([61], vectors=np.ones(384))
    with pytest.raises(TypeError, match="vectors must be numeric"):
        rr.add_items([61], vectors=np.array([["a"] * 384]))
    with pytest.raises(ValueError, match="dimension 3 but the catalog's text vectors have 384"):
        rr.add_items([61], vectors=np.ones((1, 3)))
    rr.rerank("u", [1], k=10**12)  # a huge k is all candidates, not a huge allocation


def test_texts_that_are_not_text():
    r = pr.Reranker(encoder="hashing")
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got bytes"):  # decode bytes first
        r.add_items([1, 2], ["fine", b"\xff\xfe"])
    with pytest.raises(ValueError, match=r"texts\[0\] = '' encodes to an all-zero vector"):
        r.add_items([1], [""])
    r.add_items([1, 2], ["x" * 1_000_000 + " starship", "\ud800 lone surrogate"])  # enormous, not UTF-8
    assert len(r.rerank("u", [1, 2], k=2)) == 2


@pytest.mark.parametrize("ranker", ["cosine", "fusion", "mmr"])
def test_a_new_user_gets_the_recall_order_back(ranker):
    """No events, no scores: every candidate ties and the recall stage's order stands (not the
    catalog's); mmr takes that order as relevance, so its first pick is the first candidate."""
    r = pr.Reranker(encoder="hashing", ranker=ranker)
    r.add_items(list(TEXTS), list(TEXTS.values()))
    candidates = [5, 2, 0, 7, 3]
    got = [x.item for x in r.rerank("new", candidates, k=len(candidates))]
    if ranker == "mmr":
        assert got[0] == 5 and sorted(got) == sorted(candidates)
    else:
        assert got == candidates
    r.observe("someone else", 3, "like")  # cosine ranks by the user's own interest only
    if ranker == "cosine":
        assert [x.item for x in r.rerank("new", candidates, k=5)] == candidates


def test_seen_items_are_left_out_by_default_and_on_request():
    r = pr.Reranker(encoder="hashing", seen_kinds=["like", "purchase"])
    r.add_items(list(TEXTS), list(TEXTS.values()))
    r.observe("u", 0, "like")
    r.observe("u", 2, "click")  # not a seen kind here
    r.observe("u", 4, "purchase")
    assert {x.item for x in r.rerank("u", list(TEXTS), k=8)} == set(TEXTS) - {0, 4}
    assert {x.item for x in r.rerank("u", list(TEXTS), k=8, exclude_seen=False)} == set(TEXTS)
    assert r.rerank("u", [0, 4], k=2) == []
    assert {x.item for x in r.rerank("other", [0, 4], k=2)} == {0, 4}  # seen by u, not by other
    kept = r.rerank("u", [3, 0, 5], k=3, scores=[0.2, 0.9, 0.4])  # the scores follow their candidates
    assert [x.item for x in kept] == [x.item for x in r.rerank("u", [3, 5], k=3, scores=[0.2, 0.4])]
    off = pr.Reranker(encoder="hashing", exclude_seen=False)
    off.add_items(list(TEXTS), list(TEXTS.values()))
    off.observe("u", 0, "like")
    assert off.rerank("u", list(TEXTS), k=1)[0].item == 0
    assert {x.item for x in off.rerank("u", list(TEXTS), k=8, exclude_seen=True)} == set(TEXTS) - {0}


def test_text_the_user_writes_moves_their_interest():
    r = pr.Reranker(encoder="hashing")
    r.add_items(list(TEXTS), list(TEXTS.values()))
    candidates = [0, 2, 4, 6]
    assert [x.item for x in r.rerank("new", candidates, k=4)] == candidates  # nothing known yet
    r.observe_text("new", "a haunted horror night", kind="review")
    liked = r.rerank("new", candidates, k=4)
    assert liked[0].item == 6
    r.observe_text("new", "haunted horror", kind="post", weight=-5.0)  # "not that"
    after = {x.item: x.score for x in r.rerank("new", candidates, k=4)}
    assert after[6] < liked[0].score / 2
    assert 6 in after, "text names no item: nothing counts as seen"


def test_a_typed_query_blends_with_the_interest_and_leaves_the_user_as_they_were():
    r = pr.Reranker(encoder="hashing")
    r.add_items(list(TEXTS), list(TEXTS.values()))
    r.observe("u", 0, "like")
    candidates = [3, 5, 7]
    plain = r.rerank("u", candidates, k=3)
    assert plain[0].item != 3
    searched = r.rerank("u", candidates, k=3, query="paris romantic love")
    assert searched[0].item == 3
    parts = r.explain("u", 3, query="paris romantic love")
    assert parts["search_similarity"] > 0 and abs(parts["score"] - searched[0].score) < 1e-5
    assert r.rerank("u", candidates, k=3) == plain
    cosine = pr.Reranker(encoder="hashing", ranker="cosine")
    cosine.add_items(list(TEXTS), list(TEXTS.values()))
    assert cosine.rerank("new", candidates, k=1, query="paris love")[0].item == 3  # a query alone ranks


def test_upstream_scores_order_a_cold_user():
    r = pr.Reranker(encoder="hashing", ranker="cosine")
    r.add_items(list(TEXTS), list(TEXTS.values()))
    assert [x.item for x in r.rerank("new", [1, 2, 3], k=3, scores=[0.1, 0.9, 0.5])] == [2, 3, 1]


def test_explain_parts_sum_to_the_rerank_score(rr):
    rr.observe("u", 0, "like", timestamp=1000.0)
    ranked = rr.rerank("u", [1, 2], k=2, now=2000.0)
    parts = rr.explain("u", ranked[0].item, now=2000.0)
    assert abs(parts["score"] - ranked[0].score) < 1e-5
    assert parts["similarity"] > 0


def test_explain_gives_reasons_in_words_naming_liked_items():
    r = pr.Reranker(encoder="hashing")
    titles = [text.title() for text in TEXTS.values()]
    r.add_items(list(TEXTS), list(TEXTS.values()), metadata=[{"title": t} for t in titles])
    for other in ("a", "b"):
        r.observe(other, 4, "like", timestamp=1.0)
        r.observe(other, 5, "like", timestamp=2.0)
    r.observe("u", 4, "like", timestamp=3.0)
    why = r.explain("u", 5, now=4.0)
    assert why.reasons[0] == f"because you liked *{titles[4]}*"
    assert f"people who liked *{titles[4]}* also liked this" in why.reasons
    assert abs(why["score"] - r.rerank("u", [5], k=1, now=4.0)[0].score) < 1e-5, "the parts are still there"
    assert r.explain("u", 2, now=4.0, query="paris comedy").reasons[0] == "matches your search “paris comedy”"
    assert "nothing is known" in r.explain("new", 2, now=4.0).reasons[0]
    assert r.explain("u", 6, now=4.0).evidence.liked == (), "an unlike item names no liked item"


def test_remove_items_leaves_the_rest_ranked_as_before(rr):
    rr.add_items([10, 11], ["honey bees nature", "paris romantic comedy"], metadata=["Bees", {"title": "Paris"}])
    for user in ("u", "v"):
        rr.observe(user, 0, "like", timestamp=1.0)
        rr.observe(user, 10, "like", timestamp=2.0)
    rr.observe("u", 1, "like", timestamp=3.0)
    rr.observe("w", 0, "like", timestamp=3.0)
    kept = [2, 3, 4, 5, 6, 7, 11]
    before = rr.rerank("w", kept, k=7, now=4.0)
    popularity = dict(zip(rr.catalog.ids, rr.stats.popularity))
    rr.remove_items([10, 3])
    assert 10 not in rr.catalog.row_of and rr.metadata(11) == {"title": "Paris"}
    with pytest.warns(pr.PyrerankWarning, match="not in the catalog"):
        assert [x.item for x in rr.rerank("u", [10, 2], k=2, now=4.0)] == [2]
    after = rr.rerank("w", [i for i in kept if i != 3], k=7, now=4.0)  # w liked nothing removed
    assert after == [x for x in before if x.item != 3]
    assert dict(zip(rr.catalog.ids, rr.stats.popularity)) == {i: p for i, p in popularity.items() if i not in (10, 3)}
    links = [rr.stats.co.links(row) or {} for row in range(len(rr.catalog))]
    assert all(10 not in [rr.catalog.ids[r] for r in linked] for linked in links)
    assert 1 not in [x.item for x in rr.rerank("u", list(rr.catalog.ids), k=20)], "seen items stay seen"
    with pytest.raises(KeyError, match="item 99 is not in the catalog"):
        rr.remove_items([2, 99])
    assert 2 in rr.catalog.row_of, "all or nothing"
    rr.add_items([10], ["honey bees nature"])  # back again, as a new item
    assert rr.rerank("v", [10], k=1)[0].item == 10
    with pytest.raises(KeyError, match="item 3 is not in the catalog"):
        rr.metadata(3)


def test_vectors_only_use_needs_no_encoder(tmp_path):
    r = pr.Reranker(encoder=None)
    r.add_items([1, 2, 3], vectors=np.eye(3, 8))
    r.observe("u", 1, "like")
    assert r.rerank("u", [3, 2, 1], k=3, exclude_seen=False)[0].item == 1
    with pytest.raises(ValueError, match="no encoder"):
        r.add_items([4], ["a text"])
    with pytest.raises(ValueError, match="no encoder"):
        r.rerank("u", [2, 3], query="a query")
    r.save(tmp_path / "saved")
    assert pr.Reranker.load(tmp_path / "saved").rerank("u", [2, 3, 1], k=3) == r.rerank("u", [2, 3, 1], k=3)


def test_debug_logging_tells_what_happened_and_is_silent_by_default(caplog):
    import logging

    r = pr.Reranker(encoder="hashing")
    r.add_items(list(TEXTS), list(TEXTS.values()))
    with caplog.at_level(logging.INFO, logger="pyrerank"):
        r.observe("u", 0, "like")
        r.rerank("u", [1, 2], k=1)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="pyrerank"):
        r.observe("u", 1, "like")
        r.rerank("u", [1, 2, 3], k=1)
        r.forget("u")
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("observe user='u' item=1 kind=like weight=2")
    assert "rerank user='u': 2 of 3 candidates ranked, k=1" in lines  # item 1 was seen
    assert "forget user='u': erased" in lines


def test_forget_removes_the_user(rr):
    rr.observe("u", 0, "like")
    assert rr.forget("u") is True
    assert [x.item for x in rr.rerank("u", [2, 1], k=2)][0] == 2 or rr.rerank("u", [2, 1], k=2)[0].score == 0
    assert rr.forget("u") is False


def test_save_and_load_round_trip(rr, tmp_path):
    rr.observe("u", 0, "like", timestamp=10.0)
    rr.observe("u", 6, "dislike", timestamp=20.0)
    want = rr.rerank("u", list(TEXTS), k=8, now=30.0)
    rr.save(tmp_path / "saved")
    back = pr.Reranker.load(tmp_path / "saved")
    assert back.rerank("u", list(TEXTS), k=8, now=30.0) == want


def test_load_of_a_truncated_save_is_a_clear_error(rr, tmp_path):
    rr.save(tmp_path / "saved")
    largest = max((tmp_path / "saved").glob("arrays-*/*.npy"), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:200])
    with pytest.raises(pr.PyrerankError, match="corrupt or truncated"):
        pr.Reranker.load(tmp_path / "saved")
    with pytest.raises(pr.PyrerankError, match="no saved model"):
        pr.Reranker.load(tmp_path / "nothing-here")


def test_observe_and_rerank_from_many_threads(rr):
    errors = []

    def work(user):
        try:
            for i in range(200):
                rr.observe(user, i % 8, "click" if i % 3 else "skip", timestamp=float(i))
                assert len(rr.rerank(user, list(TEXTS), k=3, exclude_seen=False)) == 3
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"user{t}",)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert rr.stats.popularity.sum() == pytest.approx(8 * sum(1.0 for i in range(200) if i % 3))


def test_fit_learns_weights_without_touching_user_records():
    r = pr.Reranker(encoder="hashing")
    r.add_items(list(range(40)), [f"item number {i} " + TEXTS[i % 8] for i in range(40)])
    rng = np.random.default_rng(0)
    hot = [3, 11, 19]  # what everyone engages with
    events = [
        pr.Event(
            f"u{u}", int(rng.choice(hot)) if rng.random() < 0.7 else int(rng.integers(40)), "click", timestamp=float(t)
        )
        for t, u in enumerate(rng.integers(0, 30, size=1500))
    ]
    with pytest.warns(pr.PyrerankWarning, match="fit skipped 2 events whose items are not in the catalog"):
        r.fit([*events, pr.Event("u0", 999, "click", 0.0), pr.Event("u1", 998, "like", 1.0)])
    assert r.ranker.fitted and r.ranker.weights["popularity"] > 0
    assert len(r.users) == 0
    assert r.stats.popularity[[3, 11, 19]].min() > r.stats.popularity.mean()
    top = r.rerank("newcomer", list(range(40)), k=3, now=1500.0)
    assert {x.item for x in top} == set(hot)


def test_observe_without_count_moves_the_user_but_not_the_statistics(rr):
    rr.observe("u", 4, "like", count=False)
    assert rr.stats.popularity.sum() == 0
    assert rr.rerank("u", [0, 2, 5, 6], k=1)[0].item == 5
    rr.observe("v", 4, "like")
    assert rr.stats.popularity[rr.catalog.row_of[4]] == pytest.approx(2.0)


def test_str_candidates_unknown_duplicate_and_odd_ids():
    r = pr.Reranker(encoder="hashing")
    r.add_items([f"m{i}" for i in TEXTS], list(TEXTS.values()))
    with pytest.warns(pr.PyrerankWarning) as caught:
        ranked = r.rerank("u", ["m1", "nope", "m2", "m1", "é"], k=10)
    assert sorted(x.item for x in ranked) == ["m1", "m2"]
    assert {str(w.message).split()[1] for w in caught} >= {"candidate", "duplicate"}
    assert [x.item for x in r.rerank("u", ("m3",), k=1)] == ["m3"]
    r.add_items(["\ud800odd", "ünï"], ["lone surrogate id", "non-ascii id"])  # no UTF-8: dict lookups
    assert {x.item for x in r.rerank("u", ["\ud800odd", "ünï", "m0"], k=3)} == {"\ud800odd", "ünï", "m0"}


def test_sparse_int_ids_fall_back_from_the_table_to_the_dict():
    r = pr.Reranker(encoder="hashing", ranker="cosine")
    r.add_items([5, 10**12, 7], ["deep space starship", "paris romance", "space opera starship"])
    r.observe("u", 5, "like")
    assert [x.item for x in r.rerank("u", np.array([10**12, 7]), k=2)] == [7, 10**12]
    with pytest.warns(pr.PyrerankWarning, match="not in the catalog"):
        assert [x.item for x in r.rerank("u", np.array([7, 8]), k=2)] == [7]


ONE_CALL_IDS = np.arange(0, 400, 2)  # dense int ids with gaps: the id table holds -1 between them


def _one_call_reranker(ranker: str, interest: str, ids: str = "int") -> pr.Reranker:
    """A catalog of ONE_CALL_IDS (as "i<n>" for str ids) with statistics, co-engagement, and a
    user "u" who liked, skipped and saw items; the bilinear ranker with a random learned part."""
    rr = pr.Reranker(encoder="hashing", interest=interest, ranker=ranker, dtype="int8")
    item = int if ids == "int" else "i{}".format
    rr.add_items([item(i) for i in ONE_CALL_IDS], texts=[f"item {i} about topic {i % 7}" for i in ONE_CALL_IDS])
    rng = np.random.default_rng(3)
    for t, i in enumerate(rng.choice(ONE_CALL_IDS, 300)):
        rr.observe(f"other{t % 20}", item(i), "click", timestamp=float(t))
    for t, i in enumerate(rng.choice(ONE_CALL_IDS, 12)):
        rr.observe("u", item(i), "skip" if t % 4 == 3 else "like", timestamp=300.0 + t)
    if ranker == "bilinear":
        dim = rr.catalog.dim
        rr.ranker.a, rr.ranker.b = rng.standard_normal((2, dim, 4), dtype=np.float32) * 0.3
        rr.ranker.prior = rng.standard_normal(dim, dtype=np.float32) * 0.1
    return rr


@pytest.fixture(
    scope="module",
    params=[
        ("fusion", "decay", "int"),
        ("fusion", "multi", "int"),
        ("fusion", "decay", "str"),
        ("cosine", "decay", "int"),
        ("cosine", "multi", "str"),
        ("bilinear", "decay", "int"),
        ("bilinear", "decay", "str"),
    ],
    ids="-".join,
)
def one_call_rr(request):
    return _one_call_reranker(*request.param)


def _ranked_with_warnings(rr: pr.Reranker, candidates, **options) -> tuple[list, list[str]]:
    """rerank's result and its warnings (each up to its examples, which print ids by type)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = rr.rerank("u", candidates, **options)
    return out, [str(w.message).split(", e.g.")[0] for w in caught]


class _OwnRank(pr.Ranker):
    """`inner`'s score() and rank(), without its fused_scoring: a RankRequest and rank() always."""

    name = "own-rank"

    def __init__(self, inner: pr.Ranker) -> None:
        self.inner = inner

    def score(self, request):
        return self.inner.score(request)

    def rank(self, request, k):
        return self.inner.rank(request, k)


@settings(max_examples=60, deadline=None)
@given(
    candidates=st.lists(st.integers(-3, 405), min_size=1, max_size=60),
    with_scores=st.booleans(),
    exclude_seen=st.booleans(),
    k=st.integers(1, 70),
    typed=st.sampled_from([None, "topic 3", "item about topic 5"]),
)
def test_one_kernel_call_ranks_as_the_rankers_own_rank(one_call_rr, candidates, with_scores, exclude_seen, k, typed):
    """Where the ranker describes its score as one kernel pass (Ranker.fused_scoring), the
    candidates are filtered and scored in one C++ call (int ids in a numpy array resolved there
    too); it must give what the ranker's own rank() on a RankRequest gives: same items, same
    scores to the bit, same warnings, for unknown and repeated ids, seen items, upstream scores,
    a typed query and multi-interest users, int and str ids."""
    scores = np.random.default_rng(len(candidates)).random(len(candidates)).astype(np.float32)
    options = dict(k=k, now=400.0, exclude_seen=exclude_seen, query=typed, scores=scores if with_scores else None)
    listed = candidates if isinstance(one_call_rr.catalog.ids[0], int) else [f"i{c}" for c in candidates]
    forms = [listed] + ([np.array(candidates, np.int64)] if listed is candidates else [])
    one_call = [_ranked_with_warnings(one_call_rr, form, **options) for form in forms]
    ranker = one_call_rr.ranker
    one_call_rr.ranker = _OwnRank(ranker)
    try:
        general = _ranked_with_warnings(one_call_rr, listed, **options)
    finally:
        one_call_rr.ranker = ranker
    assert all(result == general for result in one_call)


def test_one_kernel_call_for_a_new_user_and_when_every_candidate_is_left_out():
    rr = _one_call_reranker("fusion", "decay")
    new_user = rr.rerank("nobody", np.array([4, 2, 8]), k=2, now=400.0)
    assert new_user == rr.rerank("nobody", [4, 2, 8], k=2, now=400.0) and len(new_user) == 2
    seen_ids = [rr.catalog.ids[r] for r in rr.view.record("u", rr.catalog).seen_rows().tolist()]
    assert rr.rerank("u", np.array(seen_ids), k=5, now=400.0) == []
    with pytest.warns(pr.PyrerankWarning, match="2 candidate ids are not in the catalog"):
        assert rr.rerank("u", np.array([1, 3]), k=5, now=400.0) == []


def test_rankers_with_a_fused_scoring_take_one_kernel_call_and_others_their_rank(monkeypatch):
    """The equality above would hold trivially if the one-call path were never taken."""
    calls = []
    real = pr.reranker._core.fused_topk_keys
    monkeypatch.setattr(pr.reranker._core, "fused_topk_keys", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    rr = _one_call_reranker("fusion", "decay")
    rr.rerank("u", np.array([4, 2, 8]), k=2, now=400.0)
    rr.rerank("u", [4, 2, 8], k=2, now=400.0)
    assert calls == [1, 1]
    rr.ranker = pr.get_ranker("mmr")  # no fused scoring: the ranker's own rank()
    rr.rerank("u", np.array([4, 2, 8]), k=2, now=400.0)
    assert calls == [1, 1]
