"""Prometheus metrics of one service process (prometheus-client, its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Request latency buckets, seconds: a rerank takes ~0.1-1 ms in process, more over a network.
BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """requests and latency per endpoint and status, events observed, store errors."""

    def __init__(self) -> None:
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

    def text(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)
