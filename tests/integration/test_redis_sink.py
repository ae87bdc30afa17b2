"""The job's Redis sink against a real redis-server: whole rankings, monotonic pointer."""

from __future__ import annotations

import json

import pytest
import redis

from trend_tracker import redis_layout as layout
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

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
    expected = {"window_start": W1 - 60_000, "window_end": W1, "ranking": "popular",
                "category": None, "weights_version": "trend-weights/1",
                "items": [{"rank": 1, "product_id": "p-2", "score": 8.0, "clicks": 3,
                           "carts": 0, "purchases": 1, "previous_rank": None,
                           "momentum": 1.0},
                          {"rank": 2, "product_id": "p-1", "score": 8.0, "clicks": 0,
                           "carts": 1, "purchases": 1, "previous_rank": None,
                           "momentum": 1.0}]}
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
    assert client.hget(layout.LATEST_END_KEY, "all") == str(W2).encode()
    assert doc(client, layout.ranking_key(None, W1))["window_end"] == W1


def history(client, key):
    return [(json.loads(m), s) for m, s in client.zrange(key, 0, -1, withscores=True)]


def test_category_rankings_keep_each_products_category_history(client):
    writer = RedisRankingWriter(client, ttl_s=3600)
    shoes_w1 = Ranking(W1 - 60_000, W1, "shoes", "trend-weights/1",
                       (RankedItem(1, "p-1", 5.5, 2, 1, 0), RankedItem(2, "p-9", 1.0, 1, 0, 0)))
    shoes_w2 = Ranking(W2 - 60_000, W2, "shoes", "trend-weights/2",
                       (RankedItem(1, "p-9", 7.0, 4, 0, 1),))
    writer.write([ranking(W1), shoes_w1])
    writer.write([shoes_w2])
    assert history(client, layout.product_key("p-9", "shoes")) == [
        ({"window_start": W1 - 60_000, "window_end": W1, "rank": 2, "score": 1.0, "clicks": 1,
          "carts": 0, "purchases": 0, "weights_version": "trend-weights/1"}, W1),
        ({"window_start": W2 - 60_000, "window_end": W2, "rank": 1, "score": 7.0, "clicks": 4,
          "carts": 0, "purchases": 1, "weights_version": "trend-weights/2"}, W2)]
    assert history(client, layout.product_key("p-1", "shoes")) == [
        ({"window_start": W1 - 60_000, "window_end": W1, "rank": 1, "score": 5.5, "clicks": 2,
          "carts": 1, "purchases": 0, "weights_version": "trend-weights/1"}, W1)]
    # The overall history is its own: p-1 ranked 2nd overall in W1, p-9 not at all.
    assert [(e["window_end"], e["rank"]) for e, _ in
            history(client, layout.product_key("p-1"))] == [(W1, 2)]
    assert client.exists(layout.product_key("p-9")) == 0
    assert 3590 < client.ttl(layout.product_key("p-9", "shoes")) <= 3600


def test_rewriting_a_category_window_is_idempotent(client):
    writer = RedisRankingWriter(client, ttl_s=3600)
    writer.write([ranking(W1, "shoes"), ranking(W2, "shoes")])
    before = {key: client.dump(key) for key in client.keys("*")}
    writer.write([ranking(W1, "shoes")])  # a restart replays the older window
    after = {key: client.dump(key) for key in client.keys("*")}
    assert before == after
    assert client.zcard(layout.product_key("p-1", "shoes")) == 2


def test_category_history_older_than_the_ttl_is_trimmed(client):
    writer = RedisRankingWriter(client, ttl_s=60)
    writer.write([ranking(W1, "shoes")])
    writer.write([ranking(W1 + 60_000, "shoes")])  # W1 is now exactly one TTL old: kept
    writer.write([ranking(W1 + 60_001, "shoes")])  # and now older than the TTL: trimmed
    ends = [s for _, s in history(client, layout.product_key("p-2", "shoes"))]
    assert ends == [W1 + 60_000, W1 + 60_001]


def test_product_keys_of_the_overall_and_category_histories_never_collide():
    assert layout.product_key("p-1") == "trend:product:p-1"
    assert layout.product_key("p-1", "shoes") == "trend:product:p-1/c:shoes"
    # Ids may hold ":", never "/": no product id makes a category history's key.
    assert layout.product_key("a:c:b") != layout.product_key("a", "b")
    with pytest.raises(layout.InvalidIdError):
        layout.product_key("p-1", "a/b")


def category_ranking(window_end, category):
    return Ranking(window_end - 60_000, window_end, category, "trend-weights/1",
                   (RankedItem(1, f"p-{category}", 1.0, 1, 0, 0),))


def categories(client):
    return client.zrange(layout.CATEGORIES_KEY, 0, -1, withscores=True)


