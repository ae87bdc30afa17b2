"""The job's window sink: collect a window's ranked rows, then write them whole.

The job ranks a window in the JVM (the keyed core, ``dev.trendtracker.window``, which emits
a window when the watermark passes its end, with every ranking complete) and hands this
writer one row per emission of a window. The writer is called once per emission: it writes
the window's Parquet file (the record), then its rankings to Redis (the API's view). A
window emitted again (an update: events within the allowed lateness) is written again,
whole, over the same file and keys.

Parquet is the record: a failing Parquet write is retried, and if it keeps failing the task
fails and Flink restarts from the last checkpoint, which replays the window into the same
file and keys (idempotent). Redis is a rebuildable view: a Redis outage never fails the task
(that would stop Parquet and the dead letters too). The window's rankings stay pending and
reach Redis with the first window that finds it answering (:mod:`udfs.redis_view`); each
window that could not be written at its time counts as a Redis write failure.

Low volume by construction: ``top_n * (1 + categories)`` rows per window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trend_tracker import output_row as output
from udfs.redis_sink import epoch_ms, rankings_from_rows

log = logging.getLogger(__name__)

#: How often a failing sink write is tried before it counts as failed (Parquet: the task
#: fails and restarts; Redis: the window waits for Redis).
WRITE_ATTEMPTS = 3


def output_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A job output row (:mod:`trend_tracker.output_row`) with window times as epoch ms and
    plain Python types."""
    return {field.name: epoch_ms(values[field.name]) if field.role is output.Role.WINDOW_KEY
            else field.plain(values[field.name]) for field in output.FIELDS}


def with_retries(action: Callable[[], Any], attempts: int = WRITE_ATTEMPTS,
                 backoff_s: float = 0.2) -> Any:
    """Run ``action``; on an exception retry with a doubling pause, re-raise the last one."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception:
            if attempt == attempts:
                raise
            log.warning("sink write failed (attempt %d of %d)", attempt, attempts,
                        exc_info=True)
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


#: The columns of a ranked row that the writer receives as one array each (positions
#: aligned), after the window's times; the window's ``weights_version`` follows them.
RANKED_ROW_FIELDS: tuple[str, ...] = output.RANKED_ARRAY_FIELDS


def window_rows(window_start: Any, window_end: Any, ranked: Iterable[Any],
                weights_version: str) -> list[dict[str, Any]]:
    """Output rows of one window from its ranked rows (tuples in RANKED_ROW_FIELDS order)."""
    return [
        output_row({"window_start": window_start, "window_end": window_end,
                    **dict(zip(RANKED_ROW_FIELDS, tuple(item), strict=True)),
                    "weights_version": weights_version})
        for item in ranked
    ]


def make_window_writer_function(settings_json: str, replace_windows: bool = True) -> Any:
    """The PyFlink scalar function
    ``write_window(window_start, window_end, *columns, weights_version)``.

    Called once per window, when the window is final, with every ranked row of the window
    (overall and per category) as one array per column of ``RANKED_ROW_FIELDS``, and the
    window's weights version. Returns the number of rows written. Non-deterministic, so
    the planner never folds or drops the call.

    Without ``replace_windows`` (a job started without state from offsets an earlier run
    committed, :mod:`jobs.resume`) a window whose Parquet file exists is kept as it is,
    in Parquet and in Redis, and counted in ``windows_kept``: the earlier run wrote it
    from all of its events, this one may have only the events after those offsets.
    """
    import redis
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    from trend_tracker.redis_layout import RedisLayout
    from udfs.parquet_sink import ParquetWindowWriter
    from udfs.redis_sink import RedisRankingWriter
    from udfs.redis_view import PendingRankings, RedisView
    from udfs.settings_transport import settings_from_json

    class WriteWindow(ScalarFunction):
        def is_deterministic(self) -> bool:
            return False  # called for its side effect: never folded or dropped

        def open(self, function_context):
            settings = settings_from_json(settings_json)
            self.parquet = ParquetWindowWriter(settings.parquet_root, settings.s3_storage_options)
            client = redis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=settings.redis_connect_timeout_s,
                socket_timeout=settings.redis_write_timeout_s)
            group = function_context.get_metric_group().add_group("trend")
            parquet = group.add_group("sink", "parquet")
            redis_group = group.add_group("sink", "redis")
            self.redis_refused = redis_group.counter("windows_refused")
            self.redis = RedisView(
                RedisRankingWriter(client, settings.redis_ttl_s, settings.max_categories,
                                   RedisLayout(settings.redis_namespace)),
                # The overall scope and every category Redis keeps, of each kind of ranking.
                PendingRankings(settings.redis_pending_windows,
                                len(output.RANKINGS) * (1 + settings.max_categories)),
                settings.redis_retry_interval_s, on_refused=self.redis_refused.inc)
            self.windows_emitted = group.counter("windows_emitted")
            self.windows_kept = group.counter("windows_kept")
            self.rankings_written = group.counter("rankings_written")
            self.rows_written = group.counter("rows_written")
            self.parquet_failures = parquet.counter("write_failures")
            self.redis_failures = redis_group.counter("write_failures")
            self.latency_ms = {"parquet": 0, "redis": 0}
            parquet.gauge("write_latency_ms", lambda: self.latency_ms["parquet"])
            redis_group.gauge("write_latency_ms", lambda: self.latency_ms["redis"])
            redis_group.gauge("pending_windows", lambda: len(self.redis.pending))
            self.last_window_end = 0
            # Seconds, as Prometheus names times; a window ends on a whole second.
            group.gauge("last_window_end_seconds", lambda: self.last_window_end // 1000)

        def _timed(self, sink: str, action: Callable[[], Any], failures: Any) -> None:
            """Run one sink's write: an exception or a False answer counts as a failure,
            and an exception goes on up."""
            start = time.perf_counter()
            try:
                written = action()
            except Exception:
                failures.inc()
                raise
            if written is False:
                failures.inc()
                return
            # Publish the failure counter at 0 too (PyFlink reports a counter only once it
            # is updated in eval): one that first appears at 1 gives increase() nothing to
            # compare with, so the first failure would go unseen by the alert.
            failures.inc(0)
            self.latency_ms[sink] = int((time.perf_counter() - start) * 1000)

        def eval(self, window_start, window_end, *columns):
            *arrays, weights_version = columns
            ranked = zip(*(array or () for array in arrays), strict=True)
            rows = window_rows(window_start, window_end, ranked, weights_version)
            if not rows:
                return 0
            end_ms = rows[0]["window_end"]
            if not replace_windows and with_retries(lambda: self.parquet.exists(end_ms)):
                self.windows_kept.inc()
                return 0
            self._timed("parquet",
                        lambda: with_retries(lambda: self.parquet.write_window(end_ms, rows)),
                        self.parquet_failures)
            rankings = rankings_from_rows(rows)
            # Never raises for Redis being down: False keeps the window pending.
            self._timed("redis", lambda: self.redis.write(rankings), self.redis_failures)
            self.rankings_written.inc(len(rankings))
            self.rows_written.inc(len(rows))
            self.windows_emitted.inc()
            self.last_window_end = max(self.last_window_end, end_ms)
            return len(rows)

    return udf(WriteWindow(), result_type=DataTypes.INT())
