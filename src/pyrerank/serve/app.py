"""The HTTP service: a FastAPI application around one Reranker.

Every error is JSON ``{"error": kind, "detail": message naming the field}`` with a 4xx status
(5xx only for a store that cannot be reached, 503, or a bug, 500), never a traceback, a store
path or a password. Short CPU work runs on the event loop (/rerank, /explain, and /observe on a
memory store; the kernel releases the GIL); a request with a text to encode, and what may wait on
a durable store, runs on the thread pool. /rerank and /explain parse their bodies themselves in
one pass. The Reranker is thread-safe.
"""

from __future__ import annotations

import array
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import numpy as np
import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PyrerankError, StoreError
from ..events import DEFAULT_WEIGHTS, TEXT_WEIGHTS
from ..plugins import UnknownPluginError
from ..reranker import Reranker
from . import schemas
from .metrics import Metrics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 << 20  # a request body larger than this is refused (413)

Body = TypeVar("Body", bound=BaseModel)


class _Failure(Exception):
    """An error answered as it is: status, kind, detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def _problem(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _user(value: Any) -> Any:
    """A JSON user id as the library takes it: lists become tuples."""
    return tuple(_user(v) for v in value) if isinstance(value, list) else value


def _path_user(text: str) -> Any:
    """A user id from a URL path segment: JSON when it parses as an int, a quoted str or a list
    (``42``, ``%2242%22`` for the str "42", ``["tenant",7]``), else the text itself."""
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        if isinstance(value, (int, str, list)) and not isinstance(value, bool):
            return _user(value)
    return text


class Measured:
    """ASGI middleware: each request's latency and status into the metrics, by route template
    (a plain ASGI wrapper: Starlette's BaseHTTPMiddleware would add ~0.3 ms a request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            endpoint = getattr(scope.get("route"), "path", "other")
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


class BearerKey:
    """ASGI middleware: 401 for a request without ``Authorization: Bearer <key>`` (compared in
    constant time) to any path but `open_paths`, before its body is read (one check for every
    route, cheaper than a FastAPI dependency solved on each request)."""

    def __init__(self, app: ASGIApp, key: bytes, open_paths: frozenset[str]) -> None:
        self.app, self.key, self.open_paths = app, key, open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            given = dict(scope.get("headers", [])).get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
                detail = "this service needs the header Authorization: Bearer <API key>"
                await _problem(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: 413 for a request body past `limit` bytes, counted as it streams (a
    declared Content-Length past it is refused before reading)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _problem(413, "too_large", f"the request body must be at most {self.limit} bytes")(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _Failure(413, "too_large", f"the request body must be at most {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


def create_app(
    reranker: Reranker,
    *,
    api_key: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    close_on_shutdown: bool = False,
) -> FastAPI:
    """The service around `reranker` (mount it in an existing ASGI app, or run it with uvicorn).

    api_key : when set, every path but /healthz, /readyz and the OpenAPI documents needs
        ``Authorization: Bearer <api_key>`` (compared in constant time); 401 without it
    close_on_shutdown : close the reranker (a durable store snapshots its statistics) when the
        server shuts down, after in-flight requests finished
    """
    rr = reranker
    metrics = Metrics(rr)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            rr.close()

    app = FastAPI(
        title="pyrerank",
        summary="Real-time personalized re-ranking over HTTP",
        version=_version(),
        lifespan=lifespan,
        responses={code: {"model": schemas.Problem} for code in (400, 401, 404, 413, 422, 503)},
    )
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    if api_key is not None:
        documents = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
        open_paths = frozenset(["/healthz", "/readyz", *(path for path in documents if path)])
        app.add_middleware(BearerKey, key=api_key.encode(), open_paths=open_paths)
    app.add_middleware(Measured, metrics=metrics)  # the outermost: refused requests are counted too

    @app.exception_handler(_Failure)
    async def failure(_: Request, exc: _Failure) -> JSONResponse:
        return _problem(exc.status, exc.error, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            return _problem(422, "invalid_request", "body: not valid JSON")
        return _problem(422, "invalid_request", f"{_field(first.get('loc', ()))}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed with %s", type(exc).__name__)  # no message: it may hold a path
        return _problem(500, "internal", "the request failed inside the service; see its log")

    def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a Reranker method, turning its errors into answers that name the field."""
        try:
            return function(*args, **kwargs)
        except UnknownPluginError as exc:
            raise _Failure(400, "bad_request", str(exc)) from None
        except StoreError:
            metrics.store_errors.inc()
            log.warning("the %s store failed a request", rr.store.name)
            raise _Failure(503, "store_unavailable", f"the {rr.store.name} store could not be reached") from None
        except KeyError as exc:
            raise _Failure(404, "not_found", str(exc.args[0]) if exc.args else "not found") from None
        except (TypeError, ValueError) as exc:
            raise _Failure(400, "bad_request", str(exc)) from None
        except LookupError as exc:  # an empty catalog
            raise _Failure(409, "no_items", str(exc)) from None
        except PyrerankError as exc:
            raise _Failure(400, "bad_request", str(exc)) from None

    # Short CPU work runs on the event loop (the kernel releases the GIL); what may wait on the
    # store (observe, forget, items, readiness) runs on the thread pool.
    @app.get("/healthz", summary="the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="the model is loaded and the store answers", responses={503: {}})
    def readyz() -> Response:
        if rr.catalog is None or len(rr.catalog) == 0:
            return _problem(503, "not_ready", "the catalog is empty")
        try:
            with rr._lock:
                rr.view.sync(rr.catalog)
        except StoreError:
            metrics.store_errors.inc()
            return _problem(503, "store_unavailable", f"the {rr.store.name} store could not be reached")
        return JSONResponse({"status": "ready", "items": len(rr.catalog)})

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/rerank", **_parsed_route(schemas.RerankRequest, schemas.RerankResponse))
    async def rerank(request: Request) -> Response:
        body = await _parsed(request, schemas.RerankRequest)
        started = time.perf_counter()
        ranked = await _on_loop_unless(
            body.query is not None,
            call,
            rr.rerank,
            _user(body.user),
            _ids(body.candidates),
            body.k,
            scores=body.scores,
            now=body.now,
            exclude_seen=body.exclude_seen,
            query=body.query,
        )
        took = (time.perf_counter() - started) * 1e6
        return _json({"items": [{"item": r.item, "score": r.score} for r in ranked], "took_us": took})

    @app.post("/explain", **_parsed_route(schemas.ExplainRequest, schemas.ExplainResponse))
    async def explain(request: Request) -> Response:
        body = await _parsed(request, schemas.ExplainRequest)
        why = await _on_loop_unless(
            body.query is not None,
            call,
            rr.explain,
            _user(body.user),
            body.item,
            scores=body.scores,
            now=body.now,
            query=body.query,
        )
        parts = {k: v for k, v in why.items() if k != "score"}
        return _json({"score": why["score"], "parts": parts, "reasons": why.reasons})

    @app.post("/observe", status_code=202, response_model=schemas.Accepted)
    async def observe(body: schemas.Event | schemas.EventBatch) -> dict[str, int]:
        """202 once the store has acknowledged every event; the events are checked first, so a
        bad one (an unknown item or kind) stores none of them. On the thread pool where a
        durable store is waited on or a text encoded, else on the event loop."""
        events = body.events if isinstance(body, schemas.EventBatch) else [body]
        slow = rr.store.durable or any(event.text is not None for event in events)
        return await _on_loop_unless(slow, accept, events, isinstance(body, schemas.EventBatch))

    def accept(events: list[schemas.Event], batch: bool) -> dict[str, int]:
        for i, event in enumerate(events):
            _check_event(rr, event, f"events[{i}]" if batch else "event")
        for i, event in enumerate(events):
            try:
                _observe(rr, call, event)
            except _Failure as failure:
                if i:  # what was acknowledged stays: say how much
                    failure.detail += f" ({i} earlier events of this batch were acknowledged)"
                raise
            metrics.events.inc()
        return {"accepted": len(events)}

    @app.delete("/users/{user}", response_model=schemas.Forgotten)
    def forget(user: str) -> dict[str, bool]:
        """Erase a user (see Reranker.forget). The path segment is read as JSON when it is an int,
        a quoted str or a list (``42``, ``"42"``, ``["tenant",7]``), else as the text itself."""
        return {"forgotten": call(rr.forget, _path_user(user))}

    @app.put("/items", response_model=schemas.ItemsResponse)
    def put_items(body: schemas.ItemsRequest) -> dict[str, int]:
        """Add items or replace their vectors; texts are encoded with the model's encoder."""
        call(rr.add_items, body.ids, body.texts, vectors=body.vectors, metadata=body.metadata)
        return {"items": len(rr.catalog or ())}

    @app.delete("/items", response_model=schemas.ItemsResponse)
    def delete_items(body: schemas.RemoveItemsRequest) -> dict[str, int]:
        call(rr.remove_items, body.ids)
        return {"items": len(rr.catalog or ())}

    return app


async def _parsed(request: Request, model: type[Body]) -> Body:
    """The request's JSON body as `model`, parsed and checked in one pass by pydantic-core (for
    1,000 ids, half the time of FastAPI's json.loads then validation); errors answered as FastAPI's."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def _on_loop_unless(slow: bool, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """function(*args, **kwargs) on the event loop, or on the thread pool where `slow` (a text to
    encode, milliseconds with a language model, or a durable store to wait on), while the loop
    keeps answering others."""
    return await run_in_threadpool(function, *args, **kwargs) if slow else function(*args, **kwargs)


def _json(content: dict[str, Any]) -> Response:
    """A 200 JSON answer, written by pydantic-core (a sixth of json.dumps' time for 10 items)."""
    return Response(pydantic_core.to_json(content), media_type="application/json")


def _parsed_route(body: type[BaseModel], answer: type[BaseModel]) -> dict[str, Any]:
    """app.post()'s documentation of a route that reads `body` itself (_parsed) and answers `answer`."""
    content = {"application/json": {"schema": body.model_json_schema()}}
    return {"response_model": answer, "openapi_extra": {"requestBody": {"required": True, "content": content}}}


def _ids(ids: list[Any]) -> Any:
    """Candidate ids as an int64 array when they are all ints (the kernel's fast look-up), else
    as given (array.array refuses a str, where numpy would read "12" as 12)."""
    try:
        return np.frombuffer(array.array("q", ids), np.int64)
    except (TypeError, OverflowError):  # a str id, or an int past int64: the library names it
        return ids


def _field(loc: Any) -> str:
    """The field a validation error's location names ("events.1.item"), without pydantic's names
    for the alternatives of a union ("int", "list[...]", "Event")."""
    parts = []
    for part in tuple(loc)[1:] if tuple(loc)[:1] == ("body",) else tuple(loc):
        if isinstance(part, int) or (part.isidentifier() and part.islower() and part not in _TYPE_NAMES):
            parts.append(str(part))
    return ".".join(parts) or "body"


_TYPE_NAMES = {"int", "str", "float", "bool", "list", "dict", "none"}


def _check_event(rr: Reranker, event: schemas.Event, where: str) -> None:
    """400/404 naming the field for an event observe would refuse, before any is stored."""
    if (event.item is None) == (event.text is None):
        raise _Failure(400, "bad_request", f"{where}: give exactly one of item and text")
    kinds = TEXT_WEIGHTS if event.text is not None else DEFAULT_WEIGHTS
    kind = event.kind or ("query" if event.text is not None else "click")
    if kind not in kinds:
        raise _Failure(400, "bad_request", f"{where}.kind must be one of {sorted(kinds)}, got {kind!r:.40}")
    if event.item is not None and (rr.catalog is None or event.item not in rr.catalog.row_of):
        raise _Failure(404, "not_found", f"{where}.item {event.item!r} is not in the catalog")


def _observe(rr: Reranker, call: Callable[..., Any], event: schemas.Event) -> None:
    user = _user(event.user)
    if event.text is not None:
        call(rr.observe_text, user, event.text, event.kind or "query", timestamp=event.timestamp, weight=event.weight)
    else:
        call(
            rr.observe,
            user,
            event.item,
            event.kind or "click",
            timestamp=event.timestamp,
            weight=event.weight,
            count=event.count,
        )


def _version() -> str:
    from .. import __version__

    return __version__
