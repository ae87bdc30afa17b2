"""A window replayed after a restore from a checkpoint keeps the weights it was scored with.

The job runs streaming in its own process (Flink MiniCluster). Window A is scored with v1
and a checkpoint is kept; v2 is promoted, applying from event time 15 s, and window B
[10 s, 20 s) is scored with it; the job is killed. While it is down, v3 becomes the
champion, applying from event time 30 s. A new job restored from the kept checkpoint reads
window B's events and the weights records again: B must come out exactly as before, with
v2 (not with v3, the registry's answer at replay time), and only window C [20 s, 30 s),
ending at 30 s, takes up v3. Expected scores are computed here by hand from the events and
the weights; which window each version scores follows from the rule alone (the newest
record whose ``applies_from_ms`` is at or before the window's end; before any, the weights
the job first started with, kept in its checkpoints).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from test_job_weights import T0, WINDOW_MS, advance_to, overall_rows, produce, weights_switches
from test_registry import wait_until

from registry.client import WeightsRegistry
from registry.publisher import publish_weights
from simulator.kafka_io import ensure_topics

POLL_S = 0.5
V1 = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
V2 = {"click": 2.0, "cart": 0.0, "purchase": 1.0}
V3 = {"click": 0.0, "cart": 0.0, "purchase": 10.0}


def window_file(root: Path, end_offset_ms: int) -> Path:
    end = T0 + end_offset_ms
    return root / "date=2024-01-01" / "hour=00" / f"trends-{end}.parquet"


def newest_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint (``chk-N`` with its ``_metadata``) of any job."""
    done = [p.parent for p in checkpoints.glob("**/chk-*/_metadata")]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def test_a_replayed_window_keeps_its_weights_version_after_a_restore(
        make_settings, private_mlflow, tmp_path):
    model = f"trend-weights-replay-{uuid.uuid4().hex[:8]}"
    registry = WeightsRegistry(private_mlflow.uri, model)
    v1 = registry.promote(registry.register(V1, source="manual").version)
    v2 = registry.register(V2, source="manual")
    v3 = registry.register(V3, source="manual")
    checkpoints = tmp_path / "checkpoints"
    settings = make_settings(
        mlflow_tracking_uri=private_mlflow.uri, weights_model_name=model,
        weights_poll_interval_s=POLL_S, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, source_idle_timeout_s=60, topic_partitions=1, parallelism=1,
        checkpoint_interval_s=1, checkpoint_dir=checkpoints.as_uri(),
        consumer_group=f"trend-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    flink_logs = tmp_path / "flink-log"
    jobs: list[subprocess.Popen] = []

    def start_job(name: str, **overrides: str) -> subprocess.Popen:
        env = {**os.environ, **settings.as_env(), "FLINK_LOG_DIR": str(flink_logs / name),
               **{f"TREND_{k.upper()}": v for k, v in overrides.items()}}
        with open(tmp_path / f"{name}.log", "wb") as log:
            job = subprocess.Popen([sys.executable, "-m", "jobs.trending"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2],
                                   start_new_session=True)
        jobs.append(job)
        return job

    def logs(name: str | None = None) -> str:
        where = flink_logs / name if name else flink_logs
        return "".join(p.read_text(errors="replace") for p in where.rglob("*.log"))

    def diagnosis() -> str:
        lines = [line for line in logs().splitlines()
                 if "ERROR" in line or "weights" in line or "Exception" in line]
        tails = "".join(p.read_text()[-2000:] for p in tmp_path.glob("job-*.log"))
        return tails + "\n".join(lines[-40:])

    def window(job: subprocess.Popen, end_offset_ms: int, timeout_s: float = 180) -> list:
        found = wait_until(lambda: window_file(root, end_offset_ms).exists()
                           or job.poll() is not None, timeout_s, 0.2)
        assert job.poll() is None, diagnosis()
        assert found, f"window {end_offset_ms} not written:\n{diagnosis()}"
        return overall_rows(root, T0 + end_offset_ms)

    def kill(job: subprocess.Popen) -> None:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)

    try:
        first = start_job("job-1")
        # Window A [0 s, 10 s) with v1 (click 1, cart 3, purchase 5): p-1 = 1 + 3 = 4.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "cart", "p-1")])
        advance_to(settings, 12_000, "p-3")
        assert window(first, WINDOW_MS, timeout_s=420) == [(1, "p-1", 4.0, v1.name)]
        # Keep a checkpoint taken after window A and before window B's events.
        taken = wait_until(lambda: newest_checkpoint(checkpoints) is not None, 60, 0.2)
        assert taken, diagnosis()
        wait_until(lambda: False, 2.5)  # one more checkpoint, surely after window A's output
        kept = tmp_path / "kept-checkpoint"
        shutil.copytree(newest_checkpoint(checkpoints), kept)

        # v2 (click 2, cart 0, purchase 1) while the job runs, applying from event time
        # 15 s: the first window ending at or after it is B [10 s, 20 s).
        promoted = registry.promote(v2.version)
        publish_weights(settings, promoted.weights, applies_from_ms=T0 + 15_000)
        assert wait_until(lambda: weights_switches(logs("job-1"))
                          == [(v2.name, v1.name, T0 + 2 * WINDOW_MS)], 60), diagnosis()
        # Window B [10 s, 20 s) with v2: p-2 (2 clicks) = 4; p-3 (click + cart + purchase
        # at 12 s) = 2 + 0 + 1 = 3.
        produce(settings, [(14_000, "click", "p-2"), (15_000, "click", "p-2")])
        advance_to(settings, 22_000, "p-4")
        window_b = [(1, "p-2", 4.0, v2.name), (2, "p-3", 3.0, v2.name)]
        assert window(first, 2 * WINDOW_MS) == window_b
        kill(first)

        # While the job is down, v3 (purchase 10 only) becomes the champion, applying from
        # event time 30 s. The restored job starts with v3 as the registry's champion, and
        # reads window B's events and both weights records again from the checkpoint.
        promoted = registry.promote(v3.version)
        publish_weights(settings, promoted.weights, applies_from_ms=T0 + 30_000)
        window_file(root, 2 * WINDOW_MS).unlink()
        second = start_job("job-2", restore_from=kept.as_uri())
        assert window(second, 2 * WINDOW_MS, timeout_s=420) == window_b
        # The restored core takes v2 over the weights of the first start (v1, from its
        # state, not the champion v3 of this start) from window B, then v3 from window C.
        assert wait_until(lambda: len(weights_switches(logs("job-2"))) >= 2, 60), diagnosis()
        assert weights_switches(logs("job-2")) == [(v2.name, v1.name, T0 + 2 * WINDOW_MS),
                                                   (v3.name, v2.name, T0 + 3 * WINDOW_MS)]

        # Window C [20 s, 30 s), ending where v3 applies from: p-4 (click + cart + purchase
        # at 22 s) = 10; p-5 (1 purchase) = 10: the tie goes to p-4.
        produce(settings, [(25_000, "purchase", "p-5")])
        advance_to(settings, 32_000, "p-6")
        assert window(second, 3 * WINDOW_MS) == [(1, "p-4", 10.0, v3.name),
                                                 (2, "p-5", 10.0, v3.name)]
    finally:
        for job in jobs:
            kill(job)
