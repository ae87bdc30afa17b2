"""The broker goes away mid-run, then comes back: the job waits and carries on.

Three outages of the local broker: frozen (SIGSTOP) for 20 s, so every connection hangs as
in a network partition; stopped cleanly (SIGTERM) and started again; killed (SIGKILL) and
started again, its log recovered from disk. The job must not wedge or spin: once the
broker answers again it reads on, every window holds exactly the events sent, and each bad
record has exactly one committed dead letter.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from streaming_job import job_metric, start_job
from test_registry import wait_until

from localstack.stack import LocalStack, free_port
from simulator.kafka_io import ensure_topics, read_topic

pytestmark = pytest.mark.slow

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WINDOW_MS = 5_000
OUTAGE_S = 20
RESTARTS = "flink_jobmanager_job_numRestarts"
#: Restarts a broker restart may cost: the sources and the transactional dead-letter sink
#: each lose their connection, so the job may fail over to its last checkpoint, but no
#: more than twice (a restart loop would be a spin).
MOST_RESTARTS = {"freeze": 0, "sigterm": 2, "sigkill": 2}


def outage(stack: LocalStack, kind: str) -> None:
    """Take the broker away and bring it back (same port, same log directory)."""
    if kind == "freeze":
        broker = stack.read_state().services["kafka"].pid
        os.kill(broker, signal.SIGSTOP)
        try:
            time.sleep(OUTAGE_S)
        finally:
            os.kill(broker, signal.SIGCONT)
    else:
        sig = signal.SIGTERM if kind == "sigterm" else signal.SIGKILL
        stack.restart("kafka", sig, down_s=OUTAGE_S / 2)


@pytest.mark.parametrize("kind", ["freeze", "sigterm", "sigkill"])
def test_the_job_waits_out_a_broker_outage_and_loses_nothing(make_settings, local_stack,
                                                             tmp_path, kind):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "outage/1"}))
    metrics_port = free_port()
    settings = make_settings(weights_file=weights_file, window_size_s=WINDOW_MS // 1000,
                             window_slide_s=WINDOW_MS // 1000, top_n=10, out_of_orderness_s=1,
                             parallelism=1, checkpoint_interval_s=2,
                             source_idle_timeout_s=120, flink_metrics_port=metrics_port)
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    job = start_job(settings, tmp_path)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0})
    sent: list[tuple[int, str]] = []

    def send(offset_ms: int, product: str) -> None:
        for event_type, topic in settings.event_topics.items():
            body = {"event_id": f"e-{len(sent)}-{event_type}", "event_type": event_type,
                    "product_id": product, "category": "gadgets",
                    "user_id": f"u-{len(sent)}",
                    "ts": T0 + offset_ms}
            producer.produce(topic, value=json.dumps(body).encode())
        sent.append((offset_ms, product))
        assert producer.flush(30) == 0

    def window_file(end_ms: int) -> Path:
        return root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + end_ms}.parquet"

    def send_bad(name: str) -> None:
        producer.produce(settings.topic_clicks, value=name.encode())
        assert producer.flush(30) == 0

    stack = LocalStack(local_stack.state_dir)
    try:
        for n in range(14):  # 0 s .. 6.5 s: the watermark passes 5 s, [0 s, 5 s) fires
            send(n * 500, f"p-{n % 3}")
        send_bad("not json, before the outage")
        assert wait_until(lambda: window_file(WINDOW_MS).exists() or not job.running(),
                          420, 0.2), job.log()
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        assert wait_until(lambda: job_metric(metrics, RESTARTS) is not None, 60, 0.5)
        assert job_metric(metrics, RESTARTS) == 0

        outage(stack, kind)

        send_bad("not json, after the outage")
        for n in range(14, 32):  # 7 s .. 15.5 s, then far ahead: up to [10 s, 15 s)
            send(n * 500, f"p-{n % 4}")
        send(40_000, "p-9")
        assert wait_until(lambda: window_file(3 * WINDOW_MS).exists() or not job.running(),
                          300, 0.2), job.log()
        assert job.running(), job.log()

        for end in range(WINDOW_MS, 3 * WINDOW_MS + 1, WINDOW_MS):
            expected = Counter(p for ms, p in sent if end - WINDOW_MS <= ms < end)
            rows = pq.read_table(window_file(end), partitioning=None).to_pylist()
            overall = {r["product_id"]: (r["clicks"], r["carts"], r["purchases"])
                       for r in rows if r["category"] is None and r["ranking"] == "popular"}
            assert overall == {p: (n, n, n) for p, n in expected.items()}, end
        # The dead letters commit with the checkpoint after they were written.
        def dead_letters() -> list[str]:
            return sorted(json.loads(r.value)["payload"] for r in read_topic(
                settings, settings.topic_dead_letters, stop_at_end=True))

        assert wait_until(lambda: len(dead_letters()) >= 2, 60, 0.5), dead_letters()
        time.sleep(2 * settings.checkpoint_interval_s)  # room for a duplicate to show
        assert dead_letters() == ["not json, after the outage", "not json, before the outage"]
        restarts = job_metric(metrics, RESTARTS)
        assert restarts is not None and restarts <= MOST_RESTARTS[kind], restarts
    finally:
        state = stack.read_state()
        if state is not None:
            os.kill(state.services["kafka"].pid, signal.SIGCONT)
        job.stop()
