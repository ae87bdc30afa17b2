"""The API against a real redis-server holding rankings written by the job's Redis sink.

Rankings are built here by hand and written with ``RedisRankingWriter``, so the stored
format is the job's own; expected answers are the literal values written.
"""

from __future__ import annotations

import time

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from api.models import TrendingResponse
from localstack.servers import RedisServer
from trend_tracker.settings import Settings
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

SLIDE_MS = 30_000
SIZE_MS = 600_000
TTL_S = 3600
STALE_AFTER_S = 120


def now_ms() -> int:
    return time.time_ns() // 1_000_000




def item(rank, product_id, score, clicks, carts, purchases) -> RankedItem:
    return RankedItem(rank=rank, product_id=product_id, score=score, clicks=clicks,
                      carts=carts, purchases=purchases)


def ranking(window_end, category, items, weights_version="v7") -> Ranking:
    return Ranking(window_start=window_end - SIZE_MS, window_end=window_end,
                   category=category, weights_version=weights_version, items=tuple(items))


OVERALL = [item(1, "p-042", 31.5, 12, 3, 1), item(2, "p-007", 20.0, 20, 0, 0),
           item(3, "p-100", 9.25, 4, 1, 0), item(4, "p-001", 3.0, 3, 0, 0)]
BOOKS = [item(1, "p-007", 20.0, 20, 0, 0), item(2, "p-001", 3.0, 3, 0, 0)]
TOYS = [item(1, "p-042", 31.5, 12, 3, 1)]


def as_json(items) -> list[dict]:
    return [{"rank": i.rank, "product_id": i.product_id, "score": i.score, "clicks": i.clicks,
             "carts": i.carts, "purchases": i.purchases, "previous_rank": i.previous_rank,
             "momentum": i.momentum} for i in items]


