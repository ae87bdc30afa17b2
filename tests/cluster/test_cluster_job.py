"""The fixed event set of the embedded end-to-end test, submitted to a real standalone
cluster with ``trend job submit --bounded``: the same Parquet rows, Redis rankings and dead
letters, compared with the same independent reference, in the backfill's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import redis

from simulator.kafka_io import ensure_topics, read_topic
from tests.integration.test_job_backfill import committed_offsets
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
from trend_tracker import redis_layout as layout

pytestmark = pytest.mark.cluster

REDIS_DB = 13  # a database of its own on the shared test Redis


def test_cluster_run_gives_the_same_rows_as_the_reference(flink_cluster, make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    base = make_settings()
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120,
                             redis_url=base.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    ensure_topics(settings, partitions=2)
    written = write_event_set(settings)

    # The command a user runs; settings travel as TREND_* variables.
    env = {**os.environ, **settings.as_env()}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "trend_tracker.cli", "job", "submit",
         "--jobmanager", flink_cluster.jobmanager, "--bounded"],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    print(f"trend job submit --bounded on the cluster: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    expected_dlq = sorted((topic, partition, offset, value.decode(), reason)
                          for (topic, partition, offset), value, reason in written
                          if reason is not None)
    dlq = sorted((d["topic"], d["partition"], d["offset"], d["payload"], d["reason"])
                 for d in (json.loads(r.value) for r in read_topic(
                     settings, settings.topic_dead_letters, idle_timeout_s=3)))
    assert dlq == expected_dlq

    # A backfill's output is its own: production's Parquet root, Redis namespace and
    # consumer group are untouched.
    from jobs.trending import backfill_settings

    backfill = backfill_settings(settings)
    production_root = Path(settings.parquet_root[len("file://"):])
    assert not production_root.exists() or not any(production_root.rglob("*.parquet"))
    assert client.keys(f"{settings.redis_namespace}:*") == []
    assert committed_offsets(settings) == {}
    keys = layout.RedisLayout(backfill.redis_namespace)

    expected = expected_rows(list(VALID))
    actual = read_parquet_rows(Path(backfill.parquet_root[len("file://"):]))
    assert sorted(actual, key=row_key) == sorted(expected, key=row_key)

    by_ranking: dict[tuple, list[dict]] = defaultdict(list)
    for row in expected:
        by_ranking[(row["window_start"], row["window_end"], row["ranking"],
                    row["category"])].append(row)
    for (start, end, kind, category), members in by_ranking.items():
        document = orjson.loads(client.get(keys.ranking_key(category, end, kind)))
        assert document == {
            "window_start": start, "window_end": end, "ranking": kind, "category": category,
            "weights_version": WEIGHTS_VERSION,
            "items": [{k: r[k] for k in ("rank", "product_id", "score", "clicks", "carts",
                                         "purchases", "previous_rank", "momentum")}
                      for r in members],
        }
    assert orjson.loads(client.get(keys.latest_key(None)))["window_end"] == max(
        end for _, end, _, _ in by_ranking)

