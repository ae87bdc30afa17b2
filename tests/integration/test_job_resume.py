"""A job started without its state never replaces a window written from complete state.

Run 1 reads the first half of window [0 s, 10 s)'s events, completes a checkpoint (which
commits the offsets), then reads the second half, writes the window and crashes before
its next checkpoint. Run 2 starts with ``--from-scratch``: it reads from the committed
offsets, so it sees only the second half and would write the window with half its
counts. It keeps run 1's file instead, and says so. By default (no flag) the job would
have resumed from the checkpoint and rewritten the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from streaming_job import start_job
from test_job_weights import T0, advance_to, produce
from test_registry import wait_until

from jobs.resume import committed_offsets
from simulator.kafka_io import ensure_topics

pytestmark = pytest.mark.slow

WINDOW_MS = 10_000


def test_a_stateless_restart_keeps_the_windows_already_written(make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "resume/1"}))
    # A long checkpoint interval: run 1 completes its first checkpoint, then has time to
    # write the window before the next one.
    settings = make_settings(weights_file=weights_file, window_size_s=10, window_slide_s=10,
                             top_n=5, out_of_orderness_s=1, source_idle_timeout_s=120,
                             topic_partitions=1, parallelism=1, checkpoint_interval_s=20)
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    window = root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + WINDOW_MS}.parquet"
    jobs = []

    def clicks() -> dict[str, int]:
        rows = pq.read_table(window, partitioning=None).to_pylist()
        return {r["product_id"]: r["clicks"] for r in rows
                if r["category"] is None and r["ranking"] == "popular"}

    try:
        first = start_job(settings, tmp_path, name="run-1")
        jobs.append(first)
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1"),
                           (3_000, "click", "p-2")])
        assert wait_until(lambda: committed_offsets(settings) or not first.running(),
                          420, 0.5), first.log()
        produce(settings, [(6_000, "click", "p-1"), (7_000, "click", "p-3")])
        advance_to(settings, 12_000, "p-9")
        assert wait_until(lambda: window.exists() or not first.running(), 120, 0.2), (
            first.log())
        first.kill()
        assert clicks() == {"p-1": 3, "p-2": 1, "p-3": 1}
        written = window.read_bytes()

        second = start_job(settings, tmp_path, "--from-scratch", name="run-2")
        jobs.append(second)
        advance_to(settings, 22_000, "p-8")  # fires [0 s, 10 s) and [10 s, 20 s) again
        later = root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + 2 * WINDOW_MS}.parquet"
        assert wait_until(lambda: later.exists() or not second.running(), 420, 0.2), (
            second.log())
        assert "windows already written are kept and never replaced" in second.log(tail=10**9)
        # Run 2 saw only the clicks after the committed offsets: p-1 once, p-3 once. It
        # kept the complete window.
        assert window.read_bytes() == written
    finally:
        for job in jobs:
            job.kill()
