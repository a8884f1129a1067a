"""Erasure: after forget(user) nothing of the user is left, byte for byte, and the statistics are
those of a log without them (the per-store statistics checks live in StoreConformance)."""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

import pyrerank as pr
from pyrerank.testing.stores import ITEMS, USERS, assert_same_statistics, events, feed, make_reranker

GONE = "erase-me-7f3a9c"  # an id no other byte sequence in these files spells


def gone_history(n: int = 90) -> list[tuple[str, int, str, float]]:
    """More events than a user's kept record covers (Redis keeps one every 64 events)."""
    return [(GONE, i % len(ITEMS), "like" if i % 3 else "click", 5_000.0 + i) for i in range(n)]


def mixed_stream() -> list[tuple[str, int, str, float]]:
    others = events(200, seed=11, users=USERS[:3])
    mine = gone_history()
    return sorted(others + mine, key=lambda e: e[3])


def count_in_files(folder: Path, needle: bytes) -> int:
    return sum(path.read_bytes().count(needle) for path in folder.rglob("*") if path.is_file())


def test_sqlite_file_wal_and_free_pages_keep_no_trace_of_a_forgotten_user(tmp_path):
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    rr = make_reranker(url)
    reader = make_reranker(url)  # a second connection on the same file, open throughout
    feed(rr, mixed_stream())
    reader.rerank(GONE, np.arange(len(ITEMS)), k=5)  # the reader holds the user in memory too
    rr.view.snapshot(rr.catalog)  # a snapshot that counted the user, replaced by forget's
    assert count_in_files(tmp_path, GONE.encode()) > 0, "the test must see the id before forget"
    assert rr.forget(GONE) is True
    reader.rerank(USERS[0], np.arange(len(ITEMS)), k=5)  # applies the forget marker
    assert len(reader.users) == 0 or GONE not in dict(reader.users.items())
    assert count_in_files(tmp_path, GONE.encode()) == 0
    assert list(tmp_path.glob("profiles.db-wal")) == [] or (tmp_path / "profiles.db-wal").stat().st_size == 0
    rr.close()
    reader.close()
    assert count_in_files(tmp_path, GONE.encode()) == 0


def test_redis_keys_and_values_keep_no_trace_of_a_forgotten_user(redis_url):
    redis = pytest.importorskip("redis", reason="needs the redis extra")
    prefix = f"t{uuid.uuid4().hex}"
    server = redis.Redis.from_url(redis_url)

    def traces() -> int:
        keys = list(server.scan_iter(match=f"{prefix}:*"))
        dumps = [server.dump(key) or b"" for key in keys]
        return sum(GONE.encode() in key for key in keys) + sum(d.count(GONE.encode()) for d in dumps)

    rr = make_reranker(f"{redis_url}?prefix={prefix}")
    feed(rr, mixed_stream())
    rr.view.snapshot(rr.catalog)
    assert traces() > 0 and server.exists(f'{prefix}:record:"{GONE}"'), "a kept record must exist before forget"
    assert rr.forget(GONE) is True
    assert traces() == 0
    rr.close()


def test_a_save_after_forget_keeps_no_trace_and_no_counts_of_the_user(tmp_path):
    rr, reference = make_reranker(), make_reranker()
    stream = mixed_stream()
    feed(rr, stream)
    feed(reference, [e for e in stream if e[0] != GONE])
    rr.save(tmp_path / "before")
    assert count_in_files(tmp_path / "before", GONE.encode()) > 0
    rr.forget(GONE)
    rr.save(tmp_path / "after")
    assert count_in_files(tmp_path / "after", GONE.encode()) == 0
    assert_same_statistics(pr.Reranker.load(tmp_path / "after").stats, reference.stats)
    loaded = pr.Reranker.load(tmp_path / "before")  # the user's counts were saved with their owner
    assert loaded.forget(GONE) is True
    assert_same_statistics(loaded.stats, reference.stats)


def test_forget_takes_a_user_out_of_the_counts_fit_learned():
    stream = mixed_stream()
    as_events = [pr.Event(u, i, kind, t) for u, i, kind, t in stream]
    fitted = make_reranker().fit(as_events, collaborative_dim=0)
    reference = make_reranker().fit([e for e in as_events if e.user != GONE], collaborative_dim=0)
    assert fitted.forget(GONE) is True
    assert_same_statistics(fitted.stats, reference.stats)
    assert fitted.forget(GONE) is False


def test_without_exact_forget_forget_erases_the_user_and_keeps_their_anonymous_counts(tmp_path):
    rr = make_reranker(f"sqlite:///{tmp_path / 'profiles.db'}", exact_forget=False)
    feed(rr, mixed_stream())
    rr.view.snapshot(rr.catalog)
    assert len(rr.stats.contributions) == 0, "no per-event contributions are kept"
    counts = rr.stats.table.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the counts stay by choice: no warning
        assert rr.forget(GONE) is True
    assert count_in_files(tmp_path, GONE.encode()) == 0
    np.testing.assert_array_equal(rr.stats.table, counts)
    assert rr.rerank(GONE, np.arange(len(ITEMS)), k=3) == rr.rerank("never-seen", np.arange(len(ITEMS)), k=3)
    rr.close()


def test_exact_forget_is_saved_and_a_save_opened_without_it_drops_the_contributions(tmp_path):
    rr = make_reranker()
    feed(rr, mixed_stream())
    rr.save(tmp_path / "exact")
    assert len(pr.Reranker.load(tmp_path / "exact").stats.contributions) > 0
    loose = pr.Reranker.load(tmp_path / "exact", exact_forget=False)
    assert len(loose.stats.contributions) == 0
    np.testing.assert_array_equal(loose.stats.table, rr.stats.table)
    loose.save(tmp_path / "loose")
    reopened = pr.Reranker.load(tmp_path / "loose")
    assert reopened.stats.exact_forget is False and len(reopened.stats.contributions) == 0
    assert not any(name.startswith("contrib_") for name in reopened.stats.to_arrays()[0])
