"""The Redis store's binary list entries give back every event exactly (item and text events,
int and str ids, float32 and float64 weights, any kind), and a damaged one is refused by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyrerank as pr
from pyrerank.interfaces import LoggedEvent
from pyrerank.stores.listed import MAGIC, from_listed, to_listed

USER = ("tenant", 7)


def same(a: LoggedEvent, b: LoggedEvent) -> bool:
    vectors = (a.vector is None and b.vector is None) or np.array_equal(a.vector, b.vector)
    return a._replace(vector=None) == b._replace(vector=None) and vectors


item_events = st.builds(
    lambda item, weight, t, counted, kind: LoggedEvent(["tenant", 7], item, weight, t, counted, (), kind),
    st.one_of(st.integers(0, 2**63 - 1), st.text(max_size=30)),
    st.one_of(st.sampled_from([1.0, 0.25, -2.0]), st.floats(-1e6, 1e6)),
    st.floats(-1e12, 1e12),
    st.booleans(),
    st.one_of(st.none(), st.text(max_size=300)),
)
text_events = st.builds(
    lambda values, t: LoggedEvent(["tenant", 7], None, 1.0, t, True, (), "query", np.array(values, np.float32)),
    st.lists(st.floats(-1, 1, width=32), min_size=1, max_size=40),
    st.floats(0, 1e10),
)


@given(st.one_of(item_events, text_events))
def test_every_event_comes_back_exactly(event):
    body = to_listed(event)
    back = from_listed(body, USER)
    assert same(back, event._replace(user=pr.interfaces.user_key(["tenant", 7])))
    if event.kind is None or len(event.kind.encode()) < 255:
        assert body[:1] == MAGIC  # binary unless the kind is too long: then JSON, read all the same


def test_an_item_event_takes_about_half_its_json():
    event = LoggedEvent("u1", 123_456, 1.0, 1_733_500_000.25, True, (), "click")
    assert len(to_listed(event)) == 28 and len(event.to_json()) > 50


GOOD = to_listed(LoggedEvent("u", "item-9", 0.1, 5.0, True, (), "like"))


@pytest.mark.parametrize(
    "body",
    [
        GOOD[:-3],  # cut short
        GOOD + b"\0\0\0\0",  # trailing bytes on an item event
        GOOD[:1] + bytes([GOOD[1] | 64]) + GOOD[2:],  # an unknown flag
        GOOD[:1] + bytes([GOOD[1] | 4]) + GOOD[2:],  # text and a str item at once
        to_listed(LoggedEvent("u", 5, float("nan"), 5.0)),  # not finite
        to_listed(LoggedEvent("u", 5, 1.0, 5.0))[:-8] + np.float64(np.inf).tobytes(),
        to_listed(LoggedEvent("u", None, 1.0, 5.0, True, (), "query", np.array([1, 2], np.float32)))[:-1],
        GOOD[:3] + b"\xff" + GOOD[4:],  # a kind not UTF-8
    ],
)
def test_a_damaged_entry_is_refused(body):
    with pytest.raises(ValueError):
        from_listed(body, USER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert LoggedEvent.parse_rows([("1-0", body)], "the list", lambda b: from_listed(b, USER)) == []
    assert "1 malformed log rows were skipped" in str(caught[0].message)
