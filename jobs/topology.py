"""The job's topology, top to bottom, as named Flink SQL tables and views.

source (decode) -> checked -> late gate -> (dead letters) -> window: count, score, rank
-> window sink

The logic is :func:`views`: from the decoded sources to the two outputs, each step a named
query, built from the settings alone (no connection, no environment).
:func:`create_views` makes them views of a table environment and returns the outputs. The
wiring is apart from it: :func:`source_ddl` (the Kafka sources), :func:`sink_ddls` (the
dead-letter topic and the window sink's table) and :data:`WINDOW_SINK_QUERY`, put
together by :func:`jobs.trending.build`.

1. ``src_click`` / ``src_cart`` / ``src_purchase``: one Kafka table per topic, decoded by the
   ``trend-event`` format (the project's Java decoder, ``udfs/java``): one parse per record
   gives the dead-letter ``reason`` (NULL when valid), ``product_id``, ``category``, ``ts``
   and ``arrival_ts`` (the clock at decoding), plus the raw ``payload`` for the dead-letter
   topic (with ``partition`` and ``offset``). The event time is ``et`` (``ts``); the
   watermark is ``LEAST(et, arrival) - allowed_lateness_s``, so an event stamped ahead of
   the clock (up to ``max_future_skew_s``) cannot take it past the present. An invalid
   record has ``ts`` 0, so it never moves the watermark. One table per topic, because a
   bounded read needs per-topic end offsets and the decoder checks that an event's type
   belongs on its topic.
2. ``checked_<type>``: every record with its reason, in the late gate's columns;
   ``decoded_records`` is the union of the three.
3. The late gate (Java, ``dev.trendtracker.lateness.LateGate``, one subtask): the one
   place where each record's fate is decided. A record with a reason, and a valid record
   at or behind the gate's watermark (reason ``late``), go to ``invalid_events``; every
   other valid record goes to ``valid_events``. The window operator's watermark is never
   ahead of the gate's (it is downstream, and both restore their watermark from a
   checkpoint), so no event that the gate lets through is dropped by a window: each valid
   event is counted in its windows or dead-lettered as ``late``, exactly one of the two,
   after a restore and when an idle topic sends again too.
   ``dead_letter_records`` -> ``dead_letters``: every record with a reason, as JSON, to the
   dead-letter topic, counted by ``count_dead_letter`` (Java) as it goes.
   ``dead_letter_payload`` (Java) gives what a dead letter carries of the value: a prefix
   of at most ``dead_letter_payload_prefix_bytes``, the size in bytes and the SHA-256, so
   an envelope always fits the producer's ``max.request.size``. Each is keyed
   ``{topic}/{partition}/{offset}``, written in transactions committed with the
   checkpoints: exactly once for ``read_committed`` readers.
4. ``valid_events`` -> ``window_counts``: HOP windows of the valid events, aggregated by
   ``window_counts`` (Java, ``dev.trendtracker.scoring.CountWindow``): counts per (product,
   category) and event type in each slice of the window, added up when the window fires.
5. ``window_results``: ``rank_window`` (Java, ``dev.trendtracker.scoring.RankWindow``), an
   OVER aggregate over the windows in event-time order, once per window: each product scored
   with the window's weights, and the top-N overall and per category of two rankings:
   popular (score descending) and rising (momentum against the window ``size`` earlier,
   descending), ties by product_id ascending, each item with its rank in the previous
   window. One row per window: one array per output-row column and the window's one
   ``weights_version``.
6. ``write_window`` (Python, once per window) writes it to Parquet and Redis.

Event counts are metrics counted in the JVM where each fact is known: ``events_read`` by
``count_read`` in the checked views, ``events_valid`` by ``window_counts``,
``dead_letters`` by ``count_dead_letter``.

Both sinks run in one statement set and read only the gate's outputs, so the topics are
read once and every branch sees the gate's watermarks. Hosts, ports and topics come from
the settings, never from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trend_tracker.events import EVENT_TYPES, Reason
from trend_tracker.output_row import RANKED_ARRAY_FIELDS
from trend_tracker.settings import Settings

#: Event type -> name of its source table.
SOURCE_TABLES: dict[str, str] = {
    "click": "src_click",
    "cart": "src_cart",
    "purchase": "src_purchase",
}

#: Name of the decoding format (``dev.trendtracker.format``).
EVENT_FORMAT = "trend-event"

#: The dead-letter topic's key column: ``{topic}/{partition}/{offset}`` of the bad record.
DEAD_LETTER_KEY = "dead_letter_key"
#: The dead-letter topic's table, and the view of the records it takes.
DEAD_LETTERS = "dead_letters"
DEAD_LETTER_RECORDS = "dead_letter_records"
#: The view of every decoded record of the three topics: the late gate's input.
DECODED_RECORDS = "decoded_records"
#: The view of one row per window, ranked.
WINDOW_RESULTS = "window_results"


def sql_string(text: str) -> str:
    """A SQL string literal (Flink SQL has no backslash escapes, only doubled quotes)."""
    return "'" + text.replace("'", "''") + "'"


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


def source_options(settings: Settings, topic: str, end_offsets: Mapping[int, int] | None,
                   event_type: str | None = None) -> dict[str, str]:
    """Kafka source options of one topic; ``end_offsets`` makes the read bounded.

    With ``event_type`` the records are decoded by the event format; without it they are
    read ``raw`` (one ``payload`` column: the benchmarks' baseline).
    """
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.group.id": settings.consumer_group,
    }
    if event_type is None:
        options.update({"format": "raw", "raw.charset": "UTF-8"})
    else:
        options.update({
            "format": EVENT_FORMAT,
            f"{EVENT_FORMAT}.event-type": event_type,
            f"{EVENT_FORMAT}.max-future-skew-ms": str(settings.max_future_skew_s * 1000),
        })
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
    """One topic's source table. Event time is ``et``; its watermark never passes the
    record's arrival (``arrival_ts``, the clock when it was decoded) less the allowed
    lateness, so an event stamped ahead of the clock does not make the others late. On a
    backlog (a backfill) arrival is long after ``et``, and the watermark is ``et``'s."""
    lateness = sql_interval(settings.allowed_lateness_s)
    return f"""
CREATE TEMPORARY TABLE {SOURCE_TABLES[event_type]} (
  payload STRING,
  reason STRING,
  product_id STRING,
  category STRING,
  ts BIGINT,
  arrival_ts BIGINT,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,
  et AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR et AS LEAST(et, TO_TIMESTAMP_LTZ(arrival_ts, 3)) - {lateness}
) WITH (
  {with_clause(source_options(settings, topic, end_offsets, event_type))}
)"""


def dead_letter_options(settings: Settings) -> dict[str, str]:
    """Kafka sink options of the dead-letter topic: JSON values keyed by the bad record's
    position (raw key), and the producer's size limit set explicitly."""
    return {
        "connector": "kafka",
        "topic": settings.topic_dead_letters,
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "key.format": "raw",
        "key.fields": DEAD_LETTER_KEY,
        "value.format": "json",
        "value.json.encode.ignore-null-fields": "false",
        "value.fields-include": "EXCEPT_KEY",
        # Exactly once: written in Kafka transactions that commit with the checkpoints, so
        # a read_committed reader sees each dead letter once, across restores. The prefix
        # is the job's own (its consumer group): a restored job aborts what its failed
        # attempt left open, and no other job's transactions are fenced.
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": f"{settings.consumer_group}-dead-letters",
        "properties.transaction.timeout.ms": str(
            settings.dead_letter_transaction_timeout * 1000),
        # Every envelope fits (settings check the payload prefix against this).
        "properties.max.request.size": str(settings.dead_letter_max_request_bytes),
    }


def checked_query(event_type: str, topic: str) -> str:
    """Every record of one topic with its dead-letter reason (NULL when valid), in the late
    gate's input columns (:data:`GATE_COLUMNS`).

    The topic is a literal: each source reads one topic, and the ``topic`` metadata column
    would cost a string conversion per record.
    """
    return f"""
SELECT payload, {sql_string(topic)} AS `topic`, `partition`, `offset`,
  {sql_string(event_type)} AS event_type,
  count_read({EVENT_TYPES.index(event_type)}) AS event_type_code,
  reason, product_id, category, et
FROM {SOURCE_TABLES[event_type]}"""


#: The late gate's input columns (``dev.trendtracker.lateness.LateGate``), in order.
GATE_COLUMNS: tuple[str, ...] = (
    "payload", "topic", "partition", "offset", "event_type", "event_type_code", "reason",
    "product_id", "category", "et")


@dataclass(frozen=True, slots=True)
class Gate:
    """A step that is not a query: one output of the late gate over the view ``records``
    (``on_time`` or ``dead_letters``). See :func:`create_views`."""

    records: str
    output: str


# --- the logic: from the decoded sources to the job's two outputs ------------------------


def views(settings: Settings) -> list[tuple[str, str]]:
    """(name, query) of each step after the sources, in topology order: each step is a view
    named here, over the source tables and the steps before it. Pure: it reads the settings
    and builds SQL, nothing else.

    The functions ``count_read``, ``dead_letter_payload``, ``window_counts``,
    ``rank_window`` and ``count_dead_letter`` must be registered before the queries are
    planned (:func:`jobs.trending.build`).
    """
    size, slide = settings.window_size_s, settings.window_slide_s
    arrays = ",\n  ".join(f"ranked.`{name}` AS `{name}_list`" for name in RANKED_ARRAY_FIELDS)
    return [
        *((f"checked_{t}", checked_query(t, topic))
          for t, topic in settings.event_topics.items()),
        (DECODED_RECORDS, "\nUNION ALL\n".join(f"SELECT * FROM checked_{t}"
                                                for t in SOURCE_TABLES)),
        # The one decision between the windows and the dead-letter topic (LateGate).
        ("valid_events", Gate(DECODED_RECORDS, "on_time")),
        ("invalid_events", Gate(DECODED_RECORDS, "dead_letters")),
        # What the dead-letter topic takes, in its columns' order (see DEAD_LETTER_COLUMNS).
        # The payload is cut and hashed here, so only dead letters are hashed.
        (DEAD_LETTER_RECORDS, f"""
SELECT CONCAT(`topic`, '/', CAST(`partition` AS STRING), '/', CAST(`offset` AS STRING))
    AS {DEAD_LETTER_KEY},
  letter.payload AS payload, `topic`, `partition`, `offset`,
  count_dead_letter(event_type, reason) AS reason,
  letter.payload_bytes AS payload_bytes, letter.payload_sha256 AS payload_sha256
FROM (SELECT dead_letter_payload(payload, {settings.dead_letter_payload_prefix_bytes})
        AS letter, `topic`, `partition`, `offset`, event_type, reason
      FROM invalid_events)"""),
        ("window_counts", f"""
SELECT window_start, window_end, window_time,
  window_counts(product_id, category, event_type_code) AS counts
FROM TABLE(HOP(TABLE valid_events, DESCRIPTOR(et),
               {sql_interval(slide)}, {sql_interval(size)}))
GROUP BY window_start, window_end, window_time"""),
        # One row per window: the frame holds this window and those up to size + slide
        # before it (the previous non-overlapping window, and the previous window's).
        (WINDOW_RESULTS, f"""
SELECT window_start, window_end,
  {arrays},
  ranked.weights_version AS weights_version
FROM (SELECT window_start, window_end,
        rank_window(window_end, counts) OVER (
          ORDER BY window_time
          RANGE BETWEEN {sql_interval(size + slide)} PRECEDING AND CURRENT ROW) AS ranked
      FROM window_counts)"""),
    ]


@dataclass(frozen=True, slots=True)
class Outputs:
    """The logic's two results, as the sinks take them."""

    #: One row per bad record, in the dead-letter table's columns.
    dead_letters: Any
    #: One row per window: its rankings as one array per output-row column.
    window_results: Any


def create_views(t_env, settings: Settings) -> Outputs:
    """Create every step of :func:`views` as a temporary view of ``t_env`` (whose source
    tables and functions exist), and return the two outputs.

    A :class:`Gate` step is an output of the late gate (Java,
    ``dev.trendtracker.lateness.LateGates``) over its records' view, made once per view.
    Everything after the gate reads the gate's outputs only, so the sources are planned
    once, with the gate between them and both sinks.
    """
    gated: dict[str, Any] = {}
    for name, step in views(settings):
        if isinstance(step, Gate):
            if step.records not in gated:
                gated[step.records] = late_gate(t_env, t_env.from_path(step.records))
            t_env.create_temporary_view(name, gated[step.records][step.output])
        else:
            t_env.create_temporary_view(name, t_env.sql_query(step))
    return Outputs(t_env.from_path(DEAD_LETTER_RECORDS), t_env.from_path(WINDOW_RESULTS))


def late_gate(t_env, records) -> dict[str, Any]:
    """The late gate over ``records`` (a table in :data:`GATE_COLUMNS`): its ``on_time``
    and ``dead_letters`` outputs as tables of ``t_env``."""
    from pyflink.java_gateway import get_gateway
    from pyflink.table import Table

    on_time, dead_letters = get_gateway().jvm.dev.trendtracker.lateness.LateGates.split(
        t_env._j_tenv, records._j_table, Reason.LATE.value)
    return {"on_time": Table(on_time, t_env), "dead_letters": Table(dead_letters, t_env)}


# --- the wiring: sink tables ---------------------------------------------------------------

#: The dead-letter topic's columns: the key, then the JSON envelope's fields.
DEAD_LETTER_COLUMNS: tuple[tuple[str, str], ...] = (
    (DEAD_LETTER_KEY, "STRING"), ("payload", "STRING"), ("topic", "STRING"),
    ("partition", "INT"), ("offset", "BIGINT"), ("reason", "STRING"),
    ("payload_bytes", "BIGINT"), ("payload_sha256", "STRING"),
)

#: The window sink's table: what ``write_window`` returns per window, discarded.
WRITTEN_WINDOWS = "written_windows"


def sink_ddls(settings: Settings) -> dict[str, str]:
    """Table name -> DDL of the two sinks: the dead-letter topic, and the window sink's
    table (the writing happens in ``write_window``; its results are discarded)."""
    columns = ",\n  ".join(f"`{name}` {sql_type}" for name, sql_type in DEAD_LETTER_COLUMNS)
    return {
        DEAD_LETTERS: f"""
CREATE TEMPORARY TABLE {DEAD_LETTERS} (
  {columns}
) WITH (
  {with_clause(dead_letter_options(settings))}
)""",
        WRITTEN_WINDOWS: f"""
CREATE TEMPORARY TABLE {WRITTEN_WINDOWS} (window_end TIMESTAMP(3), `rows` INT)
WITH ('connector' = 'blackhole')""",
    }


#: The window sink: ``write_window`` (Python, once per window) over the window results.
WINDOW_SINK_QUERY = f"""
SELECT window_end, write_window(window_start, window_end, {", ".join(
    f"`{name}_list`" for name in RANKED_ARRAY_FIELDS)}, weights_version)
FROM {WINDOW_RESULTS}"""
