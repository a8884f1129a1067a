"""The plugin contract holds: a third-party part written against pyrerank.interfaces alone is
built with its options, trained by fit and saved with the model; the layers import downwards
only; the kernel and pyrerank.ops share one signature per operation."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from topics import ITEMS, assert_space_fan_served_and_saved, topic_history

import pyrerank as pr
from pyrerank import _core, ops
from pyrerank.interfaces import COLUMNS, FEATURE_NAMES, RankRequest, State, TrainingExamples
from pyrerank.plugins import registry

PACKAGE = Path(pr.__file__).parent


# -- layering --------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = ("pyrerank", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """pyrerank module -> the pyrerank modules it imports, anywhere in its body (lazy ones too)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    extensions = {_module_name(p) for p in PACKAGE.rglob("*.pyi")}  # compiled: they import nothing of ours
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules.keys() | extensions else base
                    for alias in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def test_no_import_circle_among_pyrerank_modules():
    graph = _import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert len(done) > 40  # every module was read


def test_only_the_rankers_package_imports_a_builtin_ranker():
    offenders = [
        (module, target)
        for module, targets in _import_graph().items()
        for target in targets
        if target.startswith("pyrerank.rankers.") and not module.startswith("pyrerank.rankers")
    ]
    assert offenders == []


def test_kernel_ops_take_the_same_arguments_as_pyrerank_ops():
    for name in ("score", "topk", "fused_topk", "mmr"):
        core_signature = getattr(_core, name).__doc__.splitlines()[0]
        core_names = re.findall(r"(\w+):", core_signature[core_signature.index("(") + 1 :])
        assert core_names == list(inspect.signature(getattr(ops, name)).parameters), name


def test_constants_come_from_the_kernel():
    assert FEATURE_NAMES == tuple(_core.FEATURE_NAMES) and COLUMNS[3:] == FEATURE_NAMES
    assert _core.MAX_INT8_DIM == 65_536
    with pytest.raises(ValueError, match="int8 matrix may be at most 65536 wide"):
        ops.topk(np.ones((2, _core.MAX_INT8_DIM + 1), np.int8), np.ones(_core.MAX_INT8_DIM + 1, np.float32), 1)


# -- a third-party ranker, written against pyrerank.interfaces alone -------------------------
class ToyLearner(pr.Ranker):
    """Scores by weights over COLUMNS that fit sets to (mean positive - mean negative)."""

    name = "toy-learner"

    def __init__(self, start: float = 0.0) -> None:
        self.weights = np.full(len(COLUMNS), start, np.float32)
        self.seen: TrainingExamples | None = None

    def score(self, request: RankRequest) -> np.ndarray:
        return request.columns(COLUMNS) @ self.weights

    def fit(self, examples: TrainingExamples) -> None:
        self.seen = examples
        self.weights = (examples.positives.mean(axis=0) - examples.negatives.mean(axis=(0, 1))).astype(np.float32)

    def get_state(self) -> State:
        return {"weights": self.weights}

    def set_state(self, state: State) -> None:
        self.weights = np.asarray(state["weights"], np.float32)


class ToyPlugin:
    @pr.hookimpl
    def register_rankers(self, register):
        register(ToyLearner)


@pytest.fixture(scope="module")
def toy_registered():
    registry.register_plugin(ToyPlugin(), name="toy-ranker-plugin")
    yield
    registry.unregister_plugin("toy-ranker-plugin")


def test_a_ranker_written_against_the_interfaces_is_trained_by_fit(toy_registered, tmp_path):
    rr = pr.Reranker(encoder="hashing", ranker="toy-learner", ranker_options={"start": 0.0})
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    assert rr.rerank("new", [3, 2, 1], k=3)[0].score == 0.0  # untrained: every weight 0
    rr.fit(topic_history(), collaborative_dim=0)
    seen = rr.ranker.seen
    assert seen is not None and seen.columns == COLUMNS
    assert seen.positives.shape[1] == len(COLUMNS) and seen.negatives.shape[2] == len(COLUMNS)
    assert seen.negatives.shape[0] == len(seen.positives) > 100
    assert seen.item_vectors.shape == (2 * len(ITEMS), rr.catalog.dim) and seen.users.shape == (
        len(seen),
        rr.catalog.dim,
    )
    as_new = seen.rows[:, 0] >= len(ITEMS)  # about a fifth of the groups present their items as new ones
    assert 0.1 < as_new.mean() < 0.3 and (seen.rows[as_new] >= len(ITEMS)).all()
    counts = [COLUMNS.index(name) for name in ("popularity", "recent_popularity", "co_engagement")]
    assert not seen.positives[as_new][:, counts].any() and seen.positives[~as_new][:, counts].any()
    learned = dict(zip(COLUMNS, rr.ranker.weights.tolist()))
    assert learned["co_engagement"] > 0 and learned["similarity"] > 0  # liked items are co-engaged and alike
    back = assert_space_fan_served_and_saved(rr, tmp_path / "toy")
    np.testing.assert_array_equal(back.ranker.weights, rr.ranker.weights)


