"""A real OTLP/HTTP trace endpoint for tests and benchmarks: ``POST /v1/traces`` with an
``ExportTraceServiceRequest`` (protobuf), decoded with the OpenTelemetry protobuf definitions.

It stands where the OpenTelemetry Collector stands in compose: the services export to it as
they would to the collector, configured by ``OTEL_EXPORTER_OTLP_ENDPOINT`` (:attr:`url`).
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as received: the resource's attributes (``service.name``, ...) and the span."""

    resource: dict[str, Any]
    span: Span

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_span_id(self) -> str:
        return self.span.parent_span_id.hex()

    def attributes(self) -> dict[str, Any]:
        return {a.key: _value(a.value) for a in self.span.attributes}


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class OtlpReceiver:
    """An OTLP/HTTP trace endpoint on a free loopback port, in a thread of this process.

    With ``keep`` it keeps every span it receives (:meth:`spans`); without, it only counts
    them by name (:attr:`span_names`: a benchmark's sink).
    """

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.requests = 0
        self.span_count = 0
        self.span_names: Counter[str] = Counter()
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver._receive(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", PROTOBUF)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass  # one line per export would only be noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="otlp-receiver")

    @property
    def url(self) -> str:
        """The OTLP endpoint's base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """The ``OTEL_*`` variables that send a service's traces here, in batches of at most
        100 ms."""
        return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "100"}

    def _receive(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                received.extend(ReceivedSpan(resource, span) for span in scope_spans.spans)
        with self._lock:
            self.requests += 1
            self.span_count += len(received)
            self.span_names.update(r.span.name for r in received)
            if self.keep:
                self._spans.extend(received)

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far (with ``keep``)."""
        with self._lock:
            return list(self._spans)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
