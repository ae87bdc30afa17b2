"""Traces of the API and ingest with OpenTelemetry: off unless ``OTEL_TRACES_EXPORTER=otlp``.

Configuration is OpenTelemetry's own environment variables, read by the SDK and the OTLP
exporter: ``OTEL_TRACES_EXPORTER`` (``otlp`` turns tracing on; unset or ``none`` leaves it
off, this project's default), ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP, ``http/protobuf``),
``OTEL_SERVICE_NAME`` (else ``trend-api`` or ``trend-ingest``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``.

Off, no provider exists and FastAPI's telemetry is off: a request costs what it cost before.
On, FastAPI's native telemetry opens a server span per request (its parent taken from the
request's ``traceparent``), and the spans leave in batches on the SDK's own thread.

Propagation does not depend on it: ingest writes the W3C ``traceparent`` into each record's
Kafka headers either way (:func:`record_headers`), so a dead letter leads back to its request
even when the service itself exports nothing.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The W3C Trace Context header, in requests and in Kafka records.
TRACEPARENT = "traceparent"

#: FastAPI's built-in OpenTelemetry spans, metrics and logs, all off.
NO_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}

_W3C = TraceContextTextMapPropagator()


class TracingConfigError(ValueError):
    """The ``OTEL_*`` variables ask for something this service cannot export."""


def tracer_provider(default_service_name: str) -> TracerProvider | None:
    """A provider exporting spans with OTLP over HTTP, as the ``OTEL_*`` variables say; None
    when tracing is off. Raises :class:`TracingConfigError` for an exporter or protocol
    other than ``otlp`` over ``http/protobuf``."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter in ("", "none"):
        return None
    if exporter != "otlp":
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER={exporter!r}: this service exports "
                                 "traces with otlp only (or none)")
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    if protocol != "http/protobuf":
        raise TracingConfigError(f"OTLP protocol {protocol!r}: this service sends "
                                 "http/protobuf only")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    # The app shuts it down (flushing the last spans) when its lifespan ends.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def fastapi_telemetry(provider: TracerProvider | None) -> dict[str, Any]:
    """``FastAPI(telemetry=...)``: one server span per request with ``provider``, nothing
    without one (which also spares each request FastAPI's check for global providers)."""
    if provider is None:
        return NO_TELEMETRY
    return {"tracer_provider": provider, "tracing": True, "metrics": False, "logs": False,
            "operation_spans": False, "auto_configure": False}


def record_headers(context: Context | None = None) -> list[tuple[str, bytes]] | None:
    """The Kafka headers that carry the trace of ``context`` (default: the current one), or
    None when it has no valid span context."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context)
    value = carrier.get(TRACEPARENT)
    return [(TRACEPARENT, value.encode())] if value else None


def forwarded_headers(traceparent: str | None) -> list[tuple[str, bytes]] | None:
    """The Kafka headers that carry a request's own ``traceparent`` header, when the service
    opens no span of its own; None without a valid one."""
    if not traceparent:
        return None
    return record_headers(_W3C.extract({TRACEPARENT: traceparent}))
