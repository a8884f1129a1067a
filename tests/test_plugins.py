"""Plugins: built-ins and third parties through the same pluggy hooks and entry points."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pluggy
import pytest

import pyrerank as pr
from pyrerank.plugins import registry


class TinyEncoder(pr.Encoder):
    name = "tiny-test-encoder"
    dim = 4
    built = 0

    def __init__(self):
        TinyEncoder.built += 1

    def encode(self, texts):
        out = np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], np.float32).reshape(-1, 4)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class TinyPlugin:
    @pr.hookimpl
    def register_encoders(self, register):
        register(TinyEncoder)


def test_builtins_are_registered():
    assert {"hashing", "minilm", "transformers"} <= set(registry.names("encoder"))
    assert registry.names("interest") == ["decay", "logistic", "multi"]
    assert registry.names("ranker") == ["bilinear", "cascade", "cosine", "cross-encoder", "fusion", "mlp", "mmr"]


def test_runtime_plugin_is_usable_by_name_and_built_lazily():
    registry.register_plugin(TinyPlugin(), name="tiny")
    before = TinyEncoder.built
    rr = pr.Reranker(encoder="tiny-test-encoder")
    assert TinyEncoder.built == before, "the factory runs on first use, not at registration"
    rr.add_items(["a", "b"], ["banana", "tree"])
    assert TinyEncoder.built == before + 1 and rr.encoder.dim == 4


class ShoutingExplainer(pr.Explainer):
    """A toy third-party explainer: what a plugin running a language model would register."""

    name = "shouting"

    def __init__(self, suffix: str = "!"):
        self.suffix = suffix

    def reasons(self, evidence):
        return [f"{name.upper()} LOVERS WANT {evidence.item_name.upper()}{self.suffix}" for name, _ in evidence.liked]


class ExplainerPlugin:
    @pr.hookimpl
    def register_explainers(self, register):
        register(ShoutingExplainer)


def test_a_third_party_explainer_is_used_by_name():
    registry.register_plugin(ExplainerPlugin(), name="shouting-plugin")
    try:
        rr = pr.Reranker(encoder="hashing", explainer="shouting", explainer_options={"suffix": "?!"})
        rr.add_items([1, 2], ["space opera starship", "starship battle in space"], metadata=["Dune", "Alien"])
        rr.observe("u", 1, "like")
        assert rr.explain("u", 2).reasons == ["DUNE LOVERS WANT ALIEN?!"]
        assert "template" in registry.names("explainer")
        with pytest.raises(TypeError, match="unknown options"):
            pr.Reranker(encoder="hashing", explainer="shouting", explainer_options={"sufix": "?"})
    finally:
        registry.unregister_plugin("shouting-plugin")
    with pytest.raises(pr.UnknownPluginError, match="no explainer named 'shouting'"):
        pr.Reranker(encoder="hashing", explainer="shouting")


def test_misspelled_hook_is_caught():
    class Typo:
        @pr.hookimpl
        def register_encoder(self, register):  # missing "s"
            pass

    with pytest.raises(pluggy.PluginValidationError, match="register_encoder"):
        registry.register_plugin(Typo(), name="typo")


def test_unknown_name_lists_what_is_registered():
    with pytest.raises(pr.UnknownPluginError, match="no encoder named 'nope'; registered: .*hashing"):
        pr.Reranker(encoder="nope")


def test_entry_point_plugin_package_is_discovered():
    """plugins/pyrerank-sentence-transformers, pip-installed, is usable with no other code."""
    pytest.importorskip(
        "pyrerank_sentence_transformers", reason="pip install ./plugins/pyrerank-sentence-transformers (CI does)"
    )
    assert "sentence-transformers" in registry.names("encoder")
    rr = pr.Reranker(encoder="sentence-transformers", ranker="cosine")
    rr.add_items([1, 2, 3], ["a spaceship in orbit", "a cake recipe", "astronauts on the moon"])
    rr.observe("u", 1, "like")
    assert rr.rerank("u", [2, 3], k=1)[0].item == 3
    assert rr.encoder.dim == 384


def test_autoload_switch_turns_entry_points_off():
    code = "from pyrerank.plugins import registry; print(','.join(registry.names('encoder')))"
    env = {**os.environ, "PYRERANK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "hashing,minilm,transformers"
    env["PYRERANK_DISABLE_PLUGIN_AUTOLOAD"] = "0"
    pytest.importorskip("pyrerank_sentence_transformers", reason="the entry-point half needs the example plugin")
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "sentence-transformers" in on.stdout


def test_registering_something_that_is_not_a_plugin_fails_clearly():
    class Bad:
        @pr.hookimpl
        def register_rankers(self, register):
            register(42, name="forty-two")

    registry.register_plugin(Bad(), name="bad")
    try:
        with pytest.raises(pr.PyrerankError, match="expected a Ranker instance, class or zero-argument factory"):
            registry.names("ranker")
    finally:
        registry.manager.unregister(name="bad")
        registry._entries = None
