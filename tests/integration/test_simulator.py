"""The simulator against the real local broker: topics, routing, validity, bad events, tail."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
import uuid
from collections import Counter

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from localstack.stack import free_port
from simulator.kafka_io import Record, ensure_topics, event_record, send_records
from simulator.options import SimulationOptions, generate_events
from simulator.runner import run_simulation
from simulator.tail import tail_lines
from trend_tracker.cli import app
from trend_tracker.events import Reason, classify, schema_errors

START_MS = 1_704_067_200_000
SKEW_MS = 60_000


def partition_counts(settings) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": settings.bootstrap_servers}).list_topics(
        timeout=10)
    return {name: len(metadata.topics[name].partitions)
            for name in settings.all_topics if name in metadata.topics}


def consume_exactly(settings, expected: dict[str, int], deadline_s: float = 30.0,
                    grace_s: float = 1.0) -> dict[str, list]:
    """Read each topic from offset 0 until it holds the expected number of records.

    Reads by assignment (no group join) and never trusts the high watermark, which
    the local broker under-reports after batched writes. After the expected counts are
    reached, keeps reading for ``grace_s`` so that extra records would be seen.
    """
    partitions = partition_counts(settings)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for topic in expected
                     for p in range(partitions[topic])])
    records: dict[str, list] = {topic: [] for topic in expected}
    end = time.monotonic() + deadline_s
    grace_end = None
    try:
        while time.monotonic() < (grace_end or end):
            for msg in consumer.consume(1000, timeout=0.2):
                assert msg.error() is None, msg.error()
                records[msg.topic()].append(msg)
            if grace_end is None and all(len(records[t]) >= n for t, n in expected.items()):
                grace_end = time.monotonic() + grace_s
    finally:
        consumer.close()
    assert {t: len(r) for t, r in records.items()} == expected
    return records


def topic_event_types(settings) -> dict[str, str]:
    return {topic: event_type for event_type, topic in settings.event_topics.items()}


def test_topics_are_created_with_the_partition_count(make_settings):
    settings = make_settings()
    created = ensure_topics(settings, partitions=3)
    assert created == {topic: 3 for topic in settings.all_topics}
    assert partition_counts(settings) == created
    # Idempotent: a second call keeps the topics as they are.
    assert ensure_topics(settings, partitions=5) == created


def test_topics_create_command(make_settings):
    settings = make_settings(topic_partitions=2)
    result = CliRunner().invoke(app, ["topics", "create", "--partitions", "4"],
                                env=settings.as_env())
    assert result.exit_code == 0, result.output
    assert partition_counts(settings) == {topic: 4 for topic in settings.all_topics}
    for topic in settings.all_topics:
        assert f"{topic}: 4 partition(s)" in result.output


def test_simulated_events_arrive_on_their_topics_valid(make_settings):
    settings = make_settings()
    options = SimulationOptions(count=6000, seed=42, start_ms=START_MS, rate=3000.0,
                                products=300, partitions=2)
    summary = run_simulation(settings, options)
    assert (summary.sent, summary.failed) == (6000, 0)
    assert partition_counts(settings) == {topic: 2 for topic in settings.all_topics}

    # What should arrive: the pure stream of the same options, routed by event type.
    expected = generate_events(options)
    by_topic = Counter(settings.event_topics[e.topic_event_type] for e in expected)
    assert summary.per_type == {t: by_topic[settings.event_topics[t]]
                                for t in ("click", "cart", "purchase")}
    records = consume_exactly(settings, dict(by_topic))
    types = topic_event_types(settings)
    arrived = Counter()
    for topic, messages in records.items():
        for msg in messages:
            event = orjson.loads(msg.value())
            assert schema_errors(event) == []
            assert classify(msg.value(), types[topic], START_MS + 10_000, SKEW_MS).valid
            assert event["event_type"] == types[topic]
            assert msg.key() == event["product_id"].encode()
            arrived[(topic, msg.key(), msg.value())] += 1
    assert arrived == Counter((settings.event_topics[e.topic_event_type], e.key, e.value)
                              for e in expected)


def test_bad_events_arrive_as_configured(make_settings):
    settings = make_settings()
    # 3500 events at 2%: 70 malformed, handed out in turn over 7 kinds: 10 of each.
    options = SimulationOptions(count=3500, seed=9, start_ms=START_MS, rate=5000.0,
                                bad_fraction=0.02, partitions=2)
    summary = run_simulation(settings, options)
    assert summary.sent == 3500 and summary.failed == 0
    assert summary.bad == {kind: 10 for kind in (
        "not_json", "missing_field", "wrong_type", "unknown_event_type", "future_ts",
        "bad_id", "topic_mismatch")}

    expected_per_topic = Counter(settings.event_topics[e.topic_event_type]
                                 for e in generate_events(options))
    records = consume_exactly(settings, dict(expected_per_topic))
    types = topic_event_types(settings)
    reasons = Counter()
    now = int(time.time() * 1000)
    for topic, messages in records.items():
        for msg in messages:
            reasons[classify(msg.value(), types[topic], now, SKEW_MS).reason] += 1
    assert reasons == {None: 3430, Reason.NOT_JSON: 10, Reason.MISSING_FIELD: 10,
                       Reason.WRONG_TYPE: 10, Reason.UNKNOWN_EVENT_TYPE: 10,
                       Reason.FUTURE_TS: 10, Reason.BAD_ID: 10, Reason.TOPIC_MISMATCH: 10}


def test_live_clock_stamps_events_with_the_time_they_are_sent(make_settings):
    settings = make_settings()
    before = int(time.time() * 1000)
    summary = run_simulation(settings, SimulationOptions(count=600, rate=2000.0, seed=1,
                                                         partitions=1))
    after = int(time.time() * 1000)
    assert summary.throttled and summary.sent == 600
    records = consume_exactly(settings, {settings.event_topics[t]: n
                                         for t, n in summary.per_type.items() if n})
    stamps = [orjson.loads(m.value())["ts"] for ms in records.values() for m in ms]
    assert before <= min(stamps) and max(stamps) <= after


def test_a_stop_request_ends_an_endless_run(make_settings):
    settings = make_settings()
    ensure_topics(settings, partitions=1)
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.update(summary=run_simulation(
        settings, SimulationOptions(rate=1000.0, seed=2, partitions=1), stop=stop)))
    thread.start()
    # Stop once clicks are flowing (read independently of the simulator).
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4().hex[:8]}"})
    consumer.assign([TopicPartition(settings.topic_clicks, 0, 0)])
    deadline = time.monotonic() + 60
    while not consumer.consume(1, timeout=0.2) and time.monotonic() < deadline:
        pass
    consumer.close()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    summary = result["summary"]
    assert summary.stopped_early and summary.failed == 0 and summary.sent > 0
    consume_exactly(settings, {settings.event_topics[t]: n
                               for t, n in summary.per_type.items() if n})


def test_metrics_count_what_was_sent(make_settings):
    port = free_port()
    settings = make_settings(metrics_port=port)

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def value(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    clicks = 'trend_simulator_events_sent_total{event_type="click"}'
    broken = 'trend_simulator_bad_events_total{kind="not_json"}'
    summary = run_simulation(settings, SimulationOptions(
        count=1400, seed=4, start_ms=START_MS, rate=5000.0, bad_fraction=0.05, partitions=1))
    first = scrape()
    summary_2 = run_simulation(settings, SimulationOptions(
        count=1400, seed=5, start_ms=START_MS, rate=5000.0, bad_fraction=0.05, partitions=1))
    second = scrape()
    # Counters are per process: compare the increase over one run.
    assert value(second, clicks) - value(first, clicks) == summary_2.per_type["click"]
    assert value(second, broken) - value(first, broken) == 10  # 70 bad / 7 kinds
    assert value(second, "trend_simulator_events_failed_total") == 0
    assert summary.sent == summary_2.sent == 1400


def test_send_records_and_tail_mark_invalid_records(make_settings):
    settings = make_settings()
    ensure_topics(settings, partitions=1)
    good = {"event_id": "e-1", "event_type": "click", "product_id": "p-1",
            "category": "books", "user_id": "u-1", "ts": int(time.time() * 1000)}
    records = [
        event_record(settings, good),
        Record(settings.topic_clicks, b"{not json", b"p-1"),
        event_record(settings, dict(good, event_id="e-2", ts=str(good["ts"]))),
        event_record(settings, dict(good, event_id="e-3", event_type="cart"),
                     topic=settings.topic_clicks),
    ]
    assert send_records(settings, records) == 4
    lines = list(tail_lines(settings, "clicks", from_beginning=True, max_records=4))
    assert [line.status for line in lines] == ["ok", "not_json", "wrong_type",
                                               "topic_mismatch"]
    assert [line.offset for line in lines] == [0, 1, 2, 3]
    assert "ts: '" in lines[2].detail  # the schema's message says why

    result = CliRunner().invoke(app, ["tail", settings.topic_clicks, "--from-beginning",
                                      "--max", "4"], env=settings.as_env())
    assert result.exit_code == 0, result.output
    assert result.output.count("[ok]") == 1 and "[not_json]" in result.output


@pytest.mark.parametrize("argv", [["--count", "10", "--rate", "-1"],
                                  ["--count", "10", "--no-throttle"],
                                  ["--count", "10", "--trend", "p-00001:x:5"]])
def test_simulate_command_rejects_bad_options(make_settings, argv):
    settings = make_settings()
    result = CliRunner().invoke(app, ["simulate", *argv], env=settings.as_env())
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_simulate_command_prints_a_summary(make_settings):
    settings = make_settings()
    result = CliRunner().invoke(app, ["simulate", "--count", "500", "--seed", "1",
                                      "--start", "2024-01-01T00:00:00Z", "--json"],
                                env=settings.as_env())
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output.strip().splitlines()[-1])
    assert (summary["sent"], summary["failed"], summary["throttled"]) == (500, 0, False)
    assert summary["first_ts"] == START_MS
