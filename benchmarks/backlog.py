"""The streaming job over a fixed backlog, observed through its metrics: what the
checkpoint and catalog benchmarks share.

A run starts ``python -m jobs.trending --from-scratch`` (streaming, a fresh consumer
group, state directory and Parquet root) on topics that already hold ``events`` events,
and samples the job's Prometheus reporter every ``SAMPLE_S``:

- ``trend_event_type_events_read`` (summed): the first sample above 0 starts the clock,
  the first at ``events`` is when the backlog was read;
- ``trend_last_window_end_seconds``: the newest window written; the run's end is the first
  sample at the final window (the newest one the backlog's watermark closes, known once
  the backlog is read and the value stops moving). Its first change also marks the whole
  job running (the Python worker of the window sink starts last, and under load a minute
  or more after the sources): ``events_per_s_flowing`` is the rate from there, on the
  events not yet read then;
- Flink's checkpoint metrics (``numberOfCompletedCheckpoints``, ``lastCheckpointDuration``,
  ``lastCheckpointSize``, ``lastCheckpointFullSize``): one entry per completed checkpoint;
- ``Status_JVM_Memory_Heap_Used`` of the MiniCluster's JVM: the largest sample.

After the last window, the run waits for ``min_checkpoints`` completed checkpoints (not
timed) so that a long interval still reports a checkpoint's size and duration, then
stops the job. The retained checkpoint's directory size is read from disk as a cross-check.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.job_throughput import phase_settings, produce
from benchmarks.live import JOB_METRIC_PREFIX, metrics_url, scrape, series, streaming_job
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings

SAMPLE_S = 0.5
READ_METRIC = JOB_METRIC_PREFIX + "event_type_events_read"
CHECKPOINT_METRICS = {
    "completed": "flink_jobmanager_job_numberOfCompletedCheckpoints",
    "duration_ms": "flink_jobmanager_job_lastCheckpointDuration",
    "size_bytes": "flink_jobmanager_job_lastCheckpointSize",
    "full_size_bytes": "flink_jobmanager_job_lastCheckpointFullSize",
}
HEAP_METRIC = "flink_taskmanager_Status_JVM_Memory_Heap_Used"
#: The newest window must stay the same this long after the backlog is read to be final.
SETTLE_S = 8


def produce_backlog(settings: Settings, events: int, products: int, event_rate: float,
                    categories: int = 20) -> dict[str, Any]:
    """``events`` simulated events (seeded, simulated clock, unpaced) in the topics."""
    return produce(settings, SimpleNamespace(events=events, products=products,
                                             event_rate=event_rate, categories=categories))


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def retained_checkpoint_bytes(settings: Settings) -> int | None:
    """Size on disk of the newest retained checkpoint (``chk-N``) of the run's group."""
    root = Path(settings.resolved_checkpoint_dir[len("file://"):])
    # Complete ones only: one in progress when the job stopped has no _metadata yet.
    checkpoints = sorted((p for p in root.rglob("chk-*") if (p / "_metadata").is_file()),
                         key=lambda p: int(p.name.split("-")[1]))
    if not checkpoints:
        return None
    # Shared and task-owned files live beside chk-N; a full checkpoint of the heap
    # backend is inside it, RocksDB's incremental files are under shared/.
    job_dir = checkpoints[-1].parent
    return directory_bytes(checkpoints[-1]) + directory_bytes(job_dir / "shared")


