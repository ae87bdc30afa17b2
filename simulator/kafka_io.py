"""Kafka I/O of the simulator: topic bootstrap, the producer, and reading a topic back.

The client is confluent-kafka (librdkafka): on this project's 2-core reference machine
it produced ~246 K msg/s against ~31 K msg/s for kafka-python, and the simulator has to
sustain 100 K events/s with its own work on top (see docs/SIMULATOR.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from trend_tracker.events import ARRIVAL_TIMESTAMP_TYPE, TIMESTAMP_TYPE_CONFIG
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings


class TopicError(RuntimeError):
    """Topics could not be created or described."""


def _admin(settings: Settings) -> AdminClient:
    # log_level 4: warnings and errors only (not the info lines of a client closing).
    return AdminClient({**client_config(settings), "log_level": 4})


def topic_partitions(settings: Settings, topics: Iterable[str],
                     timeout_s: float = 10.0) -> dict[str, int]:
    """Partition count of each topic that exists (missing topics are left out)."""
    metadata = _admin(settings).list_topics(timeout=timeout_s)
    found = {}
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is not None and topic.error is None and topic.partitions:
            found[name] = len(topic.partitions)
    return found


def topic_config(settings: Settings) -> dict[str, str]:
    """Settings of the event and dead-letter topics, stated rather than left to the
    broker's defaults: how long records are kept (a replay or backfill reaches that far),
    and the broker's append time as each record's timestamp (an event's arrival, which the
    job judges it against)."""
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(settings.topic_retention_hours * 3_600_000),
        TIMESTAMP_TYPE_CONFIG: ARRIVAL_TIMESTAMP_TYPE,
    }


def ensure_topics(settings: Settings, partitions: int | None = None,
                  timeout_s: float = 30.0) -> dict[str, int]:
    """Create the clicks, carts, purchases and dead-letter topics if they do not exist
    (:func:`topic_config`), and the weights topic (``settings.topic_weights``: one
    partition, compacted).

    Idempotent: existing topics are kept as they are (their partition count is not
    changed). Returns the partition count of each event and dead-letter topic once the
    broker lists it; the weights topic is listed too before this returns.
    """
    wanted = partitions if partitions is not None else settings.topic_partitions
    if wanted < 1:
        raise ValueError(f"partitions must be >= 1, got {wanted}")
    topics = settings.all_topics
    existing = topic_partitions(settings, topics)
    missing = [name for name in topics if name not in existing]
    if missing:
        # Keep the client referenced until the futures resolve: a collected client
        # cancels its pending requests.
        admin = _admin(settings)
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=wanted, replication_factor=1,
                      config=topic_config(settings)) for name in missing],
            operation_timeout=timeout_s, request_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                error = exc.args[0]
                # Another process created it in between: that is what we wanted.
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TopicError(f"cannot create topic {name}: {error.str()}") from exc
    # The weights changelog has its own shape (one partition, cleanup.policy=compact: the
    # broker keeps the newest record of each model), defined with its publisher.
    from registry.publisher import WeightsTopicError, ensure_weights_topic

    try:
        ensure_weights_topic(settings, timeout_s)
    except WeightsTopicError as exc:
        raise TopicError(str(exc)) from exc
    # Wait until the metadata lists every topic with its partitions.
    deadline = time.monotonic() + timeout_s
    while True:
        found = topic_partitions(settings, topics)
        if len(found) == len(topics):
            return found
        if time.monotonic() > deadline:
            raise TopicError(f"topics not listed after {timeout_s}s: "
                             f"{sorted(set(topics) - set(found))}")
        time.sleep(0.05)


def producer_config(settings: Settings, compression: str = "none",
                    linger_ms: int = 5) -> dict[str, Any]:
    """librdkafka settings for high-rate, small-message producing."""
    return {
        **client_config(settings),
        "linger.ms": linger_ms,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "compression.type": compression,
        # Java clients hash keys with murmur2: the same product lands on the same
        # partition whichever client wrote it.
        "partitioner": "murmur2_random",
        # Delivery reports for failures only: one Python callback per message would
        # cost more than producing it.
        "delivery.report.only.error": True,
        "enable.idempotence": False,
    }


class DeliveryTracker:
    """Counts delivery failures reported by librdkafka (successes are not reported)."""

    def __init__(self) -> None:
        self.failed = 0
        self.last_error: str | None = None

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self.last_error = err.str()


def make_producer(settings: Settings, tracker: DeliveryTracker, **config: Any) -> Producer:
    conf = producer_config(settings, **config)
    conf["on_delivery"] = tracker
    return Producer(conf)


def produce(producer: Producer, topic: str, value: bytes | None, key: bytes | None) -> None:
    """Produce one record, waiting for queue space when the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.01)


