"""Tracing of the API and ingest: off by default, configured by the OTEL_* variables only,
and the traceparent headers ingest writes into records."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.tracing import (
    NO_TELEMETRY,
    TracingConfigError,
    forwarded_headers,
    tracer_provider,
)
from localstack.otlp import OtlpReceiver
from localstack.servers import wait_until
from trend_tracker.settings import Settings

TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
OTEL = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch):
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)


def test_tracing_is_off_without_an_exporter_and_with_none(monkeypatch):
    assert tracer_provider("trend-api") is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracer_provider("trend-api") is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracer_provider("trend-api") is None
    # Off, the app asks FastAPI for no telemetry at all: no span, no provider lookups.
    config = create_app(Settings(_env_file=None))._telemetry
    assert {key: config[key] for key in NO_TELEMETRY} == NO_TELEMETRY == {
        "tracing": False, "metrics": False, "logs": False}
    assert config["tracer_provider"] is None


def test_otlp_names_the_service_unless_the_environment_does(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    provider = tracer_provider("trend-ingest")
    assert provider.resource.attributes["service.name"] == "trend-ingest"
    provider.shutdown()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ingest-eu")
    provider = tracer_provider("trend-ingest")
    assert provider.resource.attributes["service.name"] == "ingest-eu"
    provider.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,team=growth")
    provider = tracer_provider("trend-ingest")
    assert provider.resource.attributes["service.name"] == "from-attributes"
    assert provider.resource.attributes["team"] == "growth"
    provider.shutdown()


@pytest.mark.parametrize("variable, value, message", [
    ("OTEL_TRACES_EXPORTER", "zipkin", "otlp only"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf only"),
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", "http/protobuf only"),
])
def test_what_the_service_cannot_send_fails_at_start(monkeypatch, variable, value, message):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv(variable, value)
    with pytest.raises(TracingConfigError, match=message):
        tracer_provider("trend-api")


def test_a_request_traceparent_is_forwarded_only_when_valid():
    assert forwarded_headers(TRACEPARENT) == [("traceparent", TRACEPARENT.encode())]
    for invalid in (None, "", "00-not-a-trace", f"ff-{TRACE_ID}-{PARENT_ID}-01",
                    f"00-{'0' * 32}-{PARENT_ID}-01", f"00-{TRACE_ID}-{'0' * 16}-01"):
        assert forwarded_headers(invalid) is None, invalid


def test_with_tracing_on_each_api_request_has_a_span_named_by_its_route(monkeypatch):
    """The direct routes (``/trending``) too, which FastAPI's router never sees."""
    with OtlpReceiver() as receiver:
        for name, value in receiver.env().items():
            monkeypatch.setenv(name, value)
        app = create_app(Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0",
                                  redis_connect_timeout_s=0.2))
        with TestClient(app) as client:
            assert client.get("/health", headers={"traceparent": TRACEPARENT}).status_code == 200
            assert client.get("/trending?k=3").status_code == 503  # no Redis here
            assert client.get("/nowhere").status_code == 404
        wait_until(lambda: len(receiver.spans()) == 3, 10, "3 spans")
    spans = {s.span.name: s for s in receiver.spans()}
    assert set(spans) == {"GET /health", "GET /trending", "GET"}
    assert (spans["GET /health"].trace_id, spans["GET /health"].parent_span_id) == (
        TRACE_ID, PARENT_ID)
    assert spans["GET /health"].resource["service.name"] == "trend-api"
    trending = spans["GET /trending"].attributes()
    assert (trending["http.route"], trending["http.response.status_code"],
            trending["url.query"]) == ("/trending", 503, "k=3")
    assert spans["GET"].attributes()["http.response.status_code"] == 404
