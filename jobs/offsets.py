"""End offsets of Kafka partitions, and how to hand them to Flink's Kafka source; the
timestamp type of the event topics.

A bounded backfill stops at the end each partition had when it started: the high
watermark that ListOffsets(latest) reports. Flink's SQL Kafka connector accepts
``scan.bounded.specific-offsets`` only for a table with a single topic ("Currently Kafka
source only supports specific offset for single topic", ``KafkaConnectorOptionsUtil``), so a
bounded read of several topics declares one source table per topic, each with the options
from :func:`bounded_scan_options`, and unions them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trend_tracker.settings import Settings

#: Offsets of one topic: partition -> offset.
PartitionOffsets = dict[int, int]


class EndOffsetsError(RuntimeError):
    """The end of a partition could not be learned in time, or a topic is missing."""


def end_offsets(
    settings: Settings, topics: list[str], timeout_s: float = 10.0
) -> dict[str, PartitionOffsets]:
    """Return topic -> partition -> end offset (last offset + 1) at call time.

    Raises :class:`EndOffsetsError` for an unknown topic or a broker that does not answer
    within ``timeout_s``.
    """
    # Imported here so that `trend --help` stays fast.
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from trend_tracker.kafka_config import client_config

    consumer = Consumer({
        **client_config(settings),
        # Never joins the group (no subscribe), never commits: the id is a formality.
        "group.id": "trend-end-offsets",
        "enable.auto.commit": False,
        "log_level": 4,
    })
    deadline = time.monotonic() + timeout_s
    result: dict[str, PartitionOffsets] = {}
    try:
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=_left(deadline))
            topic_meta = metadata.topics.get(topic)
            if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
                reason = topic_meta.error if topic_meta is not None else "not in metadata"
                raise EndOffsetsError(f"topic {topic!r} is not available: {reason}")
            result[topic] = {}
            for partition in sorted(topic_meta.partitions):
                try:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=_left(deadline),
                        cached=False)
                except KafkaException as exc:
                    raise EndOffsetsError(f"end of {topic}[{partition}]: {exc}") from None
                result[topic][partition] = high
    finally:
        consumer.close()
    return result


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)


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

    Pass one topic's entry of :func:`end_offsets`. The connector refuses specific
    bounded offsets on a multi-topic table, so declare one table per topic.
    """
    return {
        "scan.bounded.mode": "specific-offsets",
        "scan.bounded.specific-offsets": specific_offsets_option(offsets),
    }


def timestamp_types(settings: Settings, topics: list[str],
                    timeout_s: float = 10.0) -> dict[str, str]:
    """Each topic's ``message.timestamp.type`` (``CreateTime`` or ``LogAppendTime``).

    Raises :class:`EndOffsetsError` for a broker that does not answer within ``timeout_s``.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource

    from trend_tracker.events import TIMESTAMP_TYPE_CONFIG
    from trend_tracker.kafka_config import client_config

    admin = AdminClient({**client_config(settings), "log_level": 4})
    futures = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic) for topic in topics],
        request_timeout=timeout_s)
    types = {}
    for resource, future in futures.items():
        try:
            types[resource.name] = future.result(timeout=timeout_s)[TIMESTAMP_TYPE_CONFIG].value
        except (KafkaException, TimeoutError) as exc:
            raise EndOffsetsError(f"cannot describe topic {resource.name}: {exc}") from exc
    return types
