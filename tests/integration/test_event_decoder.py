"""The ``trend-event`` format in a real Flink job, payload by payload.

Every payload of the contract corpus (tests/contract/event_corpus.py) is written to a fresh
topic of the local broker, one record per produce batch (the broker under-reports the end
of a partition after batched writes), and read back by an embedded Flink job through three
source tables, one per event type, declared as the job declares them. For every payload and
every topic type, the decoder's reason must be the one ``classify`` gives, and for the
payload's own topic type the corpus's hand-written verdict, with the exact product_id,
category and ts of a valid event (and ts 0, no ids, for an invalid one), and the clock at
decoding as arrival_ts.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from jobs.offsets import bounded_scan_options, end_offsets
from jobs.topology import with_clause
from tests.contract.event_corpus import CASES, SKEW_MS
from trend_tracker.events import classify
from trend_tracker.settings import Settings

pytestmark = pytest.mark.integration

TOPIC_TYPES = ("click", "cart", "purchase")
COLUMNS = """
  payload STRING,
  reason STRING,
  product_id STRING,
  category STRING,
  ts BIGINT,
  arrival_ts BIGINT,"""
#: The job's metadata, rowtime and watermark (jobs/topology.py), so the planner takes the
#: same path (watermark push-down into the Kafka source) as in the job.
METADATA = """
  `topic` STRING METADATA VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,"""
SOURCE_TAIL = METADATA + """
  et AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR et AS LEAST(et, TO_TIMESTAMP_LTZ(arrival_ts, 3)) - INTERVAL '5' SECOND"""


def produce_one_per_batch(bootstrap_servers: str, topic: str, values: list[bytes | None]
                          ) -> list[int]:
    """Write ``values`` to partition 0 in order, one record per batch; their offsets."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 0,
                         "batch.num.messages": 1, "message.max.bytes": 4_000_000})
    offsets: list[int] = []

    def delivered(err, msg):
        assert err is None, err
        offsets.append(msg.offset())

    for value in values:
        producer.produce(topic, value=value, key=b"k", partition=0, on_delivery=delivered)
        assert producer.flush(10) == 0
    return offsets


@pytest.fixture(scope="module")
def corpus_topic(local_stack) -> tuple[str, str, dict[int, int]]:
    """(bootstrap servers, topic holding every corpus payload in order, its end offsets)."""
    bootstrap = local_stack.bootstrap_servers
    topic = f"event-corpus-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=10)
    offsets = produce_one_per_batch(bootstrap, topic, [case.value for case in CASES])
    assert offsets == list(range(len(CASES)))
    ends = end_offsets(Settings(_env_file=None, bootstrap_servers=bootstrap), [topic])[topic]
    assert ends == {0: len(CASES)}
    return bootstrap, topic, ends


def table_env():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from trend_tracker.jars import job_jars
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    # The module's jar and the Kafka connector beside it, as the job ships them.
    config.set("pipeline.jars", ";".join(jar.as_uri() for jar in job_jars()))
    config.set("parallelism.default", "1")
    return t_env


def source_options(bootstrap: str, topic: str, ends: dict[int, int], event_type: str,
                   **extra: str) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": bootstrap,
        "scan.startup.mode": "earliest-offset",
        **bounded_scan_options(ends),
        "format": "trend-event",
        "trend-event.event-type": event_type,
        "trend-event.max-future-skew-ms": str(SKEW_MS),
        **extra,
    }
    return with_clause(options)


def test_every_corpus_payload_decodes_to_its_verdict(corpus_topic):
    bootstrap, topic, ends = corpus_topic
    t_env = table_env()
    for event_type in TOPIC_TYPES:
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE src_{event_type} ({COLUMNS}{SOURCE_TAIL}\n) WITH (\n"
            f"{source_options(bootstrap, topic, ends, event_type)}\n)")
    # The same records through a table declaring three columns, in another order.
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE src_subset (arrival_ts BIGINT, ts BIGINT, reason STRING,"
        f"{SOURCE_TAIL}\n) WITH (\n"
        f"{source_options(bootstrap, topic, ends, 'click')}\n)")
    selects = [f"SELECT '{t}' AS topic_type, `offset`, payload, reason, product_id, category, "
               f"ts, arrival_ts FROM src_{t}" for t in TOPIC_TYPES]
    selects.append("SELECT 'subset', `offset`, CAST(NULL AS STRING), reason, "
                   "CAST(NULL AS STRING), CAST(NULL AS STRING), ts, CAST(NULL AS BIGINT) "
                   "FROM src_subset")
    started = int(time.time() * 1000)
    with t_env.execute_sql("\nUNION ALL\n".join(selects)).collect() as results:
        rows = [tuple(row) for row in results]
    now = int(time.time() * 1000)

    # Every record of the three tables arrived while the query ran.
    arrivals = [row[-1] for row in rows if row[0] != "subset"]
    assert len(arrivals) == 3 * len(CASES)
    assert all(started <= arrival <= now for arrival in arrivals)
    by_key = {(row[0], row[1]): row[2:-1] for row in rows}
    assert len(by_key) == len(rows) == 4 * len(CASES)
    mismatches = []
    for offset, case in enumerate(CASES):
        for topic_type in TOPIC_TYPES:
            _, reason, product_id, category, ts = by_key[(topic_type, offset)]
            verdict = classify(case.value, topic_type, now, SKEW_MS)
            expected_reason = None if verdict.reason is None else str(verdict.reason)
            decoded = (reason, product_id, category, ts)
            if verdict.valid:
                event = verdict.event
                reference = (None, event["product_id"], event["category"], verdict.ts)
            else:
                reference = (expected_reason, None, None, 0)
            if decoded != reference:
                mismatches.append((case.name, topic_type, "classify", decoded, reference))
            if topic_type == case.topic:
                corpus = ((None, *case.fields) if case.expected is None
                          else (case.expected, None, None, 0))
                if decoded != corpus:
                    mismatches.append((case.name, topic_type, "corpus", decoded, corpus))
            if topic_type == "click":
                _, subset_reason, _, _, subset_ts = by_key[("subset", offset)]
                subset = (subset_reason, subset_ts)
                if subset != (reason, ts):
                    mismatches.append((case.name, "subset", "click table", subset,
                                       (reason, ts)))
    assert mismatches == []


