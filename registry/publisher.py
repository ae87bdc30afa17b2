"""How the weights reach the running job: a changelog topic written from the registry.

The job scores in the JVM, which never talks to MLflow. It reads the weights topic
(``settings.topic_weights``) from the beginning and keeps the newest record whose key is
the model name. This module writes that topic:

- :class:`WeightsPublisher` polls the registry's champion (a :class:`WeightsSource`, so one
  request per ``weights_poll_interval_s``, with the last good weights kept through an
  outage) and produces one record whenever the champion changes;
- :func:`load_weights_for_start` is what the job starts with: the champion if MLflow is
  reachable, else the weights last published to the topic. The topic holds the weights
  last used, so a restart does not need MLflow.

A record (the JVM side parses exactly this):

- key: the model name (``settings.weights_model_name``), or ``file`` when the weights come
  from ``settings.weights_file``;
- value: compact UTF-8 JSON ``{"weights_version": "trend-weights/3", "click": 1.0,
  "cart": 3.0, "purchase": 5.0, "published_ms": 1767225600000}``, with
  ``"applies_from_ms"`` after it when the weights apply from another event time than their
  publication. The job scores a window with the newest record that applies at its end
  (``applies_from_ms``, else ``published_ms``).

Records are produced with ``acks=all`` and flushed at once; a write the broker did not
acknowledge raises.

Kafka clients are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from registry.weights import InvalidWeightsError, Weights, validate_weights

if TYPE_CHECKING:
    from registry.source import WeightsSource
    from trend_tracker.settings import Settings

log = logging.getLogger(__name__)

#: Record key of weights that come from ``settings.weights_file`` instead of the registry.
FILE_KEY = "file"
#: The weights topic has one partition: one ordered history of every model's weights.
WEIGHTS_TOPIC_PARTITIONS = 1
#: The consumer group ids of the weights topic's readers here start with this: their user
#: needs READ on groups of this prefix (the client looks the group's coordinator up).
WEIGHTS_READER_GROUP_PREFIX = "trend-weights-read-"
#: Compaction keeps the newest record of each key forever, and drops the older ones.
WEIGHTS_TOPIC_CONFIG = {"cleanup.policy": "compact"}
#: librdkafka logs critical messages only: with the broker down it would print one error
#: line per connection attempt (many a second). Every failure here raises (or, in the
#: publisher, is logged once) with librdkafka's reason instead.
_KAFKA_LOG_LEVEL = 2


class WeightsTopicError(RuntimeError):
    """The weights topic could not be created, read or written; one readable line."""


@dataclass(frozen=True, slots=True)
class PublishedWeights:
    """One record of the weights topic: the weights, when and where they were published."""

    weights: Weights
    published_ms: int
    partition: int
    offset: int


# --- the record format ------------------------------------------------------------------


def weights_key(settings: Settings) -> str:
    """The record key of the weights these settings use."""
    return FILE_KEY if settings.weights_file is not None else settings.weights_model_name


def weights_record(weights: Weights, published_ms: int,
                   applies_from_ms: int | None = None) -> bytes:
    """The record value of ``weights``: compact JSON, keys in the order the format gives;
    ``applies_from_ms`` only when given (the event time the weights apply from, when it is
    not ``published_ms``)."""
    if not isinstance(weights.version, str) or not weights.version:
        raise InvalidWeightsError(f"weights version must be a non-empty string, "
                                  f"got {weights.version!r}")
    for name, value in (("published_ms", published_ms), ("applies_from_ms", applies_from_ms)):
        if value is None and name == "applies_from_ms":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidWeightsError(f"{name} must be a non-negative integer, got {value!r}")
    values = validate_weights(weights.as_dict())
    document = {"weights_version": weights.version, **values, "published_ms": published_ms}
    if applies_from_ms is not None:
        document["applies_from_ms"] = applies_from_ms
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _parse(value: bytes | None) -> tuple[Weights, int]:
    if value is None:
        raise InvalidWeightsError("weights record has no value")
    try:
        document = json.loads(value.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InvalidWeightsError(f"weights record is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidWeightsError(f"weights record is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidWeightsError(
            f"weights record must be a JSON object, got {type(document).__name__}")
    version = document.get("weights_version")
    if not isinstance(version, str) or not version:
        raise InvalidWeightsError("weights record has no weights_version string")
    published_ms = document.get("published_ms")
    if isinstance(published_ms, bool) or not isinstance(published_ms, int) or published_ms < 0:
        raise InvalidWeightsError(
            f"weights record {version}: published_ms must be a non-negative integer, "
            f"got {published_ms!r}")
    # Keys other than the format's are ignored (a later format may add some); the three
    # weights must be there and valid.
    values = validate_weights({name: document[name] for name in ("click", "cart", "purchase")
                               if name in document})
    return Weights(version=version, **values), published_ms


def _reject_constant(name: str) -> Any:
    raise InvalidWeightsError(f"weights record holds {name}, which is not a number")


def parse_weights_record(value: bytes) -> Weights:
    """The weights of a record value; :class:`InvalidWeightsError` when it is not valid."""
    return _parse(value)[0]


# --- the topic ----------------------------------------------------------------------------


def _kafka_error_text(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else exc
    text = getattr(error, "str", None)
    return text() if callable(text) else str(error)


def _topic_partitions(settings: Settings, timeout_s: float) -> int | None:
    """Partition count of the weights topic, None when it does not exist."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from trend_tracker.kafka_config import client_config

    admin = AdminClient({**client_config(settings), "log_level": _KAFKA_LOG_LEVEL})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise WeightsTopicError(f"Kafka at {settings.bootstrap_servers} is unreachable: "
                                f"{_kafka_error_text(exc)}") from None
    topic = metadata.topics.get(settings.topic_weights)
    if topic is None or topic.error is not None or not topic.partitions:
        return None
    return len(topic.partitions)


