"""The trending job's topology, top to bottom, as named Flink SQL tables and views.

source -> validate -> (dead letters) -> count per window -> score -> top-N -> window sink

1. ``src_click`` / ``src_cart`` / ``src_purchase``: one Kafka table per topic (``raw`` value
   plus ``topic``/``partition``/``offset`` metadata, and ``doc``, the value's canonical form,
   parsed once per record). The rowtime ``et`` is ``ts``; the watermark is
   ``et - allowed_lateness_s``, with a future ``et`` counting as epoch 0 so it never moves
   the watermark. One table per topic because a bounded read needs per-topic end offsets.
2. ``checked_<type>`` -> ``events_checked``: every record with its dead-letter ``reason``
   (NULL when valid): the checks of :mod:`jobs.validation`, then ``late`` when the record is
   behind the watermark on arrival (``CURRENT_WATERMARK``).
3. ``dead_letters``: every record with a reason, as JSON, to the dead-letter topic.
4. ``valid_events`` -> ``product_counts``: HOP windows, counts per (window, product,
   category) of each event type.
5. ``scored``: ``trend_score`` applies the weights once per aggregate (Python, low volume).
6. ``ranked_overall`` / ``ranked_by_category`` -> ``rankings``: window Top-N, score
   descending then product_id ascending.
7. ``window_results``: all rankings of a window in one row (one array per column);
   ``write_window`` (Python)
   writes it to Parquet and Redis when the window is final.
8. ``event_counts``: counts per (event type, outcome) every few seconds of processing
   time, published as metrics.

All INSERTs run as one statement set, so the topics are read once and every branch sees
the same watermarks.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobs.validation import (
    canonical_sql,
    category_sql,
    computed_once,
    event_time_sql,
    fast_ts_sql,
    late_sql,
    product_id_sql,
    reason_sql,
    sql_string,
    watermark_sql,
)
from trend_tracker.events import Reason
from trend_tracker.settings import Settings
from udfs.window_sink import RANKED_ROW_FIELDS

#: Processing-time interval at which event counts are handed to the metrics function.
EVENT_COUNT_INTERVAL_S = 5

#: Event type -> name of its source table.
SOURCE_TABLES: dict[str, str] = {
    "click": "src_click",
    "cart": "src_cart",
    "purchase": "src_purchase",
}



def sql_interval(seconds: int) -> str:
    """A SQL interval literal for any number of seconds.

    ``INTERVAL '600' SECOND`` is rejected (the leading field's default precision is two
    digits and Flink supports no other), so longer spans are written DAY TO SECOND.
    """
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"

def with_clause(options: Mapping[str, str]) -> str:
    return ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in options.items())


def source_options(settings: Settings, topic: str,
                   end_offsets: Mapping[int, int] | None) -> dict[str, str]:
    """Kafka source options of one topic; ``end_offsets`` makes the read bounded."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.consumer_group,
        "format": "raw",
        "raw.charset": "UTF-8",
    }
    if end_offsets is None:
        # Resume from the offsets committed at the last checkpoint; a new group starts
        # at the beginning of each partition.
        options["scan.startup.mode"] = "group-offsets"
        options["properties.auto.offset.reset"] = "earliest"
    else:
        from jobs.offsets import bounded_scan_options

        options["scan.startup.mode"] = "earliest-offset"
        options.update(bounded_scan_options(end_offsets))
    return options


def source_ddl(settings: Settings, event_type: str, topic: str,
               end_offsets: Mapping[int, int] | None) -> str:
    return f"""
CREATE TEMPORARY TABLE {SOURCE_TABLES[event_type]} (
  payload STRING,
  `topic` STRING METADATA VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,
  doc AS {computed_once(canonical_sql())},
  et AS {event_time_sql()},
  proc AS PROCTIME(),
  WATERMARK FOR et AS {watermark_sql(settings.max_future_skew_s,
                                     sql_interval(settings.allowed_lateness_s))}
) WITH (
  {with_clause(source_options(settings, topic, end_offsets))}
)"""


def checked_view_sql(settings: Settings, event_type: str) -> str:
    """Every record of one topic with its dead-letter reason (NULL when valid)."""
    source = SOURCE_TABLES[event_type]
    reason = reason_sql(event_type, settings.max_future_skew_s)
    return f"""
CREATE TEMPORARY VIEW checked_{event_type} AS
SELECT payload, `topic`, `partition`, `offset`, et, proc,
  {sql_string(event_type)} AS event_type,
  CASE WHEN reason IS NULL AND {late_sql('et')} THEN {sql_string(Reason.LATE.value)}
       ELSE reason END AS reason,
  {product_id_sql()} AS product_id,
  {category_sql()} AS category
FROM (
  SELECT *, {reason} AS reason
  FROM (SELECT *, {computed_once(fast_ts_sql(event_type))} AS fast_ts FROM {source})
)"""


