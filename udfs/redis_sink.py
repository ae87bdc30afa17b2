"""The job's Redis sink: complete rankings, written whole, with a monotonic latest pointer.

Runs in Flink's Python workers on window results (a few hundred rows per window), never
per event. The layout is the contract in :mod:`trend_tracker.redis_layout`.

Idempotence: a ranking's document is a pure function of its rows, so rewriting a window
after a restart from a checkpoint stores the same bytes again. The latest pointer only
moves forward (an older window replayed late never hides a newer one), and a product's
history entry for a window, in the overall ranking and in its category's, replaces the
previous entry of that window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
import redis

from trend_tracker import redis_layout as layout


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One product's place in a ranking."""

    rank: int
    product_id: str
    score: float
    clicks: int
    carts: int
    purchases: int


@dataclass(frozen=True, slots=True)
class Ranking:
    """The top-N of one window, overall (``category=None``) or for one category."""

    window_start: int  # epoch ms, UTC
    window_end: int  # epoch ms, UTC
    category: str | None
    weights_version: str
    items: tuple[RankedItem, ...]

    def document(self) -> dict[str, Any]:
        """The JSON document stored in Redis (and served by the API)."""
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "category": self.category,
            "weights_version": self.weights_version,
            "items": [
                {"rank": i.rank, "product_id": i.product_id, "score": i.score,
                 "clicks": i.clicks, "carts": i.carts, "purchases": i.purchases}
                for i in self.items
            ],
        }


def epoch_ms(value: int | datetime) -> int:
    """Epoch milliseconds from an int or a datetime (a naive datetime is taken as UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(round(value.timestamp() * 1000))
    return int(value)


def rankings_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Ranking]:
    """Group output rows into rankings, one per (window, category), items by rank.

    Rows carry the job's output columns: window_start, window_end, category, rank,
    product_id, score, clicks, carts, purchases, weights_version. A ranking whose rows
    disagree on weights_version is rejected: a window is scored by one version.
    """
    groups: dict[tuple[int, int, str | None], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (epoch_ms(row["window_start"]), epoch_ms(row["window_end"]), row["category"])
        groups.setdefault(key, []).append(row)
    rankings = []
    for (window_start, window_end, category), members in sorted(
        groups.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2] or "")
    ):
        versions = {str(r["weights_version"]) for r in members}
        if len(versions) != 1:
            raise ValueError(f"window {window_end} ranking {category!r} mixes weights "
                             f"versions {sorted(versions)}")
        items = tuple(sorted(
            (RankedItem(rank=int(r["rank"]), product_id=str(r["product_id"]),
                        score=float(r["score"]), clicks=int(r["clicks"]),
                        carts=int(r["carts"]), purchases=int(r["purchases"]))
             for r in members),
            key=lambda item: item.rank,
        ))
        rankings.append(Ranking(window_start, window_end, category, versions.pop(), items))
    return rankings


# Replace the latest copy only when this window is at least as new as the stored one.
# KEYS: latest_key, latest_end_hash; ARGV: document, window_end, scope, ttl_s
_MOVE_LATEST = """
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '-1')
local window_end = tonumber(ARGV[2])
if window_end >= current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
  return 1
end
return 0
"""

# Set each product's history entry of one window, replacing an earlier entry of that
# window, trim entries older than the TTL and renew the key's expiry. One call per
# ranking: four pipelined commands per product cost ~15x more client CPU.
# KEYS: history keys; ARGV: window_end, oldest window_end kept, ttl_s, then one entry per key
_ADD_HISTORY = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, ARGV[1], ARGV[1])
  redis.call('ZADD', key, ARGV[1], ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[2])
  redis.call('EXPIRE', key, ARGV[3])
end
return #KEYS
"""

LATEST_END_KEY = f"{layout.PREFIX}:latest_end"


class RedisRankingWriter:
    """Writes complete rankings to Redis in one transaction per batch."""

    def __init__(self, client: redis.Redis, ttl_s: int):
        self.client = client
        self.ttl_s = int(ttl_s)
        self._move_latest = client.register_script(_MOVE_LATEST)
        self._add_history = client.register_script(_ADD_HISTORY)

    def write(self, rankings: Sequence[Ranking]) -> None:
        """Write rankings atomically (MULTI/EXEC); safe to repeat for the same windows."""
        if not rankings:
            return
        pipe = self.client.pipeline(transaction=True)
        for ranking in rankings:
            document = orjson.dumps(ranking.document())
            scope = layout.ranking_scope(ranking.category)
            pipe.set(layout.ranking_key(ranking.category, ranking.window_end), document,
                     ex=self.ttl_s)
            self._move_latest(
                keys=[layout.latest_key(ranking.category), LATEST_END_KEY],
                args=[document, ranking.window_end, scope, self.ttl_s],
                client=pipe,
            )
            if ranking.category is not None:
                pipe.zadd(layout.CATEGORIES_KEY, {ranking.category: ranking.window_end},
                          gt=True)
                pipe.expire(layout.CATEGORIES_KEY, self.ttl_s)
            if ranking.items:
                self._add_history(
                    keys=[layout.product_key(item.product_id, ranking.category)
                          for item in ranking.items],
                    args=[ranking.window_end, ranking.window_end - self.ttl_s * 1000,
                          self.ttl_s, *(history_entry(ranking, item) for item in ranking.items)],
                    client=pipe,
                )
        pipe.execute()


def history_entry(ranking: Ranking, item: RankedItem) -> bytes:
    """A product's history entry for one window: the same bytes for the same ranking."""
    return orjson.dumps({
        "window_start": ranking.window_start, "window_end": ranking.window_end,
        "rank": item.rank, "score": item.score, "clicks": item.clicks,
        "carts": item.carts, "purchases": item.purchases,
        "weights_version": ranking.weights_version,
    }, option=orjson.OPT_SORT_KEYS)