def ensure_weights_topic(settings: Settings, timeout_s: float = 30.0) -> int:
    """Create the weights topic (one partition, compacted) unless it exists.

    Idempotent; an existing topic is kept as it is. Returns its partition count once the
    broker lists it.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from trend_tracker.kafka_config import client_config

    topic = settings.topic_weights
    found = _topic_partitions(settings, timeout_s)
    if found is not None:
        return found
    admin = AdminClient({**client_config(settings), "log_level": _KAFKA_LOG_LEVEL})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=WEIGHTS_TOPIC_PARTITIONS, replication_factor=1,
                  config=dict(WEIGHTS_TOPIC_CONFIG))],
        operation_timeout=timeout_s, request_timeout=timeout_s)
    try:
        futures[topic].result()
    except KafkaException as exc:
        error = exc.args[0]
        # Another process created it in between: that is what we wanted.
        if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise WeightsTopicError(f"cannot create topic {topic}: {error.str()}") from None
    else:
        log.info("created weights topic %s (%d partition, %s)", topic,
                 WEIGHTS_TOPIC_PARTITIONS, WEIGHTS_TOPIC_CONFIG)
    deadline = time.monotonic() + timeout_s
    while True:
        found = _topic_partitions(settings, timeout_s)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise WeightsTopicError(f"topic {topic} not listed after {timeout_s} s")
        time.sleep(0.05)


def publish_weights(settings: Settings, weights: Weights, *,
                    published_ms: int | None = None, applies_from_ms: int | None = None,
                    timeout_s: float = 30.0) -> None:
    """Produce one weights record and wait until the broker acknowledged it.

    The weights apply to the job's windows ending at ``applies_from_ms`` or later (default:
    ``published_ms``, now). The topic is created first if it is missing. Raises
    :class:`WeightsTopicError` when the write is not acknowledged within ``timeout_s``.
    """
    from confluent_kafka import KafkaException, Producer

    from trend_tracker.kafka_config import client_config

    if published_ms is None:
        published_ms = int(time.time() * 1000)
    value = weights_record(weights, published_ms, applies_from_ms)
    key = weights_key(settings).encode("utf-8")
    topic = settings.topic_weights
    ensure_weights_topic(settings, timeout_s)
    errors: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            errors.append(err.str())

    producer = Producer({
        **client_config(settings),
        "acks": "all",
        "linger.ms": 0,
        "compression.type": "none",
        "message.timeout.ms": max(int(timeout_s * 1000), 1000),
        "log_level": _KAFKA_LOG_LEVEL,
    })
    try:
        producer.produce(topic, value, key, on_delivery=delivered)
    except (KafkaException, BufferError) as exc:
        raise WeightsTopicError(f"cannot publish weights {weights.version} to {topic}: "
                                f"{_kafka_error_text(exc)}") from None
    remaining = producer.flush(timeout_s)
    if errors or remaining:
        reason = errors[0] if errors else f"not acknowledged within {timeout_s} s"
        raise WeightsTopicError(
            f"cannot publish weights {weights.version} to {topic} at "
            f"{settings.bootstrap_servers}: {reason}")
    log.info("published weights %s to topic %s (key %s): %s", weights.version, topic,
             key.decode(), weights.as_dict(), extra={"weights_version": weights.version})


def latest_published_record(settings: Settings,
                            timeout_s: float = 10.0) -> PublishedWeights | None:
    """The newest valid record of this model on the weights topic, None if there is none.

    Reads from the beginning to the topic's true end at call time (the local broker
    under-reports end offsets, so the end is found by reading: ``jobs.offsets``). Invalid
    records are logged and skipped, as the job skips them. A missing topic means nothing
    was published. Raises :class:`WeightsTopicError` when the broker cannot be read.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from jobs.offsets import EndOffsetsError, end_offsets
    from trend_tracker.kafka_config import client_config

    topic = settings.topic_weights
    key = weights_key(settings).encode("utf-8")
    deadline = time.monotonic() + timeout_s
    if _topic_partitions(settings, timeout_s) is None:
        return None
    try:
        ends = end_offsets(settings, [topic], max(deadline - time.monotonic(), 0.1))[topic]
    except EndOffsetsError as exc:
        raise WeightsTopicError(f"cannot read topic {topic}: {exc}") from None
    pending = {partition: end for partition, end in ends.items() if end > 0}
    if not pending:
        return None
    consumer = Consumer({
        **client_config(settings),
        # assign() never joins the group and nothing is committed: the id is a formality.
        "group.id": f"{WEIGHTS_READER_GROUP_PREFIX}{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 20,
        "log_level": _KAFKA_LOG_LEVEL,
    })
    newest: dict[int, PublishedWeights] = {}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WeightsTopicError(
                    f"topic {topic} not read to its end within {timeout_s} s")
            message = consumer.poll(min(remaining, 1.0))
            if message is None or message.partition() not in pending:
                continue
            partition = message.partition()
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.pop(partition, None)
                    continue
                raise WeightsTopicError(f"reading {topic}[{partition}]: {error.str()}")
            if message.offset() + 1 >= pending[partition]:
                pending.pop(partition)
            if message.key() != key:
                continue
            try:
                weights, published_ms = _parse(message.value())
            except InvalidWeightsError as exc:
                log.warning("skipping invalid weights record %s[%d]@%d: %s", topic, partition,
                            message.offset(), exc)
                continue
            newest[partition] = PublishedWeights(weights, published_ms, partition,
                                                 message.offset())
    finally:
        consumer.close()
    if not newest:
        return None
    # A key always lands on one partition; should the partitions ever have changed,
    # the record published last wins.
    return max(newest.values(), key=lambda r: (r.published_ms, r.offset))


