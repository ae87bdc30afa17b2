"""Typed dependencies and parameters of the routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from redis.asyncio import Redis

from api.errors import ApiError
from api.metrics import ApiMetrics
from api.models import Ranking
from trend_tracker.events import ID_PATTERN
from trend_tracker.redis_layout import RedisLayout
from trend_tracker.settings import Settings

#: The largest top-N the settings allow; the running job's ``top_n`` is checked per call.
MAX_TOP_N: int = next(m.le for m in Settings.model_fields["top_n"].metadata if hasattr(m, "le"))
#: How many windows of one product's history a client may ask for at once.
MAX_WINDOWS = 1000


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    # async on purpose: FastAPI runs plain functions in a thread pool, per request.
    return request.app.state.settings


async def get_redis(request: Request) -> Redis:
    """The app's async Redis client (one connection pool per app)."""
    return request.app.state.redis


async def get_keys(request: Request) -> RedisLayout:
    """The Redis keys of the namespace the app serves (``redis_namespace``)."""
    return request.app.state.keys


async def get_metrics(request: Request) -> ApiMetrics:
    """The app's Prometheus collectors."""
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
KeysDep = Annotated[RedisLayout, Depends(get_keys)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]

TopK = Annotated[int, Query(
    ge=1, le=MAX_TOP_N,
    description="How many products, from 1 to the job's top_n (setting TREND_TOP_N)")]
CategoryFilter = Annotated[str | None, Query(
    pattern=ID_PATTERN, description="A category; omit for the overall ranking")]
ProductId = Annotated[str, Path(pattern=ID_PATTERN, description="A product id")]
RankingKind = Annotated[Ranking, Query(
    description="popular: by score (weighted events in the window); rising: products "
                "whose recent growth is significant, by momentum")]
WindowCount = Annotated[int, Query(
    ge=1, le=MAX_WINDOWS, description="How many of the most recent windows")]


def _query_param_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_param_names(sub)
    return names


def _declared_query_params(route: object) -> frozenset[str]:
    # Computed once per route from its dependency tree, then kept on the route.
    names = getattr(route, "_trend_query_params", None)
    if names is None:
        names = frozenset(_query_param_names(route.dependant))  # type: ignore[attr-defined]
        route._trend_query_params = names  # type: ignore[attr-defined]
    return names


async def reject_unknown_params(request: Request) -> None:
    """422 for a query parameter the route does not declare, or one given twice.

    A misspelt ``?categroy=books`` would otherwise silently answer the overall ranking.
    """
    params = request.query_params
    if not params:
        return
    declared = _declared_query_params(request.scope["route"])
    unknown = sorted(set(params.keys()) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise ApiError(422, "unknown_parameter",
                       f"unknown query parameter(s): {', '.join(unknown)} (allowed: {allowed})")
    if len(params.multi_items()) != len(params):
        raise ApiError(422, "invalid_parameter", "each query parameter may be given once")
