"""The job streaming in its own process, for tests that control time.

``python -m jobs.trending`` with the test's settings as ``TREND_*`` variables, its output in
a log file under the test's directory, in a process group of its own so that stopping it
stops its Python workers too. Also reads one of its metrics from its Prometheus reporter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trend_tracker.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]


class RunningJob:
    """A started job: its process and its log."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log(self, tail: int = 3000) -> str:
        """The end of what the job printed (for assertion messages)."""
        return self.log_path.read_text()[-tail:]

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9 the job and its workers: a crash, nothing runs on the way out."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM the job and its workers; SIGKILL what is left after ``timeout_s``."""
        if not self.running():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


def start_job(settings: Settings, directory: Path, *args: str, name: str = "job") -> RunningJob:
    """Start the job streaming with ``settings`` (and job ``args``); log under ``directory``."""
    log_path = directory / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobs.trending", *args],
            env={**os.environ, **settings.as_env(),
                 "FLINK_LOG_DIR": str(directory / f"flink-log-{name}")},
            stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT, start_new_session=True)
    return RunningJob(process, log_path)


@contextmanager
def streaming_job(settings: Settings, directory: Path, *args: str,
                  name: str = "job") -> Iterator[RunningJob]:
    """:func:`start_job`, stopped when the block ends."""
    job = start_job(settings, directory, *args, name=name)
    try:
        yield job
    finally:
        job.stop()


def job_metric(url: str, name: str, label: str = "") -> float | None:
    """The sum of the series of metric ``name`` whose labels contain ``label``, from the
    job's Prometheus reporter at ``url``; None while it exports no such series."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name + "{") and label in line]
    return sum(values) if values else None


def committed_dead_letters(settings: Settings, at_least: int = 0,
                           timeout_s: float = 120) -> list:
    """The dead letters a ``read_committed`` reader sees once the job has committed them.

    The dead-letter sink commits with the checkpoints, so a letter is visible up to one
    checkpoint after it was written. This waits until there are ``at_least``, then for two
    more checkpoint intervals, so that one more letter, or a duplicate, would show too, and
    reads the topic to its end.
    """
    from simulator.kafka_io import read_topic

    def read() -> list:
        return list(read_topic(settings, settings.topic_dead_letters, stop_at_end=True))

    deadline = time.monotonic() + timeout_s
    while len(read()) < at_least and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2 * settings.checkpoint_interval_s + 1)
    return read()