def latest_published(settings: Settings, timeout_s: float = 10.0) -> Weights | None:
    """The weights of the newest valid record of this model, None if none was published."""
    record = latest_published_record(settings, timeout_s)
    return record.weights if record is not None else None


def ensure_published(settings: Settings, weights: Weights) -> bool:
    """Publish ``weights`` unless the newest record already holds them (same version and
    values). Returns whether a record was written."""
    if latest_published(settings) == weights:
        return False
    publish_weights(settings, weights)
    return True


# --- the weights the job starts with -----------------------------------------------------


def load_weights_for_start(settings: Settings) -> Weights:
    """The weights the job starts with.

    The registry's champion (or ``settings.weights_file``) when it can be read. When MLflow
    is unreachable, the weights last published to the weights topic, with a warning. When
    neither is available, the registry's error is raised: the job refuses to start. A
    registry that answers but has no champion, or invalid weights, is not an outage: its
    error is raised as is.
    """
    from registry.errors import RegistryUnavailableError
    from registry.source import load_current_weights

    try:
        return load_current_weights(settings)
    except RegistryUnavailableError as registry_error:
        try:
            published = latest_published(settings)
        except WeightsTopicError as topic_error:
            log.warning("weights topic %s unreadable too: %s", settings.topic_weights,
                        topic_error)
            raise registry_error from None
        if published is None:
            log.warning("nothing published on weights topic %s for %s", settings.topic_weights,
                        weights_key(settings))
            raise registry_error from None
        log.warning("MLflow registry unreachable (%s); starting with the weights last "
                    "published to topic %s: %s %s", registry_error, settings.topic_weights,
                    published.version, published.as_dict())
        return published


