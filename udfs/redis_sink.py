"""The job's Redis sink: complete rankings, written whole, with a monotonic latest pointer.

Runs in Flink's Python workers on window results (a few hundred rows per window), never
per event. The layout is the contract in :mod:`trend_tracker.redis_layout`.

Idempotence: a ranking's document is a pure function of its rows, so rewriting a window
after a restart from a checkpoint stores the same bytes again. The latest pointer only
moves forward (an older window replayed late never hides a newer one), and a product's
history entry for a window, in each ranking that holds it (overall and its category's,
popular and rising), replaces the previous entry of that window.

Bounded by the TTL and ``max_categories``: producers name the categories, so the category
list keeps only the categories of the retained windows, at most ``max_categories`` of them
(the job ranks no more than that per window), and a category dropped from it loses its
latest copy and its latest-window entry; everything else expires with its TTL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from trend_tracker import output_row as output
from trend_tracker import redis_layout as layout
from trend_tracker.settings import Settings


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One product's place in a ranking: the item fields of the output row
    (:data:`trend_tracker.output_row.ITEM_FIELDS`, in that order)."""

    rank: int
    product_id: str
    score: float
    clicks: int
    carts: int
    purchases: int
    #: Its rank in the same ranking of the previous window; None when it was not in it.
    previous_rank: int | None = None
    #: Its momentum in the window (1.0: its newest slides as fast as the window before them).
    momentum: float = 1.0


@dataclass(frozen=True, slots=True)
class Ranking:
    """The top-N of one window, overall (``category=None``) or for one category: the
    ranking head fields of the output row, then its items."""

    window_start: int  # epoch ms, UTC
    window_end: int  # epoch ms, UTC
    category: str | None
    weights_version: str
    items: tuple[RankedItem, ...]
    #: ``popular`` (by score) or ``rising`` (by momentum).
    ranking: str = output.POPULAR

    def document(self) -> dict[str, Any]:
        """The JSON document stored in Redis (and served by the API): the head fields of
        the output row, then ``items`` (:mod:`trend_tracker.output_row`)."""
        document: dict[str, Any] = {name: getattr(self, name)
                                    for name in output.RANKING_HEAD_FIELDS}
        document["items"] = [item_document(item) for item in self.items]
        return document


def item_document(item: RankedItem) -> dict[str, Any]:
    """One item of a stored ranking: the item fields of the output row."""
    return {name: getattr(item, name) for name in output.ITEM_FIELDS}


def epoch_ms(value: int | datetime) -> int:
    """Epoch milliseconds from an int or a datetime (a naive datetime is taken as UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp() * 1000)
    return int(value)


def rankings_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Ranking]:
    """Group output rows into rankings, one per (window, category), items by rank.

    Rows carry the job's output columns (:mod:`trend_tracker.output_row`). A ranking whose
    rows disagree on weights_version is rejected: a window is scored by one version.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (*(epoch_ms(row[name]) for name in output.WINDOW_KEYS),
               *(row[name] for name in output.RANKING_KEYS))
        groups.setdefault(key, []).append(row)
    rankings = []
    for key, members in sorted(groups.items(), key=lambda kv: _group_order(kv[0])):
        versions = {str(r["weights_version"]) for r in members}
        if len(versions) != 1:
            raise ValueError(f"window {key[1]} ranking {key[2:]!r} mixes weights "
                             f"versions {sorted(versions)}")
        items = tuple(sorted((_item(r) for r in members), key=lambda item: item.rank))
        head = dict(zip((*output.WINDOW_KEYS, *output.RANKING_KEYS), key, strict=True))
        rankings.append(Ranking(**head, weights_version=versions.pop(), items=items))
    return rankings


def _group_order(key: tuple) -> tuple:
    """Rankings by window_end, window_start, then ranking keys (null first)."""
    window_start, window_end, *ranking = key
    return (window_end, window_start, *(value or "" for value in ranking))


def _item(row: Mapping[str, Any]) -> RankedItem:
    return RankedItem(**{name: output.BY_NAME[name].plain(row[name])
                         for name in output.ITEM_FIELDS})


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

