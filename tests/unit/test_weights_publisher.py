"""The weights topic's record format, and the publisher's logic with the registry and the
broker replaced by scripted functions (the real ones: tests/integration)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from registry.errors import RegistryUnavailableError
from registry.publisher import (
    FILE_KEY,
    WeightsPublisher,
    parse_weights_record,
    weights_key,
    weights_record,
)
from registry.weights import InvalidWeightsError, Weights
from trend_tracker.processes import free_port
from trend_tracker.settings import Settings

V1 = Weights(1.0, 3.0, 5.0, "trend-weights/1")
V2 = Weights(0.5, 2.0, 8.25, "trend-weights/2")
PUBLISHED_MS = 1_767_225_600_000


# --- the record format ------------------------------------------------------------------


def test_record_is_compact_json_with_the_keys_in_order():
    assert weights_record(V1, PUBLISHED_MS) == (
        b'{"weights_version":"trend-weights/1","click":1.0,"cart":3.0,"purchase":5.0,'
        b'"published_ms":1767225600000}')
    # Integer weights are written as the numbers they are (JSON has one number type).
    assert weights_record(Weights(1, 0, 2, "v"), 0) == (
        b'{"weights_version":"v","click":1.0,"cart":0.0,"purchase":2.0,"published_ms":0}')


def test_a_record_may_say_from_which_event_time_it_applies():
    assert weights_record(V1, PUBLISHED_MS, applies_from_ms=1_704_067_260_000) == (
        b'{"weights_version":"trend-weights/1","click":1.0,"cart":3.0,"purchase":5.0,'
        b'"published_ms":1767225600000,"applies_from_ms":1704067260000}')
    assert parse_weights_record(weights_record(V1, 5, applies_from_ms=0)) == V1
    with pytest.raises(InvalidWeightsError, match="applies_from_ms must be a non-negative"):
        weights_record(V1, 5, applies_from_ms=-1)


@pytest.mark.parametrize("weights", [
    V1, V2,
    Weights(0.1, 0.2, 0.30000000000000004, "trained/17"),
    Weights(1e-300, 0.0, 1e6, "extremes"),  # the smallest and the largest allowed
    Weights(0.0, 0.0, 1.0, "only purchases"),
    Weights(2.0, 1.0, 9.0, "modèle/3"),
])
def test_record_round_trip(weights):
    value = weights_record(weights, PUBLISHED_MS)
    assert parse_weights_record(value) == weights
    # The same bytes again: nothing is lost or reformatted on the way.
    assert weights_record(parse_weights_record(value), PUBLISHED_MS) == value


def test_non_ascii_version_is_utf8():
    value = weights_record(Weights(2.0, 1.0, 9.0, "modèle/3"), 5)
    assert "modèle/3".encode() in value
    assert json.loads(value.decode("utf-8"))["weights_version"] == "modèle/3"


@pytest.mark.parametrize("weights, published_ms, message", [
    (Weights(-1.0, 3.0, 5.0, "v"), 1, "weight click=-1.0 is negative"),
    (Weights(float("nan"), 3.0, 5.0, "v"), 1, "not finite"),
    (Weights(1.0, 1e300, 5.0, "v"), 1, "weight cart=1e\\+300 is above the maximum"),
    (Weights(0.0, 0.0, 0.0, "v"), 1, "at least one weight must be positive"),
    (Weights(1.0, 3.0, 5.0, ""), 1, "version must be a non-empty string"),
    (V1, -1, "published_ms must be a non-negative integer"),
    (V1, 1.5, "published_ms must be a non-negative integer"),
    (V1, True, "published_ms must be a non-negative integer"),
])
def test_invalid_weights_are_never_written(weights, published_ms, message):
    with pytest.raises(InvalidWeightsError, match=message):
        weights_record(weights, published_ms)


GOOD = {"weights_version": "trend-weights/1", "click": 1.0, "cart": 3.0, "purchase": 5.0,
        "published_ms": PUBLISHED_MS}


def _with(**changes) -> bytes:
    document = {**GOOD, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


@pytest.mark.parametrize("value, message", [
    (None, "has no value"),
    (b"", "not JSON"),
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 3, 5]", "must be a JSON object, got list"),
    (b'"trend-weights/1"', "must be a JSON object, got str"),
    (_with(weights_version=...), "no weights_version"),
    (_with(weights_version=""), "no weights_version"),
    (_with(weights_version=3), "no weights_version"),
    (_with(published_ms=...), "published_ms must be a non-negative integer"),
    (_with(published_ms="1767225600000"), "published_ms must be a non-negative integer"),
    (_with(published_ms=-5), "published_ms must be a non-negative integer"),
    (_with(published_ms=1.5), "published_ms must be a non-negative integer"),
    (_with(click=...), "weights missing for: click"),
    (_with(cart="3"), "weight cart='3' is not a number"),
    (_with(purchase=True), "weight purchase=True is not a number"),
    (_with(click=-0.5), "weight click=-0.5 is negative"),
    (_with(click=0, cart=0, purchase=0), "at least one weight must be positive"),
    (_with(click=None), "weight click=None is not a number"),
    (b'{"weights_version":"v","click":NaN,"cart":1,"purchase":1,"published_ms":1}',
     "NaN, which is not a number"),
    (b'{"weights_version":"v","click":Infinity,"cart":1,"purchase":1,"published_ms":1}',
     "Infinity, which is not a number"),
    (b'{"weights_version":"v","click":1e999,"cart":1,"purchase":1,"published_ms":1}',
     "weight click=inf is not finite"),
])
def test_bad_records_are_rejected(value, message):
    with pytest.raises(InvalidWeightsError, match=message):
        parse_weights_record(value)


def test_fields_a_later_format_may_add_are_ignored():
    value = _with(source="trained", note={"k": 1})
    assert parse_weights_record(value) == V1


def test_key_is_the_model_name_or_file():
    settings = Settings(_env_file=None, weights_model_name="my-weights")
    assert weights_key(settings) == "my-weights"
    offline = Settings(_env_file=None, weights_model_name="my-weights",
                       weights_file=Path("w.json"))
    assert weights_key(offline) == FILE_KEY == "file"


# --- the publisher's logic ----------------------------------------------------------------


class Scripted:
    """Returns (or raises) the scripted answers in turn, then repeats the last one."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0
        self.lock = threading.Lock()

    def set(self, *answers) -> None:
        with self.lock:
            self.answers = list(answers)
            self.calls = 0

    def __call__(self, *args):
        with self.lock:
            answer = self.answers[min(self.calls, len(self.answers) - 1)]
            self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


