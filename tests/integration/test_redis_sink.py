"""The job's Redis sink against a real redis-server: whole rankings, monotonic pointer."""

from __future__ import annotations

import json

import pytest
import redis

from trend_tracker import redis_layout as layout
from udfs.redis_sink import LATEST_END_KEY, RankedItem, Ranking, RedisRankingWriter

W1, W2 = 1_704_067_260_000, 1_704_067_270_000


@pytest.fixture
def client(local_stack):
    client = redis.Redis.from_url(local_stack.redis_url.replace("/0", "/5"))
    client.flushdb()
    yield client
    client.flushdb()


def ranking(window_end, category=None, version="trend-weights/1"):
    return Ranking(window_end - 60_000, window_end, category, version,
                   (RankedItem(1, "p-2", 8.0, 3, 0, 1), RankedItem(2, "p-1", 8.0, 0, 1, 1)))


def doc(client, key):
    return json.loads(client.get(key))


def test_rankings_latest_copy_categories_and_product_history(client):
    writer = RedisRankingWriter(client, ttl_s=3600)
    writer.write([ranking(W1), ranking(W1, "shoes")])
    expected = {"window_start": W1 - 60_000, "window_end": W1, "category": None,
                "weights_version": "trend-weights/1",
                "items": [{"rank": 1, "product_id": "p-2", "score": 8.0, "clicks": 3,
                           "carts": 0, "purchases": 1},
                          {"rank": 2, "product_id": "p-1", "score": 8.0, "clicks": 0,
                           "carts": 1, "purchases": 1}]}
    assert doc(client, layout.ranking_key(None, W1)) == expected
    assert doc(client, layout.latest_key(None)) == expected
    assert doc(client, layout.latest_key("shoes")) == dict(expected, category="shoes")
    assert client.zrange(layout.CATEGORIES_KEY, 0, -1, withscores=True) == [(b"shoes", W1)]
    history = client.zrange(layout.product_key("p-1"), 0, -1, withscores=True)
    assert [(json.loads(m), s) for m, s in history] == [(
        {"window_start": W1 - 60_000, "window_end": W1, "rank": 2, "score": 8.0, "clicks": 0,
         "carts": 1, "purchases": 1, "weights_version": "trend-weights/1"}, W1)]
    assert 3590 < client.ttl(layout.ranking_key(None, W1)) <= 3600


def test_rewriting_a_window_is_idempotent(client):
    writer = RedisRankingWriter(client, ttl_s=3600)
    writer.write([ranking(W1)])
    before = {key: client.dump(key) for key in client.keys("*")}
    writer.write([ranking(W1)])
    after = {key: client.dump(key) for key in client.keys("*")}
    assert before == after
    assert client.zcard(layout.product_key("p-1")) == 1


def test_latest_pointer_never_moves_back(client):
    writer = RedisRankingWriter(client, ttl_s=3600)
    writer.write([ranking(W2)])
    writer.write([ranking(W1)])  # a replayed older window
    assert doc(client, layout.latest_key(None))["window_end"] == W2
    assert client.hget(LATEST_END_KEY, "all") == str(W2).encode()
    assert doc(client, layout.ranking_key(None, W1))["window_end"] == W1
