"""Failures on the real standalone cluster (2 TaskManagers, parallelism 2): a streaming job
killed, stopped or cut off mid-run must end with exactly the output of a run without
failures. Each test compares every Parquet row, every Redis ranking and the committed dead
letters (each exactly once) with values computed here by a small reference that shares no
code with the job.

The events arrive in phases, produced by the test while the job runs, so each failure
happens with windows in flight: written windows behind it, open windows in the state.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import redis
import yaml
from confluent_kafka import Producer

from simulator.kafka_io import ensure_topics, read_topic
from tests.integration.test_job_bounded import RISING_MIN_SCORE, RISING_PRIOR, reference_rows
from tests.integration.test_registry import wait_until
from trend_tracker import redis_layout as layout

pytestmark = pytest.mark.cluster

PROJECT = Path(__file__).resolve().parents[2]
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SIZE_MS, SLIDE_MS, TOP_N = 30_000, 10_000, 3
WEIGHTS = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
CATEGORY = {f"p-{n}": f"c-{n % 3}" for n in range(8)}
#: Event time of each phase, ms after T0: [start, end).
PHASES = [(0, 40_000), (40_000, 80_000), (80_000, 120_000)]
#: An event on every partition this far ahead moves every watermark past the last window.
CLOSING_MS = 300_000
LAST_END_MS = PHASES[-1][1] + SIZE_MS - SLIDE_MS  # the last window holding phase events


# --- the events and the reference ---------------------------------------------------------

def phase_events(phase: int) -> list[tuple[int, str, str]]:
    """(ms after T0, event type, product) of one phase, in time order: a fixed draw."""
    rng = random.Random(1_000 + phase)
    start, end = PHASES[phase]
    events = []
    for ts in range(start, end, 250):
        event_type = rng.choices(["click", "cart", "purchase"], [6, 3, 1])[0]
        events.append((ts + rng.randrange(0, 250), event_type, f"p-{rng.randrange(8)}"))
    return sorted(events)


def invalid_values(phase: int) -> list[tuple[str, int, bytes, str]]:
    """(event type of the topic, partition, value, expected reason) of one phase."""
    return [
        ("click", phase % 2, f"not json {phase}".encode(), "not_json"),
        ("cart", (phase + 1) % 2, json.dumps({
            "event_id": f"bad-{phase}", "event_type": "cart", "product_id": "bad id!",
            "category": "c-0", "user_id": "u-1", "ts": T0 + PHASES[phase][0] + 5_000,
        }).encode(), "bad_id"),
    ]


def partition_of(product: str) -> int:
    return int(product.split("-")[1]) % 2


def body(n: int, ts: int, event_type: str, product: str) -> bytes:
    return json.dumps({"event_id": f"e-{n}", "event_type": event_type, "product_id": product,
                       "category": CATEGORY[product], "user_id": f"u-{n % 7}",
                       "ts": T0 + ts}).encode()


def expected_rows(events: list[tuple[int, str, str]], version: str) -> list[dict]:
    """HOP windows [end - size, end) ending up to LAST_END_MS, both rankings overall and per
    category (the reference of test_job_bounded, with this test's windows)."""
    return reference_rows(events, last_end_ms=LAST_END_MS, size_ms=SIZE_MS,
                          slide_ms=SLIDE_MS, top_n=TOP_N, weights=WEIGHTS,
                          category_of=CATEGORY, version=version, prior=RISING_PRIOR,
                          min_score=RISING_MIN_SCORE, t0=T0)


# --- driving the run ----------------------------------------------------------------------

class Run:
    """One streaming run on the cluster: its settings, producer and output."""

    def __init__(self, settings, cluster, tmp_path: Path, separate_clients: bool = False):
        self.settings, self.cluster, self.tmp_path = settings, cluster, tmp_path
        # Each `trend job` command with a state directory of its own, as when the commands
        # run in separate containers: nothing a client keeps locally helps the next one.
        self.separate_clients = separate_clients
        self.clients = 0
        self.root = Path(settings.parquet_root[len("file://"):])
        self.producer = Producer({"bootstrap.servers": settings.bootstrap_servers,
                                  "linger.ms": 20})
        self.sent = 0
        self.dead: list[tuple[str, int, int, str]] = []  # expected (topic, p, offset, reason)
        ensure_topics(settings, partitions=2)

    def _send(self, topic: str, partition: int, value: bytes, reason: str | None) -> None:
        def report(err, msg):
            assert err is None, err
            if reason is not None:
                self.dead.append((msg.topic(), msg.partition(), msg.offset(), reason))
        self.producer.produce(topic, value=value, partition=partition, on_delivery=report)

    def produce_phase(self, phase: int) -> None:
        topics = self.settings.event_topics
        for ts, event_type, product in phase_events(phase):
            self._send(topics[event_type], partition_of(product),
                       body(self.sent, ts, event_type, product), None)
            self.sent += 1
        for event_type, partition, value, reason in invalid_values(phase):
            self._send(topics[event_type], partition, value, reason)
        assert self.producer.flush(30) == 0

    def produce_invalid(self, name: str) -> None:
        """One record that is not JSON on each event topic's partition 0."""
        for topic in self.settings.event_topics.values():
            self._send(topic, 0, f"not json: {name}".encode(), "not_json")
        assert self.producer.flush(30) == 0

    def close_windows(self) -> None:
        """One event far ahead on every partition: every watermark passes LAST_END_MS."""
        for event_type, topic in self.settings.event_topics.items():
            for partition in (0, 1):
                self._send(topic, partition, body(self.sent, CLOSING_MS, event_type,
                                                  f"p-{partition}"), None)
                self.sent += 1
        assert self.producer.flush(30) == 0

    def client_env(self) -> dict[str, str]:
        """The environment of one `trend` command: the settings as TREND_* variables."""
        env = {**os.environ, **self.settings.as_env()}
        if self.separate_clients:
            self.clients += 1
            env["TREND_STATE_DIR"] = str(self.tmp_path / f"client-{self.clients}")
        return env

    def submit(self, *args: str, parallelism: int | None = None) -> str:
        """``trend job submit`` as a user runs it; returns the new job's id."""
        before = set(job_ids(self.cluster, "RUNNING"))
        env = self.client_env()
        if parallelism is not None:
            env["TREND_PARALLELISM"] = str(parallelism)
        result = subprocess.run(
            [sys.executable, "-m", "trend_tracker.cli", "job", "submit",
             "--jobmanager", self.cluster.jobmanager, *args],
            env=env, capture_output=True, text=True, timeout=300, check=False, cwd=PROJECT)
        self.last_submit = result.stdout + result.stderr
        assert result.returncode == 0, self.last_submit[-4000:]
        assert wait_until(lambda: set(job_ids(self.cluster, "RUNNING")) - before, 120, 0.5), (
            f"no new running job\n{self.last_submit[-3000:]}")
        (job_id,) = set(job_ids(self.cluster, "RUNNING")) - before
        return job_id

    def stop_with_savepoint(self) -> str:
        env = self.client_env()
        result = subprocess.run(
            [sys.executable, "-m", "trend_tracker.cli", "job", "stop",
             "--jobmanager", self.cluster.jobmanager],
            env=env, capture_output=True, text=True, timeout=300, check=False, cwd=PROJECT)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def window_file(self, end_ms: int) -> Path:
        return self.root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + end_ms}.parquet"

    def wait_for_window(self, end_ms: int, timeout_s: float = 300) -> None:
        assert wait_until(lambda: self.window_file(end_ms).exists(), timeout_s, 0.5), (
            f"window {end_ms} not written; cluster logs in {self.cluster.log_dir}")

    def rows(self) -> list[dict]:
        rows = []
        for path in sorted(self.root.rglob("*.parquet")):
            for row in pq.read_table(path, partitioning=None).to_pylist():
                row["window_start"] = int(row["window_start"].timestamp() * 1000)
                row["window_end"] = int(row["window_end"].timestamp() * 1000)
                rows.append(row)
        return sorted(rows, key=lambda r: (r["window_end"], r["ranking"], r["category"] or "",
                                           r["rank"]))

    def check_output(self, version: str) -> None:
        """Parquet, Redis and dead letters against the reference."""
        events = [e for phase in range(len(PHASES)) for e in phase_events(phase)]
        expected = sorted(expected_rows(events, version),
                          key=lambda r: (r["window_end"], r["ranking"], r["category"] or "",
                                         r["rank"]))
        assert self.rows() == expected

        client = redis.Redis.from_url(self.settings.redis_url)
        rankings: dict[tuple, list[dict]] = defaultdict(list)
        for row in expected:
            rankings[(row["window_start"], row["window_end"], row["ranking"],
                      row["category"])].append(row)
        for (start, end, kind, category), members in rankings.items():
            stored = client.get(layout.ranking_key(category, end, kind))
            assert stored is not None, (end, kind, category)
            assert orjson.loads(stored) == {
                "window_start": start, "window_end": end, "ranking": kind,
                "category": category, "weights_version": version,
                "items": [{k: r[k] for k in ("rank", "product_id", "score", "clicks",
                                             "carts", "purchases", "previous_rank",
                                             "momentum")} for r in members]}

        # Exactly once: a read_committed reader sees each invalid record sent once, with
        # its reason, and nothing else.
        assert sorted(self.dead_letters()) == sorted(self.dead)

    def dead_letters(self, committed_only: bool = True) -> list[tuple[str, int, int, str]]:
        """(topic, partition, offset, reason) of every dead letter in the topic now."""
        return [(d["topic"], d["partition"], d["offset"], d["reason"])
                for d in (json.loads(r.value) for r in read_topic(
                    self.settings, self.settings.topic_dead_letters, stop_at_end=True,
                    committed_only=committed_only))]