class Topic:
    """Stands in for ensure_published: remembers what was written; can be made to fail."""

    def __init__(self):
        self.records: list[Weights] = []
        self.failure: Exception | None = None
        self.attempts = 0

    def __call__(self, settings, weights) -> bool:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        if self.records and self.records[-1] == weights:
            return False
        self.records.append(weights)
        return True


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **{"weights_poll_interval_s": 3600.0, **overrides})


def test_start_publishes_the_champion_once_and_changes_after_that():
    fetch, topic = Scripted(V1), Topic()
    publisher = WeightsPublisher(settings(), fetch=fetch, publish=topic)
    with publisher:
        assert topic.records == [V1]
        source = publisher._source
        assert source.poll_once()  # unchanged: nothing to publish
        assert topic.attempts == 1
        fetch.set(V2)
        assert source.poll_once()
        assert topic.records == [V1, V2]
        status = publisher.status
        assert (status.weights_version, status.published, status.last_published_version,
                status.publish_pending, status.registry_up) == (
            "trend-weights/2", 2, "trend-weights/2", False, True)


def test_a_topic_that_already_holds_the_champion_gets_no_duplicate():
    fetch, topic = Scripted(V1), Topic()
    topic.records.append(V1)  # published by an earlier publisher
    with WeightsPublisher(settings(), fetch=fetch, publish=topic) as publisher:
        assert topic.records == [V1]
        assert publisher.status.published == 0
        assert publisher.status.last_published_version == "trend-weights/1"


