"""Every valid event is either counted in its windows or dead-lettered as ``late``: exactly
one of the two, in the two cases where the watermark that decides differs from the source's.

1. Right after a restore: the sources start without a watermark, while the window operator
   restores its own. An event behind the restored watermark must be a ``late`` dead letter,
   not dropped by the window.
2. A topic that sends again after being idle: its own watermark is stale, while the windows
   run on the other topics' watermark. An event behind that one must be a ``late`` dead
   letter too.

The job runs streaming in its own process, so that the test controls time and can kill it.
Expected windows and dead letters are written out by hand from the events produced.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from streaming_job import committed_dead_letters, start_job
from test_job_weights import T0, advance_to, overall_rows, produce
from test_job_weights_replay import newest_checkpoint
from test_registry import wait_until

from jobs.resume import committed_offsets
from simulator.kafka_io import ensure_topics

# Fault injection (a kill and a restore, an idle topic): minutes each.
pytestmark = pytest.mark.slow


def dead_letters(settings, at_least: int) -> list[tuple]:
    """(reason, topic, partition, offset) of every committed dead letter, once there are
    ``at_least`` and two more checkpoints have passed (to see that there are no more)."""
    return [(e["reason"], e["topic"], e["partition"], e["offset"])
            for e in (json.loads(record.value)
                      for record in committed_dead_letters(settings, at_least))]


def job_settings(make_settings, tmp_path: Path, **overrides):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "test/1"}))
    settings = make_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, allowed_lateness_s=0, topic_partitions=1, parallelism=1,
        consumer_group=f"trend-{uuid.uuid4().hex[:8]}", **overrides)
    ensure_topics(settings, partitions=1)
    return settings


def wait_read(settings, job, topic: str, offset: int) -> None:
    """Wait until a checkpoint has committed ``offset`` on ``topic``'s partition 0: every
    record before it has then passed the late gate (checkpoints are aligned, and offsets are
    committed when one completes). Producing only after that is what orders records of
    different topics at the gate; produced together, they would race."""
    assert wait_until(lambda: committed_offsets(settings).get(topic, {}).get(0, 0) >= offset
                      or not job.running(), 120, 0.2), job.log()
    assert job.running(), job.log()


def window_reader(root: Path):
    def window(job, end_offset_ms: int, timeout_s: float = 420) -> list[tuple]:
        end = T0 + end_offset_ms
        found = wait_until(lambda: overall_rows(root, end) or not job.running(), timeout_s, 0.2)
        assert job.running(), job.log()
        assert found, f"window {end} not written:\n{job.log()}"
        return overall_rows(root, end)
    return window


def test_an_event_behind_the_restored_watermark_is_a_late_dead_letter(make_settings, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    settings = job_settings(make_settings, tmp_path, source_idle_timeout_s=60,
                            checkpoint_interval_s=1, checkpoint_dir=checkpoints.as_uri())
    root = Path(settings.parquet_root[len("file://"):])
    window = window_reader(root)
    first = start_job(settings, tmp_path, name="job-1")
    second = None
    try:
        # Window A [0 s, 10 s): p-1 clicked twice -> 2. The events at 12 s move every
        # topic's watermark to 11 s (lateness 1 s). Clicks are offsets 0, 1 and 2.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1")])
        advance_to(settings, 12_000, "p-9")
        assert window(first, 10_000) == [(1, "p-1", 2.0, "test/1")]
        # A checkpoint taken after window A was written holds a watermark of 11 s.
        written = newest_checkpoint(checkpoints)
        number = int(written.name.split("-")[1]) if written else 0
        assert wait_until(
            lambda: (c := newest_checkpoint(checkpoints)) is not None
            and int(c.name.split("-")[1]) >= number + 2, 60, 0.2), first.log()
        first.kill()

        # While the job is down: a click at 5 s (offset 3), behind the restored watermark.
        produce(settings, [(5_000, "click", "p-2")])
        second = start_job(settings, tmp_path, name="job-2")
        assert wait_until(lambda: "resuming from the newest retained checkpoint" in second.log()
                          or not second.running(), 120, 0.2), second.log()
        # Window B [10 s, 20 s): p-9 (click + cart + purchase at 12 s, restored from the
        # checkpoint's window state) = 1 + 3 + 5 = 9; p-3 (a click at 13 s) = 1.
        produce(settings, [(13_000, "click", "p-3")])
        advance_to(settings, 22_000, "p-8")
        assert window(second, 20_000) == [(1, "p-9", 9.0, "test/1"), (2, "p-3", 1.0, "test/1")]
        # The click at 5 s is dead-lettered as late, and window A is as it was.
        assert dead_letters(settings, 1) == [("late", settings.topic_clicks, 0, 3)]
        assert overall_rows(root, T0 + 10_000) == [(1, "p-1", 2.0, "test/1")]
    finally:
        first.kill()
        if second is not None:
            second.stop()


def test_an_event_from_a_topic_back_from_idle_behind_the_watermark_is_a_late_dead_letter(
        make_settings, tmp_path):
    settings = job_settings(make_settings, tmp_path, source_idle_timeout_s=2,
                            checkpoint_interval_s=5)
    root = Path(settings.parquet_root[len("file://"):])
    window = window_reader(root)
    job = start_job(settings, tmp_path)
    try:
        # Carts: one event at 1 s (offset 0), then silence, so the carts topic goes idle with
        # a watermark of 0 s; purchases never send. Clicks alone move the watermark to 11 s,
        # once the cart has passed the gate.
        produce(settings, [(1_000, "cart", "p-3"), (1_000, "click", "p-1")])
        wait_read(settings, job, settings.topic_carts, 1)
        produce(settings, [(12_000, "click", "p-9")])
        # Window A [0 s, 10 s): p-3 (a cart) = 3, p-1 (a click) = 1.
        assert window(job, 10_000) == [(1, "p-3", 3.0, "test/1"), (2, "p-1", 1.0, "test/1")]

        # The carts topic sends again: a cart at 4 s (offset 1) is behind the windows'
        # watermark of 11 s though not behind the carts topic's own: late. A cart at 15 s
        # (offset 2) is on time.
        # Both carts pass the gate before anything moves the watermark past 15 s.
        produce(settings, [(4_000, "cart", "p-4"), (15_000, "cart", "p-5")])
        wait_read(settings, job, settings.topic_carts, 3)
        advance_to(settings, 22_000, "p-8")
        # Window B [10 s, 20 s): p-5 (a cart) = 3, p-9 (a click) = 1.
        assert window(job, 20_000) == [(1, "p-5", 3.0, "test/1"), (2, "p-9", 1.0, "test/1")]
        assert dead_letters(settings, 1) == [("late", settings.topic_carts, 0, 1)]
        assert overall_rows(root, T0 + 10_000) == [(1, "p-3", 3.0, "test/1"),
                                                   (2, "p-1", 1.0, "test/1")]
    finally:
        job.stop()
