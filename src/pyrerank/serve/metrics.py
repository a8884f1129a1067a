"""Prometheus metrics of one service process (prometheus-client, its own registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from ..reranker import Reranker

# Request latency buckets, seconds: a rerank takes ~0.1-1 ms in process, more over a network.
BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """requests and latency per endpoint and status, events observed, store errors; and, read
    from `reranker` at each scrape, what its memory grows with: items, users held, and the
    per-event contributions exact forget keeps (which grow with every counted event)."""

    def __init__(self, reranker: Reranker) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pyrerank_requests", "HTTP requests answered", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "pyrerank_request_seconds",
            "time to answer a request",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.events = Counter("pyrerank_events_observed", "events the store acknowledged", registry=self.registry)
        self.store_errors = Counter(
            "pyrerank_store_errors", "requests failed by the profile store", registry=self.registry
        )
        rr = reranker
        for name, doc, read in (
            ("pyrerank_items", "items in the catalog", lambda: len(rr.catalog) if rr.catalog is not None else 0),
            ("pyrerank_users_held", "user records this process holds", lambda: len(rr.users)),
            (
                "pyrerank_contribution_events",
                "unsettled counted events kept for exact forget (forget_horizon + up to 65,536)",
                lambda: len(rr.stats.contributions),
            ),
            (
                "pyrerank_contribution_bytes",
                "bytes those events and their undo log take",
                lambda: rr.stats.contributions.nbytes + rr.stats.undo.nbytes,
            ),
        ):
            Gauge(name, doc, registry=self.registry).set_function(read)

    def text(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)
