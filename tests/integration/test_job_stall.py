"""A producer that stalls for 10 s, then sends what it held back, loses nothing.

The job runs streaming with its default idleness (``source_idle_timeout_s``). One
partition's producer stops sending for 10 s of wall-clock time while the other keeps
going, then sends the events it made meanwhile, with their original timestamps. Every
event must be counted in its windows and none dead-lettered as ``late``. With an idle
timeout shorter than the stall (it was 5 s) the watermark moved on without the stalled
partition, and all its held-back events went to the dead-letter topic.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from streaming_job import committed_dead_letters, start_job
from test_registry import wait_until

from simulator.kafka_io import ensure_topics
from trend_tracker.settings import Settings

pytestmark = pytest.mark.slow

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WINDOW_MS = 5_000
STEP_MS = 250  # one event per partition every 250 ms, in event time and in wall time
STEPS = 120  # 30 s
STALL = range(40, 80)  # partition 1 holds back steps 40..79: 10 s of wall time


def product(partition: int, step: int) -> str:
    return f"p-{partition}{step % 3}"


def test_a_producer_stalled_for_ten_seconds_loses_no_event(make_settings, tmp_path):
    assert Settings.model_fields["source_idle_timeout_s"].default > 10
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "stall/1"}))
    settings = make_settings(weights_file=weights_file, window_size_s=WINDOW_MS // 1000,
                             window_slide_s=WINDOW_MS // 1000, top_n=10, out_of_orderness_s=1,
                             allowed_lateness_s=0,
                             parallelism=1, checkpoint_interval_s=5)
    assert settings.source_idle_timeout_s == Settings.model_fields[
        "source_idle_timeout_s"].default
    ensure_topics(settings, partitions=2)
    topic = settings.topic_clicks
    root = Path(settings.parquet_root[len("file://"):])
    job = start_job(settings, tmp_path)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})

    def send(partition: int, step: int) -> None:
        body = {"event_id": f"e-{partition}-{step}", "event_type": "click",
                "product_id": product(partition, step), "category": "gadgets",
                "user_id": f"u-{partition}-{step}", "ts": T0 + step * STEP_MS}
        producer.produce(topic, value=json.dumps(body).encode(), partition=partition)

    def window_file(end_ms: int) -> Path:
        return root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + end_ms}.parquet"

    try:
        # The job is up once it writes the first window: two steps past it on both
        # partitions move the watermark beyond [0 s, 5 s).
        for step in range(2):
            send(0, step), send(1, step)
        producer.flush(10)
        for step in range(2, 28):
            send(0, step), send(1, step)
        producer.flush(10)
        assert wait_until(lambda: window_file(WINDOW_MS).exists() or not job.running(),
                          420, 0.2), job.log()
        assert job.running(), job.log()

        held: list[int] = []
        for step in range(28, STEPS):
            send(0, step)
            if step in STALL:
                held.append(step)
            else:
                for late_step in held:  # the stalled producer catches up, in order
                    send(1, late_step)
                held.clear()
                send(1, step)
            producer.flush(10)
            time.sleep(STEP_MS / 1000)
        # Far ahead on both partitions: every window up to STEPS fires.
        send(0, STEPS + 40), send(1, STEPS + 40)
        producer.flush(10)

        last_end = (STEPS * STEP_MS // WINDOW_MS) * WINDOW_MS  # [25 s, 30 s) ends at 30 s
        assert wait_until(lambda: window_file(last_end).exists() or not job.running(),
                          180, 0.2), job.log()
        assert job.running(), job.log()

        # Nothing dead-lettered.
        assert committed_dead_letters(settings) == []
        # Every event counted in its tumbling window: per window, each product's clicks.
        for end in range(WINDOW_MS, last_end + 1, WINDOW_MS):
            expected = Counter(product(p, s) for p in (0, 1) for s in range(STEPS)
                               if end - WINDOW_MS <= s * STEP_MS < end)
            rows = pq.read_table(window_file(end), partitioning=None).to_pylist()
            overall = {r["product_id"]: r["clicks"] for r in rows
                       if r["category"] is None and r["ranking"] == "popular"}
            assert overall == dict(expected), end
    finally:
        job.stop()