# Keep only the categories of the retained windows (window_end within ttl of the newest
# one) and at most `cap` of them: the oldest go first and, among equal window ends, the last
# by name. A dropped category's latest copies and latest-window entries (one per kind of
# ranking) go with it. Its latest keys are built here (one Redis server holds the whole
# layout, never a cluster).
# KEYS: categories, latest_end_hash; ARGV: ttl_ms, cap, latest key prefix, scope prefix,
# then the key prefix of each kind of ranking
_TRIM_CATEGORIES = """
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #newest == 0 then
  return 0
end
local oldest_kept = tonumber(newest[2]) - tonumber(ARGV[1])
local dropped = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. oldest_kept)
local excess = redis.call('ZCARD', KEYS[1]) - #dropped - tonumber(ARGV[2])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], #dropped, #dropped + excess - 1, 'WITHSCORES')
  local cut = oldest[#oldest]
  local older = redis.call('ZRANGEBYSCORE', KEYS[1], oldest_kept, '(' .. cut)
  for _, name in ipairs(older) do
    table.insert(dropped, name)
  end
  local at_cut = redis.call('ZRANGEBYSCORE', KEYS[1], cut, cut)
  for i = #at_cut - (excess - #older) + 1, #at_cut do
    table.insert(dropped, at_cut[i])
  end
end
for _, name in ipairs(dropped) do
  redis.call('ZREM', KEYS[1], name)
  for i = 5, #ARGV do
    redis.call('HDEL', KEYS[2], ARGV[i] .. ARGV[4] .. name)
    redis.call('DEL', ARGV[3] .. ARGV[i] .. ARGV[4] .. name)
  end
end
return #dropped
"""

#: Categories kept in the category list when the writer is not told (the settings' default).
DEFAULT_MAX_CATEGORIES: int = Settings.model_fields["max_categories"].default


class RedisRankingWriter:
    """Writes complete rankings to Redis in one transaction per batch."""

    def __init__(self, client: redis.Redis, ttl_s: int,
                 max_categories: int = DEFAULT_MAX_CATEGORIES,
                 keys: layout.RedisLayout = layout.DEFAULT):
        if max_categories < 1:
            raise ValueError("max_categories must be positive")
        self.client = client
        self.keys = keys
        self.ttl_s = int(ttl_s)
        self.max_categories = int(max_categories)
        self._move_latest = client.register_script(_MOVE_LATEST)
        self._add_history = client.register_script(_ADD_HISTORY)
        self._trim_categories = client.register_script(_TRIM_CATEGORIES)

    def write(self, rankings: Sequence[Ranking]) -> None:
        """Write rankings atomically (MULTI/EXEC); safe to repeat for the same windows."""
        if not rankings:
            return
        pipe = self.client.pipeline(transaction=True)
        categories = False
        for ranking in rankings:
            document = orjson.dumps(ranking.document())
            kind = ranking.ranking
            pipe.set(self.keys.ranking_key(ranking.category, ranking.window_end, kind), document,
                     ex=self.ttl_s)
            self._move_latest(
                keys=[self.keys.latest_key(ranking.category, kind), self.keys.latest_end_key],
                args=[document, ranking.window_end, layout.latest_scope(ranking.category, kind),
                      self.ttl_s],
                client=pipe,
            )
            if ranking.category is not None:
                pipe.zadd(self.keys.categories_key, {ranking.category: ranking.window_end},
                          gt=True)
                categories = True
            if ranking.items:
                self._add_history(
                    keys=[self.keys.product_key(item.product_id, ranking.category, kind)
                          for item in ranking.items],
                    args=[ranking.window_end, ranking.window_end - self.ttl_s * 1000,
                          self.ttl_s, *(history_entry(ranking, item) for item in ranking.items)],
                    client=pipe,
                )
        if categories:
            self._trim_categories(
                keys=[self.keys.categories_key, self.keys.latest_end_key],
                args=[self.ttl_s * 1000, self.max_categories, self.keys.latest_prefix,
                      layout.CATEGORY_SCOPE_PREFIX,
                      *(layout.ranking_prefix(kind) for kind in output.RANKINGS)],
                client=pipe,
            )
            pipe.expire(self.keys.categories_key, self.ttl_s)
        pipe.execute()


def history_entry(ranking: Ranking, item: RankedItem) -> bytes:
    """A product's history entry for one window: the same bytes for the same ranking."""
    return orjson.dumps({
        name: getattr(item, name) if name in output.ITEM_FIELDS else getattr(ranking, name)
        for name in output.HISTORY_FIELDS
    }, option=orjson.OPT_SORT_KEYS)
