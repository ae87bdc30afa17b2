"""What the live benchmarks share: settings on a private stack, the streaming job, the API
and the paced simulator as children in process groups of their own, and the job's
Prometheus metrics.

Each child is started with :func:`benchmarks.job_throughput.spawn` and stopped with
:func:`benchmarks.job_throughput.kill_group`, so stopping one stops its Python workers and
JVM too, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.job_throughput import kill_group, spawn
from jobs.topology import WEIGHTS_TOPIC_TABLE
from trend_tracker.processes import free_port
from trend_tracker.settings import Settings, settings_from_env

#: The watermark each source task emits (Flink's metric, exported by the job's reporter).
WATERMARK_METRIC = "flink_taskmanager_job_task_operator_currentOutputWatermark"
#: The job's own metrics (jobs/metrics.py) as its Prometheus reporter names them.
JOB_METRIC_PREFIX = "flink_taskmanager_job_task_operator_trend_"


def live_settings(stack_env: dict[str, str], work_dir: Path, **overrides: Any) -> Settings:
    """Settings on the private stack with fresh topics, group, state and Parquet root
    (local files, so their times can be read), and the job's Prometheus reporter on a free
    port; ``overrides`` set the job's shape."""
    suffix = uuid.uuid4().hex[:8]
    run_dir = work_dir / f"run-{suffix}"
    values: dict[str, Any] = {
        "state_dir": run_dir / "state",
        "topic_clicks": f"clicks-{suffix}",
        "topic_carts": f"carts-{suffix}",
        "topic_purchases": f"purchases-{suffix}",
        "topic_dead_letters": f"events-dlq-{suffix}",
        "topic_weights": f"weights-{suffix}",
        "consumer_group": f"bench-{suffix}",
        "parquet_root_uri": f"file://{run_dir / 'parquet'}",
        "metrics_port": 0,
        "flink_metrics_port": free_port(),
    }
    values.update(overrides)
    return settings_from_env(stack_env, **values)


def parquet_dir(settings: Settings) -> Path:
    return Path(settings.parquet_root[len("file://"):])


def metrics_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.flink_metrics_port}/metrics"


def scrape(url: str, timeout_s: float = 2.0) -> str | None:
    """The reporter's text, or None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode()
    except OSError:
        return None


def series(text: str, name: str, label: str = "") -> list[float]:
    """Values of metric ``name`` whose labels contain ``label``."""
    prefix = name + "{"
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(prefix) and label in line]


def source_watermark(text: str) -> float | None:
    """The events' watermark, which the windows fire on: the least watermark the event
    sources' tasks have emitted (Flink combines its inputs' watermarks as a minimum; the
    weights topic's source is left out: it follows the weights records, and goes idle).
    None before every event source task has emitted one."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(WATERMARK_METRIC + "{") and 'task_name="Source:' in line
              and WEIGHTS_TOPIC_TABLE not in line]
    if not values or min(values) < 0:  # Long.MIN_VALUE before the first watermark
        return None
    return min(values)


def child_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.as_env()}


@contextlib.contextmanager
def streaming_job(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen]:
    """``python -m jobs.trending --from-scratch`` (streaming), stopped when the block ends."""
    env = child_env(settings) | {"FLINK_LOG_DIR": str(log_path.parent / "flink-log")}
    with open(log_path, "wb") as log:
        process = spawn([sys.executable, "-m", "jobs.trending", "--from-scratch"], env,
                        stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        kill_group(process)


def wait_job_running(process: subprocess.Popen, settings: Settings, log_path: Path,
                     timeout_s: float = 300) -> float:
    """Wait until every source task of the job has emitted a watermark (the job is running
    and reading); returns the seconds waited."""
    started = time.monotonic()
    url = metrics_url(settings)
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the job exited ({process.returncode}):\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        text = scrape(url)
        if text is not None and len(series(text, WATERMARK_METRIC, 'task_name="Source:')) \
                >= 3 * settings.parallelism:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the job was not running after {timeout_s} s; see {log_path}")
        time.sleep(0.5)


def simulator_command(rate: float, products: int, seed: int,
                      duration_s: float | None = None) -> list[str]:
    """``trend simulate`` on the live clock (event time = now), paced at ``rate``; until
    interrupted (SIGINT, after which it flushes and prints its summary) without
    ``duration_s``."""
    command = [sys.executable, "-m", "trend_tracker.cli", "simulate", "--rate", str(rate),
               "--products", str(products), "--seed", str(seed), "--no-progress", "--json",
               "--no-trends"]
    if duration_s is not None:
        command += ["--duration", f"{duration_s:g}s"]
    return command


def interrupt_group(process: subprocess.Popen) -> None:
    """Ctrl-C to a child started in its own process group (the simulator then stops
    producing, flushes and reports)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)



def dead_letter_reasons(settings: Settings, timeout_s: float = 120) -> dict[str, int]:
    """The dead-letter topic's records by their ``reason`` (``late``, ``malformed_json``,
    ...): why the job set events aside."""
    import json
    from collections import Counter

    from simulator.kafka_io import read_topic

    reasons: Counter[str] = Counter()
    for record in read_topic(settings, settings.topic_dead_letters, stop_at_end=True,
                             deadline_s=timeout_s):
        reasons[json.loads(record.value).get("reason") or "?"] += 1
    return dict(reasons)
