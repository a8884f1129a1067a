"""Load generator for `pyrerank serve`: a real server process on loopback, an async httpx client.

    python benchmarks/load_service.py --workers 1 2 --concurrency 1 16 64 --seconds 10 [--no-access-log]

Builds a 100,000 x 384 int8 bundle (random unit vectors), serves it on an SQLite store, and for
each (workers, concurrency) measures /rerank (1,000 random int candidates, k=10) and /observe:
p50 / p99 latency and requests/s, from a minimal asyncio keep-alive client; /rerank at
concurrency 1 also from httpx's ordinary blocking client. /healthz at the same concurrency is
the yardstick: how many requests/s client and server make when the server does almost nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ITEMS, DIM, CANDIDATES = 100_000, 384, 1_000


def make_bundle(folder: Path) -> Path:
    import pyrerank as pr

    rng = np.random.default_rng(0)
    rr = pr.Reranker(encoder="hashing")
    rr.add_items(np.arange(ITEMS), vectors=rng.standard_normal((ITEMS, DIM), dtype=np.float32))
    for t, item in enumerate(rng.integers(0, ITEMS, 5_000)):  # statistics from other users
        rr.observe(f"other{t % 300}", int(item), "click", timestamp=float(t))
    rr.save(folder / "bundle")
    return folder / "bundle"


def start(bundle: Path, store: str, workers: int, *extra: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "pyrerank.cli", "serve", str(bundle), "--store", store]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def request(method: str, path: str, body: bytes | None) -> bytes:
    """One HTTP/1.1 keep-alive request, as bytes."""
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def response_status(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length framed, as uvicorn sends JSON); its status."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], concurrency: int, seconds: float) -> dict:
    """`concurrency` keep-alive connections sending requests back to back for `seconds`. The
    client is a few lines of asyncio over prebuilt request bytes, so that it costs the 2 shared
    vCPUs as little as possible (the /healthz rows show its ceiling)."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = n
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await response_status(reader)
            latencies.append(time.perf_counter() - started)
            errors += status >= 400
            i += concurrency
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1e3
    return {
        "requests": len(ms),
        "errors": errors,
        "rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(float(np.median(ms)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def ordinary_client(url: str, bodies: list[bytes], seconds: float) -> dict:
    """/rerank at concurrency 1 from httpx's ordinary (blocking) client, keep-alive."""
    ms = []
    stop = time.perf_counter() + seconds
    with httpx.Client(base_url=url) as client:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            response = client.post(
                "/rerank", content=bodies[len(ms) % len(bodies)], headers={"content-type": "application/json"}
            )
            response.raise_for_status()
            ms.append((time.perf_counter() - started) * 1e3)
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.median(ms)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-access-log", action="store_true", help="serve with --no-access-log")
    parser.add_argument("--store", help="a store URL to serve on instead of a fresh SQLite file (e.g. redis://...)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rerank = [
        json.dumps(
            {"user": f"u{i % 500}", "candidates": rng.choice(ITEMS, CANDIDATES, replace=False).tolist()}
        ).encode()
        for i in range(256)
    ]
    observe = [
        json.dumps({"user": f"u{i % 500}", "item": int(rng.integers(ITEMS)), "kind": "click"}).encode()
        for i in range(4096)
    ]
    rerank_requests = [request("POST", "/rerank", body) for body in rerank]
    observe_requests = [request("POST", "/observe", body) for body in observe]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bundle = make_bundle(Path(tmp))
        print(f"bundle of {ITEMS} x {DIM} int8 made in {time.perf_counter() - started:.1f} s", flush=True)
        for workers in args.workers:
            extra = ["--no-access-log"] if args.no_access_log else []
            store = args.store or f"sqlite:///{tmp}/profiles-{workers}.db"
            process, port = start(bundle, store, workers, *extra)
            try:
                if workers == 1:
                    row = {"workers": 1, "concurrency": 1, "endpoint": "rerank (httpx.Client)"}
                    row.update(ordinary_client(f"http://127.0.0.1:{port}", rerank, args.seconds))
                    results.append(row)
                    print(json.dumps(row), flush=True)
                for concurrency in args.concurrency:
                    for name, requests in (
                        ("healthz", [request("GET", "/healthz", None)]),
                        ("rerank", rerank_requests),
                        ("observe", observe_requests),
                    ):
                        row = {"workers": workers, "concurrency": concurrency, "endpoint": name}
                        row.update(asyncio.run(load(port, requests, concurrency, args.seconds)))
                        results.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                process.terminate()
                process.wait(timeout=60)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
