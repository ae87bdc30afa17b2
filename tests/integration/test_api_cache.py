"""The in-process ranking cache and ``/trending`` through it, against a real redis-server.

Rankings are written with the job's own ``RedisRankingWriter``. The cache's expiry is
tested exactly with a clock the test moves; the app's default setting is tested with
the real clock, waiting for the TTL to pass.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from fastapi.testclient import TestClient
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from api.main import create_app
from api.ranking_cache import LatestRankings
from api.testing import RedisServer
from trend_tracker.settings import Settings
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

SLIDE_MS = 30_000
SIZE_MS = 600_000
DEFAULT_TTL_S = Settings.model_fields["api_cache_ttl_s"].default

BOOKS = (RankedItem(1, "p-007", 20.0, 20, 0, 0), RankedItem(2, "p-001", 3.0, 3, 0, 0))
OVERALL = (RankedItem(1, "p-042", 31.5, 12, 3, 1), RankedItem(2, "p-007", 20.0, 20, 0, 0),
           RankedItem(3, "p-100", 9.25, 4, 1, 0))
NEWER = (RankedItem(1, "p-100", 50.0, 50, 0, 0),)


def ranking(window_end: int, category: str | None, items, version: str = "v7") -> Ranking:
    return Ranking(window_end - SIZE_MS, window_end, category, version, tuple(items))


def items_json(items) -> list[dict]:
    return [{"rank": i.rank, "product_id": i.product_id, "score": i.score, "clicks": i.clicks,
             "carts": i.carts, "purchases": i.purchases, "previous_rank": i.previous_rank,
             "momentum": i.momentum} for i in items]


@pytest.fixture
def end() -> int:
    return time.time_ns() // 1_000_000 // SLIDE_MS * SLIDE_MS


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def writer(redis_server) -> RedisRankingWriter:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    return RedisRankingWriter(client, ttl_s=3600)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def window_ends(cache: LatestRankings, *categories: str | None) -> list[int | None]:
    """The window_end of each scope's answer from the cache (None: no ranking)."""
    found = [await cache.get(category) for category in categories]
    return [None if r is None else r.window_end for r in found]


def test_the_cache_reads_redis_once_per_ttl_per_scope(redis_server, writer, end):
    async def scenario() -> None:
        clock = Clock()
        async with AsyncRedis.from_url(redis_server.url) as client:
            cache = LatestRankings(client, ttl_s=2.0, clock=clock)
            writer.write([ranking(end - SLIDE_MS, None, OVERALL),
                          ranking(end - SLIDE_MS, "books", BOOKS)])
            assert await window_ends(cache, None, "books") == [end - SLIDE_MS] * 2

            writer.write([ranking(end, None, NEWER), ranking(end, "books", BOOKS)])
            clock.now += 1.999  # within the TTL: the kept copies answer
            assert await window_ends(cache, None, "books") == [end - SLIDE_MS] * 2
            clock.now += 0.001  # the TTL has passed: Redis is read again
            assert await window_ends(cache, None, "books") == [end, end]

    asyncio.run(scenario())


def test_no_ranking_is_never_kept(redis_server, writer, end):
    async def scenario() -> None:
        async with AsyncRedis.from_url(redis_server.url) as client:
            cache = LatestRankings(client, ttl_s=60.0, clock=Clock())
            assert await window_ends(cache, None, "toys") == [None, None]
            writer.write([ranking(end, None, OVERALL), ranking(end, "toys", BOOKS)])
            assert await window_ends(cache, None, "toys") == [end, end]  # at once

    asyncio.run(scenario())


def test_a_zero_ttl_reads_redis_on_every_call(redis_server, writer, end):
    async def scenario() -> None:
        async with AsyncRedis.from_url(redis_server.url) as client:
            cache = LatestRankings(client, ttl_s=0, clock=Clock())
            writer.write([ranking(end - SLIDE_MS, None, OVERALL)])
            assert await window_ends(cache, None) == [end - SLIDE_MS]
            writer.write([ranking(end, None, NEWER)])
            assert await window_ends(cache, None) == [end]

    asyncio.run(scenario())


def test_a_redis_outage_shows_once_the_kept_copy_expires(end):
    async def scenario(server: RedisServer) -> None:
        clock = Clock()
        async with AsyncRedis.from_url(server.url, socket_timeout=0.3,
                                       socket_connect_timeout=0.3) as client:
            cache = LatestRankings(client, ttl_s=1.0, clock=clock)
            assert await window_ends(cache, None) == [end]
            server.stop()
            clock.now += 0.5
            assert await window_ends(cache, None) == [end]
            clock.now += 0.5
            with pytest.raises(RedisConnectionError):
                await window_ends(cache, None)

    with RedisServer() as server:
        RedisRankingWriter(redis.Redis.from_url(server.url), ttl_s=3600).write(
            [ranking(end, None, OVERALL)])
        asyncio.run(scenario(server))


# --- the app with its default settings ----------------------------------------------------

