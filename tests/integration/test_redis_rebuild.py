"""`trend redis rebuild`: Redis refilled from Parquet holds exactly what the job wrote.

A bounded run of the job writes Parquet and Redis; Redis is snapshotted and flushed, the
command runs as a subprocess, and Redis must hold the same keys, values and expiries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis
from test_job_bounded import (
    RISING_MIN_SCORE,
    RISING_PRIOR,
    TOP_N,
    VALID,
    WEIGHTS,
    WEIGHTS_VERSION,
    expected_rows,
    write_event_set,
)

from simulator.kafka_io import ensure_topics
from trend_tracker import redis_layout as layout

REDIS_DB = 14
SINCE = "2024-01-01T00:00:00Z"  # the test's events are from the first minutes of 2024


def snapshot(client: redis.Redis) -> dict[bytes, tuple]:
    """Every key: its type, its value, and whether it expires."""
    values = {}
    for key in client.keys("*"):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "zset":
            value = tuple(client.zrange(key, 0, -1, withscores=True))
        elif kind == "hash":
            value = tuple(sorted(client.hgetall(key).items()))
        else:
            raise AssertionError(f"unexpected {kind} key {key!r}")
        values[key] = (kind, value, client.ttl(key) > 0)
    return values


def run_rebuild(settings, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "trend_tracker.cli", "redis", "rebuild", *args],
        env={**os.environ, **settings.as_env()}, cwd=Path(__file__).parents[2],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_rebuild_from_parquet_gives_redis_exactly_what_the_job_wrote(make_settings, tmp_path):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=1,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120,
                             redis_url=make_settings().redis_url.rsplit("/", 1)[0]
                             + f"/{REDIS_DB}")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    ensure_topics(settings, partitions=2)
    write_event_set(settings)
    run(settings, bounded=True)

    expected = expected_rows([(ms, t, p) for ms, t, p in VALID])
    # Both kinds of ranking, popular and rising, are rebuilt.
    rankings = {(row["window_end"], row["ranking"], row["category"]) for row in expected}
    assert {kind for _, kind, _ in rankings} == {"popular", "rising"}
    ends = sorted({end for end, _, _ in rankings})
    written_by_job = snapshot(client)
    assert {key for key in written_by_job if key.startswith(b"trend:r:")} == {
        layout.ranking_key(category, end, kind).encode() for end, kind, category in rankings}
    assert layout.latest_key(None, "rising").encode() in written_by_job

    client.flushdb()
    first, last = ends[0] // 1000, ends[-1] // 1000
    assert run_rebuild(settings, "--since", SINCE) == (
        f"rebuilt {len(ends)} windows ({len(rankings)} rankings), window_end "
        f"2024-01-01T00:{first // 60 % 60:02d}:{first % 60:02d}.000+00:00 to "
        f"2024-01-01T00:{last // 60 % 60:02d}:{last % 60:02d}.000+00:00")
    assert snapshot(client) == written_by_job

    # Only the newest two windows: their rankings, as the job wrote them.
    client.flushdb()
    assert run_rebuild(settings, "--since", SINCE, "--windows", "2").startswith(
        "rebuilt 2 windows")
    rebuilt = snapshot(client)
    assert {key for key in rebuilt if key.startswith(b"trend:r:")} == {
        layout.ranking_key(category, end, kind).encode() for end, kind, category in rankings
        if end in ends[-2:]}
    for key, (kind, value, expires) in rebuilt.items():
        if key.startswith((b"trend:r:", b"trend:latest:")):
            assert (kind, value, expires) == written_by_job[key], key

    # By default only the windows within the TTL of now: none of these 2024 windows.
    client.flushdb()
    assert run_rebuild(settings) == "no window to rebuild"
    assert client.dbsize() == 0