def test_categories_outside_the_retained_windows_are_dropped_with_their_latest_copy(client):
    writer = RedisRankingWriter(client, ttl_s=60, max_categories=10)
    writer.write([category_ranking(W1, "a"), category_ranking(W1, "b")])
    writer.write([category_ranking(W1 + 60_000, "c")])  # a and b exactly one TTL old: kept
    assert categories(client) == [(b"a", W1), (b"b", W1), (b"c", W1 + 60_000)]
    writer.write([category_ranking(W1 + 60_001, "d")])  # and now older than the TTL
    assert categories(client) == [(b"c", W1 + 60_000), (b"d", W1 + 60_001)]
    assert client.exists(layout.latest_key("a"), layout.latest_key("b")) == 0
    assert client.hgetall(layout.LATEST_END_KEY) == {b"c:c": str(W1 + 60_000).encode(),
                                              b"c:d": str(W1 + 60_001).encode()}
    # A replayed old window never trims what is newer than it.
    writer.write([category_ranking(W1, "a")])
    assert categories(client) == [(b"c", W1 + 60_000), (b"d", W1 + 60_001)]
    assert client.exists(layout.latest_key("c"), layout.latest_key("d")) == 2


def test_the_category_list_is_capped_newest_first_then_by_name(client):
    writer = RedisRankingWriter(client, ttl_s=3600, max_categories=3)
    writer.write([category_ranking(W1, name) for name in ("a", "b")])
    writer.write([category_ranking(W2, name) for name in ("e", "d")])
    # Four categories, cap 3: the oldest window's categories go first, the last by name.
    assert categories(client) == [(b"a", W1), (b"d", W2), (b"e", W2)]
    assert client.exists(layout.latest_key("b")) == 0
    writer.write([category_ranking(W2 + 10_000, name) for name in ("h", "f", "g", "i")])
    # More categories in one window than the cap: by name among equal window ends.
    assert categories(client) == [(b"f", W2 + 10_000), (b"g", W2 + 10_000),
                                  (b"h", W2 + 10_000)]
    assert sorted(client.hkeys(layout.LATEST_END_KEY)) == [b"c:f", b"c:g", b"c:h"]
    assert [k for k in sorted(client.keys("trend:latest:*"))] == [
        layout.latest_key(c).encode() for c in ("f", "g", "h")]


def test_rising_rankings_have_their_own_keys_latest_copies_and_histories(client):
    assert layout.ranking_key(None, W1) == f"trend:r:all:{W1}"
    assert layout.ranking_key("shoes", W1, "rising") == f"trend:r:rising:c:shoes:{W1}"
    assert layout.latest_key(None, "rising") == "trend:latest:rising:all"
    with pytest.raises(ValueError, match="unknown ranking"):
        layout.latest_key(None, "falling")
    writer = RedisRankingWriter(client, ttl_s=3600)
    rising = Ranking(W1 - 60_000, W1, None, "trend-weights/1",
                     (RankedItem(1, "p-9", 2.0, 2, 0, 0, None, 3.0),
                      RankedItem(2, "p-2", 8.0, 3, 0, 1, 1, 1.25)), "rising")
    shoes = category_ranking(W1, "shoes")
    writer.write([ranking(W1), rising, shoes,
                  Ranking(W1 - 60_000, W1, "shoes", "trend-weights/1", shoes.items, "rising")])
    expected = {"window_start": W1 - 60_000, "window_end": W1, "ranking": "rising",
                "category": None, "weights_version": "trend-weights/1",
                "items": [{"rank": 1, "product_id": "p-9", "score": 2.0, "clicks": 2,
                           "carts": 0, "purchases": 0, "previous_rank": None,
                           "momentum": 3.0},
                          {"rank": 2, "product_id": "p-2", "score": 8.0, "clicks": 3,
                           "carts": 0, "purchases": 1, "previous_rank": 1,
                           "momentum": 1.25}]}
    assert doc(client, f"trend:r:rising:all:{W1}") == expected
    assert doc(client, "trend:latest:rising:all") == expected
    assert doc(client, "trend:latest:all")["ranking"] == "popular"
    assert client.hgetall(layout.LATEST_END_KEY) == {
        b"all": str(W1).encode(), b"c:shoes": str(W1).encode(),
        b"rising:all": str(W1).encode(), b"rising:c:shoes": str(W1).encode()}
    # Each kind of ranking keeps its own histories: p-9 was only in the rising one, p-2 in
    # both, with its rank in each.
    assert layout.product_key("p-9", None, "rising") == "trend:product:p-9/rising:all"
    assert layout.product_key("p-9", "shoes", "rising") == "trend:product:p-9/rising:c:shoes"
    assert client.exists(layout.product_key("p-9")) == 0
    assert history(client, layout.product_key("p-9", None, "rising")) == [
        ({"window_start": W1 - 60_000, "window_end": W1, "rank": 1, "score": 2.0,
          "clicks": 2, "carts": 0, "purchases": 0, "weights_version": "trend-weights/1"}, W1)]
    assert [(entry["rank"], entry["score"]) for entry, _ in history(
        client, layout.product_key("p-2", None, "rising"))] == [(2, 8.0)]
    assert client.zcard(layout.product_key("p-2")) == 1
    # A category dropped from the list loses the latest copies of both kinds.
    capped = RedisRankingWriter(client, ttl_s=3600, max_categories=1)
    capped.write([category_ranking(W2, "toys")])
    assert client.exists("trend:latest:rising:c:shoes", "trend:latest:c:shoes") == 0
    assert sorted(client.hkeys(layout.LATEST_END_KEY)) == [b"all", b"c:toys", b"rising:all"]