def compose_state_dirs(bucket: str) -> dict[str, str]:
    """``checkpoint_dir`` and ``savepoint_dir`` as docker-compose gives them to the job's
    containers, in this stack's bucket."""
    job_settings = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())[
        "x-job-settings"]
    found = {name: job_settings.get(f"TREND_{name.upper()}")
             for name in ("checkpoint_dir", "savepoint_dir")}
    return {name: value.replace("${TREND_S3_BUCKET:-trends}", bucket)
            for name, value in found.items() if value is not None}


def rest(cluster, path: str, method: str = "GET"):
    request = urllib.request.Request(cluster.rest_url + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def job_ids(cluster, state: str) -> list[str]:
    try:
        jobs = rest(cluster, "/jobs/overview")["jobs"]
    except OSError:
        return []
    return [j["jid"] for j in jobs if j["name"] == "trend-tracker" and j["state"] == state]


def completed_checkpoints(cluster, job_id: str) -> int:
    try:
        return int(rest(cluster, f"/jobs/{job_id}/checkpoints")["counts"]["completed"])
    except (OSError, KeyError, TypeError):
        return 0


def job_taskmanagers(cluster, job_id: str) -> list[str]:
    """REST ids of the TaskManagers that run the job's tasks, sorted."""
    found = set()
    for vertex in rest(cluster, f"/jobs/{job_id}")["vertices"]:
        placed = rest(cluster, f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")
        found.update(tm["taskmanager-id"] for tm in placed["taskmanagers"])
    return sorted(found)


def restarts(cluster, job_id: str) -> int:
    metrics = rest(cluster, f"/jobs/{job_id}/metrics?get=numRestarts")
    return int(float(metrics[0]["value"])) if metrics else 0


def wait_for_checkpoints(cluster, job_id: str, more: int, timeout_s: float = 180) -> None:
    """Wait until ``more`` checkpoints complete after now (so one covers what was read)."""
    start = completed_checkpoints(cluster, job_id)
    assert wait_until(lambda: completed_checkpoints(cluster, job_id) >= start + more,
                      timeout_s, 0.5), f"no {more} checkpoints of {job_id}"


def cancel_all(cluster) -> None:
    for state in ("RUNNING", "RESTARTING", "CREATED", "INITIALIZING"):
        for job_id in job_ids(cluster, state):
            with contextlib.suppress(OSError):
                rest(cluster, f"/jobs/{job_id}?mode=cancel", method="PATCH")
    wait_until(lambda: not any(job_ids(cluster, s) for s in ("RUNNING", "RESTARTING",
                                                              "CANCELLING")), 60, 0.5)


@pytest.fixture
def make_run(flink_cluster, make_settings, tmp_path):
    """A Run of its own consumer group, Redis database and directories."""
    def make(db: int, separate_clients: bool = False, **values) -> Run:
        base = make_settings()
        weights_file = tmp_path / "weights.json"
        weights_file.write_text(json.dumps({**WEIGHTS, "version": "faults/1"}))
        settings = make_settings(**{
            "window_size_s": SIZE_MS // 1000, "window_slide_s": SLIDE_MS // 1000,
            "top_n": TOP_N, "out_of_orderness_s": 5, "parallelism": 2,
            "weights_file": str(weights_file), "checkpoint_interval_s": 2,
            "rising_prior": RISING_PRIOR, "rising_min_score": RISING_MIN_SCORE,
            "source_idle_timeout_s": 120,
            "redis_url": base.redis_url.rsplit("/", 1)[0] + f"/{db}", **values})
        redis.Redis.from_url(settings.redis_url).flushdb()
        return Run(settings, flink_cluster, tmp_path, separate_clients)
    yield make
    cancel_all(flink_cluster)


# --- the failures -------------------------------------------------------------------------

def test_killing_a_taskmanager_with_mlflow_down_changes_nothing(
        make_run, flink_cluster, private_mlflow):
    """kill -9 a TaskManager after a checkpoint, with windows in flight, dead letters
    written since that checkpoint (in a transaction not yet committed) and the registry
    down: the job restores its state and its weights version, writes what a run without
    failures writes, and a read_committed reader sees each dead letter exactly once."""
    from registry.client import WeightsRegistry

    registry = WeightsRegistry(private_mlflow.uri, "faults-model")
    version = registry.promote(registry.register(WEIGHTS, source="manual").version).name
    # Checkpoints 20 s apart: the dead letters below are read within a second of one, and
    # stay uncommitted until the next.
    run = make_run(5, weights_file=None, mlflow_tracking_uri=private_mlflow.uri,
                   weights_model_name="faults-model", checkpoint_interval_s=20)
    run.produce_phase(0)
    job_id = run.submit()
    run.wait_for_window(30_000)  # [0 s, 30 s) written; [10 s, 40 s) and later in flight
    committed = len(run.dead)
    assert wait_until(lambda: len(run.dead_letters()) == committed, 120, 0.5)
    wait_for_checkpoints(flink_cluster, job_id, 1)
    private_mlflow.stop()

    # Dead letters written since that checkpoint: in the topic, not yet committed.
    run.produce_invalid("before the kill")
    assert wait_until(lambda: len(run.dead_letters(committed_only=False)) == len(run.dead),
                      30, 0.1)
    # A TaskManager that runs the job's tasks (an idle one's loss would change nothing).
    (victim, *_) = [flink_cluster.taskmanager_pid(tm) for tm in job_taskmanagers(
        flink_cluster, job_id)]
    flink_cluster.kill_daemon(victim)
    assert len(run.dead_letters()) == committed, "the kill came after the commit"
    flink_cluster.start_taskmanager()
    assert wait_until(lambda: restarts(flink_cluster, job_id) >= 1, 240, 1), "no restart"
    assert wait_until(lambda: job_id in job_ids(flink_cluster, "RUNNING"), 240, 1)

    run.produce_phase(1)
    run.produce_phase(2)
    run.close_windows()
    run.wait_for_window(LAST_END_MS)
    assert wait_until(lambda: len(run.dead_letters()) >= len(run.dead), 120, 0.5)
    run.check_output(version)
    # The dead letters of the killed attempt are in the log too, aborted: a reader that
    # does not isolate transactions sees them twice.
    uncommitted = run.dead_letters(committed_only=False)
    assert len(uncommitted) > len(run.dead)
    assert set(uncommitted) == set(run.dead)


def test_a_job_stopped_with_a_savepoint_resumes_at_another_parallelism(
        make_run, make_settings, flink_cluster):
    """``trend job stop`` takes a savepoint; ``trend job submit`` resumes from it by
    default, at parallelism 1 and then at 2. Every command runs with a state directory of
    its own, with docker-compose's checkpoint and savepoint directories (the object store),
    as the separate containers of docker-compose do."""
    run = make_run(6, separate_clients=True,
                   **compose_state_dirs(make_settings().s3_bucket))
    assert run.settings.resolved_checkpoint_dir.startswith("s3://")
    run.produce_phase(0)
    first = run.submit(parallelism=2)
    # A second submit of the same job is refused, and names the job and how to stop it.
    env = run.client_env()
    again = subprocess.run(
        [sys.executable, "-m", "trend_tracker.cli", "job", "submit",
         "--jobmanager", flink_cluster.jobmanager],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=PROJECT)
    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stderr.startswith(
        f"not submitted: job {first} (trend-tracker, running, consumer group "
        f"{run.settings.consumer_group}) is active on {flink_cluster.jobmanager}. Stop it "
        f"first with `trend job stop --jobmanager {flink_cluster.jobmanager}`")
    assert job_ids(flink_cluster, "RUNNING") == [first]
    run.wait_for_window(30_000)
    assert "with savepoint" in run.stop_with_savepoint()
    assert first not in job_ids(flink_cluster, "RUNNING")

    run.produce_phase(1)
    run.submit(parallelism=1)
    assert "resuming from the newest retained checkpoint or savepoint" in run.last_submit
    run.wait_for_window(70_000)
    assert "with savepoint" in run.stop_with_savepoint()

    run.produce_phase(2)
    run.submit(parallelism=2)
    assert "resuming from the newest retained checkpoint or savepoint" in run.last_submit
    run.close_windows()
    run.wait_for_window(LAST_END_MS)
    run.check_output("faults/1")


def test_after_a_jobmanager_crash_the_watcher_brings_the_job_back(
        make_run, make_settings, flink_cluster, tmp_path):
    """docker-compose's submitter, ``trend job watch``, submits the job; after kill -9 of
    the JobManager (no HA: the job is gone with it) and its restart, it submits the job
    again by itself once the TaskManagers have let go of the crashed job's tasks, resuming
    from the newest retained checkpoint in the object store, so no finished window is
    overwritten with partial counts. A job stopped with ``trend job stop`` stays stopped.

    Without the wait, the crashed job's tasks ran on beside the new job for the
    TaskManagers' heartbeat timeout, read the same events and wrote the same windows: one
    run ended with a window short of one purchase that the orphaned tasks judged late."""
    run = make_run(7, separate_clients=True, **compose_state_dirs(make_settings().s3_bucket))
    run.produce_phase(0)
    log = tmp_path / "watch.log"
    with log.open("w") as out:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "trend_tracker.cli", "job", "watch",
             "--jobmanager", flink_cluster.jobmanager, "--interval-s", "2"],
            env=run.client_env(), stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT)
    try:
        assert wait_until(lambda: job_ids(flink_cluster, "RUNNING"), 300, 1), log.read_text()
        (job_id,) = job_ids(flink_cluster, "RUNNING")
        run.wait_for_window(30_000)
        wait_for_checkpoints(flink_cluster, job_id, 2)

        (jobmanager,) = flink_cluster.daemon_pids("standalonesession")
        flink_cluster.kill_daemon(jobmanager)
        flink_cluster.start_jobmanager()
        flink_cluster.wait_for_taskmanagers(2, timeout_s=240)
        assert wait_until(lambda: set(job_ids(flink_cluster, "RUNNING")) - {job_id}, 300, 1), (
            log.read_text()[-4000:])
        first, again = log.read_text().split("submitting the job:")[1:]
        assert first.startswith(" the JobManager knows no such job")
        assert "first start of this consumer group" in first
        assert "resuming from the newest retained checkpoint or savepoint (s3://" in again
        # The crashed job's tasks ran on until the TaskManagers gave up on it; the watcher
        # waited for them (two copies of the job would have written the same windows).
        assert "not submitting yet: the TaskManagers run the crashed job's tasks" in first, (
            first[-3000:])

        run.produce_phase(1)
        run.produce_phase(2)
        run.close_windows()
        run.wait_for_window(LAST_END_MS)
        run.check_output("faults/1")

        assert "with savepoint" in run.stop_with_savepoint()
        # Five looks at the cluster later, the job is still stopped.
        assert not wait_until(lambda: job_ids(flink_cluster, "RUNNING"), 10, 1)
        assert log.read_text().count("submitting the job:") == 2
    finally:
        watcher.kill()
        watcher.wait(30)