# --- the publisher -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    """The publisher's health, for logs and metrics."""

    weights_version: str | None
    registry_up: bool
    last_success_ts: float | None
    last_error: str | None
    published: int
    publish_failures: int
    last_published_version: str | None
    publish_pending: bool
    last_publish_error: str | None


class WeightsPublisher:
    """Publishes the registry's champion to the weights topic on every change.

    Wraps the registry's :class:`WeightsSource`: it polls every
    ``settings.weights_poll_interval_s`` and keeps the last good weights through an MLflow
    outage (so nothing is published then). Its first weights are published unless the
    topic already holds them (a restarted publisher writes no duplicate); every change
    after that is published. A write that fails (broker down) is retried every poll
    interval until it succeeds or a newer champion replaces it.

    With ``metrics_port`` (not 0) it serves Prometheus metrics there: ``trend_registry_up``,
    ``trend_weights_last_success_timestamp_seconds``, ``trend_weights_published_total`` and
    ``trend_weights_publish_failures_total``.
    """

    def __init__(self, settings: Settings, *, metrics_port: int | None = None,
                 fetch: Callable[[], Weights] | None = None,
                 publish: Callable[[Settings, Weights], bool] | None = None) -> None:
        """``fetch`` and ``publish`` replace the registry read and :func:`ensure_published`
        (tests drive the publishing logic with them); construction does no I/O."""
        from registry.source import WeightsSource, open_weights_source

        self.settings = settings
        self.metrics_port = metrics_port or None
        self._publish_fn = publish or ensure_published
        self._source: WeightsSource
        if fetch is None:
            self._source = open_weights_source(settings, on_change=self._on_change)
        else:
            self._source = WeightsSource(fetch, settings.weights_poll_interval_s,
                                         on_change=self._on_change)
        self.retry_interval_s = settings.weights_poll_interval_s
        self._lock = threading.RLock()
        self._pending: Weights | None = None
        self._published = 0
        self._failures = 0
        self._last_published: Weights | None = None
        self._last_publish_error: str | None = None
        self._stop = threading.Event()
        self._retry_thread: threading.Thread | None = None
        self._metrics_server = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Serve metrics (if asked), fetch the champion and publish it, then poll.

        Raises the registry's error when no weights can be fetched (may be called again).
        """
        self._serve_metrics()
        self._source.start()
        if self._retry_thread is None:
            self._retry_thread = threading.Thread(target=self._retry_loop,
                                                  name="weights-publish-retry", daemon=True)
            self._retry_thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop polling, retrying and serving metrics."""
        self._stop.set()
        self._source.close(timeout_s)
        thread, self._retry_thread = self._retry_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        server, self._metrics_server = self._metrics_server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- publishing --------------------------------------------------------------------

    def _on_change(self, previous: Weights | None, weights: Weights) -> None:
        # Runs on the source's poller thread: it must never raise, or polling would stop.
        self._publish(weights)

    def _publish(self, weights: Weights) -> None:
        with self._lock:
            try:
                written = self._publish_fn(self.settings, weights)
            except Exception as exc:  # noqa: BLE001 - any failure is retried later
                message = f"{type(exc).__name__}: {exc}"
                first = self._pending is None
                self._pending = weights
                self._failures += 1
                self._last_publish_error = message
                if first:
                    log.warning("cannot publish weights %s, retrying every %g s: %s",
                                weights.version, self.retry_interval_s, message)
                return
            recovered = self._pending is not None
            self._pending = None
            self._last_publish_error = None
            self._last_published = weights
            if written:
                self._published += 1
        if recovered:
            log.warning("weights %s published after earlier failures", weights.version,
                        extra={"weights_version": weights.version})
        if not written:
            log.info("weights %s already published on topic %s", weights.version,
                     self.settings.topic_weights, extra={"weights_version": weights.version})

    def _retry_loop(self) -> None:
        while not self._stop.wait(self.retry_interval_s):
            self.retry_pending()

    def retry_pending(self) -> bool:
        """Publish a change whose write failed earlier; returns whether one was pending."""
        with self._lock:
            pending = self._pending
            if pending is None:
                return False
            self._publish(pending)
            return True

    # --- reading -----------------------------------------------------------------------

    def current(self) -> Weights:
        return self._source.current()

    @property
    def healthy(self) -> bool:
        """The registry answered the last poll and every change is published."""
        return self._source.healthy and self._pending is None

    @property
    def status(self) -> PublisherStatus:
        polled = self._source.status
        with self._lock:
            return PublisherStatus(
                weights_version=polled.weights_version,
                registry_up=polled.registry_up,
                last_success_ts=polled.last_success_ts,
                last_error=polled.last_error,
                published=self._published,
                publish_failures=self._failures,
                last_published_version=(self._last_published.version
                                        if self._last_published else None),
                publish_pending=self._pending is not None,
                last_publish_error=self._last_publish_error,
            )

    # --- metrics -----------------------------------------------------------------------

    def _serve_metrics(self) -> None:
        if self.metrics_port is None or self._metrics_server is not None:
            return
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_PublisherCollector(self))
        self._metrics_server, _ = start_http_server(self.metrics_port, registry=registry)
        log.info("weights publisher metrics on :%d/metrics", self.metrics_port)


