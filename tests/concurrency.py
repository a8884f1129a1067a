"""The same per-worker plans played on two Rerankers, from threads at once and one worker after
another, for tests that the first ends as the second (a plain module the test files import)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import pyrerank as pr


def together_and_alone(
    make: Callable[[], pr.Reranker], run: Callable[[pr.Reranker, Any], None], workers: Iterable[Any]
) -> tuple[pr.Reranker, pr.Reranker]:
    """(together, alone): `run(rr, worker)` for every worker from a thread each at once on one
    new Reranker, and one worker after another on another."""
    workers = list(workers)
    together, alone = make(), make()
    threads = [threading.Thread(target=run, args=(together, worker)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        run(alone, worker)
    return together, alone
