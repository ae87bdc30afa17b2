"""The read-only JSON API over the rankings the job keeps in Redis.

Each request that reads rankings makes at most one Redis round trip (an unknown category
costs a second one to tell it apart from "no data yet"); ``/trending`` reuses the newest
ranking for ``api_cache_ttl_s`` (see :mod:`api.ranking_cache`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError, ResponseError
from starlette.responses import Response

from api.deps import (
    CategoryFilter,
    KeysDep,
    MetricsDep,
    ProductId,
    RankingKind,
    RedisDep,
    SettingsDep,
    TopK,
    WindowCount,
    reject_unknown_params,
)
from api.errors import ApiError, unreadable_data
from api.models import (
    CategoriesResponse,
    ErrorResponse,
    HealthResponse,
    ProductTrendResponse,
    ReadyResponse,
    TrendingResponse,
)
from api.rankings import StoredDataError, categories_body, product_trend_body, window_end_of

JSON = "application/json"
#: ``k`` when a ``/trending`` request does not say.
TRENDING_DEFAULT_K = 10
RETRY_SOON = {"Retry-After": "5"}
#: The ``/health`` body, rendered once from its model.
HEALTHY = HealthResponse().model_dump_json().encode()


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


INVALID = {422: _error("Invalid or unknown query parameter or path value")}
UNAVAILABLE = {503: _error("Redis is unreachable or timed out (redis_unavailable), "
                           "nothing has been ranked yet (no_data), rising has no window to "
                           "compare with yet (building_history), or Redis holds a value "
                           "the job would never write (corrupt_data)")}

router = APIRouter(dependencies=[Depends(reject_unknown_params)],
                   responses={**INVALID, **UNAVAILABLE})

#: The routes :mod:`api.direct_routes` serves without FastAPI's per-request parameter
#: solving: the hot one, and the one probes call.
DIRECT_PATHS = ("/trending", "/health")


def now_ms() -> int:
    """Wall-clock time, epoch ms."""
    return time.time_ns() // 1_000_000


def invalid_k_message(top_n: int) -> str:
    """The one message for every invalid ``k``, out of range or not an integer: it names
    the range this deployment accepts and never the value sent."""
    return f"k: must be an integer from 1 to {top_n} (the job's top_n)"


def _no_data() -> ApiError:
    return ApiError(503, "no_data", "no window has been ranked yet; retry later",
                    headers=RETRY_SOON)


@router.get("/trending", response_model=TrendingResponse,
            responses={404: _error("Unknown category (unknown_category)")})
async def trending(request: Request,
                   k: TopK = TRENDING_DEFAULT_K, category: CategoryFilter = None,
                   ranking: RankingKind = "popular") -> Response:
    """The newest complete window's top-k products, overall or for one category, by score
    (popular) or by momentum (rising)."""
    # The hot route, served by api.direct_routes: it reads the app's state from the request
    # instead of through dependencies, which take only the Request there.
    state = request.app.state
    settings, rankings = state.settings, state.rankings
    if k > settings.top_n:
        raise ApiError(422, "invalid_parameter", invalid_k_message(settings.top_n))
    latest = await rankings.get(category, ranking)
    if latest is None:
        if category is not None and await state.redis.exists(
                state.keys.latest_key(None, ranking)):
            raise ApiError(404, "unknown_category", f"no ranking for category {category!r}")
        raise _no_data()
    if latest.building_history:
        size_s = (latest.window_end - latest.window_start) // 1000
        raise ApiError(503, "building_history",
                       f"building history: rising compares each product's newest slides "
                       f"with the {size_s} s before them, and that stretch has no ranking yet",
                       headers=RETRY_SOON)
    # The head and the top k are rendered once per stored ranking (api.ranking_cache):
    # send bytes, skipping the response model's validation (tests check the shape).
    return Response(latest.body(k, now_ms(), settings.api_stale_after_s), media_type=JSON)


@router.get("/products/{product_id}/trend", response_model=ProductTrendResponse,
            responses={404: _error("No recent window of that ranking holds this product "
                                   "(unknown_product)")})
async def product_trend(redis: RedisDep, keys: KeysDep, product_id: ProductId,
                        windows: WindowCount = 30, category: CategoryFilter = None,
                        ranking: RankingKind = "popular") -> dict[str, Any]:
    """A product's rank and score across its most recent windows in a ranking (popular or
    rising), overall or one category's."""
    entries = await redis.zrange(keys.product_key(product_id, category, ranking),
                                 -windows, -1)
    if not entries:
        where = "overall ranking" if category is None else f"ranking of {category!r}"
        if ranking != "popular":
            where = f"{ranking} {where}"
        raise ApiError(404, "unknown_product", f"product {product_id!r} is in no recent {where}")
    return product_trend_body(product_id, entries)


@router.get("/categories", response_model=CategoriesResponse)
async def categories(redis: RedisDep, keys: KeysDep) -> dict[str, Any]:
    """The categories that have rankings, with their newest window_end."""
    members = await redis.zrange(keys.categories_key, 0, -1, withscores=True)
    return categories_body(members)


@router.get("/health", response_model=HealthResponse)
async def health() -> Response:
    """The process is alive (does not touch Redis)."""
    return Response(HEALTHY, media_type=JSON)


@router.get("/ready", response_model=ReadyResponse)
async def ready(redis: RedisDep, keys: KeysDep, settings: SettingsDep,
                metrics: MetricsDep) -> dict[str, Any]:
    """Ready while Redis answers: the API can then answer every request. The newest overall
    window's age is reported (and exported as a metric, which the staleness alert watches);
    a stalled job or a quiet night never takes the API out of its Service."""
    unserved = {"status": "ready", "window_end": None, "age_s": None, "stale": True}
    try:
        stored = await redis.get(keys.latest_key(None))
        if stored is None:
            return {**unserved, "data": "no_data"}
        window_end = window_end_of(stored)
    except (StoredDataError, ResponseError) as exc:
        if unreadable_data(exc) is None:
            raise  # an outage: 503 redis_unavailable
        return {**unserved, "data": "corrupt_data"}
    now = now_ms()
    metrics.observe_latest(window_end, now)
    age_s = round((now - window_end) / 1000, 3)
    return {"status": "ready", "data": "ok", "window_end": window_end, "age_s": age_s,
            "stale": age_s > settings.api_stale_after_s}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text exposition"}})
async def metrics_endpoint(redis: RedisDep, keys: KeysDep, metrics: MetricsDep) -> Response:
    """Prometheus metrics (names prefixed trend_api_)."""
    # Refresh the data age at scrape time; a Redis outage still gets metrics served.
    try:
        stored = await redis.get(keys.latest_key(None))
    except (RedisError, OSError) as exc:
        metrics.redis_errors.labels(kind=type(exc).__name__).inc()
    else:
        try:
            if stored is not None:
                metrics.observe_latest(window_end_of(stored), now_ms())
        except StoredDataError:
            pass  # /trending and /ready report it; metrics are still served
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
