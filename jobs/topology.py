"""The job's topology, top to bottom: named Flink SQL tables and views around the keyed core.

source (decode) -> checked -> keyed core (count, late, score, rank) -> (dead letters)
-> window sink

The logic is :func:`views`: from the decoded sources to the two outputs, each step named,
built from the settings alone (no connection, no environment). :func:`create_views` makes
them views of a table environment and returns the outputs. The wiring is apart from it:
:func:`source_ddl` (the Kafka sources), :func:`weights_source_ddl` (the weights topic),
:func:`sink_ddls` (the dead-letter topic and the window sink's table) and
:data:`WINDOW_SINK_QUERY`, put together by :func:`jobs.trending.build`.

1. ``src_click`` / ``src_cart`` / ``src_purchase``: one Kafka table per topic, decoded by the
   ``trend-event`` format (the project's Java decoder, ``udfs/java``): one parse per record
   gives the dead-letter ``reason`` (NULL when valid), ``product_id``, ``category``,
   ``event_id``, ``user_id`` and ``ts``, plus the raw ``payload`` for the dead-letter topic
   (with ``partition``, ``offset`` and the record's ``headers``). ``arrival`` is the record's
   timestamp in the topic: the broker's append time on topics created with
   ``message.timestamp.type=LogAppendTime`` (as ``trend topics create`` and the deployments
   create them), so it is the same whenever the record is read. The event time is ``et``
   (``ts``); the watermark is ``LEAST(et, arrival) - out_of_orderness_s``, so an event stamped
   ahead of its arrival cannot take it past the present of its arrival. An invalid record has
   ``ts`` 0 and a ``future_ts`` one counts as 0 there, so neither moves the watermark. One
   table per topic, because a bounded read needs per-topic end offsets and the decoder checks
   that an event's type belongs on its topic.
2. ``checked_<type>``: every record with its reason, in the core's input columns
   (:data:`RECORD_COLUMNS`): the decoder's, or ``future_ts`` for a valid event stamped more
   than ``max_future_skew_s`` after its arrival, and the record's ``traceparent`` header
   (NULL without one). ``decoded_records`` is the union of the three.
3. The keyed core (Java, ``dev.trendtracker.window.TrendTables`` around ``TrendTopology``),
   a DataStream graph with every operator at the job's parallelism: invalid records go to
   ``invalid_events`` as they are; valid ones are keyed by product_id, counted per slice
   and window (``product-windows``), and each window fires when the watermark passes its
   end. An event whose every window is final (behind ``window_end - 1 +
   allowed_lateness_s``) is a dead letter with reason ``late``; a copy of an event the
   product counted, with the same ``event_id`` and ``event_type`` and a ``ts`` less than
   ``dedup_horizon_s`` away, is a dead letter with reason ``duplicate``; any other is
   counted, and a window it arrives in after firing fires again (an update, written over
   the first). Each window counts a user's events of one type on the product at most
   ``max_events_per_user`` times.
   Each subtask sends its top-N candidates to a merge keyed by window end
   (``window-merge``), and ``previous-ranks`` adds each item's rank in the window one
   slide earlier. ``window_results`` is one row per emission of a window: its rankings
   (popular and rising, overall and per category, a product once per window, in the
   category of its latest event) as one array per output-row column, and the window's
   ``weights_version``. Windows are scored with the weights in force at their end: the
   newest record of the weights topic (``weights_records``, read from the beginning and
   broadcast to the core) that applies from that time or before; before any, the weights
   the job started with. A bounded run reads no weights topic.
4. ``dead_letter_records`` -> ``dead_letters``: every record with a reason, as a JSON
   envelope written by ``dead_letter_envelope`` (Java), to the dead-letter topic, counted by
   ``count_dead_letter`` (Java) as it goes. The envelope carries the record's
   ``traceparent`` when it had one, so a refused event leads back to its request.
   ``dead_letter_payload`` (Java) gives what a dead letter carries of the value: a prefix
   of at most ``dead_letter_payload_prefix_bytes``, the size in bytes and the SHA-256, so
   an envelope always fits the producer's ``max.request.size``. Each is keyed
   ``{topic}/{partition}/{offset}``: delivery is exactly once for ``read_committed``
   readers (Kafka transactions that commit with the checkpoints).
5. ``write_window`` (Python, once per emission of a window) writes it to Parquet and Redis,
   over an earlier emission of the same window.

Event counts are metrics counted in the JVM where each fact is known: ``events_read`` by
``count_read`` in the checked views, ``events_valid`` by the core (events counted in a
window), ``dead_letters`` by ``count_dead_letter``.

Both sinks run in one statement set and read only the core's outputs, so the topics are
read once. Hosts, ports and topics come from the settings, never from here.
"""

