"""The HTTP service, as clients see it: a real `pyrerank serve` process on a free loopback port,
talked to with httpx. One server per configuration, started once for the module."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the service tests need httpx (the test extra)")
pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install 'pyrerank[serve]'")

import pyrerank as pr  # noqa: E402
from pyrerank.encoders.hashing import HashingEncoder  # noqa: E402
from pyrerank.serve.app import create_app  # noqa: E402
from pyrerank.testing.stores import ITEMS, make_reranker  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`pyrerank serve` in a child process; stopped by PID."""

    def __init__(self, bundle: Path, store: str, *extra: str) -> None:
        self.store, self.port = store, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "pyrerank.cli", "serve", str(bundle), "--store", store]
        command += ["--port", str(self.port), *extra]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the server
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become ready in 60 s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop the process (and its workers) by PID; its output."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.output()
        self.log.close()
        return output


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """`pyrerank bundle` of the 30 ITEMS and one more, as the README does it (with the hashing
    encoder: no model to load in each worker)."""
    folder = tmp_path_factory.mktemp("bundle")
    lines = [{"id": i, "text": text} for i, text in enumerate(ITEMS)]
    lines.append({"id": 100, "text": "a jazz music documentary", "metadata": {"title": "Jazz"}})
    (folder / "items.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    command = [sys.executable, "-m", "pyrerank.cli", "bundle", str(folder / "items.jsonl"), str(folder / "model")]
    done = subprocess.run([*command, "--encoder", "hashing"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "saved 31 items" in done.stdout, done.stderr
    return folder / "model"


@pytest.fixture(scope="module")
def server(bundle, tmp_path_factory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("store") / "profiles.db"
    running = Server(bundle, f"sqlite:///{db}")
    yield running
    running.stop()


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def gauge(metrics: str, name: str) -> float:
    """The value of an unlabelled gauge in Prometheus text."""
    return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith(name + " ")))


def test_every_endpoint_answers_as_documented(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["items"] == len(ITEMS) + 1
    first = client.post("/rerank", json={"user": "e1", "candidates": [5, 3, 8], "k": 3}).json()
    assert [x["item"] for x in first["items"]] == [5, 3, 8] and first["took_us"] > 0  # a new user: recall order
    assert client.post("/observe", json={"user": "e1", "item": 0, "kind": "like"}).status_code == 202
    batch = {"events": [{"user": "e1", "item": 1, "kind": "click"}, {"user": "e1", "text": "haunted horror"}]}
    assert client.post("/observe", json=batch).json() == {"accepted": 2}
    ranked = client.post("/rerank", json={"user": "e1", "candidates": list(range(30)), "k": 30}).json()["items"]
    assert {0, 1}.isdisjoint(x["item"] for x in ranked), "seen items are left out"
    searched = client.post("/rerank", json={"user": "e1", "candidates": [100, 2], "query": "jazz music"}).json()
    assert searched["items"][0]["item"] == 100
    why = client.post("/explain", json={"user": "e1", "item": 2}).json()
    assert set(why) == {"score", "parts", "reasons"} and abs(sum(why["parts"].values()) - why["score"]) < 1e-4
    assert client.put("/items", json={"ids": [200], "texts": ["mountain climbing drama"]}).json()["items"] == 32
    assert client.request("DELETE", "/items", json={"ids": [200]}).json()["items"] == 31
    assert client.delete("/users/e1").json() == {"forgotten": True}
    assert client.delete("/users/e1").json() == {"forgotten": False}
    assert client.post("/rerank", json={"user": ["tenant", 7], "candidates": [2, 4]}).status_code == 200
    assert client.delete('/users/["tenant",7]').json() == {"forgotten": False}
    metrics = client.get("/metrics").text
    assert 'pyrerank_requests_total{endpoint="/rerank",status="200"}' in metrics
    assert "pyrerank_events_observed_total 3.0" in metrics
    assert gauge(metrics, "pyrerank_items") == 31
    assert client.post("/observe", json={"user": "g1", "item": 4, "kind": "like"}).status_code == 202
    assert client.post("/rerank", json={"user": "g1", "candidates": [2, 4]}).status_code == 200  # g1 held now
    after = client.get("/metrics").text
    assert gauge(after, "pyrerank_contribution_events") == gauge(metrics, "pyrerank_contribution_events") + 1
    assert gauge(after, "pyrerank_contribution_bytes") > gauge(metrics, "pyrerank_contribution_bytes")
    assert gauge(after, "pyrerank_users_held") >= 1
    assert "/rerank" in client.get("/openapi.json").json()["paths"] and client.get("/docs").status_code == 200


def test_the_openapi_document_describes_the_bodies_parsed_in_one_pass(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, field in (("/rerank", "candidates"), ("/explain", "item")):
        body = paths[path]["post"]["requestBody"]
        assert body["required"] and field in body["content"]["application/json"]["schema"]["properties"]
        assert "200" in paths[path]["post"]["responses"]


class _HeldQueries(HashingEncoder):
    """The hashing encoder, but encoding one text (a query) waits until `release` is set (at
    most 10 s); `released` says whether it was."""

    def __init__(self) -> None:
        super().__init__()
        self.encoding, self.release, self.released = threading.Event(), threading.Event(), False

    def encode(self, texts):
        if len(texts) == 1:
            self.encoding.set()
            self.released = self.release.wait(10)
        return super().encode(texts)


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/rerank", {"user": "q", "candidates": [1, 2], "query": "jazz"}, 200),
        ("/explain", {"user": "q", "item": 1, "query": "jazz"}, 200),
        ("/observe", {"user": "q", "text": "jazz", "kind": "query"}, 202),
    ],
)
def test_a_text_is_encoded_off_the_event_loop(path, body, status):
    """While a request waits on its text's encoding (a language model takes milliseconds), the
    service answers other requests: it is not run on the event loop."""
    encoder = _HeldQueries()
    rr = pr.Reranker(encoder=encoder)
    rr.add_items(list(range(len(ITEMS))), ITEMS)

    async def meanwhile() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=create_app(rr))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as c:
            slow = asyncio.create_task(c.post(path, json=body))
            while not encoder.encoding.is_set():
                await asyncio.sleep(0.01)
            health = (await c.get("/healthz")).status_code
            encoder.release.set()
            return health, (await slow).status_code

    assert asyncio.run(meanwhile()) == (200, status) and encoder.released


def test_events_on_a_memory_store_over_http():
    """On a memory store /observe runs on the event loop: the events count, a bad batch stores none."""
    rr = make_reranker()

    async def requests() -> list[int]:
        transport = httpx.ASGITransport(app=create_app(rr))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as c:
            liked = await c.post("/observe", json={"events": [{"user": "m", "item": 3, "kind": "like"}]})
            bad = {"events": [{"user": "m", "item": 4, "kind": "like"}, {"user": "m", "item": 999, "kind": "like"}]}
            refused = await c.post("/observe", json=bad)
            ranked = await c.post("/rerank", json={"user": "m", "candidates": list(range(30)), "k": 30})
            return [liked.status_code, refused.status_code, *(x["item"] for x in ranked.json()["items"])]

    liked, refused, *ranked = asyncio.run(requests())
    assert (liked, refused) == (202, 404) and 3 not in ranked and 4 in ranked  # 3 seen; 4 never stored


def test_ids_written_as_text_stay_text(client):
    """Candidates "5" and "3" are not the items 5 and 3 (numpy would have read them as ints)."""
    assert client.post("/rerank", json={"user": "t1", "candidates": ["5", "3"]}).json()["items"] == []
    mixed = client.post("/rerank", json={"user": "t1", "candidates": [5, "3"], "k": 5}).json()["items"]
    assert [x["item"] for x in mixed] == [5]


BAD_REQUESTS = [
    ("POST", "/rerank", {"user": None, "candidates": [1]}, 422, "user"),
    ("POST", "/rerank", {"user": 1.5, "candidates": [1]}, 422, "user"),
    ("POST", "/rerank", {"user": "u", "candidates": 5}, 422, "candidates"),
    ("POST", "/rerank", {"user": "u", "candidates": [[1]]}, 422, "candidates"),
    ("POST", "/rerank", {"user": "u", "candidates": [1, 2], "k": 0}, 400, "k must be >= 1"),
    ("POST", "/rerank", {"user": "u", "candidates": [1, 2], "k": "3"}, 422, "k"),
    ("POST", "/rerank", {"user": "u", "candidates": [1, 2], "scores": [1.0]}, 400, "scores"),
    ("POST", "/rerank", {"user": "u", "candidates": [1, 2], "scores": [1e30, 0]}, 400, "scores"),
    ("POST", "/rerank", {"user": "u", "candidates": [1, 2], "now": "later"}, 422, "now"),
    ("POST", "/rerank", {"user": "u", "candidates": [1], "exclude_seen": 1}, 422, "exclude_seen"),
    ("POST", "/rerank", {"user": "u", "candidates": [1], "query": ""}, 400, "query"),
    ("POST", "/rerank", {"user": "u", "candidates": [1], "nonsense": 1}, 422, "nonsense"),
    ("POST", "/rerank", "not json {", 422, "not valid JSON"),
    ("POST", "/explain", {"user": "u", "item": 12345}, 404, "item 12345 is not in the catalog"),
    ("POST", "/observe", {"user": "u", "item": 12345, "kind": "like"}, 404, "event.item 12345"),
    ("POST", "/observe", {"user": "u", "item": 1, "kind": "love"}, 400, "event.kind must be one of"),
    ("POST", "/observe", {"user": "u", "item": 1, "weight": 1e300}, 400, "weight must be finite"),
    ("POST", "/observe", {"user": "u", "item": 1, "timestamp": "now"}, 422, "timestamp"),
    ("POST", "/observe", {"user": "u"}, 400, "give exactly one of item and text"),
    ("POST", "/observe", {"user": "u", "text": "jazz", "kind": "like"}, 400, "kind must be one of"),
    ("POST", "/observe", {"events": [{"user": "u", "item": 1}, {"user": "u", "item": -1}]}, 404, "events[1].item"),
    ("PUT", "/items", {"ids": [300], "texts": ["a", "b"]}, 400, "texts has 2 entries"),
    ("PUT", "/items", {"ids": [301], "vectors": [[1.0, "x"]]}, 422, "vectors"),
    ("PUT", "/items", {"ids": [302], "vectors": [[0.0] * 384]}, 400, "vectors must be non-zero"),
    ("PUT", "/items", {"ids": [303, 304], "vectors": [[1.0] * 384, [1.0]]}, 400, "rows differ in length"),
    ("PUT", "/items", {"ids": [-5], "texts": ["negative id"]}, 400, "ids"),
    ("DELETE", "/items", {"ids": [12345]}, 404, "ids: item 12345"),
]


@pytest.mark.parametrize(
    "method, path, body, status, text", BAD_REQUESTS, ids=[f"bad{i}" for i in range(len(BAD_REQUESTS))]
)
def test_bad_input_over_http_is_a_4xx_naming_the_field(client, method, path, body, status, text):
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.request(method, path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    problem = response.json()
    assert set(problem) == {"error", "detail"} and text in problem["detail"], problem
    assert "Traceback" not in response.text and "/tmp" not in response.text and "profiles.db" not in response.text


def test_a_failed_batch_stores_none_of_its_events(client, server):
    bad = {"events": [{"user": "batch-user", "item": 2}, {"user": "batch-user", "item": 99999}]}
    assert client.post("/observe", json=bad).status_code == 404
    db = sqlite3.connect(server.store.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM events WHERE user = ?", ('"batch-user"',)).fetchone() == (0,)


def test_an_api_key_guards_everything_but_health(bundle, tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret-key\n")
    guarded = Server(bundle, "memory", "--api-key-file", str(key))
    try:
        with httpx.Client(base_url=guarded.url, timeout=10) as c:
            assert c.get("/healthz").status_code == 200
            denied = c.post("/rerank", json={"user": "u", "candidates": [1, 2]})
            assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
            assert denied.json()["error"] == "unauthorized" and "s3cret" not in denied.text
            assert c.get("/metrics").status_code == 401
            wrong = {"Authorization": "Bearer s3cret-kez"}
            assert c.post("/rerank", json={"user": "u", "candidates": [1]}, headers=wrong).status_code == 401
            right = {"Authorization": "Bearer s3cret-key"}
            assert c.post("/rerank", json={"user": "u", "candidates": [1, 2]}, headers=right).status_code == 200
            huge = c.post("/rerank", content=b"[" * (9 << 20), headers={**right, "content-type": "application/json"})
            assert huge.status_code == 413 and huge.json()["error"] == "too_large"
            assert c.post("/rerank", content=b"[" * (9 << 20)).status_code == 401  # refused before it is read
            assert c.get("/no-such-path").status_code == 401  # what exists is not told
            assert c.get("/openapi.json").status_code == 200 and c.get("/docs").status_code == 200
    finally:
        output = guarded.stop()
    assert "s3cret" not in output and "Traceback" not in output


def test_two_workers_see_each_others_events_at_once(bundle, tmp_path):
    served = Server(bundle, f"sqlite:///{tmp_path / 'shared.db'}", "--workers", "2", "--no-access-log")
    try:
        for step in range(20):  # fresh connections: the two workers take turns at random
            user, item = f"w{step}", step % 30
            with httpx.Client(base_url=served.url, timeout=10) as c:
                assert c.post("/observe", json={"user": user, "item": item, "kind": "like"}).status_code == 202
            with httpx.Client(base_url=served.url, timeout=10) as c:
                ranked = c.post("/rerank", json={"user": user, "candidates": list(range(30)), "k": 30}).json()
            assert item not in [x["item"] for x in ranked["items"]], f"step {step}: the other worker missed the event"
    finally:
        output = served.stop()
    assert "POST /rerank" not in output and "Application startup complete" in output  # --no-access-log


def _acknowledged_then_killed(bundle: Path, store: str) -> list[str]:
    """Stream /observe at a server, kill -9 it mid-stream; the users whose event got a 202."""
    served = Server(bundle, store)
    acknowledged: list[str] = []
    with httpx.Client(base_url=served.url, timeout=5) as c:
        for i in range(10_000):
            if i == 150:
                served.process.kill()  # SIGKILL: no shutdown, no snapshot
            try:
                response = c.post("/observe", json={"user": f"k{i}", "item": i % 30, "kind": "click"})
            except httpx.HTTPError:
                break
            if response.status_code == 202:
                acknowledged.append(f"k{i}")
    served.stop()
    assert len(acknowledged) >= 150
    return acknowledged


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_kill_9_loses_no_acknowledged_event(bundle, tmp_path, kind, request):
    if kind == "sqlite":
        store = f"sqlite:///{tmp_path / 'killed.db'}"
    else:
        store = f"{request.getfixturevalue('redis_url')}?prefix=kill{time.monotonic_ns()}&durability=relaxed"
    acknowledged = _acknowledged_then_killed(bundle, store)
    reopened = make_reranker(store)
    for i, user in enumerate(acknowledged):  # the event's item counts as seen iff the event is kept
        assert reopened.rerank(user, [i % 30], k=1) == [], f"{user}'s acknowledged event is gone"
    reopened.close()


def test_sigterm_finishes_and_snapshots_the_store(bundle, tmp_path):
    db = tmp_path / "term.db"
    served = Server(bundle, f"sqlite:///{db}")
    with httpx.Client(base_url=served.url, timeout=10) as c:
        assert c.post("/observe", json={"user": "t", "item": 3, "kind": "like"}).status_code == 202
    output = served.stop(signal.SIGTERM)
    assert served.process.returncode in (0, -signal.SIGTERM), output  # uvicorn re-raises it after shutting down
    assert "Application shutdown complete" in output and "Traceback" not in output
    assert '"POST /observe HTTP/1.1" 202' in output  # an access log line per request, by default
    assert sqlite3.connect(str(db)).execute("SELECT count(*) FROM snapshot").fetchone() == (1,)