def test_registry_outage_publishes_nothing_and_keeps_the_last_weights():
    fetch, topic = Scripted(V1), Topic()
    with WeightsPublisher(settings(), fetch=fetch, publish=topic) as publisher:
        fetch.set(RegistryUnavailableError("MLflow registry at http://x is unreachable"))
        for _ in range(3):
            assert not publisher._source.poll_once()
        assert topic.records == [V1] and topic.attempts == 1
        status = publisher.status
        assert not status.registry_up and not publisher.healthy
        assert status.weights_version == "trend-weights/1"
        assert "unreachable" in status.last_error
        fetch.set(V2)  # back, with a new champion
        assert publisher._source.poll_once()
        assert topic.records == [V1, V2]
        assert publisher.healthy


def test_failed_write_is_retried_until_it_succeeds(caplog):
    fetch, topic = Scripted(V1), Topic()
    topic.failure = RuntimeError("broker down")
    with caplog.at_level("WARNING", logger="registry.publisher"), \
            WeightsPublisher(settings(), fetch=fetch, publish=topic) as publisher:
        # start() does not raise: the weights are kept for a retry.
        assert topic.records == []
        status = publisher.status
        assert status.publish_pending and status.publish_failures == 1
        assert status.last_publish_error == "RuntimeError: broker down"
        assert not publisher.healthy
        assert publisher.retry_pending()
        assert publisher.status.publish_failures == 2
        # A newer champion replaces the pending one: only the newest is written.
        fetch.set(V2)
        assert publisher._source.poll_once()
        topic.failure = None
        assert publisher.retry_pending()
        assert topic.records == [V2]
        assert not publisher.retry_pending()
        status = publisher.status
        assert (status.publish_pending, status.published, status.publish_failures,
                status.last_publish_error) == (False, 1, 3, None)
    warnings = [r.getMessage() for r in caplog.records]
    # One warning per failure streak, and one when it ends.
    assert [m.split(",")[0] for m in warnings] == [
        "cannot publish weights trend-weights/1",
        "weights trend-weights/2 published after earlier failures"]


def test_the_retry_thread_publishes_a_failed_write():
    fetch, topic = Scripted(V1), Topic()
    topic.failure = RuntimeError("broker down")
    with WeightsPublisher(settings(weights_poll_interval_s=0.05), fetch=fetch,
                          publish=topic) as publisher:
        deadline = time.monotonic() + 5
        while topic.attempts < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        topic.failure = None
        while publisher.status.publish_pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert topic.records == [V1]
        assert publisher.status.published == 1


def test_start_without_weights_raises_and_can_be_retried():
    fetch, topic = Scripted(RegistryUnavailableError("unreachable"), V1), Topic()
    publisher = WeightsPublisher(settings(), fetch=fetch, publish=topic)
    try:
        with pytest.raises(RegistryUnavailableError):
            publisher.start()
        assert topic.records == []
        publisher.start()
        assert topic.records == [V1]
    finally:
        publisher.close()


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_are_served_only_with_a_port():
    fetch, topic = Scripted(V1), Topic()
    port = free_port()
    clock_before = time.time()
    with WeightsPublisher(settings(), fetch=fetch, publish=topic,
                          metrics_port=port) as publisher:
        first = _scrape(port)
        assert first["trend_registry_up"] == 1.0
        assert first["trend_weights_published_total"] == 1.0
        assert first["trend_weights_publish_failures_total"] == 0.0
        assert first["trend_weights_last_success_timestamp_seconds"] >= clock_before
        fetch.set(RegistryUnavailableError("unreachable"))
        publisher._source.poll_once()
        down = _scrape(port)
        assert down["trend_registry_up"] == 0.0
        assert (down["trend_weights_last_success_timestamp_seconds"]
                == first["trend_weights_last_success_timestamp_seconds"])
        # Label-free: one sample per metric.
        assert {name for name in down if name.startswith("trend_")} == {
            "trend_registry_up", "trend_weights_last_success_timestamp_seconds",
            "trend_weights_published_total", "trend_weights_publish_failures_total"}
    with pytest.raises(OSError):
        _scrape(port)  # closed with the publisher
    with WeightsPublisher(settings(), fetch=Scripted(V1), publish=Topic()) as publisher:
        assert publisher._metrics_server is None