def test_training_examples_select_named_columns():
    pos = np.arange(6, dtype=np.float32).reshape(2, 3)
    ex = TrainingExamples(("a", "b", "c"), pos, np.stack([pos, pos + 10], axis=1))
    picked = ex.select(["c", "a"])
    assert picked.columns == ("c", "a")
    np.testing.assert_array_equal(picked.positives, pos[:, [2, 0]])
    assert picked.negatives.shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"no columns \['zz'\]"):
        ex.select(["zz"])


# -- options reach any plugin ----------------------------------------------------------------
class OptionEncoder(pr.Encoder):
    name = "option-encoder"

    def __init__(self, dim: int = 4, device: str | None = None) -> None:
        self.dim, self.device = dim, device

    def encode(self, texts):
        texts = self.check_texts(texts)
        out = np.ones((len(texts), self.dim), np.float32)
        out[:, 0] += [len(t) for t in texts]
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class DevicelessEncoder(OptionEncoder):
    name = "deviceless-encoder"

    def __init__(self, dim: int = 4) -> None:
        super().__init__(dim)


class OptionPlugin:
    @pr.hookimpl
    def register_encoders(self, register):
        register(OptionEncoder)
        register(DevicelessEncoder)


@pytest.fixture(scope="module")
def options_registered():
    registry.register_plugin(OptionPlugin(), name="option-plugin")
    yield
    registry.unregister_plugin("option-plugin")


def test_options_and_device_reach_a_third_party_encoder(options_registered):
    rr = pr.Reranker(encoder="option-encoder", encoder_options={"dim": 6}, device="cpu:3")
    rr.add_items([1, 2], ["a", "bb"])
    assert rr.encoder.inner.device == "cpu:3" and rr.encoder.dim == 6 and rr.catalog.dim == 6
    assert pr.get_encoder("option-encoder", dim=5, device="cuda:1").device == "cuda:1"
    no_device = pr.Reranker(encoder="deviceless-encoder", device="cuda")  # not handed to a class without one
    no_device.add_items([1], ["a"])
    assert no_device.encoder.dim == 4


def test_unknown_plugin_options_are_refused_by_name(options_registered):
    with pytest.raises(TypeError, match=r"encoder 'option-encoder' got unknown options \['dimm'\]"):
        pr.Reranker(encoder="option-encoder", encoder_options={"dimm": 6})
    with pytest.raises(TypeError, match=r"encoder 'minilm' got unknown options \['batchsize'\]"):
        pr.Reranker(encoder="minilm", encoder_options={"batchsize": 2})  # checked before any model loads
    with pytest.raises(TypeError, match=r"ranker 'fusion' got unknown options \['weightz'\]"):
        pr.Reranker(encoder="hashing", ranker="fusion", ranker_options={"weightz": {}})
    with pytest.raises(TypeError, match="interest_options apply only when interest is given by name"):
        pr.Reranker(encoder="hashing", interest=pr.get_interest_model("decay"), interest_options={"half_life": 1.0})


def test_get_functions_build_parts_by_name_with_options(tmp_path):
    assert pr.get_ranker("fusion", weights={"popularity": 2.0}).weights["popularity"] == 2.0
    assert pr.get_interest_model("decay", half_life=5.0).half_life == 5.0
    store = pr.get_store(f"sqlite:///{tmp_path / 'x.db'}?synchronous=normal")
    assert store.durable and store.path.endswith("x.db")
    store.close()
    with pytest.raises(pr.UnknownPluginError, match="registered: .*fusion"):
        pr.get_ranker("fusoin")


# -- loading a save on the caller's terms ----------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(list(ITEMS), list(ITEMS.values()))
    rr.fit(topic_history(20), collaborative_dim=4)
    rr.observe("held", 2, "like")
    rr.save(tmp_path / "model")
    return tmp_path / "model", rr


def test_load_onto_a_durable_store_uses_that_store(saved, tmp_path):
    path, original = saved
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    with pr.Reranker.load(path, store=url, max_users=7) as rr:
        assert type(rr.store).__name__ == "SQLiteStore" and rr.store.path == str(tmp_path / "profiles.db")
        assert rr.users.max_users == 7 and len(rr.users) == 0  # users live in the store, not the save
        rr.observe("u", 1, "like", timestamp=5.0)
        want = rr.rerank("u", list(ITEMS), k=5, now=10.0)
    with pr.Reranker.load(path, store=url) as again:  # the event is in the store
        assert again.rerank("u", list(ITEMS), k=5, now=10.0) == want
    assert pr.Reranker.load(path).rerank("held", list(ITEMS), k=5) == original.rerank("held", list(ITEMS), k=5)


def test_load_refuses_unknown_options_by_name(saved):
    path, _ = saved
    with pytest.raises(TypeError, match=r"unknown options \['rankr'\]"):
        pr.Reranker.load(path, rankr="cosine")
    with pytest.raises(ValueError, match="dtype 'float32' differs from the saved catalog's 'int8'"):
        pr.Reranker.load(path, dtype="float32")


def test_load_with_another_ranker_keeps_the_catalog(saved):
    path, original = saved
    rr = pr.Reranker.load(path, ranker="cosine")
    assert rr.ranker.name == "cosine" and rr.catalog.dim == original.catalog.dim
    np.testing.assert_array_equal(rr.catalog.matrix, original.catalog.matrix)