def test_payload_is_the_raw_value(corpus_topic):
    bootstrap, topic, ends = corpus_topic
    t_env = table_env()
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE src (payload STRING,{METADATA.rstrip(',')}\n) WITH (\n"
        f"{source_options(bootstrap, topic, ends, 'cart')}\n)")
    with t_env.execute_sql("SELECT `offset`, payload FROM src").collect() as results:
        payloads = {row[0]: row[1] for row in results}
    assert len(payloads) == len(CASES)
    checked = 0
    for offset, case in enumerate(CASES):
        if case.value is None:
            assert payloads[offset] is None, case.name  # a tombstone
            continue
        try:
            text = case.value.decode("utf-8")
        except UnicodeDecodeError:
            assert payloads[offset] is not None, case.name  # shown with replacements
            continue
        assert payloads[offset] == text, case.name
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    ("columns", "options", "message"),
    [
        ("payload STRING, extra STRING", {}, "produces no column 'extra'"),
        ("ts STRING", {}, "Column 'ts' of format 'trend-event' must be BIGINT"),
        ("reason INT", {}, "Column 'reason' of format 'trend-event' must be STRING"),
        ("reason STRING", {"trend-event.event-type": "view"},
         "must be one of click, cart, purchase, not 'view'"),
        ("reason STRING", {"trend-event.max-future-skew-ms": "-1"}, "must be >= 0"),
        ("reason STRING", {"trend-event.skew": "1"}, "trend-event.skew"),
    ],
)
def test_a_table_the_format_cannot_serve_fails_at_planning(corpus_topic, columns, options,
                                                          message):
    from py4j.protocol import Py4JJavaError
    from pyflink.util.exceptions import JavaException

    bootstrap, topic, ends = corpus_topic
    t_env = table_env()
    t_env.execute_sql(f"CREATE TEMPORARY TABLE src ({columns}) WITH (\n"
                      f"{source_options(bootstrap, topic, ends, 'click', **options)}\n)")
    with pytest.raises((JavaException, Py4JJavaError)) as failure:
        t_env.execute_sql("SELECT * FROM src").wait()
    assert message in str(failure.value)


def test_the_job_source_clamps_its_watermark_by_arrival(corpus_topic, tmp_path):
    """The job's own source DDL: Flink accepts the watermark, pushes it into the Kafka
    source, and keeps ``et`` as the rowtime."""
    from jobs.topology import source_ddl

    bootstrap, topic, ends = corpus_topic
    settings = Settings(_env_file=None, bootstrap_servers=bootstrap, out_of_orderness_s=5,
                        state_dir=tmp_path)
    t_env = table_env()
    t_env.execute_sql(source_ddl(settings, "click", topic, ends))
    plan = t_env.explain_sql("SELECT product_id, et FROM src_click")
    # Arrival is the Kafka record's timestamp (metadata), not a column of the format. A
    # future_ts record (more than max_future_skew_s, 60 s, after its arrival) counts as the
    # epoch in the watermark.
    assert "metadata=[partition, headers, offset, timestamp]" in plan
    et, arrival = "TO_TIMESTAMP_LTZ(ts, 3)", "CAST(arrival AS TIMESTAMP_WITH_LOCAL_TIME_ZONE(3))"
    assert (f"watermark=[-(CASE(>({et}, +({arrival}, 60000:INTERVAL DAY TO SECOND)), "
            f"TO_TIMESTAMP_LTZ(0, 3), LEAST({et}, {arrival})), 5000:INTERVAL DAY TO SECOND)]"
            ) in plan
    with t_env.execute_sql("DESCRIBE src_click").collect() as rows:
        columns = {row[0]: (row[1], row[4]) for row in rows}
    assert columns["et"] == ("TIMESTAMP_LTZ(3) *ROWTIME*", "AS `TO_TIMESTAMP_LTZ`(`ts`, 3)")
    assert columns["arrival"] == ("TIMESTAMP_LTZ(3)", "METADATA FROM 'timestamp' VIRTUAL")
    assert "arrival_ts" not in columns
