"""Replaying a backfill gives the same bytes: the same events, run twice into fresh output,
write byte-identical Parquet files and Redis values; run once more over that output, they
change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from test_job_bounded import TOP_N, VALID, WEIGHTS, WEIGHTS_VERSION, expected_rows, write_event_set

from simulator.kafka_io import ensure_topics

REDIS_DBS = (8, 9)


def files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def redis_values(client: redis.Redis) -> dict[bytes, object]:
    """Every key with its value (strings as bytes, sorted sets as member/score pairs)."""
    values: dict[bytes, object] = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        if kind == b"string":
            values[key] = client.get(key)
        elif kind == b"zset":
            values[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            values[key] = sorted(client.hgetall(key).items())
        else:
            raise AssertionError(f"unexpected type {kind!r} of {key!r}")
    return values


def test_a_replayed_backfill_writes_the_same_bytes_and_changes_nothing(make_settings,
                                                                       tmp_path):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    base = make_settings()

    def settings_for(output: str, db: int):
        return make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             source_idle_timeout_s=120,
                             parquet_root_uri=f"file://{tmp_path / output}",
                             redis_url=base.redis_url.rsplit("/", 1)[0] + f"/{db}")

    first, second = settings_for("out-1", REDIS_DBS[0]), settings_for("out-2", REDIS_DBS[1])
    clients = [redis.Redis.from_url(s.redis_url) for s in (first, second)]
    for client in clients:
        client.flushdb()
    ensure_topics(first, partitions=2)
    write_event_set(first)

    run(first, bounded=True)
    run(second, bounded=True)
    out_1, out_2 = files(tmp_path / "out-1"), files(tmp_path / "out-2")
    windows = {row["window_end"] for row in expected_rows(list(VALID))}
    assert len(out_1) == len(windows)  # one file per window, and nothing else
    assert out_1 == out_2
    # Redis: the same keys and values, but for the TTLs' countdown.
    assert redis_values(clients[0]) == redis_values(clients[1])

    before = redis_values(clients[0])
    run(first, bounded=True)
    assert files(tmp_path / "out-1") == out_1
    assert redis_values(clients[0]) == before
