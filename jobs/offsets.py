"""True end offsets of Kafka partitions, and how to hand them to Flink's Kafka source.

A bounded backfill must stop at the end each partition had when it started. The obvious
way to learn that end, ListOffsets(latest) (``get_watermark_offsets``), is wrong on the
embedded Tansu broker after batched writes: it answers the *last batch's base offset + 1*,
so a ``scan.bounded.mode = latest-offset`` read silently loses the tail of every batch.
``offsets_for_times`` is broken there too. Fetching, however, returns every record.

So the end is found by reading: each partition is assigned just before the end the broker
reports (on Tansu that is inside the last batch, on real Kafka it is the last record), and
fetched forward until a fetch at the position comes back empty (librdkafka's
``PARTITION_EOF``). That position is the end. On real Kafka it equals the high watermark;
on Tansu it is the true end the watermark under-reports. Only the last batch of each
partition is read, so this costs milliseconds whatever the partition size.

Flink's SQL Kafka connector accepts ``scan.bounded.specific-offsets`` only for a table
with a single topic ("Currently Kafka source only supports specific offset for single
topic", ``KafkaConnectorOptionsUtil`` of flink-connector-kafka 4.0). A bounded read of
several topics therefore declares one source table per topic, each with the options from
:func:`bounded_scan_options`, and unions them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

#: Offsets of one topic: partition -> offset.
PartitionOffsets = dict[int, int]


class EndOffsetsError(RuntimeError):
    """The end of a partition could not be established in time, or a topic is missing."""


def true_end_offsets(
    bootstrap_servers: str, topics: list[str], timeout_s: float = 10.0
) -> dict[str, PartitionOffsets]:
    """Return topic -> partition -> the true end offset (last offset + 1) at call time.

    Works on brokers whose ListOffsets(latest) under-reports (Tansu) and on real Kafka.
    Raises :class:`EndOffsetsError` for an unknown topic or when a partition's end is not
    reached within ``timeout_s`` (for example, while producers keep writing to it).
    """
    # Imported here so that `trend --help` stays fast.
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            # Never joins the group (assign only), never commits: the id is a formality.
            "group.id": f"trend-end-offsets-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # The last fetch is empty by design: do not let the broker hold it long.
            "fetch.wait.max.ms": 20,
            # Flink's Kafka source reads uncommitted by default; so must the bound.
            "isolation.level": "read_uncommitted",
            # A reported end beyond the log (never seen) falls back to a full scan.
            "auto.offset.reset": "earliest",
        }
    )
    deadline = time.monotonic() + timeout_s
    try:
        starts = _start_positions(consumer, topics, deadline, TopicPartition)
        ends: dict[tuple[str, int], int] = {}
        if starts:
            consumer.assign(
                [TopicPartition(t, p, offset) for (t, p), offset in starts.items()]
            )
        pending = set(starts)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = ", ".join(f"{t}[{p}]" for t, p in sorted(pending))
                raise EndOffsetsError(f"no end of partition reached in {timeout_s} s: {missing}")
            message = consumer.poll(min(remaining, 1.0))
            if message is None:
                continue
            key = (message.topic(), message.partition())
            if key not in pending:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise EndOffsetsError(f"reading {key[0]}[{key[1]}]: {error}")
                # An empty fetch at this position: it is the end.
                ends[key] = message.offset()
                pending.discard(key)
                continue
            ends[key] = message.offset() + 1
    finally:
        consumer.close()

    result: dict[str, PartitionOffsets] = {topic: {} for topic in topics}
    for topic, partition in starts:
        result[topic][partition] = ends[(topic, partition)]
    return result


def _start_positions(consumer, topics, deadline, topic_partition) -> dict[tuple[str, int], int]:
    """Topic partition -> where to start reading: one before the reported end."""
    starts: dict[tuple[str, int], int] = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=max(deadline - time.monotonic(), 0.1))
        topic_meta = metadata.topics.get(topic)
        if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
            reason = topic_meta.error if topic_meta is not None else "not in metadata"
            raise EndOffsetsError(f"topic {topic!r} is not available: {reason}")
        for partition in sorted(topic_meta.partitions):
            low, high = consumer.get_watermark_offsets(
                topic_partition(topic, partition),
                timeout=max(deadline - time.monotonic(), 0.1),
                cached=False,
            )
            # The reported end is never beyond the true one (Tansu reports the last
            # batch's base + 1), so its predecessor is a record of the last batch.
            starts[(topic, partition)] = max(low, high - 1, 0)
    return starts


def specific_offsets_option(offsets: Mapping[int, int]) -> str:
    """Render partition offsets as Flink's ``partition:0,offset:42;partition:1,offset:300``."""
    if not offsets:
        raise ValueError("a bounded read needs the offsets of at least one partition")
    parts = []
    for partition in sorted(offsets):
        offset = offsets[partition]
        if partition < 0 or offset < 0:
            raise ValueError(f"invalid partition offset {partition}:{offset}")
        parts.append(f"partition:{partition},offset:{offset}")
    return ";".join(parts)


def bounded_scan_options(offsets: Mapping[int, int]) -> dict[str, str]:
    """Options of a single-topic Flink Kafka source table that stops at ``offsets``.

    Pass one topic's entry of :func:`true_end_offsets`. The connector refuses specific
    bounded offsets on a multi-topic table, so declare one table per topic.
    """
    return {
        "scan.bounded.mode": "specific-offsets",
        "scan.bounded.specific-offsets": specific_offsets_option(offsets),
    }
