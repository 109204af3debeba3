"""The service's Prometheus figures, in a registry of its own (two apps in one process do not clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("papers_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("papers_request_seconds", "Time to answer a request, streams to their end.",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.waiting = Gauge("papers_generation_queue", "Requests waiting for, or being answered by, the model.",
                             registry=self.registry)
        self.tokens = Counter("papers_tokens_generated", "Pieces of text the model streamed (about one token each).",
                              registry=self.registry)
