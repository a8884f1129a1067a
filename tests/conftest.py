from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

from pyrerank import _core

settings.register_profile("ci", max_examples=150, deadline=None)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="module", params=_core.runnable_isas())
def isa(request):
    """Runs the test once per instruction set this CPU can run (AVX-512 with VNNI, AVX-512, AVX2, portable)."""
    best = _core.isa()
    _core.use_isa(request.param)
    yield request.param
    _core.use_isa(best)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def movielens_dir():
    """The MovieLens ml-latest-small folder named by PYRERANK_TEST_DATA (.ci/run sets it; the data
    lives outside the repository under a research licence); skipped where it is not set."""
    import os
    from pathlib import Path

    folder = os.environ.get("PYRERANK_TEST_DATA")
    if not folder:
        pytest.skip("set PYRERANK_TEST_DATA to a MovieLens ml-latest-small folder to run the real-data checks")
    if not (Path(folder) / "ratings.csv").is_file():
        pytest.fail(f"PYRERANK_TEST_DATA={folder!r} holds no ratings.csv")
    return Path(folder)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis server: the one named by PYRERANK_TEST_REDIS_URL (.ci/run starts one), or a
    private redis-server started here; skipped only where neither exists (never in CI)."""
    import os
    import shutil

    from pyrerank.testing import redis_server

    pytest.importorskip("redis", reason="the Redis store needs the redis extra: pip install 'pyrerank[redis]'")
    url = os.environ.get("PYRERANK_TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH and PYRERANK_TEST_REDIS_URL unset")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
