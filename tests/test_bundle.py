"""Saved models as bundles: opened by memory-mapping, ranked identically, copied only on write,
and opened without importing torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyrerank as pr
from pyrerank import persist
from pyrerank.testing.stores import ITEMS, USERS, events, feed, make_reranker, rankings


@pytest.fixture
def mapped(monkeypatch):
    """Every array of a save memory-mapped when opened, however small (the tests' saves are)."""
    monkeypatch.setattr(persist, "MAP_FROM_BYTES", 0)


def test_an_opened_bundle_maps_its_vectors_ranks_alike_and_copies_only_on_write(mapped, tmp_path):
    rr = make_reranker()
    rr.fit([pr.Event(u, i, kind, t) for u, i, kind, t in events(200, seed=3)], collaborative_dim=4)
    feed(rr, events(60, seed=4))
    rr.save(tmp_path / "bundle")
    opened = pr.Reranker.load(tmp_path / "bundle")
    assert isinstance(opened.catalog._matrix, np.memmap) and not opened.catalog.matrix.flags.writeable
    assert rankings(opened) == rankings(rr)
    feed(opened, events(30, seed=5))  # statistics and users are writable copies
    feed(rr, events(30, seed=5))
    assert rankings(opened) == rankings(rr)
    opened.add_items([500], ["a brand new jazz documentary"])  # the mapped rows are copied first
    assert opened.catalog.matrix.flags.writeable and len(opened.catalog) == len(ITEMS) + 1
    opened.remove_items([3])
    again = pr.Reranker.load(tmp_path / "bundle")  # the files are as saved
    assert len(again.catalog) == len(ITEMS) and rankings(again, USERS[:3]) == rankings(
        pr.Reranker.load(tmp_path / "bundle"), USERS[:3]
    )


def test_opening_a_bundle_imports_no_torch_and_loads_no_model(tmp_path):
    rr = pr.Reranker(encoder="minilm")  # named, never built: vectors are given
    rr.add_items(np.arange(200), vectors=np.random.default_rng(0).standard_normal((200, 384)))
    rr.observe("u", 3, "like")
    rr.save(tmp_path / "bundle")
    want = [(r.item, round(r.score, 6)) for r in rr.rerank("u", np.arange(200), k=5)]
    script = f"""
        import sys
        import numpy as np
        import pyrerank as pr
        rr = pr.Reranker.load({str(tmp_path / "bundle")!r}, store="sqlite:///{tmp_path / "profiles.db"}")
        rr.observe("u", 3, "like")
        print([(r.item, round(r.score, 6)) for r in rr.rerank("u", np.arange(200), k=5)])
        print("torch" in sys.modules, "transformers" in sys.modules)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ranked, imported = done.stdout.strip().splitlines()
    assert ranked == str(want) and imported == "False False"


def test_a_bundle_keeps_the_encoder_and_its_options(tmp_path):
    rr = pr.Reranker(encoder="hashing", encoder_options={"dim": 64})
    rr.add_items([1, 2], ["space opera", "paris romance"])
    rr.save(tmp_path / "bundle")
    opened = pr.Reranker.load(tmp_path / "bundle")
    opened.add_items([3], ["bees in a meadow"])  # encoded as the saver would: 64-d
    assert opened.encoder.dim == 64 and opened.catalog.text_dim == 64
    assert pr.Reranker.load(tmp_path / "bundle", encoder="hashing")._encoder_options == {}