def run_streaming_backlog(settings: Settings, events: int, log_dir: Path, name: str,
                          min_checkpoints: int = 1, timeout_s: float = 1200
                          ) -> dict[str, Any]:
    """One streaming run over the backlog (see the module docstring); its figures."""
    settings = phase_settings(settings, name)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"job-{name}.log"
    url = metrics_url(settings)
    started = time.monotonic()
    first_read = all_read = last_window_at = first_window_at = None
    read_at_first_window = 0.0
    last_window = 0
    checkpoints: list[dict[str, float]] = []
    heap_max = 0.0
    read = 0.0
    with streaming_job(settings, log_path) as job:
        while True:
            if job.poll() is not None:
                raise RuntimeError(f"the job exited ({job.returncode}); see {log_path}")
            now = time.monotonic()
            if now - started > timeout_s:
                raise RuntimeError(f"{name}: read {read:.0f} of {events} events, newest "
                                   f"window {last_window}, in {timeout_s} s; see {log_path}")
            text = scrape(url)
            if text is not None:
                read = sum(series(text, READ_METRIC))
                if read > 0 and first_read is None:
                    first_read = now
                if read >= events and all_read is None:
                    all_read = now
                newest = 1000 * max(series(text, JOB_METRIC_PREFIX + "last_window_end_seconds"),
                                    default=0)
                if newest > last_window:
                    last_window, last_window_at = int(newest), now
                    if first_window_at is None:
                        first_window_at, read_at_first_window = now, read
                heap_max = max([heap_max, *series(text, HEAP_METRIC)])
                values = {key: max(series(text, metric), default=None)
                          for key, metric in CHECKPOINT_METRICS.items()}
                # A new checkpoint, once its gauges are set: Flink counts it before it sets
                # them, and a scrape in between reads -1 (unknown) for its sizes.
                if values["completed"] and (not checkpoints or values["completed"]
                                            > checkpoints[-1]["completed"]) and all(
                        v is None or v >= 0 for v in values.values()):
                    checkpoints.append({k: v for k, v in values.items() if v is not None}
                                       | {"at_s": round(now - started, 1)})
                settled = (all_read is not None and last_window_at is not None
                           and now - max(all_read, last_window_at) >= SETTLE_S)
                if settled and len(checkpoints) >= min_checkpoints:
                    break
            time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - now)))
    if read != events:
        raise RuntimeError(f"{name}: the job read {read:.0f} events, not {events}")
    # Rates from the reported (rounded) times, so that they can be checked from them.
    read_s = round(all_read - first_read, 2)
    drain_s = round(max(all_read, last_window_at) - first_read, 2)
    during = [c for c in checkpoints if c["at_s"] <= round(max(all_read, last_window_at)
                                                           - started, 1)]
    return {
        "name": name,
        "settings": settings,
        "start_s": round(first_read - started, 1),
        "read_s": read_s,
        "drain_s": drain_s,
        "events_per_s": round(events / drain_s),
        "events_per_s_read": round(events / read_s) if read_s > 0 else None,
        # Once every task runs (the first window written: the Python worker is up), to
        # the last window: the rate without the job's start-up.
        "first_window_s": round(first_window_at - first_read, 2),
        # None when the backlog was read before the first window (a tiny backlog).
        "events_per_s_flowing": round((events - read_at_first_window)
                                      / (max(all_read, last_window_at) - first_window_at))
        if max(all_read, last_window_at) > first_window_at
        and read_at_first_window < events else None,
        "last_window_end": last_window,
        "checkpoints_during_drain": len(during),
        "checkpoints": checkpoints,
        "heap_used_max_mb": round(heap_max / 2**20),
        "retained_checkpoint_bytes": retained_checkpoint_bytes(settings),
    }


def distinct_products(settings: Settings) -> int:
    """Distinct product ids in the event topics (read back, ``json.loads`` of each)."""
    import json

    from confluent_kafka import Consumer, TopicPartition

    from jobs.offsets import end_offsets

    topics = list(settings.event_topics.values())
    ends = end_offsets(settings, topics, timeout_s=60)
    remaining = {(t, p): end for t, parts in ends.items() for p, end in parts.items() if end}
    consumer = Consumer({**client_config(settings),
                         "group.id": "bench-distinct", "enable.auto.commit": False})
    consumer.assign([TopicPartition(t, p, 0) for t, p in remaining])
    seen: set[str] = set()
    try:
        while remaining:
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                key = (message.topic(), message.partition())
                if message.error() or key not in remaining:
                    continue
                seen.add(json.loads(message.value())["product_id"])
                if message.offset() + 1 >= remaining[key]:
                    del remaining[key]
    finally:
        consumer.close()
    return len(seen)
