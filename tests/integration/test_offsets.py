"""The bounded read ends at the end each partition had when the bound was taken.

Records are written in large batches on several partitions: ``end_offsets`` counts every
one of them, and a Flink read bounded by it gets exactly those, not the ones written after.
"""

from __future__ import annotations

import os

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from jobs.offsets import EndOffsetsError, bounded_scan_options, end_offsets
from jobs.topology import with_clause

RECORDS_PER_PARTITION = 1000
PARTITIONS = 2


def create_topics(bootstrap_servers: str, partitions: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(t, n, 1) for t, n in partitions.items()])
    for future in futures.values():
        future.result(timeout=10)


def produce_batched(bootstrap_servers: str, topic: str, per_partition: int, rounds: int) -> None:
    """Write ``per_partition`` records to each partition, in ``rounds`` large batches."""
    producer = Producer(
        {"bootstrap.servers": bootstrap_servers, "linger.ms": 200, "batch.num.messages": 100_000}
    )
    per_round = per_partition // rounds
    for round_ in range(rounds):
        for i in range(per_round * PARTITIONS):
            key = f"p-{round_}-{i}".encode()
            producer.produce(topic, key=key, value=b'{"n": %d}' % i, partition=i % PARTITIONS)
        producer.flush(10)


def test_end_offsets_count_every_batched_record(make_settings):
    """4 batches of 250 records per partition: the end of each is 1,000, and an empty
    topic's partitions end at 0."""
    settings = make_settings()
    bs = settings.bootstrap_servers
    topic, empty = settings.topic_clicks, settings.topic_carts
    create_topics(bs, {topic: PARTITIONS, empty: PARTITIONS})
    produce_batched(bs, topic, RECORDS_PER_PARTITION, rounds=4)

    ends = end_offsets(settings, [topic, empty])

    assert ends == {
        topic: {p: RECORDS_PER_PARTITION for p in range(PARTITIONS)},
        empty: {p: 0 for p in range(PARTITIONS)},
    }


def test_unknown_topic_is_an_error(make_settings):
    settings = make_settings()
    with pytest.raises(EndOffsetsError):
        end_offsets(settings, [settings.topic_dead_letters + "-none"],
                    timeout_s=3)


def test_flink_bounded_read_stops_at_the_end_offsets_not_at_the_latest(make_settings):
    """Records written after the ends are taken are not read; all before them are."""
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from trend_tracker.jars import job_jars
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    settings = make_settings()
    bs, topic = settings.bootstrap_servers, settings.topic_clicks
    create_topics(bs, {topic: PARTITIONS})
    produce_batched(bs, topic, RECORDS_PER_PARTITION, rounds=2)
    ends = end_offsets(settings, [topic])
    produce_batched(bs, topic, 100, rounds=1)  # after the bound: must not be read

    config = Configuration()
    config.set_string("parallelism.default", "2")
    # The Kafka connector ships with the job, as the job ships it.
    config.set_string("pipeline.jars", ";".join(jar.as_uri() for jar in job_jars()))
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_batch_mode()
                                    .with_configuration(config).build())
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": bs,
        "scan.startup.mode": "earliest-offset",
        "format": "raw",
        **bounded_scan_options(ends[topic]),
    }
    t_env.execute_sql(f"CREATE TABLE src (payload STRING) WITH (\n{with_clause(options)}\n)")
    with t_env.execute_sql("SELECT COUNT(*) FROM src").collect() as rows:
        (count,) = [row[0] for row in rows]
    assert count == PARTITIONS * RECORDS_PER_PARTITION
