"""The hot routes served from their declaration (api.direct_routes) answer exactly what
FastAPI's own dispatch of the same routes answers, and only routes it can serve that way
are accepted."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.testclient import TestClient
from starlette.responses import Response

from api.direct_routes import DirectRoute, DirectRoutes
from api.main import create_app
from localstack.stack import free_port
from trend_tracker.settings import Settings


def settings() -> Settings:
    return Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                    top_n=100, redis_timeout_s=0.5)


def direct_and_dispatched() -> tuple[TestClient, TestClient]:
    """The app as built, and the same app without DirectRoutes: FastAPI serves every route."""
    direct = create_app(settings())
    dispatched = create_app(settings())
    dispatched.user_middleware = [m for m in dispatched.user_middleware
                                  if m.cls is not DirectRoutes]
    assert len(dispatched.user_middleware) == len(direct.user_middleware) - 1
    return (TestClient(direct, raise_server_exceptions=False),
            TestClient(dispatched, raise_server_exceptions=False))


@pytest.fixture(scope="module")
def clients():
    direct, dispatched = direct_and_dispatched()
    with direct, dispatched:
        yield direct, dispatched


@pytest.mark.parametrize("url", [
    "/health", "/health?verbose=1", "/health?a=1&a=2",
    "/trending?k=0", "/trending?k=101", "/trending?k=abc&category=a%20b", "/trending?k=",
    "/trending?k=1&k=2", "/trending?categroy=books", "/trending?ranking=falling",
    "/trending?category=", "/trending?category=" + "c" * 65, "/trending?ranking=",
    "/trending?k=5&category=books&ranking=rising", "/trending",
])
def test_direct_answers_equal_fastapis(clients, url):
    direct, dispatched = clients
    for method in ("GET", "HEAD"):
        ours, theirs = direct.request(method, url), dispatched.request(method, url)
        assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), url
        assert dict(ours.headers) == dict(theirs.headers), url


def test_direct_answers_are_counted_like_the_others():
    direct, dispatched = direct_and_dispatched()
    counts = []
    with direct, dispatched:
        for client in (direct, dispatched):
            for url in ("/trending?k=3", "/trending?k=3", "/trending?k=0", "/health"):
                client.get(url)
            counts.append(sorted(line for line in client.get("/metrics").text.splitlines()
                                 if line.startswith("trend_api_requests_total{")))
    assert counts[0] == counts[1] == [
        'trend_api_requests_total{method="GET",route="/health",status="200"} 1.0',
        'trend_api_requests_total{method="GET",route="/trending",status="422"} 1.0',
        'trend_api_requests_total{method="GET",route="/trending",status="503"} 2.0',
    ]


def test_the_routes_served_directly_are_the_hot_ones(clients):
    direct, _ = clients
    middleware = next(m for m in direct.app.user_middleware if m.cls is DirectRoutes)
    assert [route.path for route in middleware.kwargs["routes"]] == ["/trending", "/health"]


def test_a_route_with_a_path_parameter_is_refused():
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: Annotated[str, Path()]) -> Response:
        return Response(item_id)

    with pytest.raises(ValueError, match="parameters outside the query"):
        DirectRoute(router.routes[0])


def test_a_route_returning_a_model_is_refused():
    router = APIRouter()

    @router.get("/items")
    async def items(limit: Annotated[int, Query()] = 1) -> dict[str, int]:
        return {"limit": limit}

    with pytest.raises(ValueError, match="not annotated to return a Response"):
        DirectRoute(router.routes[0])


def test_a_required_query_parameter_is_refused():
    router = APIRouter()

    @router.get("/items")
    async def items(limit: Annotated[int, Query()]) -> Response:
        return Response(str(limit))

    with pytest.raises(ValueError, match="'limit' is required"):
        DirectRoute(router.routes[0])


def test_a_dependency_that_reads_a_header_is_refused():
    async def tenant(x_tenant: Annotated[str, Header()]) -> str:
        return x_tenant

    router = APIRouter(dependencies=[Depends(tenant)])

    @router.get("/items")
    async def items() -> Response:
        return Response(b"")

    with pytest.raises(ValueError, match="dependency tenant takes more than the Request"):
        DirectRoute(router.routes[0])


def test_an_endpoint_that_sets_headers_on_fastapis_response_is_refused():
    router = APIRouter()

    @router.get("/items")
    async def items(response: Response) -> Response:
        return response

    with pytest.raises(ValueError, match="parameters outside the query"):
        DirectRoute(router.routes[0])