from __future__ import annotations

import math
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
#: Its value column: the JSON envelope (``dev.trendtracker.deadletter.DeadLetterEnvelope``).
DEAD_LETTER_ENVELOPE = "envelope"
#: The record header that carries its request's W3C trace context (written by ingest).
TRACEPARENT = "traceparent"
#: The dead-letter topic's table, and the view of the records it takes.
DEAD_LETTERS = "dead_letters"
DEAD_LETTER_RECORDS = "dead_letter_records"
#: The view of every decoded record of the three topics: the keyed core's input.
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


def connection_options(settings: Settings) -> dict[str, str]:
    """The Kafka connector's ``properties.*`` that say how to reach the brokers: address,
    security protocol, SASL mechanism, CA. Never a secret, as connector options travel in the
    job graph: the JVMs that run the connectors log in from their JAAS file
    (:mod:`trend_tracker.kafka_config`)."""
    from trend_tracker.kafka_config import java_client_properties

    return {f"properties.{key}": value
            for key, value in java_client_properties(settings).items()}


def source_options(settings: Settings, topic: str, end_offsets: Mapping[int, int] | None,
                   event_type: str | None = None) -> dict[str, str]:
    """Kafka source options of one topic; ``end_offsets`` makes the read bounded.

    With ``event_type`` the records are decoded by the event format; without it they are
    read ``raw`` (one ``payload`` column: the benchmarks' baseline).
    """
    options = {
        "connector": "kafka",
        "topic": topic,
        **connection_options(settings),
        "properties.group.id": settings.consumer_group,
    }
    if event_type is None:
        options.update({"format": "raw", "raw.charset": "UTF-8"})
    else:
        # No future skew for the decoder: an event is judged against its arrival in the
        # topic, not the clock when it is read (checked_query).
        options.update({
            "format": EVENT_FORMAT,
            f"{EVENT_FORMAT}.event-type": event_type,
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
    record's arrival (``arrival``, its timestamp in the topic: the broker's append time)
    less the out-of-orderness, so an event stamped ahead of its arrival does not make the
    others late, however long after its arrival the record is read. On a backlog arrival
    is long after ``et``, and the watermark is ``et``'s. A ``future_ts`` record moves it not
    at all: in a topic loaded with old events, its arrival would pass every event after it.
    """
    lateness = sql_interval(settings.out_of_orderness_s)
    future = future_condition(settings.max_future_skew_s)
    return f"""
CREATE TEMPORARY TABLE {SOURCE_TABLES[event_type]} (
  payload STRING,
  reason STRING,
  product_id STRING,
  category STRING,
  event_id STRING,
  user_id STRING,
  ts BIGINT,
  arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,
  headers MAP<STRING, BYTES> METADATA VIRTUAL,
  et AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR et AS CASE WHEN {future} THEN TO_TIMESTAMP_LTZ(0, 3)
    ELSE LEAST(et, arrival) END - {lateness}
) WITH (
  {with_clause(source_options(settings, topic, end_offsets, event_type))}
)"""


def dead_letter_options(settings: Settings) -> dict[str, str]:
    """Kafka sink options of the dead-letter topic: JSON envelopes (written by the job, raw
    here) keyed by the bad record's position (raw key), and the producer's size limit set
    explicitly."""
    return {
        "connector": "kafka",
        "topic": settings.topic_dead_letters,
        **connection_options(settings),
        "key.format": "raw",
        "key.fields": DEAD_LETTER_KEY,
        "value.format": "raw",
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


def future_condition(max_future_skew_s: int) -> str:
    """The SQL condition of a ``future_ts`` event: stamped more than ``max_future_skew_s``
    after its arrival in the topic."""
    return f"et > arrival + {sql_interval(max_future_skew_s)}"


def checked_query(event_type: str, topic: str, max_future_skew_s: int) -> str:
    """Every record of one topic with its dead-letter reason (NULL when valid), in the core's
    input columns (:data:`RECORD_COLUMNS`): the decoder's reason, or ``future_ts`` for a
    valid event stamped more than ``max_future_skew_s`` after its arrival in the topic (so
    a record is judged the same whenever it is read).

    The topic is a literal: each source reads one topic, and the ``topic`` metadata column
    would cost a string conversion per record.
    """
    return f"""
SELECT payload, CAST({sql_string(topic)} AS STRING) AS `topic`, `partition`, `offset`,
  CAST({sql_string(event_type)} AS STRING) AS event_type,
  count_read({EVENT_TYPES.index(event_type)}) AS event_type_code,
  CASE WHEN reason IS NULL AND {future_condition(max_future_skew_s)}
    THEN {sql_string(Reason.FUTURE_TS.value)} ELSE reason END AS reason,
  product_id, category, event_id, user_id, et,
  CAST(headers[{sql_string(TRACEPARENT)}] AS STRING) AS traceparent
FROM {SOURCE_TABLES[event_type]}"""


#: The core's input columns (``dev.trendtracker.window.TrendTables``), in order.
RECORD_COLUMNS: tuple[str, ...] = (
    "payload", "topic", "partition", "offset", "event_type", "event_type_code", "reason",
    "product_id", "category", "event_id", "user_id", "et", "traceparent")

#: The latest time a weights record's event time is stamped from: 9999-12-31T23:59:59.999Z,
#: the last millisecond of Flink's timestamps. A record applying later is stamped there, and
#: applies to no window either way. Unclamped, a record on the topic with ``applies_from_ms``
#: 2**63 - 1 had a NULL event time, which failed the job on every restart (it is read again
#: from the topic each time): no window was written again.
LAST_APPLIES_MS = 253_402_300_799_999

#: The weights topic's table, and the view of this job's weights records in it.
WEIGHTS_TOPIC_TABLE = "weights_topic"
WEIGHTS_RECORDS = "weights_records"


@dataclass(frozen=True, slots=True)
class Core:
    """A step that is not a query: one output of the keyed core over the view ``records``
    (``window_results`` or ``dead_letters``). See :func:`create_views`."""

    records: str
    output: str


# --- the logic: from the decoded sources to the job's two outputs ------------------------


def views(settings: Settings) -> list[tuple[str, str | Core]]:
    """(name, query) of each step after the sources, in topology order: each step is a view
    named here, over the source tables and the steps before it. Pure: it reads the settings
    and builds SQL, nothing else.

    The functions ``count_read``, ``dead_letter_payload``, ``dead_letter_envelope`` and
    ``count_dead_letter`` must be registered before the queries are planned
    (:func:`jobs.trending.build`).
    """
    return [
        *((f"checked_{t}", checked_query(t, topic, settings.max_future_skew_s))
          for t, topic in settings.event_topics.items()),
        (DECODED_RECORDS, "\nUNION ALL\n".join(f"SELECT * FROM checked_{t}"
                                                for t in SOURCE_TABLES)),
        # The keyed core: the windows' rankings, and every record that is not counted.
        (WINDOW_RESULTS, Core(DECODED_RECORDS, "window_results")),
        ("invalid_events", Core(DECODED_RECORDS, "dead_letters")),
        # What the dead-letter topic takes, in its columns' order (see DEAD_LETTER_COLUMNS).
        # The payload is cut and hashed, and the envelope written, here: only for dead
        # letters.
        (DEAD_LETTER_RECORDS, f"""
SELECT CONCAT(`topic`, '/', CAST(`partition` AS STRING), '/', CAST(`offset` AS STRING))
    AS {DEAD_LETTER_KEY},
  dead_letter_envelope(letter.payload, `topic`, `partition`, `offset`,
    count_dead_letter(event_type, reason), letter.payload_bytes, letter.payload_sha256,
    traceparent) AS {DEAD_LETTER_ENVELOPE}
FROM (SELECT dead_letter_payload(payload, {settings.dead_letter_payload_prefix_bytes})
        AS letter, `topic`, `partition`, `offset`, event_type, reason, traceparent
      FROM invalid_events)"""),
    ]


@dataclass(frozen=True, slots=True)
class Outputs:
    """The logic's two results, as the sinks take them."""

    #: One row per bad record, in the dead-letter table's columns.
    dead_letters: Any
    #: One row per emission of a window: its rankings as one array per output-row column.
    window_results: Any


def create_views(t_env, settings: Settings, initial_weights: str,
                 weights_records: str | None) -> Outputs:
    """Create every step of :func:`views` as a temporary view of ``t_env`` (whose source
    tables and functions exist), and return the two outputs.

    A :class:`Core` step is an output of the keyed core (Java,
    ``dev.trendtracker.window.TrendTables``) over its records' view, made once per view,
    scoring with ``initial_weights`` (a weights record) until a record of the view
    ``weights_records`` applies (None: no weights topic). Everything after the core reads
    its outputs only, so the sources are planned once.
    """
    cores: dict[str, Any] = {}
    for name, step in views(settings):
        if isinstance(step, Core):
            if step.records not in cores:
                weights = t_env.from_path(weights_records) if weights_records else None
                cores[step.records] = keyed_core(t_env, t_env.from_path(step.records),
                                                 weights, settings, initial_weights)
            t_env.create_temporary_view(name, cores[step.records][step.output])
        else:
            t_env.create_temporary_view(name, t_env.sql_query(step))
    return Outputs(t_env.from_path(DEAD_LETTER_RECORDS), t_env.from_path(WINDOW_RESULTS))


def keyed_core(t_env, records, weights, settings: Settings,
               initial_weights: str) -> dict[str, Any]:
    """The keyed core over ``records`` (a table in :data:`RECORD_COLUMNS`) and ``weights``
    (a table of weights records, or None): its ``window_results`` and ``dead_letters`` as
    tables of ``t_env``."""
    from pyflink.table import Table

    from trend_tracker.jars import ModuleClass

    tables = ModuleClass("dev.trendtracker.window.TrendTables", settings.udf_jar)
    window_results, dead_letters = tables.attach(
        t_env._j_tenv, records._j_table, weights._j_table if weights is not None else None,
        settings.window_size_s * 1000, settings.window_slide_s * 1000,
        settings.allowed_lateness_s * 1000, settings.top_n, settings.max_categories,
        float(settings.rising_prior), float(settings.rising_min_score),
        settings.rising_recent_slides,
        -math.inf if settings.rising_min_z is None else float(settings.rising_min_z),
        float(settings.rising_dispersion), settings.dedup_horizon_s * 1000,
        settings.max_events_per_user, initial_weights, Reason.LATE.value,
        Reason.DUPLICATE.value)
    return {"window_results": Table(window_results, t_env),
            "dead_letters": Table(dead_letters, t_env)}


def weights_source_ddl(settings: Settings) -> str:
    """The weights topic's table, read from the beginning: a record's key and its value as
    text. Its event time is one millisecond before the record applies (``applies_from_ms``,
    else ``published_ms``), and its watermark follows it, so the core's windows wait for
    the weights that apply to them (``dev.trendtracker.window.WeightsRecord``); while the
    topic is quiet it goes idle after ``source_idle_timeout_s`` and holds nothing back. A
    record without either time is stamped at the epoch (the core skips it). Every time is
    held between the epoch and :data:`LAST_APPLIES_MS`, so no record's event time is NULL."""
    options = {
        "connector": "kafka",
        "topic": settings.topic_weights,
        **connection_options(settings),
        "properties.group.id": f"{settings.consumer_group}-weights",
        "scan.startup.mode": "earliest-offset",
        # The topic has one partition: one reader, and no reader without a partition that
        # would hold the weights' watermark back until it goes idle.
        "scan.parallelism": "1",
        "key.format": "raw",
        "key.fields": "key",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
    }
    return f"""
CREATE TEMPORARY TABLE {WEIGHTS_TOPIC_TABLE} (
  `key` STRING,
  `value` STRING,
  applies AS TO_TIMESTAMP_LTZ(GREATEST(LEAST(COALESCE(
    TRY_CAST(JSON_VALUE(`value`, '$.applies_from_ms') AS BIGINT),
    TRY_CAST(JSON_VALUE(`value`, '$.published_ms') AS BIGINT), 0), {LAST_APPLIES_MS}), 0) - 1, 3),
  WATERMARK FOR applies AS applies
) WITH (
  {with_clause(options)}
)"""


def weights_records_query(key: str) -> str:
    """This job's records of the weights topic (those under its weights key), the value
    first, as the core takes them."""
    return (f"SELECT `value`, applies FROM {WEIGHTS_TOPIC_TABLE} "
            f"WHERE `key` = {sql_string(key)}")


# --- the wiring: sink tables ---------------------------------------------------------------

#: The dead-letter topic's columns: the key, and the JSON envelope as written by
#: ``dead_letter_envelope`` (fields ``payload``, ``topic``, ``partition``, ``offset``,
#: ``reason``, ``payload_bytes``, ``payload_sha256`` and, when the record had one,
#: ``traceparent``).
DEAD_LETTER_COLUMNS: tuple[tuple[str, str], ...] = (
    (DEAD_LETTER_KEY, "STRING"), (DEAD_LETTER_ENVELOPE, "BYTES"),
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
