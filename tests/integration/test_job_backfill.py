"""A bounded run, as a user starts it (``trend job run --bounded``), is a backfill: it writes
to an output of its own and commits no offsets into the streaming job's consumer group;
``--replace`` writes the production output instead. Compared with the independent
reference of test_job_bounded.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from jobs.trending import backfill_settings
from simulator.kafka_io import ensure_topics
from tests.integration.test_job_bounded import (
    RISING_MIN_SCORE,
    RISING_PRIOR,
    TOP_N,
    VALID,
    WEIGHTS,
    WEIGHTS_VERSION,
    expected_rows,
    read_parquet_rows,
    row_key,
    write_event_set,
)
from trend_tracker.redis_layout import RedisLayout

PROJECT = Path(__file__).parents[2]


def committed_offsets(settings) -> dict[tuple[str, int], int]:
    """The offsets the consumer group of ``settings`` has committed, by topic partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": settings.consumer_group, "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, p) for topic in settings.event_topics.values()
                      for p in range(2)]
        return {(tp.topic, tp.partition): tp.offset
                for tp in consumer.committed(partitions, timeout=30) if tp.offset >= 0}
    finally:
        consumer.close()


def run_bounded(settings, *flags: str) -> str:
    """``trend job run --bounded`` with the settings as TREND_* variables; its log."""
    result = subprocess.run(
        [sys.executable, "-m", "trend_tracker.cli", "job", "run", "--bounded", *flags],
        env={**os.environ, **settings.as_env()}, cwd=PROJECT, capture_output=True, text=True,
        timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def rows_under(settings) -> list[dict]:
    root = Path(settings.parquet_root[len("file://"):])
    return sorted(read_parquet_rows(root), key=row_key) if root.exists() else []


def test_a_backfill_writes_its_own_output_and_replace_writes_production(
        make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    base = make_settings()
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120, backfill_name="nov-rescore",
                             redis_url=base.redis_url.rsplit("/", 1)[0] + "/3")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    ensure_topics(settings, partitions=2)
    write_event_set(settings)
    expected = sorted(expected_rows(list(VALID)), key=row_key)
    newest_end = max(row["window_end"] for row in expected)
    backfill = backfill_settings(settings)
    assert (backfill.parquet_root, backfill.redis_namespace, backfill.consumer_group) == (
        f"file://{tmp_path / 'parquet'}-backfills/nov-rescore", "trend-backfill-nov-rescore",
        f"{settings.consumer_group}-backfill-nov-rescore")

    log = run_bounded(settings)
    assert (f"backfill nov-rescore: every window is scored with weights {WEIGHTS_VERSION}, "
            f"today's, not those it had when it was live; output {backfill.parquet_root} and "
            f"Redis namespace trend-backfill-nov-rescore") in log
    assert rows_under(backfill) == expected
    assert rows_under(settings) == []
    assert client.keys("trend:*") == []
    backfill_keys = RedisLayout(backfill.redis_namespace)
    assert json.loads(client.get(backfill_keys.latest_key(None)))["window_end"] == newest_end
    assert committed_offsets(settings) == {}

    log = run_bounded(settings, "--replace")
    assert "(the production output: its windows are replaced)" in log
    assert rows_under(settings) == expected
    assert json.loads(client.get(RedisLayout().latest_key(None)))["window_end"] == newest_end
    assert committed_offsets(settings) == {}