def default_settings(redis_url: str) -> Settings:
    """Only what points the app at the test's Redis; everything else is the default."""
    return Settings(_env_file=None, redis_url=redis_url)


def poll(client: TestClient, path: str, done, timeout_s: float):
    """GET ``path`` until ``done(response)``; every response seen is returned."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen.append(client.get(path))
        if done(seen[-1]):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{path}: no expected answer in {timeout_s} s: {seen[-1].text}")


def test_the_default_ttl_is_one_second():
    assert DEFAULT_TTL_S == 1.0
    assert default_settings("redis://127.0.0.1:6379/0").api_cache_ttl_s == 1.0


def test_by_default_a_new_window_shows_within_the_ttl(redis_server, writer, end):
    writer.write([ranking(end - SLIDE_MS, None, OVERALL)])
    with TestClient(create_app(default_settings(redis_server.url))) as client:
        first = client.get("/trending?k=2").json()
        assert (first["window_end"], first["items"]) == (end - SLIDE_MS, items_json(OVERALL[:2]))

        writer.write([ranking(end, None, NEWER, "v8")])
        seen = poll(client, "/trending?k=2", lambda r: r.json()["window_end"] == end,
                    DEFAULT_TTL_S + 5)
        # Until the kept copy expired, the previous window was served, whole and correct.
        for response in seen[:-1]:
            assert response.json()["window_end"] == end - SLIDE_MS
        newest = seen[-1].json()
        assert (newest["weights_version"], newest["items"]) == ("v8", items_json(NEWER))
        # as_of is computed per request, never kept: it follows the clock.
        ages = [client.get("/trending?k=1").json()["as_of"] for _ in range(2)]
        assert ages[0]["generated_at"] <= ages[1]["generated_at"]
        for as_of in ages:
            assert as_of["age_s"] == round((as_of["generated_at"] - end) / 1000, 3)


def test_by_default_a_redis_outage_is_a_503_within_the_ttl_and_recovers(end):
    with RedisServer() as server:
        writer = RedisRankingWriter(redis.Redis.from_url(server.url), ttl_s=3600)
        writer.write([ranking(end, None, OVERALL)])
        with TestClient(create_app(default_settings(server.url))) as client:
            assert client.get("/trending?k=1").json()["items"] == items_json(OVERALL[:1])
            server.stop()
            seen = poll(client, "/trending?k=1", lambda r: r.status_code == 503,
                        DEFAULT_TTL_S + 5)
            for response in seen[:-1]:  # the kept copy, until it expired
                assert response.status_code == 200
                assert response.json()["items"] == items_json(OVERALL[:1])
            assert seen[-1].json() == {"error": {
                "code": "redis_unavailable", "message": "the ranking store is unavailable; retry"}}
            assert seen[-1].headers["retry-after"] == "1"
            # Routes without the cache see the outage at once.
            assert client.get("/ready").json()["error"]["code"] == "redis_unavailable"

            server.start()  # same port, empty: the job refills it
            assert client.get("/trending").json()["error"]["code"] == "no_data"
            writer.write([ranking(end, None, NEWER)])
            assert client.get("/trending?k=1").json()["items"] == items_json(NEWER)


# --- /trending answers from the cache ------------------------------------------------------

@pytest.fixture
def client(redis_server):
    with TestClient(create_app(default_settings(redis_server.url))) as test_client:
        yield test_client


def without_time(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "as_of"}


def test_every_spelling_of_k_gives_the_same_answer(client, writer, end):
    writer.write([ranking(end, None, OVERALL), ranking(end, "books", BOOKS)])
    overall = {"window_start": end - SIZE_MS, "window_end": end, "ranking": "popular",
                    "category": None,
               "weights_version": "v7", "items": items_json(OVERALL[:2])}
    books = dict(overall, category="books", items=items_json(BOOKS[:1]))
    # "k=02" is the same k as "k=2": the same rendered items answer both.
    for path, expected in [("/trending?k=2", overall), ("/trending?k=02", overall),
                           ("/trending?k=1&category=books", books),
                           ("/trending?category=books&k=01", books)]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
        assert without_time(response.json()) == expected, path


def test_trending_errors_and_head_requests(client, writer, end):
    # No data yet, then an unknown category: the route explains, with its codes.
    assert client.get("/trending").json()["error"]["code"] == "no_data"
    writer.write([ranking(end, None, OVERALL)])
    assert client.get("/trending?category=garden").json() == {"error": {
        "code": "unknown_category", "message": "no ranking for category 'garden'"}}
    head = client.head("/trending?k=1")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 0


def test_trending_requests_are_counted_under_their_route(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    for _ in range(3):
        assert client.get("/trending?k=3").status_code == 200
    samples = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines()
                   if line and not line.startswith("#"))
    assert float(samples['trend_api_requests_total{method="GET",route="/trending",'
                         'status="200"}']) == 3
    assert float(samples['trend_api_request_duration_seconds_count{route="/trending"}']) == 3
