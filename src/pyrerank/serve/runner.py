"""``pyrerank serve``: uvicorn running the service, one Reranker per worker process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import PyrerankError
from .app import MAX_BODY_BYTES

CONFIG_ENV = "PYRERANK_SERVE_CONFIG"  # how the parent hands each worker its configuration
KEY_ENV = "PYRERANK_API_KEY"


def read_api_key(key_file: str | None) -> str | None:
    """The API key from `key_file` (stripped), else from $PYRERANK_API_KEY, else None."""
    if key_file is not None:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise PyrerankError(f"cannot read the API key file: {exc.strerror}") from None
        if not key:
            raise PyrerankError("the API key file is empty")
        return key
    return os.environ.get(KEY_ENV) or None


def app_from_environment() -> Any:
    """The application of one worker, configured by the parent through $PYRERANK_SERVE_CONFIG."""
    from ..reranker import Reranker
    from .app import create_app

    config = json.loads(os.environ[CONFIG_ENV])
    rr = Reranker.load(config["bundle"], store=config["store"])
    return create_app(
        rr,
        api_key=read_api_key(config["api_key_file"]),
        max_body_bytes=config["max_body_bytes"],
        close_on_shutdown=True,
    )


def run(
    bundle: str,
    store: str = "memory",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    api_key_file: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve the bundle saved at `bundle` (see Reranker.save) on `store` until SIGTERM/SIGINT:
    in-flight requests finish, then each worker closes its Reranker (a durable store snapshots).
    access_log : uvicorn's line per request (off: /metrics still counts every request)"""
    import uvicorn

    if not (Path(bundle) / "model.json").is_file():
        raise PyrerankError(f"{bundle} is not a saved model (no model.json): make one with Reranker.save")
    if workers > 1 and "://" not in store:
        raise PyrerankError(
            f"--workers {workers} needs a store the workers share (sqlite:///... or redis://...), not {store!r}"
        )
    read_api_key(api_key_file)  # a missing or empty key file stops here, not in every worker
    config = {"bundle": str(bundle), "store": store, "api_key_file": api_key_file, "max_body_bytes": max_body_bytes}
    os.environ[CONFIG_ENV] = json.dumps(config)
    uvicorn.run(
        "pyrerank.serve.runner:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=30,
        access_log=access_log,
    )
