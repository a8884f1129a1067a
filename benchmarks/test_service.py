"""What the HTTP service adds around a rerank, without sockets: one POST /rerank through the
ASGI application (routing, middleware, parsing 1,000 ids, the answer's JSON) beside
`rr.rerank` of the same requests, in one run.

    pytest benchmarks/test_service.py --benchmark-columns=median,min,max

Needs the serve extra. The load over real sockets (uvicorn, many connections) is
`load_service.py`'s.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install 'pyrerank[serve]'")

import pyrerank as pr
from pyrerank.serve.app import create_app

ITEMS, DIM, CANDIDATES, LISTS = 100_000, 384, 1_000, 32


@pytest.fixture(scope="module")
def served() -> tuple[pr.Reranker, list[bytes]]:
    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(np.arange(ITEMS), vectors=rng.standard_normal((ITEMS, DIM), dtype=np.float32))
    for t, item in enumerate(rng.integers(0, ITEMS, 5_000)):  # statistics from other users
        rr.observe(f"other{t % 300}", int(item), "click", timestamp=float(t))
    bodies = [
        json.dumps({"user": f"u{i}", "candidates": rng.choice(ITEMS, CANDIDATES, replace=False).tolist()}).encode()
        for i in range(LISTS)
    ]
    return rr, bodies


async def post(app, path: str, body: bytes) -> bytes:
    """One request through the ASGI app as a server would pass it; the answer's body (200 only)."""
    answer: list[dict] = []
    received = False

    async def receive() -> dict:
        nonlocal received
        if received:  # the app asks again only to watch for a disconnect
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        answer.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST"}
    scope.update(scheme="http", path=path, raw_path=path.encode(), query_string=b"", root_path="", headers=headers)
    await app(scope, receive, send)
    assert answer[0]["status"] == 200, answer
    return answer[1]["body"]


@pytest.mark.parametrize("through", ["app", "rr.rerank"])
def test_rerank(benchmark, served, through):
    rr, bodies = served
    turn = iter(range(10**9))
    if through == "app":
        app, loop = create_app(rr), asyncio.new_event_loop()
        ranked = json.loads(loop.run_until_complete(post(app, "/rerank", bodies[0])))["items"]
        assert len(ranked) == 10
        benchmark(lambda: loop.run_until_complete(post(app, "/rerank", bodies[next(turn) % LISTS])))
        loop.close()
    else:
        requests = [json.loads(body) for body in bodies]
        benchmark(lambda: rr.rerank((r := requests[next(turn) % LISTS])["user"], np.asarray(r["candidates"])))
