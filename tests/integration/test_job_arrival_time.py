"""An event is judged against its arrival in the topic (the broker's append time), not the
clock when the job reads it: the same records give the same output whenever they are read.

Events are stamped with the live clock. Each run is a bounded run of the job on the
MiniCluster over topics created as ``trend topics create`` creates them
(``message.timestamp.type=LogAppendTime``). Expected values are counted here from what was
sent.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Producer

from jobs.offsets import timestamp_types
from simulator.kafka_io import ensure_topics, read_topic

WINDOW_MS = 10_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def event(product_id: str, ts: int) -> bytes:
    event_id = uuid.uuid4().hex[:12]
    # Each event its own user: these tests are about time, and no user nears the cap.
    return json.dumps({"event_id": f"e-{event_id}", "event_type": "click",
                       "product_id": product_id, "category": "gadgets",
                       "user_id": f"u-{event_id}",
                       "ts": ts}).encode()


def send(settings, values: list[bytes]) -> None:
    """Clicks, in this order, to partition 0 of the clicks topic."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5})
    for value in values:
        producer.produce(settings.topic_clicks, value=value, partition=0)
        producer.poll(0)
    assert producer.flush(30) == 0


def popular_overall(root: Path) -> dict[int, dict[str, int]]:
    """window_end -> product_id -> clicks, of every overall popular ranking written."""
    windows: dict[int, dict[str, int]] = {}
    for path in root.rglob("*.parquet"):
        for row in pq.read_table(path, partitioning=None).to_pylist():
            if row["category"] is None and row["ranking"] == "popular":
                end = int(row["window_end"].timestamp() * 1000)
                windows.setdefault(end, {})[row["product_id"]] = row["clicks"]
    return windows


def dead_letters(settings) -> list[tuple[str, int, int, str]]:
    return sorted((d["topic"], d["partition"], d["offset"], d["reason"])
                  for d in (json.loads(r.value) for r in read_topic(
                      settings, settings.topic_dead_letters, stop_at_end=True)))


def window_end(ts: int) -> int:
    return (ts // WINDOW_MS + 1) * WINDOW_MS


def job_settings(make_settings, tmp_path, **overrides):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "test/arrival"}))
    return make_settings(weights_file=weights_file, window_size_s=10, window_slide_s=10,
                         top_n=10, out_of_orderness_s=5, allowed_lateness_s=0,
                         parallelism=2, checkpoint_interval_s=1, source_idle_timeout_s=120,
                         **overrides)


def test_the_event_topics_stamp_records_with_the_brokers_append_time(make_settings):
    settings = make_settings()
    ensure_topics(settings)
    topics = [*settings.event_topics.values(), settings.topic_dead_letters]
    assert timestamp_types(settings, topics) == {
        topic: "LogAppendTime" for topic in topics}


def test_a_replay_later_gives_the_same_rows_and_the_same_dead_letters(make_settings,
                                                                      tmp_path):
    """A producer 30 s ahead, with a skew of 5 s: its events are future_ts when read at
    once, and still future_ts when read again 30 s later, when the clock has caught up."""
    from jobs.trending import run

    first = job_settings(make_settings, tmp_path, max_future_skew_s=5,
                         parquet_root_uri=f"file://{tmp_path / 'out-1'}")
    second = first.model_copy(update={
        "parquet_root_uri": f"file://{tmp_path / 'out-2'}",
        "topic_dead_letters": f"{first.topic_dead_letters}-2"})
    ensure_topics(first, partitions=2)
    ensure_topics(second, partitions=2)
    sent = now_ms()
    on_time = [event(f"p-{n % 3}", sent - 1_000) for n in range(30)]
    ahead = [event("p-ahead", sent + 30_000) for _ in range(5)]
    send(first, [value for pair in zip(on_time[:5], ahead, strict=True) for value in pair]
         + on_time[5:])
    expected = {window_end(sent - 1_000): {"p-0": 10, "p-1": 10, "p-2": 10}}

    run(first, bounded=True)
    time.sleep(max(0.0, (sent + 31_000 - now_ms()) / 1000))  # ahead of nobody's clock now
    run(second, bounded=True)

    assert popular_overall(tmp_path / "out-1") == expected
    assert popular_overall(tmp_path / "out-2") == expected
    letters = dead_letters(first)
    assert [(topic, reason) for topic, _, _, reason in letters] == [
        (first.topic_clicks, "future_ts")] * 5
    assert [letter[1:] for letter in dead_letters(second)] == [
        letter[1:] for letter in letters]


def test_a_producer_ahead_read_after_a_backlog_makes_no_on_time_event_late(make_settings,
                                                                           tmp_path):
    """One partition: a producer 30 s ahead (within a skew of 60 s) interleaved with an
    on-time one, read 40 s after they were sent. Judged by the clock at reading, the ahead
    events' arrival was 40 s after sending, so the watermark followed them to now + 25 s and
    every on-time event read after that was late; judged by its append time, none is."""
    from jobs.trending import run

    settings = job_settings(make_settings, tmp_path, max_future_skew_s=60)
    ensure_topics(settings, partitions=2)
    sent = now_ms()
    values = [event("p-ahead", sent + 30_000) if n % 1_000 == 0
              else event(f"p-{n % 4}", sent - 1_000) for n in range(40_000)]
    send(settings, values)
    time.sleep(max(0.0, (sent + 40_000 - now_ms()) / 1000))

    run(settings, bounded=True)

    on_time = Counter(f"p-{n % 4}" for n in range(40_000) if n % 1_000)
    assert dead_letters(settings) == []
    assert popular_overall(Path(settings.parquet_root[len("file://"):])) == {
        window_end(sent - 1_000): dict(on_time),
        window_end(sent + 30_000): {"p-ahead": 40}}
