"""Users at rest: a save holds the users of a memory store as columns
(pyrerank.serving.user_columns), a durable store keeps each user's record as one buffer
(UserRecord.to_bytes). What a user relies on is that every user comes back exactly as saved or
kept, that what earlier versions wrote still opens, and that a damaged one is refused by name."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import pyrerank as pr
from pyrerank import persist
from pyrerank.serving import users as users_module
from pyrerank.serving.users import UserRecord, rows_array

USERS = ["hot", "cold", "busy", "writer", 7]


def played(interest: str) -> pr.Reranker:
    """Five users: "cold" packed as its events, "busy" past the logged events (held as state),
    "writer" with a text event (no log), 7 an int id; the last one used held unpacked."""
    rr = pr.Reranker(encoder="hashing", interest=interest)
    rr.add_items(range(120), texts=[f"film {i} about {['ships', 'bread', 'wars', 'bees'][i % 4]}" for i in range(120)])
    rng = np.random.default_rng(5)
    for step in range(users_module.LOGGED_EVENTS + 4):
        for user in USERS:
            if user != "busy" and step >= 6:
                continue
            kind = ["like", "skip", "click", "dislike", "purchase"][int(rng.integers(5))]
            rr.observe(user, int(rng.integers(120)), kind, timestamp=100.0 + step * 3.7)
    rr.observe_text("writer", "bees and bread", timestamp=200.0)
    rr.observe("hot", 3, "like", timestamp=201.0)
    return rr


def assert_same_record(got, want) -> None:
    assert (got.recent, got.seen) == (want.recent, want.seen)
    assert got.state.keys() == want.state.keys()
    for key, value in want.state.items():
        if isinstance(value, np.ndarray):
            assert got.state[key].dtype == value.dtype and np.array_equal(got.state[key], value), key
        else:
            assert type(got.state[key]) is type(value) and got.state[key] == value, key
    assert (got.log is None) == (want.log is None)
    if want.log is not None:
        assert (got.log.rows, got.log.weights, got.log.timestamps, got.log.seen) == (
            want.log.rows,
            want.log.weights,
            want.log.timestamps,
            want.log.seen,
        )


@pytest.mark.parametrize("interest", ["decay", "multi", "logistic"])
def test_a_save_brings_back_every_users_state_rows_and_events_exactly(monkeypatch, tmp_path, interest):
    monkeypatch.setattr(users_module, "HOT_USERS", 2)
    rr = played(interest)
    assert isinstance(rr.users._records["cold"], bytes)
    rr.save(tmp_path / "saved")
    back = pr.Reranker.load(tmp_path / "saved")
    want, got = dict(rr.users.items()), dict(back.users.items())
    assert list(got) == list(want) and len(want) == len(USERS)  # least recently used first
    for user in USERS:
        assert_same_record(got[user], want[user])
    assert want["writer"].log is None and want["busy"].log is None
    assert (want["cold"].log is not None) == (rr.users.replay is not None)  # decay's users keep their events
    for user in USERS:
        assert back.rerank(user, list(range(120)), k=10, now=300.0) == rr.rerank(
            user, list(range(120)), k=10, now=300.0
        )


def test_a_save_with_users_in_the_layout_before_0_5_still_opens(tmp_path):
    rr = played("decay")
    rr.save(tmp_path / "saved")
    parts = persist.load(tmp_path / "saved")
    catalog = rr._catalog()
    records = [(user, record.to_bytes(catalog.ids, catalog.dim)) for user, record in rr.users.items()]
    blob = np.frombuffer(b"".join(data for _, data in records), np.uint8)
    ends = np.cumsum([len(data) for _, data in records], dtype=np.int64)
    parts["users"] = ({"blob": blob, "ends": ends}, {"ids": [user for user, _ in records]})
    persist.save(tmp_path / "old", parts)
    back = pr.Reranker.load(tmp_path / "old")
    for user in USERS:
        assert back.rerank(user, list(range(120)), k=10, now=300.0) == rr.rerank(
            user, list(range(120)), k=10, now=300.0
        )


def _edit(arrays: dict, meta: dict, change: str) -> None:
    if change == "ends out of order":
        arrays["recent_ends"] = arrays["recent_ends"][::-1].copy()
    elif change == "a row outside the catalog":
        arrays["seen"] = arrays["seen"].copy()
        arrays["seen"][0] = 120
    elif change == "a log column short":
        arrays["log_weights"] = arrays["log_weights"][:-1]
    elif change == "a dtype code it does not list":
        arrays["state.pos.dtype"] = np.full_like(arrays["state.pos.dtype"], 3)
    elif change == "a shape its bytes do not fill":
        arrays["state.pos.shape"] = arrays["state.pos.shape"] + 1
    elif change == "an object dtype":
        meta["state_dtypes"]["pos"] = ["|O"]
    elif change == "scalars not per user":
        meta["scalars"] = meta["scalars"][:-1]
    elif change == "a column missing":
        del arrays["has_log"]
    elif change == "other vectors' width":
        meta["width"] = 7


@pytest.mark.parametrize(
    "change",
    [
        "ends out of order",
        "a row outside the catalog",
        "a log column short",
        "a dtype code it does not list",
        "a shape its bytes do not fill",
        "an object dtype",
        "scalars not per user",
        "a column missing",
        "other vectors' width",
    ],
)
def test_saved_users_that_do_not_fit_together_are_refused_by_name(tmp_path, change):
    """A save whose checksums hold (written by a buggy or hostile writer) but whose user columns
    disagree raises PyrerankError on load, never a crash or a wrong user."""
    rr = played("decay")
    rr.save(tmp_path / "saved")
    parts = persist.load(tmp_path / "saved")
    arrays, meta = parts["users"]
    arrays = {name: np.array(column) for name, column in arrays.items()}
    _edit(arrays, meta, change)
    parts["users"] = (arrays, meta)
    persist.save(tmp_path / "edited", parts)
    with pytest.raises(pr.PyrerankError, match="saved users"):
        pr.Reranker.load(tmp_path / "edited")


def kept_record() -> UserRecord:
    rng = np.random.default_rng(2)
    state = {"pos": rng.standard_normal(48).astype(np.float32), "neg": np.zeros((2, 3), np.float64), "t": 7.25}
    return UserRecord(stored_state=state, recent=rows_array([4, 9, 2]), seen=rows_array([2, 4, 9, 11]))


def test_a_kept_record_comes_back_exactly_and_so_does_one_kept_before_0_5():
    record, ids = kept_record(), [f"item{i}" for i in range(12)]
    arrays, meta = record.to_arrays(ids, 48)
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array(json.dumps(meta)), **arrays)  # how 0.4 kept a record
    for data in (record.to_bytes(ids, 48), buffer.getvalue()):
        back, width = UserRecord.from_bytes(data, lambda item: ids.index(item) if item in ids else None)
        assert width == 48 and (back.recent, back.seen) == (record.recent, record.seen)
        assert back.state["t"] == 7.25 and back.state.keys() == record.state.keys()
        for key in ("pos", "neg"):
            assert back.state[key].dtype == record.state[key].dtype
            assert np.array_equal(back.state[key], record.state[key])
            back.state[key] += 1  # writable, its own memory
        assert np.array_equal(record.state["neg"], np.zeros((2, 3)))


def _damage(data: bytes, how: str) -> bytes:
    header_end = len(users_module.RECORD_MAGIC) + 4 + int.from_bytes(data[5:9], "little")
    header = json.loads(data[9:header_end])
    if how == "truncated":
        return data[:-3]
    if how == "trailing bytes":
        return data + b"\0"
    if how == "header length past the end":
        return data[:5] + (10**6).to_bytes(4, "little") + data[9:]
    if how == "another magic":
        return b"XYZ" + data[3:]
    header["arrays"][0][1] = "|O" if how == "object dtype" else header["arrays"][0][1]
    header["arrays"][0][2] = [-1] if how == "negative shape" else header["arrays"][0][2]
    text = json.dumps(header if how != "header not an object" else [header]).encode()
    if how == "nested JSON":
        text = b"[" * 100_000 + b"]" * 100_000
    return data[:5] + len(text).to_bytes(4, "little") + text + data[header_end:]


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "trailing bytes",
        "header length past the end",
        "another magic",
        "object dtype",
        "negative shape",
        "header not an object",
        "nested JSON",
    ],
)
def test_a_damaged_kept_record_is_refused_by_name(how):
    data = _damage(kept_record().to_bytes(list(range(12)), 48), how)
    with pytest.raises(pr.PyrerankError, match="kept user record is corrupt"):
        UserRecord.from_bytes(data, lambda item: item)
