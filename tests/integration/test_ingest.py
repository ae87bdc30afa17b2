"""The ingest service (`trend ingest`, its own uvicorn process) against the real local broker."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter

import httpx
import pytest

from localstack.servers import IngestServer
from simulator.kafka_io import ensure_topics, read_topic
from tests.contract.event_corpus import CASES, SKEW_MS, TOPIC_MISMATCH
from tests.integration.test_registry import wait_until
from trend_tracker.events import classify
from trend_tracker.processes import free_port

JSON_HEADERS = {"content-type": "application/json"}
#: The API key the tests' clients send, named "tests" in the service's metrics.
KEY = "integration-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def now_ms() -> int:
    return int(time.time() * 1000)


def event(n: int, event_type: str = "click", **fields) -> dict:
    return {"event_id": f"e-{n}", "event_type": event_type, "product_id": f"p-{n % 7}",
            "category": f"c-{n % 3}", "user_id": f"u-{n}", "ts": now_ms() - 1000, **fields}


def topic_records(settings, idle_s: float = 2.0) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every (key, value) on each event topic, read from offset 0 until the topic has been
    quiet for ``idle_s`` (so that records beyond those expected would be seen too)."""
    return {topic: [(r.key, r.value) for r in read_topic(settings, topic, idle_timeout_s=idle_s)]
            for topic in settings.event_topics.values()}


@pytest.fixture
def keyed_settings(make_settings):
    """``make_settings`` with the tests' API key: the ingest service starts only with one."""
    def build(**overrides):
        return make_settings(**{"ingest_api_keys": f"tests:{KEY}", **overrides})
    return build


def client_of(server: IngestServer, headers: dict[str, str] = AUTH) -> httpx.Client:
    """An HTTP client of ``server`` sending the tests' API key with every request."""
    return httpx.Client(base_url=server.url, timeout=30, headers=headers)


@pytest.fixture
def ingest(keyed_settings, tmp_path):
    """A running ingest service on fresh topics; yields (settings, client)."""
    settings = keyed_settings(ingest_max_batch=500, ingest_max_body_bytes=1_000_000,
                              max_future_skew_s=SKEW_MS // 1000)
    ensure_topics(settings)
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server) as client:
        yield settings, client


def test_accepted_events_come_out_of_their_topics_as_sent_keyed_by_product_id(ingest):
    settings, client = ingest
    sent = [
        json.dumps(event(1)).encode(),
        json.dumps(event(2, "cart", price=19.99), indent=2).encode(),
        json.dumps(event(3, "purchase", price=5), ensure_ascii=False,
                   separators=(",", ":")).encode(),
        # Not ASCII: the record holds the UTF-8 bytes as sent, escapes as sent.
        json.dumps(event(4, user_id="\u00fcser \U0001F600"), ensure_ascii=False).encode(),
        json.dumps(event(5, user_id="\u00fcser"), ensure_ascii=True).encode(),
        (b'{"ts": 1704067200000, "user_id": "u", "category": "c-0", "product_id": "p-x",'
         b' "event_type": "click", "event_id": "e-6", "extra": {"nested": [1, 2]}}'),
    ]
    body = b"[\n  " + b" ,\n  ".join(sent) + b"\n]"
    response = client.post("/events", content=body, headers=JSON_HEADERS)
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 6, "rejected": 0,
        "results": [{"index": i, "status": "accepted"} for i in range(6)]}
    # One event alone, not in an array.
    single = json.dumps(event(7, "cart")).encode()
    response = client.post("/events", content=single, headers=JSON_HEADERS)
    assert response.json() == {"accepted": 1, "rejected": 0,
                               "results": [{"index": 0, "status": "accepted"}]}

    expected: dict[str, Counter] = {topic: Counter() for topic in settings.event_topics.values()}
    for value in [*sent, single]:
        decoded = json.loads(value)
        expected[settings.event_topics[decoded["event_type"]]][
            (decoded["product_id"].encode(), value)] += 1
    got = topic_records(settings)
    assert {topic: Counter(records) for topic, records in got.items()} == expected
    assert sum(len(records) for records in got.values()) == 7


