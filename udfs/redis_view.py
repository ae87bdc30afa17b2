"""The window sink's Redis writes, which wait out a Redis outage instead of failing the job.

Redis is a rebuildable view; Parquet is the record. When Redis cannot take a window, the
window's rankings stay pending in memory and the job goes on (Parquet and the dead-letter
topic carry on); the next window that finds Redis answering writes the pending windows
first, oldest first, then itself, so the newest window reaches ``latest`` as soon as Redis is
back. While Redis is known to be down, a window costs no retries: Redis is tried again once
per ``retry_interval_s``, one attempt, bounded by the client's connect and read timeouts.

A window that Redis refuses for a reason of its own (a key of the wrong type, out of memory,
no permission) is logged, counted by ``on_refused`` and skipped: it never blocks the newer
windows behind it. Parquet still holds it, and ``trend redis rebuild`` writes it once the
cause is fixed.

Pending rankings are bounded (:class:`PendingRankings`): the newest ``max_windows`` windows
whole, and of the older windows only each scope's newest ranking (what ``latest`` needs),
for at most ``max_scopes`` scopes. Pending windows live in the worker's memory: a restart of
the job loses them, and ``trend redis rebuild`` fills Redis from Parquet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence

from redis.exceptions import ReadOnlyError, RedisError, ResponseError

from trend_tracker import output_row as output
from trend_tracker import redis_layout as layout
from udfs.redis_sink import Ranking, RedisRankingWriter
from udfs.window_sink import WRITE_ATTEMPTS, with_retries

log = logging.getLogger(__name__)

#: What an unreachable, stopped or overloaded Redis raises (socket errors included).
REDIS_UNAVAILABLE = (RedisError, OSError)


def refused(exc: BaseException) -> bool:
    """Whether Redis answered and refused the write (``WRONGTYPE``, ``OOM``, ``NOPERM``...),
    rather than being unavailable. A replica's ``READONLY`` during a failover is
    unavailability: the write succeeds once the new primary answers."""
    return isinstance(exc, ResponseError) and not isinstance(exc, ReadOnlyError)


def _ranking_order(ranking: Ranking) -> tuple[int, bool, str]:
    """Popular rankings first, then rising; in each the overall ranking first, then
    categories by name."""
    return (output.RANKINGS.index(ranking.ranking), ranking.category is not None,
            ranking.category or "")


class PendingRankings:
    """Rankings of windows that have not reached Redis yet, bounded.

    Kept: every ranking of the newest ``max_windows`` windows, and of older windows the
    newest ranking of each scope, for at most ``max_scopes`` scopes (those whose newest
    ranking is newest, ties by scope name). Everything else would be overwritten in Redis
    by a newer window anyway, except the ranking keys of older windows, which
    ``trend redis rebuild`` restores from Parquet.
    """

    def __init__(self, max_windows: int, max_scopes: int):
        if max_windows < 1 or max_scopes < 1:
            raise ValueError("max_windows and max_scopes must be positive")
        self.max_windows = max_windows
        self.max_scopes = max_scopes
        #: window_end -> scope -> ranking
        self._windows: dict[int, dict[str, Ranking]] = {}

    def __len__(self) -> int:
        """The number of windows with a ranking pending."""
        return len(self._windows)

    def add(self, rankings: Iterable[Ranking]) -> None:
        """Add one window's rankings (replacing that window's pending ones), then prune."""
        by_window: dict[int, dict[str, Ranking]] = {}
        for ranking in rankings:
            by_window.setdefault(ranking.window_end, {})[
                layout.latest_scope(ranking.category, ranking.ranking)] = ranking
        self._windows.update(by_window)
        self._prune()

    def discard(self, window_end: int) -> None:
        """Forget a window (it has been written)."""
        self._windows.pop(window_end, None)

    def windows(self) -> list[tuple[int, list[Ranking]]]:
        """(window_end, rankings) of each pending window, oldest first."""
        return [(end, sorted(self._windows[end].values(), key=_ranking_order))
                for end in sorted(self._windows)]

    def _prune(self) -> None:
        whole = set(sorted(self._windows, reverse=True)[:self.max_windows])
        newest_of_scope: dict[str, int] = {}
        for end, scopes in self._windows.items():
            for scope in scopes:
                if end > newest_of_scope.get(scope, -1):
                    newest_of_scope[scope] = end
        kept_scopes = set(sorted(newest_of_scope,
                                 key=lambda s: (-newest_of_scope[s], s))[:self.max_scopes])
        for end in list(self._windows):
            if end in whole:
                continue
            scopes = {scope: ranking for scope, ranking in self._windows[end].items()
                      if scope in kept_scopes and newest_of_scope[scope] == end}
            if scopes:
                self._windows[end] = scopes
            else:
                del self._windows[end]


class RedisView:
    """Writes each window's rankings to Redis, keeping them pending while Redis is down.

    ``write`` never raises for Redis being unavailable (:data:`REDIS_UNAVAILABLE`) or
    refusing a window (:func:`refused`); it answers whether Redis took every pending window
    now. Other errors propagate.
    """

    def __init__(self, writer: RedisRankingWriter, pending: PendingRankings,
                 retry_interval_s: float, clock: Callable[[], float] = time.monotonic,
                 attempts: int = WRITE_ATTEMPTS, backoff_s: float = 0.2,
                 on_refused: Callable[[], None] = lambda: None):
        self.writer = writer
        self.pending = pending
        self.on_refused = on_refused
        self.retry_interval_s = retry_interval_s
        self.clock = clock
        self.attempts = attempts
        self.backoff_s = backoff_s
        #: When Redis was found down (clock time), None while it answers.
        self.down_since: float | None = None
        self._next_attempt = 0.0

    @property
    def available(self) -> bool:
        """Whether the last write reached Redis."""
        return self.down_since is None

    def write(self, rankings: Sequence[Ranking]) -> bool:
        """Write one window's rankings after the pending ones; True when all are written."""
        self.pending.add(rankings)
        now = self.clock()
        if not self.available and now < self._next_attempt:
            return False  # known down: keep the window pending, spend no time on it
        try:
            if self.available:
                all_taken = with_retries(self._flush, self.attempts, self.backoff_s)
            else:
                all_taken = self._flush()  # one attempt per retry interval while down
        except REDIS_UNAVAILABLE as exc:
            if self.available:
                self.down_since = now
                log.error("Redis unavailable (%s: %s): keeping windows pending, retrying "
                          "every %s s", type(exc).__name__, exc, self.retry_interval_s)
            else:
                log.warning("Redis still unavailable (%s): %d windows pending",
                            type(exc).__name__, len(self.pending))
            self._next_attempt = self.clock() + self.retry_interval_s
            return False
        if not self.available:
            log.warning("Redis is back after %.0f s; the pending windows are written",
                        now - self.down_since)
            self.down_since = None
        return all_taken

    def _flush(self) -> bool:
        """Write the pending windows, oldest first; False if Redis refused any of them."""
        all_taken = True
        for window_end, rankings in self.pending.windows():
            try:
                self.writer.write(rankings)
            except REDIS_UNAVAILABLE as exc:
                if not refused(exc):
                    raise
                log.error("Redis refused window %d (%s: %s): skipped; Parquet holds it, and "
                          "`trend redis rebuild` writes it once the cause is fixed",
                          window_end, type(exc).__name__, exc,
                          extra={"window_end": window_end})
                self.on_refused()
                all_taken = False
            self.pending.discard(window_end)
        return all_taken
