"""The API against a real redis-server holding documents the job would never write.

Whatever Redis holds (a null or non-finite score, a wrong type, a value that is not JSON,
not UTF-8, a history entry or category that makes no sense, a key of another Redis type),
the API answers with its one error shape: ``503 corrupt_data`` with ``Retry-After``, never
a 500 and never a body that passes the bad value on. Documents are written here with plain
SET/ZADD, bypassing the job's writer, except where the test is that the writer's own output
for an infinite score (``null``) is refused.
"""

from __future__ import annotations

import time

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from localstack.servers import RedisServer
from trend_tracker import redis_layout as layout
from trend_tracker.settings import Settings
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

SIZE_MS = 600_000
CORRUPT = {"code": "corrupt_data",
           "message": "the stored rankings could not be read; retry later"}


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def store(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def client(redis_server):
    settings = Settings(_env_file=None, redis_url=redis_server.url, top_n=100,
                        api_stale_after_s=120, redis_timeout_s=0.3, api_cache_ttl_s=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def end() -> int:
    return time.time_ns() // 1_000_000 // 30_000 * 30_000


def assert_corrupt(response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"error": CORRUPT}
    assert response.headers["retry-after"] == "5"


def assert_ready_with_corrupt_data(response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "data": "corrupt_data", "window_end": None,
                               "age_s": None, "stale": True}


def stored_ranking(end: int, item: bytes, head: bytes | None = None) -> bytes:
    """A ranking in the writer's exact byte layout, with ``item`` as its one item."""
    head = head or (b'{"window_start":%d,"window_end":%d,"ranking":"popular","category":null,'
                    b'"weights_version":"v1"' % (end - SIZE_MS, end))
    return head + b',"items":[' + item + b"]}"


GOOD_ITEM = (b'{"rank":1,"product_id":"p-1","score":9.5,"clicks":2,"carts":1,"purchases":1,'
             b'"previous_rank":null,"momentum":1.5}')


def test_the_good_item_is_served(client, store, end):
    """The control: the layout these tests corrupt is one the API serves."""
    store.set(layout.latest_key(None), stored_ranking(end, GOOD_ITEM))
    response = client.get("/trending?k=1")
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["score"] == 9.5


BAD_ITEMS = {
    "null score": GOOD_ITEM.replace(b"9.5", b"null"),
    "string score": GOOD_ITEM.replace(b"9.5", b'"NaN"'),
    "bare NaN": GOOD_ITEM.replace(b"9.5", b"NaN"),
    "infinite score": GOOD_ITEM.replace(b"9.5", b"1e999"),
    "boolean score": GOOD_ITEM.replace(b"9.5", b"true"),
    "negative count": GOOD_ITEM.replace(b'"clicks":2', b'"clicks":-2'),
    "fractional count": GOOD_ITEM.replace(b'"clicks":2', b'"clicks":2.5'),
    "rank 0": GOOD_ITEM.replace(b'"rank":1', b'"rank":0'),
    "missing score": GOOD_ITEM.replace(b'"score":9.5,', b""),
    "product id not an id": GOOD_ITEM.replace(b'"p-1"', b'"<p-1>"'),
    "previous rank 0": GOOD_ITEM.replace(b'"previous_rank":null', b'"previous_rank":0'),
    "negative momentum": GOOD_ITEM.replace(b"1.5}", b"-1.5}"),
    "truncated": GOOD_ITEM[:-10],
}
BAD_DOCUMENTS = {
    "not JSON": b"{not json",
    "not UTF-8": b"\xff\xfe\xfd",
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"ranking"',
    "empty": b"",
    "window_end a string": b'{"window_start":0,"window_end":"soon","ranking":"popular",'
                           b'"category":null,"weights_version":"v1","items":[]}',
    "items not a list": b'{"window_start":0,"window_end":1,"ranking":"popular",'
                        b'"category":null,"weights_version":"v1","items":5}',
    "no items": b'{"window_start":0,"window_end":1,"ranking":"popular","category":null,'
                b'"weights_version":"v1"}',
    "weights_version a number": b'{"window_start":0,"window_end":1,"ranking":"popular",'
                                b'"category":null,"weights_version":7,"items":[]}',
    "unknown ranking": b'{"window_start":0,"window_end":1,"ranking":"falling",'
                       b'"category":null,"weights_version":"v1","items":[]}',
}


@pytest.mark.parametrize("item", BAD_ITEMS.values(), ids=BAD_ITEMS.keys())
@pytest.mark.parametrize("path", ["/trending?k=1", "/trending?k=01"])
def test_trending_refuses_a_bad_item(client, store, end, item, path):
    store.set(layout.latest_key(None), stored_ranking(end, item))
    assert_corrupt(client.get(path))


@pytest.mark.parametrize("document", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
@pytest.mark.parametrize("path", ["/trending", "/trending?k=01"])
def test_trending_refuses_a_bad_document(client, store, document, path):
    store.set(layout.latest_key(None), document)
    assert_corrupt(client.get(path))


@pytest.mark.parametrize("document", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_ready_reports_a_bad_document_and_metrics_still_answer(client, store, document):
    """The API answers (a JSON 503 corrupt_data on /trending): it stays ready."""
    store.set(layout.latest_key(None), document)
    assert_corrupt(client.get("/trending"))
    assert_ready_with_corrupt_data(client.get("/ready"))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "trend_api_requests_total" in response.text


def test_a_bad_category_ranking_is_refused_too(client, store, end):
    store.set(layout.latest_key(None), stored_ranking(end, GOOD_ITEM))
    store.set(layout.latest_key("books"), stored_ranking(end, BAD_ITEMS["null score"]))
    assert_corrupt(client.get("/trending?category=books"))
    assert client.get("/trending").status_code == 200


# --- /products/{id}/trend -------------------------------------------------------------------

GOOD_ENTRY = {"window_start": 0, "window_end": SIZE_MS, "rank": 1, "score": 9.5, "clicks": 2,
              "carts": 1, "purchases": 1, "weights_version": "v1"}


def entry(**changes) -> bytes:
    return orjson.dumps({**GOOD_ENTRY, **changes})


BAD_ENTRIES = {
    "null score": entry(score=None),
    "string score": entry(score="NaN"),
    "bare NaN": b'{"window_start":0,"window_end":1,"rank":1,"score":NaN,"clicks":0,'
                b'"carts":0,"purchases":0,"weights_version":"v1"}',
    "infinite score": entry(score=9.5).replace(b"9.5", b"1e999"),
    "list score": entry(score=[1]),
    "missing rank": orjson.dumps({k: v for k, v in GOOD_ENTRY.items() if k != "rank"}),
    "negative purchases": entry(purchases=-1),
    "window_end a string": entry(window_end="x"),
    "not JSON": b"garbage",
    "not UTF-8": b"\xff\xfe",
    "a JSON number": b"12",
}


def test_a_good_entry_is_served(client, store):
    store.zadd(layout.product_key("p-1"), {entry(): SIZE_MS})
    response = client.get("/products/p-1/trend")
    assert response.status_code == 200, response.text
    assert response.json() == {"product_id": "p-1", "windows": [GOOD_ENTRY]}


@pytest.mark.parametrize("bad", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_product_trend_refuses_a_bad_entry(client, store, bad):
    key = layout.product_key("p-1")
    store.zadd(key, {entry(window_end=SIZE_MS - 30_000): SIZE_MS - 30_000, bad: SIZE_MS})
    assert_corrupt(client.get("/products/p-1/trend"))


# --- /categories ------------------------------------------------------------------------------

@pytest.mark.parametrize("member, score", [
    (b"\xff\xfe", 1000.0),
    (b"not an id!", 1000.0),
    (b"books", float("inf")),
], ids=["not UTF-8", "not an id", "infinite window_end"])
def test_categories_refuse_a_bad_member(client, store, member, score):
    store.zadd(layout.CATEGORIES_KEY, {b"toys": 1000.0, member: score})
    assert_corrupt(client.get("/categories"))


# --- what the job's writer stores for a non-finite score -------------------------------------

def test_an_infinite_score_written_by_the_sink_is_refused_not_a_500(client, store, end):
    """The failure that unbounded weights used to cause: the writer stores an infinite
    score as null; the API must refuse it cleanly on every route that reads it."""
    ranking = Ranking(window_start=end - SIZE_MS, window_end=end, category=None,
                      weights_version="v1",
                      items=(RankedItem(1, "p-1", float("inf"), 1, 0, 0),))
    RedisRankingWriter(store, ttl_s=3600).write([ranking])
    assert b'"score":null' in store.get(layout.latest_key(None))
    assert_corrupt(client.get("/trending"))
    assert_corrupt(client.get("/products/p-1/trend"))


# --- a key of another Redis type ------------------------------------------------------------

def _write_as(store, key: str, kind: str) -> None:
    {"hash": lambda: store.hset(key, "x", "1"), "list": lambda: store.rpush(key, "x"),
     "string": lambda: store.set(key, "x"), "set": lambda: store.sadd(key, "x")}[kind]()


@pytest.mark.parametrize("key, kind, paths", [
    (layout.latest_key(None), "hash", ["/trending"]),
    (layout.latest_key(None, "rising"), "list", ["/trending?ranking=rising"]),
    (layout.latest_key("books"), "set", ["/trending?category=books"]),
    (layout.CATEGORIES_KEY, "string", ["/categories"]),
    (layout.product_key("p-1"), "hash", ["/products/p-1/trend"]),
], ids=["latest", "latest rising", "latest of a category", "categories", "product history"])
def test_a_key_of_another_type_is_corrupt_data_not_an_outage(client, store, end, key, kind,
                                                               paths):
    """Redis answers WRONGTYPE: the server is up, the data is wrong (503 corrupt_data, not
    redis_unavailable, which would send operators after the server)."""
    store.set(layout.latest_key(None), stored_ranking(end, GOOD_ITEM))
    store.delete(key)
    _write_as(store, key, kind)
    for path in paths:
        assert_corrupt(client.get(path))
    if key == layout.latest_key(None):
        assert_ready_with_corrupt_data(client.get("/ready"))