def test_each_corpus_payload_is_answered_with_the_reason_classify_gives(ingest):
    """The contract corpus in one batch: every payload that frames as an item gets the
    verdict classify gives it; the accepted ones reach their topics as sent, the rejected
    ones do not. Payloads that cannot be framed are refused as bodies of their own, with a
    4xx, never a 5xx."""
    settings, client = ingest
    cases = [case for case in CASES if case.value is not None]
    framable, framable_cases, refused = [], [], []
    for case in cases:
        payload = case.value
        response = client.post("/events", content=b"[" + payload + b"]", headers=JSON_HEADERS)
        assert response.status_code in (202, 400, 413, 422), response.text
        if response.status_code == 202:
            framable.append(payload)
            framable_cases.append(case)
        else:
            refused.append(payload)
        if response.status_code != 202:
            assert set(response.json()["error"]) == {"code", "message"}
    assert len(framable) >= 240

    items = [payload.strip(b" \t\r\n") for payload in framable]
    response = client.post("/events", content=b"[" + b",".join(items) + b"]",
                           headers=JSON_HEADERS)
    assert response.status_code == 202
    answer = response.json()
    now = now_ms()
    expected_results = []
    accepted: dict[str, Counter] = {topic: Counter() for topic in settings.event_topics.values()}
    for index, item in enumerate(items):
        verdict = classify(item, None, now, SKEW_MS)
        if verdict.reason is None:
            expected_results.append({"index": index, "status": "accepted"})
            accepted[settings.event_topics[verdict.event["event_type"]]][
                (verdict.event["product_id"].encode(), item)] += 2  # the batch and alone
        else:
            expected_results.append({"index": index, "status": "rejected",
                                     "reason": str(verdict.reason)})
    assert answer["results"] == expected_results
    # The same verdicts as the corpus's hand-written ones. No topic is read, so a payload
    # the corpus reads on the wrong topic is judged without that check: valid, or, for the
    # one whose ts is also in the future (topic_mismatch comes first), future_ts.
    without_topic = {"mismatch_and_future_ts": "future_ts"}
    by_hand = [without_topic.get(case.name) if case.expected == TOPIC_MISMATCH
               else case.expected for case in framable_cases]
    assert [result.get("reason") for result in answer["results"]] == by_hand
    assert answer["accepted"] == sum(r["status"] == "accepted" for r in expected_results)
    assert answer["rejected"] == len(items) - answer["accepted"]
    assert {r.get("reason") for r in expected_results} >= {
        None, "not_json", "missing_field", "wrong_type", "bad_id", "unknown_event_type",
        "future_ts"}

    got = topic_records(settings)
    assert {topic: Counter(records) for topic, records in got.items()} == accepted

    for payload in refused:  # as the whole body too: a 4xx JSON error
        response = client.post("/events", content=payload, headers=JSON_HEADERS)
        assert response.status_code in (400, 422), (payload[:40], response.status_code)
        assert response.headers["content-type"] == "application/json"


