"""Builds the API app: ``create_app(settings)``.

Redis is reached through one async connection pool per app, with short timeouts, so a
Redis outage becomes a quick 503 and the next request after Redis returns succeeds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from redis.asyncio import ConnectionPool, Redis

from api import page, routes
from api.direct_routes import DirectRoutes
from api.errors import install_error_handlers
from api.metrics import ApiMetrics, HeadAsGet, MetricsMiddleware
from api.ranking_cache import LatestRankings
from api.tracing import fastapi_telemetry, tracer_provider
from trend_tracker.redis_layout import RedisLayout
from trend_tracker.settings import Settings, load_settings

#: Connections per worker: more than the requests one event loop has in flight at once.
REDIS_MAX_CONNECTIONS = 64

DESCRIPTION = """Read-only access to the product trend rankings computed by the Flink job.

Times are epoch milliseconds (UTC). Every error has the body
`{"error": {"code": "...", "message": "..."}}`.
"""


def redis_client(settings: Settings) -> Redis:
    """An async Redis client over a bounded pool with the configured timeouts.

    A request finding all connections busy gets a 503 at once rather than queueing:
    that only happens under overload, while a blocking pool's bookkeeping cost about
    100 us of CPU on every request (measured in-process, one worker).
    """
    pool = ConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it


def openapi_with_limits(app: FastAPI, top_n: int) -> dict[str, Any]:
    """The OpenAPI schema with ``k``'s maximum set to this deployment's ``top_n``.

    The route's static bound is the largest top_n any deployment may have; clients and
    schema-driven tools should see the bound this one enforces.
    """
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        for parameter in schema["paths"]["/trending"]["get"]["parameters"]:
            if parameter["name"] == "k":
                parameter["schema"]["maximum"] = top_n
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API and the page, reading rankings from ``settings.redis_url``.

    Traces go where the ``OTEL_*`` variables say (:mod:`api.tracing`; off by default).
    """
    settings = settings or load_settings()
    metrics = ApiMetrics()
    traces = tracer_provider("trend-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = redis_client(settings)
        app.state.rankings = LatestRankings(app.state.redis, settings.api_cache_ttl_s,
                                            keys=app.state.keys)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            if traces is not None:
                traces.shutdown()  # sends the spans still batched

    # /docs and /redoc are api.page's, served from the package instead of a CDN. The API's
    # metrics are Prometheus's (api.metrics): FastAPI's own OpenTelemetry only traces, and
    # only with a provider; off, it spares every request its check for configured
    # providers (three environment reads).
    app = FastAPI(title="Trend Tracker API", version="1", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(traces))
    app.state.settings = settings
    app.state.keys = RedisLayout(settings.redis_namespace)
    app.state.metrics = metrics
    app.openapi = partial(openapi_with_limits, app, settings.top_n)  # type: ignore[method-assign]
    # Any invalid k gets one message naming 1..top_n: the route's static bound
    # (the largest top_n allowed) and the parse error are not this deployment's range.
    install_error_handlers(app, {"k": routes.invalid_k_message(settings.top_n)})
    app.include_router(routes.router)
    app.include_router(page.router)
    page.add_docs(app)
    app.mount(page.STATIC_URL, StaticFiles(directory=page.STATIC_DIR), name="static")
    # Added first, so it runs last: inside CORS and the metrics, like the routes it serves.
    app.add_middleware(DirectRoutes, routes=[route for route in routes.router.routes
                                             if route.path in routes.DIRECT_PATHS],
                       exception_handlers=app.exception_handlers)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins,
                           allow_methods=["GET", "HEAD"], allow_headers=["*"])
    # Last added runs first: HEAD becomes GET before anything else sees it.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(HeadAsGet)
    return app