@pytest.fixture
def end() -> int:
    """The newest window's end: the last 30 s boundary, so it is fresh when the test runs."""
    return now_ms() // SLIDE_MS * SLIDE_MS


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def store(redis_server):
    """A sync client on the private Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def writer(store) -> RedisRankingWriter:
    return RedisRankingWriter(store, ttl_s=TTL_S)


def api_settings(redis_url: str, **overrides) -> Settings:
    """The API's settings for these tests: ``/trending`` reads Redis on every request.

    These tests check the answer to what Redis holds at each moment, so the in-process
    ranking cache is off here; its default behaviour is tested in test_api_cache.py.
    """
    values = {"redis_url": redis_url, "top_n": 100, "api_stale_after_s": STALE_AFTER_S,
              "redis_timeout_s": 0.3, "api_cache_ttl_s": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def client(redis_server):
    with TestClient(create_app(api_settings(redis_server.url))) as test_client:
        yield test_client


def get_ok(client, path) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def error_of(response, status) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- /trending --------------------------------------------------------------------------

def test_trending_overall_top_k_is_exactly_what_the_job_wrote(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    before = now_ms()
    body = get_ok(client, "/trending?k=3")
    after = now_ms()
    as_of = body.pop("as_of")
    assert body == {"window_start": end - SIZE_MS, "window_end": end, "ranking": "popular",
                    "category": None,
                    "weights_version": "v7", "items": as_json(OVERALL[:3])}
    assert before <= as_of["generated_at"] <= after
    assert as_of["age_s"] == round((as_of["generated_at"] - end) / 1000, 3)
    assert as_of["stale"] is False


def test_trending_validates_against_the_documented_model(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    response = client.get("/trending")
    model = TrendingResponse.model_validate_json(response.content)
    assert model.model_dump(mode="json") == response.json()


def test_trending_default_k_is_10(client, writer, end):
    items = [item(r, f"p-{r:03d}", 100.0 - r, 100 - r, 0, 0) for r in range(1, 13)]
    writer.write([ranking(end, None, items)])
    body = get_ok(client, "/trending")
    assert body["items"] == as_json(items[:10])


def test_k_above_the_ranking_length_returns_the_whole_ranking(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    assert get_ok(client, "/trending?k=100")["items"] == as_json(OVERALL)


def test_trending_for_one_category(client, writer, end):
    writer.write([ranking(end, None, OVERALL), ranking(end, "books", BOOKS),
                  ranking(end, "toys", TOYS)])
    body = get_ok(client, "/trending?category=books&k=5")
    body.pop("as_of")
    assert body == {"window_start": end - SIZE_MS, "window_end": end, "ranking": "popular",
                    "category": "books",
                    "weights_version": "v7", "items": as_json(BOOKS)}
    assert get_ok(client, "/trending?category=toys")["items"] == as_json(TOYS)


def test_trending_serves_the_newest_window_even_after_a_late_replay(client, writer, end):
    older = [item(1, "p-old", 1.0, 1, 0, 0)]
    writer.write([ranking(end - SLIDE_MS, None, older, "v6"), ranking(end, None, OVERALL)])
    writer.write([ranking(end - 2 * SLIDE_MS, None, older, "v6")])  # a replayed old window
    body = get_ok(client, "/trending?k=1")
    assert (body["window_end"], body["weights_version"], body["items"]) == (
        end, "v7", as_json(OVERALL[:1]))


def test_a_newer_window_replaces_the_answer(client, writer, end):
    writer.write([ranking(end - SLIDE_MS, None, OVERALL)])
    assert get_ok(client, "/trending?k=1")["window_end"] == end - SLIDE_MS
    newer = [item(1, "p-100", 50.0, 50, 0, 0)]
    writer.write([ranking(end, None, newer, "v8")])
    body = get_ok(client, "/trending?k=1")
    assert (body["window_end"], body["weights_version"], body["items"]) == (
        end, "v8", as_json(newer))


RISING = [RankedItem(1, "p-100", 9.25, 4, 1, 0, None, 6.5),
          RankedItem(2, "p-042", 31.5, 12, 3, 1, 1, 1.75)]


def test_trending_rising_is_the_rising_ranking_with_previous_ranks_and_momentum(
        client, writer, end):
    # The window before, the one rising compares with, has a ranking.
    writer.write([ranking(end - SIZE_MS, None, OVERALL[1:])])
    writer.write([ranking(end, None, OVERALL), ranking(end, "toys", TOYS),
                  Ranking(end - SIZE_MS, end, None, "v7", tuple(RISING), "rising"),
                  Ranking(end - SIZE_MS, end, "toys", "v7", tuple(RISING[1:]), "rising")])
    body = get_ok(client, "/trending?ranking=rising&k=5")
    body.pop("as_of")
    assert body == {"window_start": end - SIZE_MS, "window_end": end, "ranking": "rising",
                    "category": None, "weights_version": "v7",
                    "items": [{"rank": 1, "product_id": "p-100", "score": 9.25, "clicks": 4,
                               "carts": 1, "purchases": 0, "previous_rank": None,
                               "momentum": 6.5},
                              {"rank": 2, "product_id": "p-042", "score": 31.5, "clicks": 12,
                               "carts": 3, "purchases": 1, "previous_rank": 1,
                               "momentum": 1.75}]}
    TrendingResponse.model_validate(dict(body, as_of={"generated_at": 0, "age_s": 0,
                                                      "stale": False}))
    toys = get_ok(client, "/trending?ranking=rising&category=toys")
    assert (toys["ranking"], toys["category"], [i["product_id"] for i in toys["items"]]) == (
        "rising", "toys", ["p-042"])
    popular = get_ok(client, "/trending?ranking=popular&k=1")
    assert (popular["ranking"], popular["items"]) == ("popular", as_json(OVERALL[:1]))
    assert error_of(client.get("/trending?ranking=rising&category=garden"), 404)[
        "code"] == "unknown_category"
    assert error_of(client.get("/trending?ranking=falling"), 422) == {
        "code": "invalid_parameter",
        "message": "ranking: Input should be 'popular' or 'rising'"}


def test_rising_is_building_history_until_the_window_before_has_a_ranking(client, writer,
                                                                         end):
    """The job's first window size: the rising ranking's momenta compare with a window
    nobody counted, so the API says so instead of serving them (popular is served)."""
    # (Weights of their own: the API keeps a ranking it has checked while Redis holds the
    # same bytes, and other tests store these rankings with v7.)
    writer.write([ranking(end - SLIDE_MS, None, OVERALL, "v9"), ranking(end, None, OVERALL, "v9"),
                  Ranking(end - SIZE_MS, end, None, "v9", tuple(RISING), "rising"),
                  Ranking(end - SIZE_MS, end, "toys", "v9", tuple(RISING[1:]), "rising")])
    building = {"code": "building_history",
                "message": "building history: rising compares each product's newest slides "
                           "with the 600 s before them, and that stretch has no ranking yet"}
    for path in ["/trending?ranking=rising", "/trending?ranking=rising&category=toys"]:
        response = client.get(path)
        assert error_of(response, 503) == building
        assert response.headers["retry-after"] == "5"
    assert get_ok(client, "/trending?k=1")["items"] == as_json(OVERALL[:1])
    # The window ending where the rising one starts is written (late, by a replay): the
    # same stored rising ranking is now served.
    writer.write([ranking(end - SIZE_MS, None, OVERALL[1:])])
    assert [i["product_id"] for i in get_ok(client, "/trending?ranking=rising")["items"]] == [
        "p-100", "p-042"]
    assert [i["product_id"] for i in get_ok(
        client, "/trending?ranking=rising&category=toys")["items"]] == ["p-042"]


def test_no_rising_ranking_yet_is_a_503_even_with_popular_ones(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    assert error_of(client.get("/trending?ranking=rising"), 503)["code"] == "no_data"


def test_unknown_category_is_404(client, writer, end):
    writer.write([ranking(end, None, OVERALL), ranking(end, "books", BOOKS)])
    assert error_of(client.get("/trending?category=garden"), 404) == {
        "code": "unknown_category", "message": "no ranking for category 'garden'"}


@pytest.mark.parametrize("path", ["/trending", "/trending?category=books"])
def test_no_data_yet_is_a_clear_503(client, store, path):
    response = client.get(path)
    assert error_of(response, 503) == {
        "code": "no_data", "message": "no window has been ranked yet; retry later"}
    assert response.headers["retry-after"] == "5"


def test_an_old_window_is_marked_stale(client, writer, end):
    old_end = end - 10 * 60_000
    writer.write([ranking(old_end, None, OVERALL)])
    as_of = get_ok(client, "/trending?k=1")["as_of"]
    assert as_of["stale"] is True
    assert as_of["age_s"] == round((as_of["generated_at"] - old_end) / 1000, 3)


# --- /products/{id}/trend ----------------------------------------------------------------

def test_product_trend_lists_its_windows_oldest_first(client, writer, end):
    ends = [end - 3 * SLIDE_MS, end - 2 * SLIDE_MS, end - SLIDE_MS, end]
    places = [(3, 4.0, 4, 0, 0), (1, 12.0, 5, 1, 1), None, (2, 8.5, 3, 1, 0)]
    rankings = []
    for window_end, place in zip(ends, places, strict=True):
        others = [item(1, "p-900", 99.0, 99, 0, 0)]
        if place:
            rank, score, clicks, carts, purchases = place
            others = [item(rank, "p-042", score, clicks, carts, purchases)]
        rankings.append(ranking(window_end, None, others))
    writer.write(rankings)
    expected = [
        {"window_start": window_end - SIZE_MS, "window_end": window_end, "rank": rank,
         "score": score, "clicks": clicks, "carts": carts, "purchases": purchases,
         "weights_version": "v7"}
        for window_end, place in zip(ends, places, strict=True) if place
        for rank, score, clicks, carts, purchases in [place]
    ]
    assert get_ok(client, "/products/p-042/trend") == {"product_id": "p-042",
                                                       "windows": expected}
    assert get_ok(client, "/products/p-042/trend?windows=2") == {"product_id": "p-042",
                                                                 "windows": expected[-2:]}


def test_a_rewritten_window_is_not_counted_twice(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    writer.write([ranking(end, None, OVERALL)])  # the job restarted and wrote it again
    windows = get_ok(client, "/products/p-007/trend")["windows"]
    assert [(w["window_end"], w["rank"]) for w in windows] == [(end, 2)]


def test_unknown_product_is_404(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    assert error_of(client.get("/products/p-999/trend"), 404) == {
        "code": "unknown_product", "message": "product 'p-999' is in no recent overall ranking"}


def test_product_trend_in_one_category(client, writer, end):
    ends = [end - 2 * SLIDE_MS, end - SLIDE_MS, end]
    books = [[item(1, "p-007", 20.0, 20, 0, 0), item(2, "p-001", 3.0, 3, 0, 0)],
             [item(1, "p-001", 6.5, 5, 1, 0)],
             [item(1, "p-001", 4.0, 4, 0, 0), item(2, "p-007", 2.0, 2, 0, 0)]]
    writer.write([ranking(window_end, None, OVERALL) for window_end in ends[1:]]
                 + [ranking(window_end, "books", items)
                    for window_end, items in zip(ends, books, strict=True)]
                 + [ranking(end, "toys", TOYS)])

    def window(window_end, rank, score, clicks, carts, purchases) -> dict:
        return {"window_start": window_end - SIZE_MS, "window_end": window_end, "rank": rank,
                "score": score, "clicks": clicks, "carts": carts, "purchases": purchases,
                "weights_version": "v7"}

    assert get_ok(client, "/products/p-007/trend?category=books") == {
        "product_id": "p-007",
        "windows": [window(ends[0], 1, 20.0, 20, 0, 0), window(ends[2], 2, 2.0, 2, 0, 0)]}
    assert get_ok(client, "/products/p-001/trend?category=books&windows=2") == {
        "product_id": "p-001",
        "windows": [window(ends[1], 1, 6.5, 5, 1, 0), window(ends[2], 1, 4.0, 4, 0, 0)]}
    # The overall history is unchanged by the category rankings.
    assert get_ok(client, "/products/p-007/trend") == {
        "product_id": "p-007",
        "windows": [window(ends[1], 2, 20.0, 20, 0, 0), window(ends[2], 2, 20.0, 20, 0, 0)]}
    assert get_ok(client, "/products/p-042/trend?category=toys") == {
        "product_id": "p-042", "windows": [window(end, 1, 31.5, 12, 3, 1)]}


def test_unknown_product_in_a_category_is_404(client, writer, end):
    writer.write([ranking(end, None, OVERALL), ranking(end, "books", BOOKS)])
    assert error_of(client.get("/products/p-042/trend?category=books"), 404) == {
        "code": "unknown_product",
        "message": "product 'p-042' is in no recent ranking of 'books'"}
    assert error_of(client.get("/products/p-007/trend?category=garden"), 404) == {
        "code": "unknown_product",
        "message": "product 'p-007' is in no recent ranking of 'garden'"}


def test_a_product_that_rises_without_being_popular_has_a_rising_trend(client, writer, end):
    """Rising rows get sparklines of their own: the rising ranking keeps its histories."""
    rising = [RankedItem(rank=1, product_id="p-555", score=4.0, clicks=4, carts=0,
                         purchases=0, previous_rank=None, momentum=5.0),
              RankedItem(rank=2, product_id="p-042", score=31.5, clicks=12, carts=3,
                         purchases=1, previous_rank=1, momentum=1.5)]
    writer.write([ranking(end - SLIDE_MS, None, OVERALL), ranking(end, None, OVERALL),
                  Ranking(window_start=end - SIZE_MS, window_end=end, category=None,
                          weights_version="v7", items=tuple(rising), ranking="rising")])
    assert get_ok(client, "/products/p-555/trend?ranking=rising") == {
        "product_id": "p-555",
        "windows": [{"window_start": end - SIZE_MS, "window_end": end, "rank": 1,
                     "score": 4.0, "clicks": 4, "carts": 0, "purchases": 0,
                     "weights_version": "v7"}]}
    # p-042 is first by score and second by momentum: each history has its own rank.
    assert [(w["window_end"], w["rank"]) for w in get_ok(
        client, "/products/p-042/trend?ranking=rising")["windows"]] == [(end, 2)]
    assert [(w["window_end"], w["rank"]) for w in get_ok(
        client, "/products/p-042/trend")["windows"]] == [(end - SLIDE_MS, 1), (end, 1)]
    assert error_of(client.get("/products/p-555/trend"), 404) == {
        "code": "unknown_product", "message": "product 'p-555' is in no recent overall ranking"}
    assert error_of(client.get("/products/p-007/trend?ranking=rising"), 404) == {
        "code": "unknown_product",
        "message": "product 'p-007' is in no recent rising overall ranking"}
    assert error_of(client.get("/products/p-555/trend?ranking=falling"), 422)["code"] == (
        "invalid_parameter")


# --- /categories --------------------------------------------------------------------------

def test_categories_lists_ranked_categories_by_name(client, writer, end):
    writer.write([ranking(end - SLIDE_MS, None, OVERALL), ranking(end - SLIDE_MS, "toys", TOYS),
                  ranking(end - SLIDE_MS, "books", BOOKS), ranking(end, "books", BOOKS)])
    assert get_ok(client, "/categories") == {"categories": [
        {"category": "books", "window_end": end},
        {"category": "toys", "window_end": end - SLIDE_MS},
    ]}


def test_categories_is_empty_before_any_data(client, store):
    assert get_ok(client, "/categories") == {"categories": []}


# --- /ready, /metrics ---------------------------------------------------------------------

def test_ready_when_the_newest_window_is_fresh(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    body = get_ok(client, "/ready")
    assert (body["status"], body["data"], body["window_end"], body["stale"]) == (
        "ready", "ok", end, False)
    assert 0 <= body["age_s"] <= SLIDE_MS / 1000 + 5


def test_ready_without_data_or_with_stale_data_and_says_so(client, writer, end):
    """The API can answer either way (a JSON 503 no_data, or a ranking marked stale): a
    quiet night or a stalled job must not take every API pod out of the Service."""
    assert get_ok(client, "/ready") == {"status": "ready", "data": "no_data",
                                        "window_end": None, "age_s": None, "stale": True}
    stale_end = end - (STALE_AFTER_S + 60) * 1000
    writer.write([ranking(stale_end, None, OVERALL)])
    body = get_ok(client, "/ready")
    assert (body["status"], body["data"], body["window_end"], body["stale"]) == (
        "ready", "ok", stale_end, True)
    assert body["age_s"] > STALE_AFTER_S + 60
    samples = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines()
                   if line and not line.startswith("#"))
    assert float(samples["trend_api_latest_window_end_seconds"]) == stale_end / 1000


def test_metrics_report_the_data_age_and_requests_by_route(client, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    client.get("/products/p-042/trend")
    client.get("/products/p-nope/trend")
    text = client.get("/metrics").text
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                   if line and not line.startswith("#"))
    assert float(samples["trend_api_latest_window_end_seconds"]) == end / 1000
    assert 0 <= float(samples["trend_api_data_age_seconds"]) <= SLIDE_MS / 1000 + 5
    route = "/products/{product_id}/trend"
    assert float(samples[f'trend_api_requests_total{{method="GET",route="{route}",'
                         f'status="404"}}']) >= 1
    assert float(samples[f'trend_api_request_duration_seconds_count{{route="{route}"}}']) >= 2


# --- Redis outages ------------------------------------------------------------------------

def test_redis_stopped_mid_test_gives_503_then_recovers_on_restart(end):
    with RedisServer() as server:
        writer = RedisRankingWriter(redis.Redis.from_url(server.url), ttl_s=TTL_S)
        writer.write([ranking(end, None, OVERALL)])
        with TestClient(create_app(api_settings(server.url))) as client:
            assert get_ok(client, "/trending?k=1")["items"] == as_json(OVERALL[:1])

            server.stop()
            for path in ("/trending", "/categories", "/products/p-042/trend", "/ready"):
                assert error_of(client.get(path), 503)["code"] == "redis_unavailable", path
            assert get_ok(client, "/health") == {"status": "ok"}
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert "trend_api_redis_errors_total{kind=" in metrics.text

            server.start()  # same port, empty: the job refills it
            assert error_of(client.get("/trending"), 503)["code"] == "no_data"
            writer.write([ranking(end, None, OVERALL)])
            assert get_ok(client, "/trending?k=2")["items"] == as_json(OVERALL[:2])
            assert get_ok(client, "/ready")["status"] == "ready"


def test_a_redis_that_stops_answering_times_out_into_503(redis_server, writer, end):
    writer.write([ranking(end, None, OVERALL)])
    settings = api_settings(redis_server.url, redis_timeout_s=0.2)
    with TestClient(create_app(settings)) as client:
        assert get_ok(client, "/trending?k=1")["window_end"] == end
        redis_server.pause()  # a stalled Redis: the connection is open, nothing answers
        try:
            started = time.monotonic()
            response = client.get("/trending?k=1")
            elapsed = time.monotonic() - started
        finally:
            redis_server.resume()
        assert error_of(response, 503)["code"] == "redis_unavailable"
        assert elapsed < 2.0  # the 0.2 s timeout answered; the stall lasts until resume()
        assert get_ok(client, "/trending?k=1")["window_end"] == end