def test_bodies_over_the_limits_or_malformed_are_4xx_json_errors_and_write_nothing(
        keyed_settings, tmp_path):
    settings = keyed_settings(ingest_max_batch=3, ingest_max_body_bytes=2048)
    ensure_topics(settings)
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server) as client:
        four = json.dumps([event(n) for n in range(4)])
        cases = [
            (four, JSON_HEADERS, 413, "batch_too_large"),
            (json.dumps([event(0, padding="x" * 3000)]), JSON_HEADERS, 413, "body_too_large"),
            (json.dumps(event(0)), {"content-type": "text/plain"}, 415,
             "unsupported_media_type"),
            ('[{"event_id": "e-1",', JSON_HEADERS, 400, "malformed_body"),
            (b"\xff\xfe[]", JSON_HEADERS, 400, "malformed_body"),
            ("42", JSON_HEADERS, 422, "invalid_body"),
            ("[]", JSON_HEADERS, 422, "invalid_body"),
        ]
        for content, headers, status, code in cases:
            response = client.post("/events", content=content, headers=headers)
            assert response.status_code == status, (code, response.text)
            assert response.json()["error"]["code"] == code
        # A body without a declared length, streamed in chunks, is cut off at the limit too.
        chunks = (b"[" + b" " * 1000 for _ in range(4))
        response = client.post("/events", content=chunks, headers=JSON_HEADERS)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        # Exactly the limit is fine.
        response = client.post("/events", content=json.dumps([event(n) for n in range(3)]),
                               headers=JSON_HEADERS)
        assert response.status_code == 202
        assert response.json()["accepted"] == 3
    got = topic_records(settings)
    assert sum(len(records) for records in got.values()) == 3