@dataclass(frozen=True)
class Record:
    """One record for :func:`send_records`. ``value`` may be a dict (serialised as JSON)
    or raw bytes/str (sent as is, e.g. to test malformed input)."""

    topic: str
    value: dict[str, Any] | bytes | str | None
    key: bytes | str | None = None


def event_record(settings: Settings, event: dict[str, Any], topic: str | None = None) -> Record:
    """A record for one event dict: key = product_id, topic from its event_type."""
    return Record(topic or settings.event_topics[event["event_type"]], event,
                  event.get("product_id"))


def _encode(value: dict[str, Any] | bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def send_records(settings: Settings, records: Iterable[Record],
                 timeout_s: float = 30.0) -> int:
    """Produce a fixed list of records and wait for every delivery.

    Returns the number sent; raises :class:`RuntimeError` if any delivery failed.
    """
    tracker = DeliveryTracker()
    producer = make_producer(settings, tracker, linger_ms=1)
    sent = 0
    for record in records:
        key = record.key.encode() if isinstance(record.key, str) else record.key
        produce(producer, record.topic, _encode(record.value), key)
        sent += 1
    remaining = producer.flush(timeout_s)
    if remaining or tracker.failed:
        raise RuntimeError(f"{tracker.failed} failed and {remaining} undelivered of {sent} "
                           f"records (last error: {tracker.last_error})")
    return sent


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    #: The record's headers, (name, value) in order; empty without any.
    headers: tuple[tuple[str, bytes], ...] = ()


def read_topic(settings: Settings, topic: str, *, max_records: int | None = None,
               from_beginning: bool = True, idle_timeout_s: float | None = None,
               deadline_s: float | None = None, stop_at_end: bool = False,
               committed_only: bool = True) -> Iterator[ConsumedRecord]:
    """Read a topic by assigning all its partitions (no consumer group: instant).

    Stops after ``max_records``, after ``idle_timeout_s`` without a record, at
    ``deadline_s`` after the start, or, with ``stop_at_end``, once every partition has
    been read to its end; otherwise follows the topic forever. It reads committed records
    only (the dead-letter topic is written in transactions, whose aborted records and
    commit markers a reader never sees), unless ``committed_only`` is false.
    """
    partitions = topic_partitions(settings, [topic]).get(topic)
    if partitions is None:
        raise TopicError(f"topic {topic!r} does not exist")
    consumer = Consumer({
        **client_config(settings),
        "group.id": "trend-tail",  # required by the client; assign() never joins it
        "enable.auto.commit": False,
        "isolation.level": "read_committed" if committed_only else "read_uncommitted",
        "enable.partition.eof": stop_at_end,
        # At the end the fetch is empty by design: do not let the broker hold it long.
        **({"fetch.wait.max.ms": 20} if stop_at_end else {}),
    })
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in range(partitions)])
    at_end: set[int] = set()
    read = 0
    now = time.monotonic()
    last_seen = now
    end = None if deadline_s is None else now + deadline_s
    try:
        while max_records is None or read < max_records:
            now = time.monotonic()
            if end is not None and now >= end:
                return
            if idle_timeout_s is not None and now - last_seen >= idle_timeout_s:
                return
            batch = consumer.consume(500 if max_records is None
                                     else min(500, max_records - read), timeout=0.2)
            for msg in batch:
                if msg.error():
                    if stop_at_end and msg.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                        if len(at_end) == partitions:
                            return
                    continue
                last_seen = time.monotonic()
                yield ConsumedRecord(msg.topic(), msg.partition(), msg.offset(), msg.key(),
                                     msg.value(), msg.timestamp()[1],
                                     tuple(msg.headers() or ()))
                read += 1
    finally:
        consumer.close()


def count_records(settings: Settings, topic: str) -> int:
    """The committed records of ``topic`` now. Not its end offsets: on a topic written in
    transactions, each commit marker takes an offset too."""
    return sum(1 for _ in read_topic(settings, topic, stop_at_end=True))
