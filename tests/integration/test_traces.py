"""Traces from the HTTP edge through Kafka: ingest's spans reach a real OTLP/HTTP endpoint,
each record carries its request's W3C ``traceparent`` in its Kafka headers, and a dead letter
of the job carries the ``traceparent`` of the record it refused.

The OTLP endpoint is :class:`localstack.otlp.OtlpReceiver`, decoding what the service exports
with the OpenTelemetry protobuf definitions. Expected trace ids, span ids and envelopes are
built here from the requests' headers, the received spans and the records' positions.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from localstack.otlp import OtlpReceiver, ReceivedSpan
from localstack.servers import IngestServer, wait_until
from simulator.kafka_io import ensure_topics, read_topic
from tests.integration.test_job_bounded import WEIGHTS, WEIGHTS_VERSION, produce

KEY = "traces-key-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
#: A client's trace: its trace id and the span that sent the request.
TRACE_A, PARENT_A = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACE_B, PARENT_B = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
SPAN_KIND_SERVER, SPAN_KIND_PRODUCER = 2, 4


def traceparent(trace_id: str, span_id: str, flags: str = "01") -> str:
    return f"00-{trace_id}-{span_id}-{flags}"


def now_ms() -> int:
    return int(time.time() * 1000)


def event(event_id: str, product_id: str, ts: int, event_type: str = "click") -> dict:
    return {"event_id": event_id, "event_type": event_type, "product_id": product_id,
            "category": "c-1", "user_id": f"u-{event_id}", "ts": ts}


def post(client: httpx.Client, events: list[dict], trace: str | None = None) -> None:
    headers = {"traceparent": trace} if trace else {}
    response = client.post("/events", content=json.dumps(events), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(events)


def event_records(settings) -> dict[str, tuple]:
    """event_id -> (topic, partition, offset, value, headers) of every record ingest wrote."""
    records = {}
    for topic in settings.event_topics.values():
        for record in read_topic(settings, topic, idle_timeout_s=2):
            records[json.loads(record.value)["event_id"]] = (
                record.topic, record.partition, record.offset, record.value, record.headers)
    return records


def ingest_spans(receiver: OtlpReceiver, count: int) -> list[ReceivedSpan]:
    """The ``count`` server spans of POST /events and their producer spans, once received."""
    def received() -> list[ReceivedSpan]:
        return [s for s in receiver.spans() if s.span.name in ("POST /events", "send events")]
    wait_until(lambda: len(received()) >= 2 * count, 20, f"{2 * count} ingest spans")
    return received()


def test_a_request_span_reaches_the_otlp_endpoint_and_its_records_carry_its_trace(
        make_settings, tmp_path):
    settings = make_settings(ingest_api_keys=f"tests:{KEY}")
    ensure_topics(settings)
    with OtlpReceiver() as receiver, \
            IngestServer({**settings.as_env(), **receiver.env()},
                         log_path=tmp_path / "ingest.log") as server, \
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        post(client, [event("e-1", "p-1", now_ms() - 1000),
                      event("e-2", "p-2", now_ms() - 1000, "cart")],
             traceparent(TRACE_A, PARENT_A))
        post(client, [event("e-3", "p-3", now_ms() - 1000)])  # no traceparent: a new trace
        spans = ingest_spans(receiver, 2)

    assert len(spans) == 4
    servers = [s for s in spans if s.span.name == "POST /events"]
    producers = {s.parent_span_id: s for s in spans if s.span.name == "send events"}
    # The client's request: the server span continues its trace, under its span.
    [continued] = [s for s in servers if s.trace_id == TRACE_A]
    [started] = [s for s in servers if s.trace_id != TRACE_A]
    assert continued.parent_span_id == PARENT_A
    assert started.parent_span_id == ""
    for server_span in (continued, started):
        assert server_span.resource["service.name"] == "trend-ingest"
        assert server_span.span.kind == SPAN_KIND_SERVER
        attributes = server_span.attributes()
        assert (attributes["http.route"], attributes["http.request.method"],
                attributes["http.response.status_code"]) == ("/events", "POST", 202)
        producer = producers[server_span.span_id]
        assert producer.trace_id == server_span.trace_id
        assert producer.span.kind == SPAN_KIND_PRODUCER
    assert producers[continued.span_id].attributes()["messaging.batch.message_count"] == 2

    # Each record's header: the trace of its request, under the span that sent it.
    records = event_records(settings)
    assert sorted(records) == ["e-1", "e-2", "e-3"]
    # The client's trace keeps its flags (sampled); a new one is sampled, and its id random
    # (W3C Trace Context level 2: flag 02).
    sent_a = traceparent(TRACE_A, producers[continued.span_id].span_id)
    sent_new = traceparent(started.trace_id, producers[started.span_id].span_id, "03")
    assert {event_id: record[4] for event_id, record in records.items()} == {
        "e-1": (("traceparent", sent_a.encode()),),
        "e-2": (("traceparent", sent_a.encode()),),
        "e-3": (("traceparent", sent_new.encode()),)}


def test_with_tracing_off_a_request_traceparent_is_forwarded_as_sent(make_settings, tmp_path):
    settings = make_settings(ingest_api_keys=f"tests:{KEY}")
    ensure_topics(settings)
    env = {key: value for key, value in settings.as_env().items()
           if not key.startswith("OTEL_")}
    with IngestServer(env, log_path=tmp_path / "ingest.log") as server, \
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        post(client, [event("e-1", "p-1", now_ms() - 1000)], traceparent(TRACE_B, PARENT_B))
        post(client, [event("e-2", "p-2", now_ms() - 1000)])
        post(client, [event("e-3", "p-3", now_ms() - 1000)], "00-not-a-trace")
    records = event_records(settings)
    assert {event_id: record[4] for event_id, record in records.items()} == {
        "e-1": (("traceparent", traceparent(TRACE_B, PARENT_B).encode()),),
        "e-2": (), "e-3": ()}


@pytest.mark.slow
def test_a_dead_letter_carries_the_traceparent_of_the_record_it_refused(make_settings,
                                                                      tmp_path):
    """Events ingest accepts and the job refuses: one stamped 10 minutes ahead (ingest allows
    an hour, the job a minute) and a copy of a counted event (a client's retry). Each dead
    letter holds its record's traceparent; a record written without one, straight to the
    topic, gets a letter without the field."""
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    job_settings = make_settings(max_future_skew_s=60, window_size_s=60, window_slide_s=10,
                                 weights_file=str(weights_file), checkpoint_interval_s=1,
                                 source_idle_timeout_s=120, parallelism=1)
    ingest_settings = make_settings(max_future_skew_s=3600, ingest_api_keys=f"tests:{KEY}")
    ensure_topics(job_settings)
    now = now_ms()
    with OtlpReceiver() as receiver, \
            IngestServer({**ingest_settings.as_env(), **receiver.env()},
                         log_path=tmp_path / "ingest.log") as server, \
            httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        post(client, [event("e-1", "p-1", now - 1000), event("e-2", "p-2", now + 600_000)],
             traceparent(TRACE_A, PARENT_A))
        post(client, [event("e-1", "p-1", now - 1000)], traceparent(TRACE_B, PARENT_B))
        spans = ingest_spans(receiver, 2)
    records = event_records(job_settings)
    not_json = b'{"event_id": '
    [(topic, partition, offset)] = produce(
        job_settings, [(job_settings.event_topics["click"], 0, not_json)])

    flink_logs = tmp_path / "flink-log"
    job = subprocess.run(
        [sys.executable, "-m", "jobs.trending", "--bounded"],
        env={**os.environ, **job_settings.as_env(), "FLINK_LOG_DIR": str(flink_logs)},
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=900,
        check=False)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]

    # The records' traceparents, from the spans that sent them.
    sent = {s.trace_id: traceparent(s.trace_id, s.span_id) for s in spans
            if s.span.name == "send events"}
    assert sorted(sent) == sorted([TRACE_A, TRACE_B])
    copies = [r for r in read_topic(job_settings, job_settings.event_topics["click"],
                                    idle_timeout_s=2)
              if r.value and r.value.startswith(b"{") and b'"e-1"' in r.value]
    assert [c.headers for c in copies] == [(("traceparent", sent[TRACE_A].encode()),),
                                           (("traceparent", sent[TRACE_B].encode()),)]

    def letter(record_topic, record_partition, record_offset, value, reason, trace=None):
        envelope = {"payload": value.decode(), "topic": record_topic,
                    "partition": record_partition, "offset": record_offset, "reason": reason,
                    "payload_bytes": len(value),
                    "payload_sha256": hashlib.sha256(value).hexdigest()}
        if trace is not None:
            envelope["traceparent"] = trace
        return f"{record_topic}/{record_partition}/{record_offset}", envelope

    future = records["e-2"]
    retried = copies[1]
    expected = sorted([
        letter(*future[:4], "future_ts", sent[TRACE_A]),
        letter(retried.topic, retried.partition, retried.offset, retried.value, "duplicate",
               sent[TRACE_B]),
        letter(topic, partition, offset, not_json, "not_json"),
    ])
    dead = sorted((r.key.decode(), json.loads(r.value))
                  for r in read_topic(job_settings, job_settings.topic_dead_letters,
                                      idle_timeout_s=3, deadline_s=60))
    assert dead == expected