def test_a_body_slower_than_the_request_timeout_is_a_408_and_writes_nothing(
        keyed_settings, tmp_path):
    settings = keyed_settings(ingest_request_timeout_s=1.0)
    ensure_topics(settings)
    body = json.dumps([event(1)]).encode()
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        # The head and half the body, then nothing: the rest never comes.
        conn.sendall(b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Authorization: Bearer %s\r\n"
                     b"Content-Length: %d\r\n\r\n" % (KEY.encode(), len(body))
                     + body[:len(body) // 2])
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - started
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout", head
    assert json.loads(content)["error"]["code"] == "request_timeout"
    assert 0.9 <= waited < 5, waited
    got = topic_records(settings)
    assert sum(len(records) for records in got.values()) == 0


def test_an_unreachable_broker_is_a_503_with_retry_after(keyed_settings, tmp_path):
    closed = free_port()  # nothing listens there: a real connection refused
    settings = keyed_settings(bootstrap_servers=f"127.0.0.1:{closed}",
                              ingest_request_timeout_s=2.0)
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server) as client:
        started = time.monotonic()
        response = client.post("/events", json=[event(1), event(2, "cart")])
        assert response.status_code == 503
        assert time.monotonic() - started < 10
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "broker_unavailable"
        # Bad input is still judged without the broker: a 202 that writes nothing.
        response = client.post("/events", json=[{"event_type": "click"}])
        assert response.status_code == 202
        assert response.json()["results"] == [
            {"index": 0, "status": "rejected", "reason": "missing_field"}]
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "retry-after" in ready.headers
        metrics = client.get("/metrics").text
        assert 'trend_ingest_produce_errors_total{kind="timeout"} 1.0' in metrics or \
            'trend_ingest_produce_errors_total{kind="delivery_failed"} 1.0' in metrics


def test_requests_beyond_the_concurrency_cap_are_a_503_overloaded(keyed_settings, tmp_path):
    """With the broker unreachable, one request holds the only slot until its deadline;
    a second one meanwhile is refused at once, and the slot is free again afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    settings = keyed_settings(bootstrap_servers=f"127.0.0.1:{free_port()}",
                              ingest_request_timeout_s=4.0, ingest_max_concurrent_requests=1)
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server) as client, \
            ThreadPoolExecutor(1) as pool:
        holder = pool.submit(client.post, "/events", json=[event(1)])
        assert wait_until(lambda: "trend_ingest_requests_in_flight 1.0" in
                          client.get("/metrics").text, 3, 0.01), "the request never came in"
        refused = client.post("/events", json=[event(2)])
        assert refused.status_code == 503
        assert refused.json() == {"error": {
            "code": "overloaded", "message": "1 requests are being handled; retry"}}
        assert refused.headers["retry-after"] == "1"
        assert holder.result().json()["error"]["code"] == "broker_unavailable"
        # The slot is free again: the next request waits for the broker, like the first.
        assert client.post("/events", json=[event(3)]).json()["error"]["code"] == (
            "broker_unavailable")
        metrics = client.get("/metrics").text
        assert 'trend_ingest_produce_errors_total{kind="overloaded"} 1.0' in metrics


def test_ready_and_metrics_report_what_was_ingested(ingest):
    settings, client = ingest
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "topics": {
        topic: settings.topic_partitions for topic in settings.event_topics.values()}}
    batch = [event(1), event(2, "cart"), event(3, "cart"), {"event_type": "click"},
             event(5, product_id="not an id")]
    assert client.post("/events", json=batch).status_code == 202
    assert client.post("/events", json=event(6, "purchase")).status_code == 202
    metrics = client.get("/metrics").text
    for line in (
        'trend_ingest_events_accepted_total{event_type="click"} 1.0',
        'trend_ingest_events_accepted_total{event_type="cart"} 2.0',
        'trend_ingest_events_accepted_total{event_type="purchase"} 1.0',
        'trend_ingest_events_rejected_total{reason="missing_field"} 1.0',
        'trend_ingest_events_rejected_total{reason="bad_id"} 1.0',
        "trend_ingest_batch_size_count 2.0",
        "trend_ingest_batch_size_sum 6.0",
        "trend_ingest_produce_duration_seconds_count 2.0",
        'trend_ingest_requests_total{method="POST",route="/events",status="202"} 2.0',
        'trend_ingest_client_events_total{client="tests"} 6.0',
        "trend_ingest_api_keys 1.0",
    ):
        assert line in metrics, line
    docs = client.get("/openapi.json").json()
    body = docs["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 500
    assert "Event" in docs["components"]["schemas"]


# --- API keys and rate limits -------------------------------------------------------------------


def test_without_a_known_api_key_a_request_is_a_401_and_writes_nothing(ingest):
    settings, client = ingest
    refused = [
        ({}, "Bearer", "send an API key of this service as Authorization: Bearer <key>"),
        ({"Authorization": "Bearer wrong-key-0123456789abcdef"}, 'Bearer error="invalid_token"',
         "the API key is not one this service accepts"),
        ({"Authorization": f"Basic {KEY}"}, "Bearer",
         "send an API key of this service as Authorization: Bearer <key>"),
    ]
    with httpx.Client(base_url=str(client.base_url), timeout=30) as anonymous:
        for headers, challenge, message in refused:
            response = anonymous.post("/events", json=[event(1)], headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["content-type"] == "application/json"
            assert response.headers["www-authenticate"] == challenge
            assert response.json() == {"error": {"code": "unauthenticated", "message": message}}
        # What needs no key: the probes, the metrics and the OpenAPI pages.
        for path in ("/health", "/ready", "/metrics", "/docs", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
    accepted = json.dumps(event(2, "cart")).encode()
    response = client.post("/events", content=accepted, headers=JSON_HEADERS)
    assert response.json() == {"accepted": 1, "rejected": 0,
                               "results": [{"index": 0, "status": "accepted"}]}
    got = topic_records(settings)
    assert got == {settings.topic_clicks: [], settings.topic_carts: [(b"p-2", accepted)],
                   settings.topic_purchases: []}
    metrics = client.get("/metrics").text
    assert 'trend_ingest_refused_requests_total{client="none",reason="unauthenticated"} 3.0' \
        in metrics
    assert KEY not in metrics


def test_keys_rotate_by_rewriting_the_keys_file_without_a_restart(make_settings, tmp_path):
    old, new = "rotation-old-key-0123456789", "rotation-new-key-0123456789"
    keys_file = tmp_path / "ingest-api-keys"
    keys_file.write_text(f"# the partner's key\npartner:{old}\n")
    settings = make_settings(ingest_api_keys_file=keys_file)
    ensure_topics(settings)
    before = json.dumps(event(1)).encode()
    after = json.dumps(event(2)).encode()
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server, {"Authorization": f"Bearer {old}"}) as with_old, \
            client_of(server, {"Authorization": f"Bearer {new}"}) as with_new:
        assert with_old.post("/events", content=before, headers=JSON_HEADERS).status_code == 202
        assert with_new.post("/events", json=[{"event_type": "click"}]).status_code == 401
        # Replaced at once, as a Kubernetes Secret volume is updated.
        scratch = tmp_path / "ingest-api-keys.new"
        scratch.write_text(f"partner:{new}\n")
        os.replace(scratch, keys_file)
        # An event the contract rejects: a 202 once the key passes, and nothing written.
        probe = [{"event_type": "click"}]
        assert wait_until(lambda: with_new.post("/events", json=probe).status_code == 202,
                          15, 0.1), "the new key was never accepted"
        refused = with_old.post("/events", content=after, headers=JSON_HEADERS)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert with_new.post("/events", content=after, headers=JSON_HEADERS).status_code == 202
        metrics = with_new.get("/metrics").text
    assert "trend_ingest_api_keys 1.0" in metrics
    assert "trend_ingest_api_keys_file_error 0.0" in metrics
    got = topic_records(settings)
    assert sorted(got[settings.topic_clicks]) == [(b"p-1", before), (b"p-2", after)]
    assert got[settings.topic_carts] == got[settings.topic_purchases] == []


def test_over_the_rate_limit_is_a_429_with_retry_after_and_writes_nothing(
        keyed_settings, tmp_path):
    """3 events at once, then 0.001 a second: the next 2 must wait (2 - refilled) / 0.001 s,
    just under 2,000 s (the refill is 0.001 token per second between the two requests)."""
    other = "other-client-key-0123456789"
    settings = keyed_settings(ingest_api_keys=f"tests:{KEY},other:{other}", ingest_max_batch=3,
                              ingest_rate_burst=3, ingest_rate_limit_events_per_s=0.001)
    ensure_topics(settings)
    first = [json.dumps(event(n)).encode() for n in (1, 2, 3)]
    refused_events = [json.dumps(event(n)).encode() for n in (4, 5)]
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as server, \
            client_of(server) as client, \
            client_of(server, {"Authorization": f"Bearer {other}"}) as other_client:
        started = time.monotonic()
        response = client.post("/events", content=b"[" + b",".join(first) + b"]",
                               headers=JSON_HEADERS)
        assert response.json()["accepted"] == 3
        refused = client.post("/events", content=b"[" + b",".join(refused_events) + b"]",
                              headers=JSON_HEADERS)
        between_s = time.monotonic() - started
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": {"code": "rate_limited", "message":
                                  "over this API key's limit of 0.001 events/s (at most 3 at "
                                  "once); nothing was written, retry after Retry-After "
                                  "seconds"}}
        # ceil((2 - between_s * 0.001) / 0.001) = ceil(2000 - between_s)
        assert 2000 - int(between_s) <= int(refused.headers["retry-after"]) <= 2000
        # Another client has a bucket of its own.
        own = json.dumps(event(6, "purchase", price=1)).encode()
        assert other_client.post("/events", content=own, headers=JSON_HEADERS).status_code == 202
        metrics = client.get("/metrics").text
    for line in ('trend_ingest_refused_requests_total{client="tests",reason="rate_limited"} 1.0',
                 'trend_ingest_client_events_total{client="tests"} 3.0',
                 'trend_ingest_client_events_total{client="other"} 1.0',
                 "trend_ingest_batch_size_count 2.0",
                 'trend_ingest_requests_total{method="POST",route="/events",status="429"} 1.0'):
        assert line in metrics, line
    got = {topic: sorted(records) for topic, records in topic_records(settings).items()}
    assert got == {settings.topic_clicks: [(b"p-1", first[0]), (b"p-2", first[1]),
                                           (b"p-3", first[2])],
                   settings.topic_carts: [],
                   settings.topic_purchases: [(b"p-6", own)]}
