"""A producer whose clock runs ahead does not take the watermark with it.

With ``max_future_skew_s`` 60 and ``out_of_orderness_s`` 5, an event stamped now + 50 s is
valid. The watermark used to follow it to now + 45 s: once the other partitions had gone
idle, every other producer's on-time events were behind it, dead-lettered as ``late`` on
that topic and dropped by the windows on the others. The watermark now never passes the
record's arrival time minus the out-of-orderness.

The job runs streaming in its own process, so events arrive as they are sent: clicks
partition 0 carries events stamped now + 50 s, every other partition of the three topics
on-time events (stamped 2 s before they are sent). None of those is dead-lettered, and
their window is written with all of them, by their event time.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Producer
from streaming_job import committed_dead_letters, start_job
from test_job_lateness import READ_METRIC, counted
from test_registry import wait_until

from jobs.topology import SOURCE_TABLES
from localstack.stack import free_port
from simulator.kafka_io import ensure_topics

WINDOW_MS = 10_000
AHEAD_MS = 50_000
WARM_UP = b"warm-up: not an event"
WATERMARK_METRIC = "flink_taskmanager_job_task_operator_currentOutputWatermark"


def now_ms() -> int:
    return int(time.time() * 1000)


def send(settings, records: list[tuple[str, int, bytes]]) -> None:
    """(event type of the topic, partition, value), one record per batch, in order."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
    for event_type, partition, value in records:
        producer.produce(settings.event_topics[event_type], value=value, partition=partition)
        producer.flush(10)
    assert producer.flush(30) == 0


def event(event_type: str, product_id: str, ts: int) -> bytes:
    event_id = uuid.uuid4().hex[:12]
    # Each event its own user: these tests are about time, and no user nears the cap.
    return json.dumps({"event_id": f"e-{event_id}", "event_type": event_type,
                       "product_id": product_id, "category": "gadgets",
                       "user_id": f"u-{event_id}",
                       "ts": ts}).encode()


def source_watermark(metrics_url: str, event_type: str) -> float:
    """The watermark the source task of ``event_type`` has emitted (-inf before any)."""
    task = f'task_name="Source:_{SOURCE_TABLES[event_type]}_'
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return float("-inf")
    return max((float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith(WATERMARK_METRIC + "{") and task in line),
               default=float("-inf"))


def read_at_least(job, metrics_url: str, n: int, timeout_s: float) -> None:
    """Wait until the running job has read ``n`` records."""
    assert wait_until(lambda: counted(metrics_url, READ_METRIC, "event_type=") >= n
                      or not job.running(), timeout_s, 0.2), job.log()
    assert job.running(), job.log()


def overall_rows(root: Path, window_end_ms: int) -> list[tuple]:
    rows = []
    for path in root.rglob(f"trends-{window_end_ms}.parquet"):
        rows += [(r["rank"], r["product_id"], r["score"], r["clicks"], r["carts"],
                  r["purchases"])
                 for r in pq.read_table(path, partitioning=None).to_pylist()
                 if r["category"] is None and r["ranking"] == "popular"]
    return rows


