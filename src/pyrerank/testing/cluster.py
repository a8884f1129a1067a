"""A real local Ray cluster for tests and benchmarks: a head node process and more node
processes on the same machine, each started by ``ray start --block`` and stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ray_cluster(folder: str | Path, *, nodes: int = 2, cpus_per_node: int = 2) -> Iterator[str]:
    """`nodes` Ray node processes on loopback (the first the head): yields the address to
    ``ray.init`` or pyrerank.distributed's `address`, and stops every node on exit. Logs go
    to `folder`; Ray's session files to a short folder under /tmp (its socket paths must be
    short). Raises FileNotFoundError without the ``ray`` command."""
    beside = Path(sys.executable).with_name("ray")  # this environment's, even when not on PATH
    binary = str(beside) if beside.is_file() else shutil.which("ray")
    if binary is None:
        raise FileNotFoundError('the ray command is not on PATH: pip install "pyrerank[ray]"')
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = Path(f"/tmp/pyrerank-ray-{os.getpid()}-{port}")
    common = [
        "--block",
        f"--num-cpus={cpus_per_node}",
        "--object-store-memory=200000000",
        "--node-ip-address=127.0.0.1",
        "--disable-usage-stats",
    ]
    head = [binary, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common]
    processes: list[subprocess.Popen] = []
    # loopback only: no tokens to hand around; on SIGTERM stop at once (no 30 s drain for Serve)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    try:
        for i in range(nodes):
            command = head if i == 0 else [binary, "start", f"--address={address}", *common]
            with open(Path(folder) / f"ray-node-{i}.log", "wb") as log:  # the node keeps its own copy
                processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
                )
            if i == 0:
                _wait_for_port(port, processes[0], folder)
        _wait_for_nodes(address, nodes, env)
        yield address
    finally:
        for process in reversed(processes):  # SIGTERM: `ray start --block` stops its node's processes
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, head: subprocess.Popen, folder: str | Path) -> None:
    for _ in range(600):
        if head.poll() is not None:
            raise RuntimeError(f"the Ray head exited with {head.returncode}: see {folder}/ray-node-0.log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the Ray head did not listen within 60 s")


def _wait_for_nodes(address: str, nodes: int, env: dict[str, str]) -> None:
    """Until `nodes` nodes are alive (asked through `ray list nodes`, not from this process)."""
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    for _ in range(60):
        out = subprocess.run([sys.executable, "-c", script, address], capture_output=True, text=True, env=env)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(nodes)]:
            return
        time.sleep(1)
    raise TimeoutError(f"{nodes} Ray nodes were not alive within 60 s")
