"""A ``future_ts`` record read after the last checkpoint, then a crash and a restore: one
committed dead letter, and the record in no window.

The job runs streaming in its own process, with checkpoints every 20 s, over topics created
as ``trend topics create`` creates them (``message.timestamp.type=LogAppendTime``), so a
record's arrival is the broker's append time. Events are stamped with the live clock. Once
a checkpoint has committed the first valid events, a record stamped 15 s after its arrival
(with a skew of 5 s: ``future_ts``) is sent with more valid events; its dead letter is in
the topic, in a transaction that only the next checkpoint would commit. The job is killed
(``kill -9``) before that checkpoint and restored from the one before: it reads the record
again and dead-letters it again. A ``read_committed`` reader sees that dead letter once, and
the windows, Parquet and Redis, hold the valid events only, each counted once: the rows of
test_job_bounded's reference over them.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import orjson
import pytest
import redis
from streaming_job import committed_dead_letters, start_job
from test_job_arrival_time import now_ms, window_end
from test_job_bounded import (
    RISING_MIN_SCORE,
    RISING_PRIOR,
    WEIGHTS,
    produce,
    ranking_documents,
    read_parquet_rows,
    reference_rows,
    row_key,
)
from test_job_clock_skew import event
from test_job_weights_replay import newest_checkpoint
from test_registry import wait_until

from jobs.resume import committed_offsets
from simulator.kafka_io import ensure_topics, read_topic
from trend_tracker.redis_layout import RedisLayout

# Fault injection (a kill and a restore): minutes.
pytestmark = pytest.mark.slow

WINDOW_MS = 10_000
SKEW_S = 5
AHEAD_MS = 15_000  # beyond arrival + SKEW_S: future_ts
OUT_OF_ORDERNESS_S = 5
TOP_N = 5
VERSION = "test/future-kill"


def checkpoint_number(checkpoints: Path) -> int:
    """The number of the newest complete checkpoint (0 before any)."""
    newest = newest_checkpoint(checkpoints)
    return int(newest.name.split("-")[1]) if newest else 0


def test_a_future_ts_record_read_before_a_kill_is_one_dead_letter_and_in_no_window(
        make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": VERSION}))
    checkpoints = tmp_path / "checkpoints"
    # A checkpoint every 20 s: the record is read and dead-lettered well before the next
    # one. No topic goes idle during the test.
    settings = make_settings(
        weights_file=weights_file, window_size_s=WINDOW_MS // 1000,
        window_slide_s=WINDOW_MS // 1000, top_n=TOP_N, out_of_orderness_s=OUT_OF_ORDERNESS_S,
        allowed_lateness_s=0, max_future_skew_s=SKEW_S, rising_prior=RISING_PRIOR,
        rising_min_score=RISING_MIN_SCORE, source_idle_timeout_s=120, topic_partitions=1,
        parallelism=1, checkpoint_interval_s=20, checkpoint_dir=checkpoints.as_uri(),
        redis_namespace="test-future-kill")
    ensure_topics(settings, partitions=1)
    topics = settings.event_topics
    root = Path(settings.parquet_root[len("file://"):])
    client = redis.Redis.from_url(settings.redis_url)
    counted: list[tuple[int, str, str]] = []  # (ts, event_type, product_id) of valid events

    def send(events: list[tuple[int, str, str]]) -> list[tuple[str, int, int]]:
        """Valid events, in order (each topic's one partition); their positions."""
        counted.extend(events)
        return produce(settings, [(topics[t], 0, event(t, product, ts))
                                  for ts, t, product in events])

    first = start_job(settings, tmp_path, name="run-1")
    second = None
    try:
        # Valid events, stamped 1 s before sending, until a checkpoint commits them.
        ts = now_ms() - 1_000
        send([(ts, "click", "p-1"), (ts, "click", "p-1"), (ts, "click", "p-2"),
              (ts, "cart", "p-1"), (ts, "purchase", "p-3")])
        assert wait_until(lambda: committed_offsets(settings).get(topics["click"], {}).get(0)
                          == 3 or not first.running(), 420, 0.2), first.log()
        assert first.running(), first.log()
        last_checkpoint = checkpoint_number(checkpoints)

        # After that checkpoint: more valid events, and on the clicks topic a record stamped
        # 15 s after it was sent, which a valid click in its window follows later.
        sent = now_ms()
        ts = sent - 1_000
        send([(ts, "click", "p-2"), (ts, "click", "p-4"), (ts, "cart", "p-2"),
              (ts, "purchase", "p-4")])
        ahead = event("click", "p-ahead", sent + AHEAD_MS)
        [position] = produce(settings, [(topics["click"], 0, ahead)])
        key = "/".join(map(str, position))

        # Its dead letter is written in a transaction not yet committed.
        assert wait_until(lambda: [r.key.decode() for r in read_topic(
            settings, settings.topic_dead_letters, stop_at_end=True, committed_only=False)]
                          == [key] or not first.running(), 60, 0.2), first.log()
        assert list(read_topic(settings, settings.topic_dead_letters, stop_at_end=True)) == []
        first.kill()
        assert checkpoint_number(checkpoints) == last_checkpoint  # killed before the next

        second = start_job(settings, tmp_path, name="run-2")
        assert wait_until(lambda: "resuming from the newest retained checkpoint" in second.log()
                          or not second.running(), 120, 0.2), second.log()
        # A valid click in the window the record is stamped in (sent once the clock allows
        # it), then one event per topic once the clock is past that window's end plus the
        # out-of-orderness: every window up to it fires, and the last events' does not.
        ahead_end = window_end(sent + AHEAD_MS)
        time.sleep(max(0.0, (sent + AHEAD_MS - SKEW_S * 1000 - now_ms()) / 1000))
        send([(sent + AHEAD_MS, "click", "p-5")])
        time.sleep(max(0.0, (ahead_end + OUT_OF_ORDERNESS_S * 1000 + 1_000 - now_ms()) / 1000))
        ts = now_ms()
        produce(settings, [(topics[t], 0, event(t, "p-9", ts))
                           for t in ("click", "cart", "purchase")])

        t0 = min(ts for ts, _, _ in counted) // WINDOW_MS * WINDOW_MS
        expected = reference_rows(
            [(ts - t0, t, product) for ts, t, product in counted],
            last_end_ms=ahead_end - t0, size_ms=WINDOW_MS, slide_ms=WINDOW_MS, top_n=TOP_N,
            weights=WEIGHTS, category_of={p: "gadgets" for _, _, p in counted},
            version=VERSION, prior=RISING_PRIOR, min_score=RISING_MIN_SCORE, t0=t0)
        assert max(row["window_end"] for row in expected) == ahead_end
        window_ends = {row["window_end"] for row in expected}
        assert wait_until(lambda: window_ends <= {int(p.stem.split("-")[1])
                                                  for p in root.rglob("*.parquet")}
                          or not second.running(), 180, 0.2), second.log()
        assert second.running(), second.log()

        # One committed dead letter for the record, whole.
        letters = committed_dead_letters(settings, at_least=1)
        assert [(r.key.decode(), json.loads(r.value)) for r in letters] == [
            (key, {"payload": ahead.decode(), "topic": topics["click"], "partition": 0,
                   "offset": position[2], "reason": "future_ts", "payload_bytes": len(ahead),
                   "payload_sha256": hashlib.sha256(ahead).hexdigest()})]

        # Every window the reference's, the record in none, each valid event counted once.
        assert sorted(read_parquet_rows(root), key=row_key) == sorted(expected, key=row_key)
        layout = RedisLayout(settings.redis_namespace)
        for (category, end, kind), document in ranking_documents(expected).items():
            assert orjson.loads(client.get(layout.ranking_key(category, end, kind))) == (
                document)
    finally:
        first.kill()
        if second is not None:
            second.stop()
