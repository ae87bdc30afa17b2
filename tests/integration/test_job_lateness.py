"""Late events: behind the watermark on arrival, they go to the dead-letter topic with
reason ``late``, are counted, and never change a window already written.

Lateness depends on when the watermark moves, so this runs the job streaming in its own
process and controls the timing: the late event is sent only after the window it
belongs to has been written (so the watermark has certainly passed it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from streaming_job import committed_dead_letters, job_metric, start_job
from test_job_weights import T0, advance_to, overall_rows, produce
from test_registry import wait_until

from localstack.stack import free_port
from simulator.kafka_io import ensure_topics

READ_METRIC = "flink_taskmanager_job_task_operator_trend_event_type_events_read"
LATE_METRIC = "flink_taskmanager_job_task_operator_trend_event_type_reason_dead_letters"


def counted(metrics_url: str, metric: str, label: str) -> float:
    """The sum of a job metric's series carrying ``label`` (0 before any)."""
    return job_metric(metrics_url, metric, label) or 0.0


def test_a_late_event_is_dead_lettered_counted_and_not_counted_in_its_window(
        make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "test/1"}))
    metrics_port = free_port()
    settings = make_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, allowed_lateness_s=0, source_idle_timeout_s=60,
        topic_partitions=1, parallelism=1,
        checkpoint_interval_s=5, flink_metrics_port=metrics_port)
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    job = start_job(settings, tmp_path)

    def window(end_offset_ms: int, timeout_s: float) -> list[tuple]:
        end = T0 + end_offset_ms
        found = wait_until(lambda: overall_rows(root, end) or not job.running(),
                           timeout_s, 0.2)
        assert job.running(), job.log()
        assert found, f"window {end} not written:\n{job.log()}"
        return overall_rows(root, end)

    try:
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        # Window A [0 s, 10 s): p-1 clicked twice -> score 2 (click weight 1). The events
        # at 12 s move every source's watermark to 11 s.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1")])
        advance_to(settings, 12_000, "p-9")
        # Window A written: every watermark the job combines has passed 10 s.
        assert window(10_000, timeout_s=420) == [(1, "p-1", 2.0, "test/1")]

        # A click at 3 s is now behind the watermark: late for window A.
        produce(settings, [(3_000, "click", "p-2")])
        advance_to(settings, 22_000, "p-9")
        # Window B comes after the late click in the stream. The late click is not in
        # window A (p-2 would score 1 there).
        window(20_000, timeout_s=180)
        assert overall_rows(root, T0 + 10_000) == [(1, "p-1", 2.0, "test/1")]
        # Window B [10 s, 20 s): p-9 has one click, one cart, one purchase -> 1 + 3 + 5.
        assert window(20_000, timeout_s=180) == [(1, "p-9", 9.0, "test/1")]

        # Exactly one, also after two more checkpoints.
        dead = committed_dead_letters(settings, at_least=1)
        envelopes = [json.loads(record.value) for record in dead]
        assert [(e["reason"], e["topic"], e["partition"], e["offset"]) for e in envelopes] == [
            ("late", settings.topic_clicks, 0, 3)]
        assert dead[0].key == f"{settings.topic_clicks}/0/3".encode()
        payload = json.loads(envelopes[0]["payload"])
        assert (payload["product_id"], payload["ts"]) == ("p-2", T0 + 3_000)
        # Lateness is decided after decoding: the job hashes the late event's value too.
        value = envelopes[0]["payload"].encode()
        assert (envelopes[0]["payload_bytes"], envelopes[0]["payload_sha256"]) == (
            len(value), hashlib.sha256(value).hexdigest())

        # Counted: the job's metric reaches exactly one late event.
        assert wait_until(lambda: counted(metrics_url, LATE_METRIC, 'reason="late"') >= 1,
                          60, 0.5), "no late-event count exported"
        assert counted(metrics_url, LATE_METRIC, 'reason="late"') == 1.0
    finally:
        job.stop()
