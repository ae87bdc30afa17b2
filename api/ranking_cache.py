"""The newest ranking of each scope, kept in process for a short, configurable time.

``/trending`` is the API's hot route and its answer changes once per window slide (30 s
by default). Reading the newest ranking from Redis at most once per ``api_cache_ttl_s``
per scope, instead of once per request, takes the Redis round trip out of almost every
request. The trade-off, documented in docs/API.md: a new window, or a Redis outage,
shows in ``/trending`` at most ``api_cache_ttl_s`` late. ``as_of`` is computed for each
request, so staleness is always reported against the current time.

A rising ranking is building history while the window ending at its window_start has no
overall ranking in Redis: the job's first window size, or after a stretch without events.
The windows its momenta compare with (ending a few slides before its window_end) are then
empty or partial, and the route says so instead of serving them.

Each scope's entry keeps the stored document's bytes and its :class:`PreparedRanking`,
which holds the rendered ``/trending`` items for each ``k`` asked. A document is parsed,
checked and rendered once for as long as Redis holds the same bytes, with the cache on or
off, so a request only renders its ``as_of``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

from api.rankings import PreparedRanking, prepare_ranking
from trend_tracker.output_row import POPULAR, RISING
from trend_tracker.redis_layout import DEFAULT, RedisLayout


class LatestRankings:
    """The newest ranking of a scope (overall or one category) and kind (popular or
    rising), read from Redis at most once per ``ttl_s``; ``ttl_s = 0`` reads Redis on every
    call.

    Only rankings that exist are kept: "no data" and unknown categories are asked of
    Redis every time, so a ranking appears as soon as the job writes it.
    """

    def __init__(self, redis: Redis, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 keys: RedisLayout = DEFAULT) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._clock = clock
        # (category (None: overall), ranking) -> (expires at, stored bytes, prepared ranking)
        self._entries: dict[tuple[str | None, str],
                            tuple[float, bytes, PreparedRanking]] = {}

    async def get(self, category: str | None,
                  ranking: str = POPULAR) -> PreparedRanking | None:
        """The newest ``ranking`` of ``category`` (None: overall), or None if there is none.

        Raises what the Redis client raises when Redis is unreachable and the kept copy
        has expired.
        """
        key = (category, ranking)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[2]
        stored = await self.redis.get(self.keys.latest_key(category, ranking))
        if stored is None:
            self._entries.pop(key, None)
            return None
        # The same bytes as last time (no new window yet): keep the prepared copy, which
        # was checked when it was prepared (a ranking Redis should not hold raises here).
        fresh = entry is None or entry[1] != stored
        prepared = prepare_ranking(stored) if fresh else entry[2]
        # Asked again while building: the window before may have been written since (a
        # replay), with the rising ranking's bytes unchanged.
        if ranking == RISING and (fresh or prepared.building_history):
            prepared.building_history = not await self.redis.exists(
                self.keys.ranking_key(None, prepared.window_start, POPULAR))
        # With ttl_s = 0 the entry expires at once (Redis is read on every call), but its
        # prepared copy still serves as long as Redis holds the same bytes.
        self._entries[key] = (self._clock() + self.ttl_s, stored, prepared)
        return prepared