def test_events_stamped_ahead_do_not_make_on_time_events_late(make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "test/skew"}))
    metrics_port = free_port()
    settings = make_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=10,
        out_of_orderness_s=5, allowed_lateness_s=0, max_future_skew_s=60,
        source_idle_timeout_s=2,
        topic_partitions=2, parallelism=1, checkpoint_interval_s=5,
        flink_metrics_port=metrics_port)
    ensure_topics(settings, partitions=2)
    root = Path(settings.parquet_root[len("file://"):])
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    job = start_job(settings, tmp_path)

    try:
        # The job reads as events are sent (records read from a backlog arrive late by
        # definition). A record that is not an event has ts 0: it never moves a watermark.
        send(settings, [(t, 0, WARM_UP) for t in ("click", "cart", "purchase")])
        read_at_least(job, metrics_url, 3, timeout_s=420)

        # Clicks partition 0 runs 50 s ahead. No other partition has had an event; wait
        # until the clicks source has emitted a watermark past the time of sending, less
        # the lateness (it is periodic, and slower just after start).
        sent = now_ms()
        send(settings, [("click", 0, event("click", "p-ahead", sent + AHEAD_MS))])
        read_at_least(job, metrics_url, 4, timeout_s=60)
        assert wait_until(lambda: source_watermark(metrics_url, "click") >= sent - 5_000,
                          60, 0.2), job.log()

        # On-time events from every other partition, stamped 2 s before sending.
        ts = now_ms() - 2_000
        on_time = [("click", 1, "p-1"), ("click", 1, "p-1"), ("cart", 0, "p-2"),
                   ("cart", 1, "p-3"), ("purchase", 0, "p-4"), ("purchase", 1, "p-1")]
        send(settings, [(t, p, event(t, product, ts)) for t, p, product in on_time])
        read_at_least(job, metrics_url, 4 + len(on_time), timeout_s=60)

        # Their window fires once the watermark passes its end: the ahead partition's
        # watermark follows the clock (less 5 s), and the others are idle by then.
        window_end = (ts // WINDOW_MS + 1) * WINDOW_MS
        wait_s = (window_end + 5_500 - now_ms()) / 1000
        if wait_s > 0:
            time.sleep(wait_s)
        send(settings, [("click", 0, event("click", "p-ahead", now_ms() + AHEAD_MS))])
        written = wait_until(lambda: overall_rows(root, window_end) or not job.running(),
                             90, 0.2)
        assert job.running(), job.log()

        # Only the warm-up records are dead letters: no on-time event is late.
        dead = [json.loads(r.value) for r in committed_dead_letters(
            settings, at_least=len(settings.event_topics))]
        assert sorted((d["topic"], d["reason"]) for d in dead) == sorted(
            (topic, "not_json") for topic in settings.event_topics.values())

        # Every on-time event counted in its window, by event time (the events stamped
        # ahead are in windows 50 s later): p-1 2 clicks + 1 purchase = 7, p-4 5, p-2 and
        # p-3 one cart each = 3 (ties by product_id).
        assert written, f"window {window_end} not written:\n{job.log()}"
        assert overall_rows(root, window_end) == [
            (1, "p-1", 7.0, 2, 0, 1), (2, "p-4", 5.0, 0, 0, 1), (3, "p-2", 3.0, 0, 1, 0),
            (4, "p-3", 3.0, 0, 1, 0)]
    finally:
        job.stop()


def test_a_future_ts_record_in_a_topic_of_old_events_moves_no_watermark(make_settings,
                                                                          tmp_path):
    """Events loaded long after their time (stamped 2024, arriving now) and, among them, one
    stamped an hour after its arrival: a ``future_ts`` dead letter. Its arrival, now, used to
    be its part of the watermark, and every old event read after it was ``late``."""
    t0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a window boundary
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "test/old"}))
    metrics_port = free_port()
    settings = make_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=10,
        out_of_orderness_s=5, allowed_lateness_s=0, max_future_skew_s=60,
        source_idle_timeout_s=120, parallelism=1, checkpoint_interval_s=5,
        flink_metrics_port=metrics_port)
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    job = start_job(settings, tmp_path)

    try:
        send(settings, [("click", 0, event("click", "p-1", t0 + 1_000)),
                        ("click", 0, event("click", "p-2", t0 + 2_000))])
        read_at_least(job, metrics_url, 2, timeout_s=420)
        assert wait_until(lambda: source_watermark(metrics_url, "click") >= t0 - 3_000,
                          60, 0.2), job.log()
        send(settings, [("click", 0, event("click", "p-ahead", now_ms() + 3_600_000))])
        read_at_least(job, metrics_url, 3, timeout_s=60)
        # The watermark is periodic (every 200 ms): a few periods after the record was read,
        # the clicks source's is still that of the old events.
        time.sleep(2)
        assert source_watermark(metrics_url, "click") < t0

        # Old events after it, then every topic past the window's end.
        send(settings, [("click", 0, event("click", "p-1", t0 + 3_000)),
                        ("cart", 0, event("cart", "p-2", t0 + 4_000)),
                        ("purchase", 0, event("purchase", "p-3", t0 + 5_000))])
        send(settings, [(t, 0, event(t, "p-9", t0 + 30_000)) for t in ("click", "cart",
                                                                     "purchase")])
        assert wait_until(lambda: overall_rows(root, t0 + 10_000) or not job.running(),
                          120, 0.2), job.log()
        assert job.running(), job.log()

        # The one dead letter is the record stamped ahead; every old event is counted:
        # p-1 2 clicks = 2, p-3 1 purchase = 5, p-2 1 click + 1 cart = 4.
        dead = [json.loads(r.value) for r in committed_dead_letters(settings, at_least=1)]
        assert [(d["topic"], d["reason"]) for d in dead] == [
            (settings.event_topics["click"], "future_ts")]
        assert overall_rows(root, t0 + 10_000) == [
            (1, "p-3", 5.0, 0, 0, 1), (2, "p-2", 4.0, 1, 1, 0), (3, "p-1", 2.0, 2, 0, 0)]
    finally:
        job.stop()