class _PublisherCollector:
    """Reads the publisher's status at scrape time (no bookkeeping of its own)."""

    def __init__(self, publisher: WeightsPublisher) -> None:
        self._publisher = publisher

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status = self._publisher.status
        yield GaugeMetricFamily(
            "trend_registry_up",
            "1 when the last poll of the weights registry got valid weights, else 0",
            value=1.0 if status.registry_up else 0.0)
        yield GaugeMetricFamily(
            "trend_weights_last_success_timestamp_seconds",
            "When the registry last answered a poll with valid weights (epoch seconds; "
            "0 before the first success)",
            value=status.last_success_ts or 0.0)
        yield CounterMetricFamily(
            "trend_weights_published", "Weights records written to the weights topic",
            value=status.published)
        yield CounterMetricFamily(
            "trend_weights_publish_failures",
            "Attempts to write a weights record that failed (retried every poll interval)",
            value=status.publish_failures)


def run_publisher(settings: Settings, stop: threading.Event, *,
                  metrics_port: int | None = None) -> None:
    """Publish the champion on every change until ``stop`` is set (``--follow``).

    While the registry has no weights to give (unreachable at start, no champion yet) the
    publisher keeps trying every poll interval instead of exiting, so a deployment's
    publisher outlives an MLflow outage; its metrics say so meanwhile.
    """
    from registry.errors import RegistryError

    publisher = WeightsPublisher(settings, metrics_port=metrics_port)
    waiting = False
    try:
        while not stop.is_set():
            try:
                publisher.start()
                break
            except (RegistryError, InvalidWeightsError) as exc:
                if not waiting:
                    log.warning("no weights to publish yet, retrying every %g s: %s",
                                settings.weights_poll_interval_s, exc)
                    waiting = True
                stop.wait(settings.weights_poll_interval_s)
        stop.wait()
    finally:
        publisher.close()
