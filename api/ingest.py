"""The ingest service: events over HTTP into the event topics, for clients without Kafka.

``create_ingest_app(settings)`` builds it; ``trend ingest`` serves it. It is its own app,
apart from the read-only trending API: different clients, scaling and exposure.

``POST /events`` takes one event object or a JSON array of up to ``ingest_max_batch``
events. Each event is judged by the event contract's Python implementation
(``trend_tracker.events.classify``, the rules the job's decoder applies); each valid one is
written, as the bytes the client sent, to the topic of its type, keyed by ``product_id``.
The answer (202) lists every event with its index, and a rejected one's reason code.

Every ``POST /events`` carries an API key, ``Authorization: Bearer <key>``
(:mod:`api.ingest_auth`): without one, or with one the service does not know, the answer
is 401. Each client (a key's name) has a token bucket of events; a request with more
events than its bucket holds is answered 429 with ``Retry-After`` and writes nothing.
``/health``, ``/ready``, ``/metrics`` and the OpenAPI pages need no key.

Delivery is at least once: the producer writes with ``acks=all`` and the service answers
202 only after the broker acknowledged every valid event of the request. If the broker
does not (unreachable, timed out, queue full), the answer is 503 with ``Retry-After``
and some of the events may have been written all the same: a client that retries the
request (after a 503 or after its own timeout) can write those events twice. Consumers
that must not count an event twice deduplicate by ``event_id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, Literal

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry.trace import SpanKind
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from api.deps import SettingsDep
from api.errors import ApiError, install_common_error_handlers
from api.ingest_auth import ApiKeyStore, RateLimiter, retry_after_s
from api.ingest_batch import BodyError, Record, check_batch, split_events
from api.metrics import MetricsMiddleware
from api.models import ErrorResponse, HealthResponse
from api.page import add_docs
from api.tracing import (
    TRACEPARENT,
    fastapi_telemetry,
    forwarded_headers,
    record_headers,
    tracer_provider,
)
from trend_tracker.events import Reason, event_schema
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after the broker failed or was too slow.
RETRY_AFTER_BROKER_S = 5
#: ... after the producer's local queue was full (the service is overloaded).
RETRY_AFTER_OVERLOAD_S = 1
#: How long ``/ready`` waits for the broker's metadata.
READY_TIMEOUT_S = 2.0
#: Events in the producer's local queue at most, across requests, ...
PRODUCER_QUEUE_MESSAGES = 200_000
#: ... and their size at most (librdkafka's default is 1 GiB, twice the pod's memory
#: limit): a full queue answers 503 queue_full instead of the process being killed.
PRODUCER_QUEUE_KBYTES = 64 * 1024
#: How often delivery reports are served while records are in flight.
REPORT_POLL_INTERVAL_S = 0.001

#: Batch sizes are counted up to the largest ``ingest_max_batch``.
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000)
#: Produce latency: linger (5 ms) plus the broker's acknowledgement.
PRODUCE_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
#: Request duration, the same buckets as the produce latency plus the body's parsing.
REQUEST_BUCKETS = PRODUCE_BUCKETS

JSON = "application/json"


# --- metrics --------------------------------------------------------------------------------


class IngestMetrics:
    """The ingest service's collectors, prefixed ``trend_ingest_``, in their own registry.

    ``requests`` and ``latency`` have the shape the API's ``MetricsMiddleware`` fills.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "trend_ingest_requests", "HTTP requests served, by route template, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "trend_ingest_request_duration_seconds",
            "Time from request to the end of the response, by route template",
            ["route"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.events_accepted = Counter(
            "trend_ingest_events_accepted",
            "Events written to their topic and acknowledged by the broker, by event type",
            ["event_type"], registry=self.registry)
        self.events_rejected = Counter(
            "trend_ingest_events_rejected",
            "Events that broke the event contract, by reason code", ["reason"],
            registry=self.registry)
        self.batch_size = Histogram(
            "trend_ingest_batch_size", "Events per accepted request body",
            buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.produce_duration = Histogram(
            "trend_ingest_produce_duration_seconds",
            "Time from handing a request's events to the producer to the broker's last "
            "acknowledgement", buckets=PRODUCE_BUCKETS, registry=self.registry)
        self.requests_in_flight = Gauge(
            "trend_ingest_requests_in_flight",
            "POST /events requests being handled (at most ingest_max_concurrent_requests)",
            registry=self.registry)
        self.produce_errors = Counter(
            "trend_ingest_produce_errors",
            "Requests answered 503, by kind: the broker did not take their events, or the "
            "service was overloaded",
            ["kind"], registry=self.registry)
        self.refused = Counter(
            "trend_ingest_refused_requests",
            "POST /events requests refused before any event was checked, by reason "
            "(unauthenticated: 401, rate_limited: 429) and client (the API key's name; "
            "none when unauthenticated)",
            ["reason", "client"], registry=self.registry)
        self.client_events = Counter(
            "trend_ingest_client_events",
            "Events in the requests each client (API key name) was let through with, "
            "accepted or rejected by the contract", ["client"], registry=self.registry)
        self.api_keys = Gauge(
            "trend_ingest_api_keys", "API keys the service accepts now",
            registry=self.registry)
        self.api_keys_file_error = Gauge(
            "trend_ingest_api_keys_file_error",
            "1 while the keys file's last change could not be read or parsed (the keys "
            "in use before it still apply)", registry=self.registry)


# --- the producer ---------------------------------------------------------------------------


class ProduceError(Exception):
    """The broker did not acknowledge every event of a request; answered with a 503."""

    def __init__(self, kind: str, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s


class _Delivery:
    """Delivery reports of one request's records; resolves ``done`` after the last one.

    librdkafka calls it from ``Producer.poll``, which only the event loop calls.
    """

    __slots__ = ("done", "failed", "last_error", "remaining")

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self.remaining = count
        self.failed = 0
        self.last_error: KafkaError | None = None
        self.done: asyncio.Future[None] = loop.create_future()

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self.last_error = err
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)


def producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka settings: acknowledged by every in-sync replica, idempotent, bounded."""
    return {
        **client_config(settings),
        "acks": "all",
        # No duplicates from the producer's own retries (at-least-once remains: a client
        # may retry a request whose events were written).
        "enable.idempotence": True,
        "linger.ms": 5,
        # A record the broker has not acknowledged by the request's deadline fails.
        "message.timeout.ms": max(1, int(settings.ingest_request_timeout_s * 1000)),
        "message.max.bytes": max(1_000_000, settings.ingest_max_body_bytes + 4096),
        "queue.buffering.max.messages": PRODUCER_QUEUE_MESSAGES,
        "queue.buffering.max.kbytes": PRODUCER_QUEUE_KBYTES,
        # Java clients hash keys with murmur2: a product lands on the partition the
        # simulator and every Java producer would choose.
        "partitioner": "murmur2_random",
        "log_level": 4,
    }


class EventProducer:
    """One producer per app. Its delivery reports are served on the event loop: a task
    polls the producer while records are in flight, so the reports never wait for the
    interpreter lock behind the requests (as a polling thread's would) and resolve each
    request's future directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        config = producer_config(settings)
        config["error_cb"] = self.on_error
        self._producer = Producer(config)
        self._in_flight = asyncio.Event()
        self._reports: asyncio.Task[None] | None = None
        self._last_error_log = 0.0
        #: The fatal error that made the producer unusable, if one did (librdkafka's
        #: idempotence can fail for good); only a restart of the process recovers.
        self.fatal_error: KafkaError | None = None

    def start(self) -> None:
        """Start serving delivery reports (call from the event loop)."""
        self._reports = asyncio.get_running_loop().create_task(self._serve_reports())

    async def _serve_reports(self) -> None:
        while True:
            await self._in_flight.wait()
            self._in_flight.clear()
            # len(): records queued, in flight, or with a report not yet served.
            while len(self._producer):
                try:
                    self._producer.poll(0)
                except Exception:  # keep serving: every waiting request depends on it
                    log.exception("serving Kafka delivery reports failed")
                await asyncio.sleep(REPORT_POLL_INTERVAL_S)

    def on_error(self, err: KafkaError) -> None:
        """librdkafka's error callback: a fatal error is kept (``/ready`` turns red and
        every request is answered 503); others are logged."""
        if err.fatal():
            if self.fatal_error is None:
                log.error("Kafka producer failed for good (%s): restart the service",
                          err.str())
            self.fatal_error = err
            return
        # Reconnection attempts repeat these; one line per 10 s is enough.
        now = time.monotonic()
        if now - self._last_error_log >= 10:
            self._last_error_log = now
            log.warning("Kafka producer: %s", err.str())

    async def send(self, records: list[Record], deadline: float,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        """Produce ``records``, each with the Kafka ``headers`` given, and return once the
        broker acknowledged all of them.

        Raises :class:`ProduceError` when one failed, when the local queue is full, or at
        ``deadline`` (``time.monotonic()``), whichever comes first.
        """
        if self.fatal_error is not None:
            raise ProduceError("fatal", f"the service's producer failed "
                               f"({self.fatal_error.str()}); retry", RETRY_AFTER_BROKER_S)
        delivery = _Delivery(len(records), asyncio.get_running_loop())
        produce = self._producer.produce
        try:
            for record in records:
                produce(record.topic, record.value, record.key, on_delivery=delivery,
                        headers=headers)
        except BufferError as exc:
            raise ProduceError("queue_full", "the service is overloaded; retry",
                               RETRY_AFTER_OVERLOAD_S) from exc
        except KafkaException as exc:
            raise ProduceError("produce_failed", f"the broker refused the events: "
                               f"{exc.args[0].str()}", RETRY_AFTER_BROKER_S) from exc
        finally:
            self._in_flight.set()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await delivery.done
        except TimeoutError as exc:
            raise ProduceError("timeout", "the broker did not acknowledge the events in "
                               "time; retry", RETRY_AFTER_BROKER_S) from exc
        if delivery.failed:
            raise ProduceError("delivery_failed", "the broker did not take every event "
                               f"({delivery.last_error.str()}); retry", RETRY_AFTER_BROKER_S)

    def topic_partitions(self, timeout_s: float) -> dict[str, int]:
        """Partitions of each event topic the broker lists (raises ``KafkaException``)."""
        metadata = self._producer.list_topics(timeout=timeout_s)
        found = {}
        for topic in self.settings.event_topics.values():
            described = metadata.topics.get(topic)
            if described is not None and described.error is None and described.partitions:
                found[topic] = len(described.partitions)
        return found

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving reports, then deliver what is queued (up to ``timeout_s``)."""
        if self._reports is not None:
            self._reports.cancel()
        self._producer.flush(timeout_s)


# --- models ---------------------------------------------------------------------------------


class EventResult(BaseModel):
    """What became of one event of the request."""

    index: int = Field(ge=0, description="Position of the event in the request (0 for a "
                                         "single event)")
    status: Literal["accepted", "rejected"]
    reason: Reason | None = Field(
        None, description="Only for a rejected event: the event contract's reason code, "
                          "as the job would dead-letter it (docs/EVENT-CONTRACT.md)")


class IngestResponse(BaseModel):
    """Accepted events are on their topics, acknowledged by the broker."""

    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)
    results: list[EventResult]


class IngestReadyResponse(BaseModel):
    """The broker answers and lists every event topic."""

    status: Literal["ready"]
    topics: dict[str, int] = Field(description="Event topic -> partitions")


# --- routes ---------------------------------------------------------------------------------


async def get_producer(request: Request) -> EventProducer:
    """The app's Kafka producer."""
    return request.app.state.producer


async def get_metrics(request: Request) -> IngestMetrics:
    """The app's Prometheus collectors."""
    return request.app.state.metrics


ProducerDep = Annotated[EventProducer, Depends(get_producer)]
MetricsDep = Annotated[IngestMetrics, Depends(get_metrics)]

#: Where the API key comes from (and what the OpenAPI page's "Authorize" asks for).
bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="An API key of the ingest service: Authorization: Bearer KEY")


async def authenticate(
        request: Request, metrics: MetricsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The name of the client whose API key the request carries; 401 without a known one."""
    if credentials is None:
        metrics.refused.labels("unauthenticated", "none").inc()
        raise ApiError(401, "unauthenticated",
                       "send an API key of this service as Authorization: Bearer <key>",
                       headers={"WWW-Authenticate": "Bearer"})
    client = request.app.state.api_keys.client(credentials.credentials)
    if client is None:
        metrics.refused.labels("unauthenticated", "none").inc()
        raise ApiError(401, "unauthenticated", "the API key is not one this service accepts",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return client


ClientDep = Annotated[str, Depends(authenticate)]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


router = APIRouter()


def _is_json(content_type: str | None) -> bool:
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != JSON:
        return False
    charset = params.strip().lower()
    return not charset.startswith("charset=") or charset in ("charset=utf-8", 'charset="utf-8"')


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with a 413 as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length")
    too_large = ApiError(413, "body_too_large", f"the body may be at most {max_bytes} bytes")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect as exc:  # nobody reads the answer; nothing was written
        raise ApiError(400, "malformed_body", "the client went away before the body "
                       "ended") from exc
    return b"".join(chunks)


def now_ms() -> int:
    """Wall-clock time, epoch ms: the processing time ``future_ts`` is checked against."""
    return time.time_ns() // 1_000_000


@router.post(
    "/events", status_code=202, response_model=IngestResponse,
    responses={
        400: _error("The body is not UTF-8 JSON (malformed_body)"),
        401: _error("No API key, or one the service does not accept (unauthenticated)"),
        408: _error("The body did not arrive within ingest_request_timeout_s "
                    "(request_timeout)"),
        413: _error("The body is larger than ingest_max_body_bytes (body_too_large), or "
                    "holds more than ingest_max_batch events (batch_too_large)"),
        415: _error("The body is not declared as application/json (unsupported_media_type)"),
        422: _error("The body is neither an event object nor a non-empty array "
                    "(invalid_body)"),
        429: _error("The client's API key has posted more events than its rate limit "
                    "allows (rate_limited): retry after Retry-After seconds; nothing was "
                    "written"),
        503: _error("The broker did not acknowledge the events (broker_unavailable): retry "
                    "after Retry-After seconds; some may have been written. Or "
                    "ingest_max_concurrent_requests are being handled (overloaded): retry "
                    "after Retry-After seconds; nothing was written"),
    })
async def post_events(request: Request, client: ClientDep, producer: ProducerDep,
                      settings: SettingsDep, metrics: MetricsDep) -> Response:
    """Validate events against the contract; write the valid ones to their topics."""
    state = request.app.state
    if state.requests_in_flight >= settings.ingest_max_concurrent_requests:
        metrics.produce_errors.labels("overloaded").inc()
        raise ApiError(503, "overloaded",
                       f"{settings.ingest_max_concurrent_requests} requests are being "
                       f"handled; retry", headers={"Retry-After": str(RETRY_AFTER_OVERLOAD_S)})
    state.requests_in_flight += 1  # one event loop: no lock needed
    metrics.requests_in_flight.set(state.requests_in_flight)
    try:
        return await _post_events(request, client, producer, settings, metrics)
    finally:
        state.requests_in_flight -= 1
        metrics.requests_in_flight.set(state.requests_in_flight)


async def _post_events(request: Request, client: str, producer: EventProducer,
                       settings: Settings, metrics: IngestMetrics) -> Response:
    deadline = time.monotonic() + settings.ingest_request_timeout_s
    if not _is_json(request.headers.get("content-type")):
        raise ApiError(415, "unsupported_media_type",
                       "send the events as application/json (UTF-8)")
    try:
        async with asyncio.timeout(settings.ingest_request_timeout_s):
            body = await read_body(request, settings.ingest_max_body_bytes)
    except TimeoutError as exc:
        raise ApiError(408, "request_timeout", "the body did not arrive in time") from exc
    try:
        items = split_events(body, settings.ingest_max_batch)
    except BodyError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    # Every event costs a token, valid or not: each is checked, and may be a record.
    wait_s = request.app.state.rate_limiter.charge(client, len(items))
    if wait_s:
        metrics.refused.labels("rate_limited", client).inc()
        raise ApiError(429, "rate_limited",
                       f"over this API key's limit of "
                       f"{settings.ingest_rate_limit_events_per_s:g} events/s (at most "
                       f"{settings.ingest_rate_burst} at once); nothing was written, retry "
                       f"after Retry-After seconds",
                       headers={"Retry-After": str(retry_after_s(wait_s))})
    metrics.client_events.labels(client).inc(len(items))

    batch = check_batch(items, settings.event_topics, now_ms(),
                        settings.max_future_skew_s * 1000)
    metrics.batch_size.observe(len(items))
    for reason, count in batch.rejected_by_reason().items():
        metrics.events_rejected.labels(reason).inc(count)
    if batch.records:
        started = time.perf_counter()
        try:
            await send_traced(request, producer, batch.records, deadline)
        except ProduceError as exc:
            metrics.produce_errors.labels(exc.kind).inc()
            log.warning("events not acknowledged (%s): %s", exc.kind, exc.message)
            raise ApiError(503, "broker_unavailable", exc.message,
                           headers={"Retry-After": str(exc.retry_after_s)}) from exc
        metrics.produce_duration.observe(time.perf_counter() - started)
        for event_type, count in batch.accepted_by_type().items():
            metrics.events_accepted.labels(event_type).inc(count)
    body_out = {"accepted": len(batch.records), "rejected": len(batch.rejected),
                "results": batch.results()}
    return Response(orjson.dumps(body_out), status_code=202, media_type=JSON)


async def send_traced(request: Request, producer: EventProducer, records: list[Record],
                      deadline: float) -> None:
    """Send ``records`` with the request's trace in their ``traceparent`` header: with
    tracing on, that of a producer span under the request's server span; off, the request's
    own header, forwarded."""
    tracer = request.app.state.tracer
    if tracer is None:
        await producer.send(records, deadline,
                            forwarded_headers(request.headers.get(TRACEPARENT)))
        return
    with tracer.start_as_current_span("send events", kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "kafka", "messaging.operation.type": "send",
            "messaging.batch.message_count": len(records)}):
        await producer.send(records, deadline, record_headers())


@router.get("/health", response_model=HealthResponse)
async def health() -> dict[str, str]:
    """The process is alive (does not touch the broker)."""
    return {"status": "ok"}


@router.get("/ready", response_model=IngestReadyResponse,
            responses={503: _error("The broker does not answer, or an event topic is "
                                   "missing (broker_unavailable); or the producer failed "
                                   "for good (producer_failed)")})
async def ready(producer: ProducerDep, settings: SettingsDep) -> dict[str, Any]:
    """The producer works, and the broker answers and lists every event topic."""
    if producer.fatal_error is not None:
        raise ApiError(503, "producer_failed", f"the producer failed for good "
                       f"({producer.fatal_error.str()}): restart the service")
    loop = asyncio.get_running_loop()
    try:
        found = await loop.run_in_executor(None, producer.topic_partitions, READY_TIMEOUT_S)
    except KafkaException as exc:
        raise ApiError(503, "broker_unavailable", "the broker does not answer",
                       headers={"Retry-After": str(RETRY_AFTER_BROKER_S)}) from exc
    missing = sorted(set(settings.event_topics.values()) - set(found))
    if missing:
        raise ApiError(503, "broker_unavailable", f"missing topics: {', '.join(missing)}",
                       headers={"Retry-After": str(RETRY_AFTER_BROKER_S)})
    return {"status": "ready", "topics": found}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text exposition"}})
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus metrics (names prefixed trend_ingest_)."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


# --- the app --------------------------------------------------------------------------------

DESCRIPTION = """Events over HTTP, for clients that cannot write to Kafka.

`POST /events` takes one event or a JSON array of events. Each is checked against the event
contract (the rules the trending job applies) and each valid one is written to the topic of
its type, keyed by `product_id`. Delivery is at least once: the answer comes after the
broker acknowledged the events; a retried request may write some events twice. Every error
has the body `{"error": {"code": "...", "message": "..."}}`.

`POST /events` takes an API key, `Authorization: Bearer <key>`: without a known one the
answer is 401 `unauthenticated`. Each key's client may post `ingest_rate_limit_events_per_s`
events a second (`ingest_rate_burst` at once); beyond that the answer is 429 `rate_limited`
with `Retry-After`, and nothing is written.
"""


def openapi_with_body(app: FastAPI, max_batch: int) -> dict[str, Any]:
    """The OpenAPI schema with ``POST /events``'s body: an event or an array of them."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        event = {k: v for k, v in event_schema().items() if k not in ("$schema", "$id")}
        schema.setdefault("components", {}).setdefault("schemas", {})["Event"] = event
        ref = {"$ref": "#/components/schemas/Event"}
        schema["paths"]["/events"]["post"]["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": {"oneOf": [
                ref, {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch},
            ]}}},
        }
        app.openapi_schema = schema
    return app.openapi_schema


def create_ingest_app(settings: Settings | None = None,
                      clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The ingest service, writing to ``settings.bootstrap_servers``.

    Raises :class:`api.ingest_auth.ApiKeyError` when no API key is configured or the keys
    cannot be read, :class:`api.tracing.TracingConfigError` when the ``OTEL_*`` variables
    ask for traces it cannot send. ``clock`` (seconds) times the rate limits and the keys
    file's checks.
    """
    settings = settings or load_settings()
    secret = settings.ingest_api_keys
    api_keys = ApiKeyStore.from_settings(secret.get_secret_value() if secret else None,
                                         settings.ingest_api_keys_file, clock)
    metrics = IngestMetrics()
    metrics.api_keys.set_function(lambda: len(api_keys.keys))
    metrics.api_keys_file_error.set_function(lambda: float(api_keys.file_error))
    traces = tracer_provider("trend-ingest")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.producer = EventProducer(settings)
        app.state.producer.start()
        try:
            yield
        finally:
            # On the loop's thread: the last reports resolve their requests' futures.
            app.state.producer.close()
            if traces is not None:
                traces.shutdown()  # sends the spans still batched

    # /docs and /redoc are api.page's, served from the package instead of a CDN.
    app = FastAPI(title="Trend Tracker ingest", version="1", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(traces))
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.api_keys = api_keys
    app.state.rate_limiter = RateLimiter(settings.ingest_rate_limit_events_per_s,
                                         settings.ingest_rate_burst, clock)
    app.state.requests_in_flight = 0
    app.state.tracer = traces.get_tracer(__name__) if traces is not None else None
    app.openapi = partial(openapi_with_body, app, settings.ingest_max_batch)  # type: ignore[method-assign]
    install_common_error_handlers(app)
    app.include_router(router)
    add_docs(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