def statements(settings: Settings) -> list[tuple[str, str]]:
    """(name, SQL) of every view and sink table after the sources, in topology order.

    The functions ``trend_score``, ``write_window`` and ``publish_counts`` must be
    registered before these run.
    """
    size, slide, top_n = settings.window_size_s, settings.window_slide_s, settings.top_n
    union = "\nUNION ALL\n".join(f"SELECT * FROM checked_{t}" for t in SOURCE_TABLES)
    counts = ",\n  ".join(
        f"COUNT(*) FILTER (WHERE event_type = {sql_string(t)}) AS {t}s" for t in SOURCE_TABLES
    )
    # One array per column, not one array of ROWs: thread-mode Python functions receive an
    # array of ROWs with every element equal to the last one (PyFlink 2.0). The arrays are
    # filled from the same rows in the same order, so their positions line up.
    ranked_arrays = ",\n  ".join(f"ARRAY_AGG(`{name}`) AS `{name}_list`"
                                  for name in RANKED_ROW_FIELDS)
    ranked_columns = ("window_start, window_end, window_time, {category}, "
                      "CAST(rn AS INT) AS `rank`, product_id, score, clicks, carts, purchases, "
                      "weights_version")
    return [
        *((f"checked_{t}", checked_view_sql(settings, t)) for t in SOURCE_TABLES),
        ("events_checked", f"CREATE TEMPORARY VIEW events_checked AS\n{union}"),
        ("dead_letters_table", f"""
CREATE TEMPORARY TABLE dead_letters (
  payload STRING, `topic` STRING, `partition` INT, `offset` BIGINT, reason STRING
) WITH (
  {with_clause({
      "connector": "kafka",
      "topic": settings.topic_dlq,
      "properties.bootstrap.servers": settings.bootstrap_servers,
      "format": "json",
      "json.encode.ignore-null-fields": "false",
      "sink.delivery-guarantee": "at-least-once",
  })}
)"""),
        ("valid_events", """
CREATE TEMPORARY VIEW valid_events AS
SELECT product_id, category, event_type, et FROM events_checked WHERE reason IS NULL"""),
        ("product_counts", f"""
CREATE TEMPORARY VIEW product_counts AS
SELECT window_start, window_end, window_time, product_id, category,
  {counts}
FROM TABLE(HOP(TABLE valid_events, DESCRIPTOR(et),
               {sql_interval(slide)}, {sql_interval(size)}))
GROUP BY window_start, window_end, window_time, product_id, category"""),
        ("scored", """
CREATE TEMPORARY VIEW scored AS
SELECT window_start, window_end, window_time, product_id, category, clicks, carts, purchases,
  s.score AS score, s.weights_version AS weights_version
FROM (SELECT *, trend_score(window_end, clicks, carts, purchases) AS s FROM product_counts)"""),
        ("ranked_overall", f"""
CREATE TEMPORARY VIEW ranked_overall AS
SELECT {ranked_columns.format(category='CAST(NULL AS STRING) AS category')}
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                                   ORDER BY score DESC, product_id ASC) AS rn
      FROM scored)
WHERE rn <= {top_n}"""),
        ("ranked_by_category", f"""
CREATE TEMPORARY VIEW ranked_by_category AS
SELECT {ranked_columns.format(category='category')}
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, category
                                   ORDER BY score DESC, product_id ASC) AS rn
      FROM scored)
WHERE rn <= {top_n}"""),
        ("rankings", """
CREATE TEMPORARY VIEW rankings AS
SELECT * FROM ranked_overall UNION ALL SELECT * FROM ranked_by_category"""),
        ("window_results", f"""
CREATE TEMPORARY VIEW window_results AS
SELECT window_start, window_end,
  {ranked_arrays}
FROM rankings
GROUP BY window_start, window_end, window_time"""),
        ("event_counts", f"""
CREATE TEMPORARY VIEW event_counts AS
SELECT event_type, COALESCE(reason, 'valid') AS outcome, COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE events_checked, DESCRIPTOR(proc),
                  {sql_interval(EVENT_COUNT_INTERVAL_S)}))
GROUP BY window_start, window_end, event_type, COALESCE(reason, 'valid')"""),
        ("written_windows_table", """
CREATE TEMPORARY TABLE written_windows (window_end TIMESTAMP(3), `rows` INT)
WITH ('connector' = 'blackhole')"""),
        ("published_counts_table", """
CREATE TEMPORARY TABLE published_counts (event_type STRING, outcome STRING, delta BIGINT)
WITH ('connector' = 'blackhole')"""),
    ]


#: (name, INSERT) of the three sinks, all in one statement set.
INSERTS: list[tuple[str, str]] = [
    ("dead-letters", """
INSERT INTO dead_letters
SELECT payload, `topic`, `partition`, `offset`, reason FROM events_checked
WHERE reason IS NOT NULL"""),
    ("window-sink", """
INSERT INTO written_windows
SELECT window_end, write_window(window_start, window_end, """ + ", ".join(
        f"`{name}_list`" for name in RANKED_ROW_FIELDS) + """) FROM window_results"""),
    ("event-count-metrics", """
INSERT INTO published_counts
SELECT event_type, outcome, publish_counts(event_type, outcome, events) FROM event_counts"""),
]
