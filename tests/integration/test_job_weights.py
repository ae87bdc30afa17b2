"""The running job and the weights registry: the champion scores windows, a promotion
mid-run applies from the event time it names, and an MLflow outage keeps the job on the
last weights.

The job runs streaming in its own process (Flink MiniCluster) against the shared broker,
with a private MLflow server that this test stops. Expected scores are computed here by
hand from the events and the weights; which window each version scores follows from the
rule alone: a window is scored with the newest weights record whose ``applies_from_ms`` is
at or before its end (before any: the weights the job started with).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Producer
from test_registry import wait_until

from registry.client import WeightsRegistry
from registry.publisher import publish_weights
from simulator.kafka_io import ensure_topics

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z; windows of 10 s
WINDOW_MS = 10_000
POLL_S = 0.5
V1 = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
V2 = {"click": 2.0, "cart": 0.0, "purchase": 1.0}


def produce(settings, events: list[tuple[int, str, str]]) -> None:
    """(ms after T0, event_type, product_id), one record per batch, in order."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
    for offset_ms, event_type, product_id in events:
        event_id = uuid.uuid4().hex[:12]
        body = {"event_id": f"e-{event_id}", "event_type": event_type,
                "product_id": product_id, "category": "gadgets", "user_id": f"u-{event_id}",
                "ts": T0 + offset_ms}
        producer.produce(settings.event_topics[event_type], value=json.dumps(body).encode(),
                         key=product_id.encode())
        producer.flush(10)
    assert producer.flush(30) == 0


def advance_to(settings, offset_ms: int, product_id: str) -> None:
    """One event on every topic, so each source's watermark passes the earlier windows."""
    produce(settings, [(offset_ms, t, product_id) for t in ("click", "cart", "purchase")])


def weights_switches(log_text: str) -> list[tuple[str, str, int]]:
    """The core's log lines on each weights record it takes, as (new version, old version,
    first window end scored with it), for the windows of the tests' day (records a
    publisher writes at wall-clock time apply to no window of 2024)."""
    found = re.findall(r"weights (\S+) replaces (\S+) from the window ending at (\d+):",
                       log_text)
    return [(new, old, int(end)) for new, old, end in found if int(end) < T0 + 86_400_000]


def overall_rows(root: Path, window_end_ms: int) -> list[tuple]:
    path = root / "date=2024-01-01" / "hour=00" / f"trends-{window_end_ms}.parquet"
    if not path.exists():
        return []
    rows = pq.read_table(path, partitioning=None).to_pylist()
    return [(r["rank"], r["product_id"], r["score"], r["weights_version"])
            for r in rows if r["category"] is None and r["ranking"] == "popular"]


def test_job_follows_the_champion_and_survives_an_mlflow_outage(
        make_settings, private_mlflow, tmp_path):
    model = f"trend-weights-job-{uuid.uuid4().hex[:8]}"
    registry = WeightsRegistry(private_mlflow.uri, model)
    v1 = registry.promote(registry.register(V1, source="manual").version)
    v2 = registry.register(V2, source="manual")
    settings = make_settings(
        mlflow_tracking_uri=private_mlflow.uri, weights_model_name=model,
        weights_poll_interval_s=POLL_S, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, source_idle_timeout_s=60, topic_partitions=1, parallelism=1,
        checkpoint_interval_s=5, consumer_group=f"trend-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])

    log_path = tmp_path / "job.log"
    flink_logs = tmp_path / "flink-log"

    def flink_log() -> str:
        """The MiniCluster's log, where the scoring workers' log lines land too."""
        return "".join(p.read_text(errors="replace") for p in flink_logs.glob("*.log"))

    with open(log_path, "wb") as log:
        job = subprocess.Popen([sys.executable, "-m", "jobs.trending"],
                               env={**os.environ, **settings.as_env(),
                                    "FLINK_LOG_DIR": str(flink_logs)}, stdout=log,
                               stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2],
                               start_new_session=True)

    def diagnosis() -> str:
        lines = [line for line in flink_log().splitlines()
                 if "ERROR" in line or "weights" in line or "Exception" in line]
        return log_path.read_text()[-3000:] + "\n".join(lines[-40:])

    def window(end_offset_ms: int, timeout_s: float = 180) -> list[tuple]:
        end = T0 + end_offset_ms
        found = wait_until(lambda: overall_rows(root, end) or job.poll() is not None,
                           timeout_s, 0.2)
        assert job.poll() is None, diagnosis()
        assert found, f"window {end} not written:\n{diagnosis()}"
        return overall_rows(root, end)

    try:
        # Window A [0 s, 10 s), scored with the champion v1 (click 1, cart 3, purchase 5):
        # p-1: 2 clicks + 1 cart + 1 purchase = 2 + 3 + 5 = 10; p-2: 1 click + 2 carts = 7.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1"),
                           (3_000, "cart", "p-1"), (4_000, "purchase", "p-1"),
                           (5_000, "click", "p-2"), (6_000, "cart", "p-2"),
                           (7_000, "cart", "p-2")])
        advance_to(settings, 12_000, "p-3")
        # The first window includes the job's start-up.
        assert window(WINDOW_MS, timeout_s=420) == [(1, "p-1", 10.0, v1.name),
                                                      (2, "p-2", 7.0, v1.name)]

        # Promote v2 (click 2, cart 0, purchase 1) while the job runs, applying from event
        # time 25 s: the first window it scores is the first ending at or after 25 s, C
        # [20 s, 30 s); window B [10 s, 20 s), still open now, stays with v1. (The job's
        # publisher also writes the new champion, stamped now: that applies to no window
        # of 2024.)
        promoted = registry.promote(v2.version)
        publish_weights(settings, promoted.weights, applies_from_ms=T0 + 25_000)
        assert wait_until(lambda: (v2.name, v1.name, T0 + 3 * WINDOW_MS)
                          in weights_switches(flink_log()), 60), diagnosis()
        # Window B [10 s, 20 s) with v1: p-3 (click + cart + purchase at 12 s) = 1 + 3 + 5
        # = 9; p-2 (1 purchase) = 5; p-1 (1 click) = 1.
        produce(settings, [(14_000, "click", "p-1"), (15_000, "purchase", "p-2")])
        advance_to(settings, 22_000, "p-4")
        assert window(2 * WINDOW_MS) == [(1, "p-3", 9.0, v1.name), (2, "p-2", 5.0, v1.name),
                                         (3, "p-1", 1.0, v1.name)]

        # MLflow goes down: the job keeps running, and its publisher keeps v2.
        private_mlflow.stop()
        assert wait_until(lambda: f"keeping weights {v2.name}" in flink_log(), 60), diagnosis()
        # Window C [20 s, 30 s) with v2: p-5 (2 clicks) = 4; p-4 (click + cart + purchase
        # at 22 s) = 2 + 0 + 1 = 3.
        produce(settings, [(25_000, "click", "p-5"), (26_000, "click", "p-5")])
        advance_to(settings, 32_000, "p-6")
        assert window(3 * WINDOW_MS) == [(1, "p-5", 4.0, v2.name), (2, "p-4", 3.0, v2.name)]
        # One switch within 2024, taken once: v1 to v2 from the window ending at 30 s.
        assert weights_switches(flink_log()) == [(v2.name, v1.name, T0 + 3 * WINDOW_MS)]
        assert job.poll() is None
    finally:
        # The job's process group holds its JVM too.
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(10)
