"""Prometheus metrics of the API, prefixed ``trend_api_`` (listed in docs/API.md).

Each app gets its own registry, so several apps in one process (tests) never clash.
Timing is a plain ASGI middleware: Starlette's BaseHTTPMiddleware would cost more than
a ``/trending`` request itself.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Sub-millisecond buckets: the API's latency goal is a p99 of a few milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)

#: Label for requests that matched no route, so unknown paths cannot blow up cardinality.
UNMATCHED_ROUTE = "unmatched"

#: The methods of RFC 9110 and PATCH; any other method is labelled ``other``, so made-up
#: methods cannot blow up cardinality either.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                          "TRACE", "PATCH"})
OTHER_METHOD = "other"


class ApiMetrics:
    """The API's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "trend_api_requests", "HTTP requests served, by route template, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "trend_api_request_duration_seconds",
            "Time from request to the end of the response, by route template",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.redis_errors = Counter(
            "trend_api_redis_errors", "Redis calls that failed (connection, timeout, ...)",
            ["kind"], registry=self.registry)
        self.data_age = Gauge(
            "trend_api_data_age_seconds",
            "Age of the newest overall ranking (now - window_end) when last read",
            registry=self.registry)
        self.latest_window_end = Gauge(
            "trend_api_latest_window_end_seconds",
            "window_end of the newest overall ranking, epoch seconds, when last read",
            registry=self.registry)

    def observe_latest(self, window_end_ms: int, now_ms: int) -> None:
        """Record the newest overall window seen and its age."""
        self.latest_window_end.set(window_end_ms / 1000)
        self.data_age.set((now_ms - window_end_ms) / 1000)


def route_label(scope: Scope) -> str:
    """The matched route's template (``/products/{product_id}/trend``), not the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE


def method_label(scope: Scope) -> str:
    """The request's method if it is a known one, else ``other``."""
    method = scope["method"]
    return method if method in HTTP_METHODS else OTHER_METHOD


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, bound once per label set: prometheus-client's labels()
        # takes a lock and checks the values on every call. The label sets are bounded
        # (route templates, known methods, statuses).
        self._latency: dict[str, Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}

    def _record(self, route: str, method: str, status: int, seconds: float) -> None:
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self.metrics.latency.labels(route)
        latency.observe(seconds)
        requests = self._requests.get((route, method, status))
        if requests is None:
            requests = self._requests[route, method, status] = self.metrics.requests.labels(
                route, method, str(status))
        requests.inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self._record(route_label(scope), method_label(scope), status,
                         time.perf_counter() - started)


class HeadAsGet:
    """Answers HEAD like GET; the server drops the body of a HEAD response.

    The inner app sees a copy of the scope, so the server still knows it was a HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = dict(scope, method="GET")
        await self.app(scope, receive, send)
