"""TREND_LOG_FORMAT=json, process by process: every line a process writes (stdout and
stderr; the JVM's log file) is one JSON object with time, level, logger and message, the
context fields where they apply, and no secret.

Each process is started as an operator would start it, against the local stack: the
``trend`` command (``trend job watch``), the API, ingest, the weights publisher, the
simulator, and the job, whose JVM logs each switch of weights once, with the window it
applies from.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from localstack.servers import ApiServer, IngestServer
from registry.client import WeightsRegistry
from registry.publisher import publish_weights
from registry.weights import Weights
from simulator.kafka_io import ensure_topics
from tests.integration.test_job_weights import T0, advance_to, produce
from tests.integration.test_registry import wait_until
from trend_tracker.logs import CONTEXT_FIELDS
from trend_tracker.processes import free_port, signal_group

ROOT = Path(__file__).resolve().parents[2]
#: The `trend` command of this checkout.
TREND = [sys.executable, "-m", "trend_tracker.cli"]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
BASE_FIELDS = ("time", "level", "logger", "message")
#: The MLflow URL given to every process here, with a password that must never show.
MLFLOW_SECRET = "mlflow-pass-7"


def json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as a JSON object of the log format (asserted line by line)."""
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        assert line.strip(), f"line {number} is empty"
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
        assert isinstance(parsed, dict), line
        assert list(parsed)[:4] == list(BASE_FIELDS), line
        assert TIME.fullmatch(parsed["time"]), line
        assert parsed["level"] in {"DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL",
                                   "FATAL", "TRACE"}, line
        assert set(parsed) <= {*BASE_FIELDS, *CONTEXT_FIELDS, "exception", "stack"}, line
        lines.append(parsed)
    assert lines, "no log line at all"
    return lines


def without_trend_variables() -> dict[str, str]:
    """This process's environment without its TREND_* variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TREND_")}


def secret_free(text: str, *secrets: str) -> None:
    for secret in (MLFLOW_SECRET, *secrets):
        assert secret not in text


def settings_line(lines: list[dict], logger: str) -> dict:
    """The settings a process logged at start, parsed from its line."""
    (line,) = [line for line in lines if line["logger"] == logger
               and line["message"].startswith(f"{logger} starting with settings ")]
    return json.loads(line["message"].split(" with settings ", 1)[1])


@pytest.fixture
def json_settings(make_settings, local_stack):
    """Settings in json mode, their MLflow URL with a user and password."""
    def build(**overrides):
        mlflow = local_stack.mlflow_tracking_uri.replace(
            "http://", f"http://trend:{MLFLOW_SECRET}@", 1)
        return make_settings(**{"log_format": "json", "mlflow_tracking_uri": mlflow,
                                **overrides})
    return build


def test_the_trend_command_logs_json_lines(json_settings, tmp_path):
    settings = json_settings()
    env = {**without_trend_variables(), **settings.as_env(), "TREND_NOT_A_SETTING": "1"}
    unreachable = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "watch.log"
    with open(log_path, "wb") as log:
        watcher = subprocess.Popen(
            [*TREND, "job", "watch", "--jobmanager", unreachable, "--interval-s", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        assert wait_until(lambda: log_path.read_text().count("not reachable") >= 2, 60, 0.2), \
            log_path.read_text()
    finally:
        signal_group(watcher.pid, signal.SIGTERM)
        watcher.wait(30)
    text = log_path.read_text()
    lines = json_lines(text)
    secret_free(text)
    assert lines[0] == {"time": lines[0]["time"], "level": "WARNING",
                        "logger": "trend_tracker.settings",
                        "message": "ignoring TREND_NOT_A_SETTING: no such setting "
                                   "(see .env.example)"}
    summary = settings_line(lines, "trend.job.watch")
    assert summary["mlflow_tracking_uri"] == settings.mlflow_tracking_uri.replace(
        MLFLOW_SECRET, "***")
    watching = [line["message"] for line in lines if line["message"].startswith("watching")]
    assert watching == [f"watching {unreachable} for job trend-tracker of consumer group "
                        f"{settings.consumer_group} every 1 s"]
    unreachable_lines = [line for line in lines if "not reachable" in line["message"]]
    assert all(line["level"] == "WARNING" and line["logger"] == "trend.job.watch"
               for line in unreachable_lines)


def test_the_api_logs_json_lines_uvicorn_s_included(json_settings, local_stack, tmp_path):
    redis_secret = "redis-pass-7"
    redis_url = local_stack.redis_url.replace("redis://", f"redis://trend:{redis_secret}@", 1)
    settings = json_settings(redis_url=redis_url)
    log_path = tmp_path / "api.log"
    server = ApiServer({**without_trend_variables(), **settings.as_env()}, log_path=log_path)
    server.start()
    try:
        # The OpenAPI document goes through uvicorn's application path (an access line).
        assert httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200
    finally:
        server.stop()
    text = log_path.read_text()
    lines = json_lines(text)
    secret_free(text, redis_secret)
    summary = settings_line(lines, "trend.api")
    assert summary["redis_url"] == redis_url.replace(redis_secret, "***")
    messages = {(line["logger"], line["message"]) for line in lines}
    assert ("trend.api", f"trend api: http://127.0.0.1:{server.port}/ (OpenAPI at /docs)"
            ) in messages
    assert ("uvicorn.error", f"Uvicorn running on http://127.0.0.1:{server.port} "
            "(Press CTRL+C to quit)") in messages
    assert ("uvicorn.error", "Application startup complete.") in messages


def test_ingest_logs_json_lines_with_its_access_log(json_settings, tmp_path):
    key = "ingest-key-7-0123456789"
    settings = json_settings(ingest_api_keys=f"shop:{key}")
    ensure_topics(settings, partitions=1)
    log_path = tmp_path / "ingest.log"

    class IngestWithAccessLog(IngestServer):
        def command(self) -> list[str]:
            return [*super().command(), "--access-log"]

    server = IngestWithAccessLog({**without_trend_variables(), **settings.as_env()},
                                 log_path=log_path)
    server.start()
    try:
        event = {"event_id": "e-log-1", "event_type": "click", "product_id": "p-00001",
                 "category": "books", "user_id": "u-1",
                 "ts": int(time.time() * 1000)}
        answer = httpx.post(f"{server.url}/events", json=event, timeout=30,
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 202, answer.text
    finally:
        server.stop()
    text = log_path.read_text()
    lines = json_lines(text)
    secret_free(text, key)
    assert settings_line(lines, "trend.ingest")["ingest_api_keys"] == "***"
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(re.fullmatch(r'127\.0\.0\.1:\d+ - "POST /events HTTP/1\.1" 202',
                            line["message"]) for line in access), access
    assert any(line["message"].startswith(
        f"trend ingest: http://127.0.0.1:{server.port}/events -> {settings.bootstrap_servers}")
        for line in lines if line["logger"] == "trend.ingest")


def test_the_weights_publisher_logs_json_lines(json_settings, local_stack, tmp_path):
    model = f"trend-weights-logs-{uuid.uuid4().hex[:8]}"
    # The registry client resolves no host from a URL with user information: this one
    # talks to MLflow without (the other processes here carry the password form).
    settings = json_settings(weights_model_name=model, weights_poll_interval_s=0.5,
                             mlflow_tracking_uri=local_stack.mlflow_tracking_uri,
                             topic_weights=f"weights-{uuid.uuid4().hex[:8]}")
    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, model)
    registry.promote(registry.register({"click": 1, "cart": 3, "purchase": 5},
                                       source="manual").version)
    log_path = tmp_path / "publisher.log"
    with open(log_path, "wb") as log:
        publisher = subprocess.Popen(
            [*TREND, "weights", "publish", "--follow", "--metrics-port",
             str(free_port())], env={**without_trend_variables(), **settings.as_env()},
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        assert wait_until(lambda: "published weights" in log_path.read_text()
                          or publisher.poll() is not None, 90, 0.2), log_path.read_text()
    finally:
        publisher.send_signal(signal.SIGTERM)
        publisher.wait(30)
    text = log_path.read_text()
    lines = json_lines(text)
    secret_free(text)
    settings_line(lines, "trend.weights.publisher")
    (published,) = [line for line in lines if line["message"].startswith("published weights")]
    assert published["weights_version"] == f"{model}/1"
    assert published["message"] == (
        f"published weights {model}/1 to topic {settings.topic_weights} (key {model}): "
        "{'click': 1.0, 'cart': 3.0, 'purchase': 5.0}")
    assert lines[-1]["message"] == "SIGTERM received: stopping"


def test_the_simulator_logs_json_lines_and_its_summary(json_settings):
    settings = json_settings()
    done = subprocess.run(
        [*TREND, "simulate", "--count", "40", "--rate", "1000", "--no-throttle",
         "--seed", "7", "--no-trends", "--start", "2024-01-01T00:00:00Z"],
        env={**without_trend_variables(), **settings.as_env()}, capture_output=True,
        text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    lines = json_lines(done.stdout) if done.stdout else []
    lines += json_lines(done.stderr)
    secret_free(text)
    settings_line(lines, "trend.simulator")
    (summary,) = [line for line in lines if line["message"].startswith("simulation summary: ")]
    assert summary["logger"] == "trend.simulator"
    figures = json.loads(summary["message"][len("simulation summary: "):])
    assert (figures["sent"], figures["failed"], figures["seed"]) == (40, 0, 7)


@pytest.mark.slow
def test_the_job_and_its_jvm_log_json_lines_and_each_weights_switch_once(
        json_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": "v1"}))
    settings = json_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, source_idle_timeout_s=60, topic_partitions=1, parallelism=1,
        checkpoint_interval_s=5, topic_weights=f"weights-{uuid.uuid4().hex[:8]}",
        s3_access_key="access-id-7")
    ensure_topics(settings, partitions=1)
    flink_logs = tmp_path / "flink-log"
    job_log = tmp_path / "job.log"

    def jvm_text() -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(flink_logs.glob("*.log")))

    def jvm_messages() -> list[str]:
        found = []
        for line in jvm_text().splitlines():
            try:
                found.append(json.loads(line)["message"])
            except (json.JSONDecodeError, KeyError):
                found.append(line)
        return found

    env = {**without_trend_variables(), **settings.as_env(), "FLINK_LOG_DIR": str(flink_logs)}
    env.pop("LOG4J_PROPERTIES", None)
    with open(job_log, "wb") as log:
        job = subprocess.Popen([sys.executable, "-m", "jobs.trending"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)

    def logged(prefix: str, timeout_s: float) -> bool:
        return wait_until(lambda: any(m.startswith(prefix) for m in jvm_messages())
                          or job.poll() is not None, timeout_s, 0.2)

    switch = (f"weights switch from v1 to v2: the window ending at {T0 + 30_000} is the "
              "first scored with it: ")
    try:
        # Window [0 s, 10 s) is the first the job scores: with v1, the weights it started
        # with.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "cart", "p-2"),
                           (3_000, "purchase", "p-3")])
        advance_to(settings, 12_000, "p-4")
        assert logged("scoring windows with weights v1", 420), job_log.read_text()[-3000:]
        # v2 applies from 25 s: the first window it scores ends at 30 s. Several products
        # score each window; the switch is logged once.
        publish_weights(settings, Weights(2.0, 0.0, 1.0, "v2"), applies_from_ms=T0 + 25_000)
        assert logged("weights v2 replaces v1", 60), job_log.read_text()[-3000:]
        produce(settings, [(14_000, "click", "p-1"), (15_000, "click", "p-2"),
                           (21_000, "click", "p-1"), (22_000, "cart", "p-2"),
                           (23_000, "purchase", "p-3")])
        advance_to(settings, 32_000, "p-5")
        produce(settings, [(33_000, "click", "p-1"), (34_000, "click", "p-2")])
        advance_to(settings, 42_000, "p-6")
        assert logged(switch, 120), job_log.read_text()[-3000:]
        assert job.poll() is None, job_log.read_text()[-3000:]
    finally:
        signal_group(job.pid, signal.SIGTERM)
        try:
            job.wait(60)
        except subprocess.TimeoutExpired:
            signal_group(job.pid, signal.SIGKILL)
            job.wait()

    # The job's own output: its Python side.
    python_text = job_log.read_text()
    python_lines = json_lines(python_text)
    secret_free(python_text, "access-id-7")
    assert settings_line(python_lines, "trend.job")["s3_access_key"] == "***"
    (start,) = [line for line in python_lines if line["message"].startswith("weights at start")]
    assert start["weights_version"] == "v1"

    # The JVM's log file: the MiniCluster, its tasks and the scoring.
    text = jvm_text()
    jvm = json_lines(text)
    secret_free(text, "access-id-7")
    scoring = [line for line in jvm if line["logger"] == "dev.trendtracker.window.ProductWindows"
               and (line["message"].startswith("scoring windows with weights")
                    or line["message"].startswith("weights switch"))]
    assert [(line["level"], line["weights_version"], line["window_end"],
             line["message"].split(": ", 1)[0]) for line in scoring] == [
        ("INFO", "v1", str(T0 + 10_000),
         f"scoring windows with weights v1 from the window ending at {T0 + 10_000}"),
        ("INFO", "v2", str(T0 + 30_000), "weights switch from v1 to v2"),
    ]
    assert scoring[1]["message"].startswith(switch)
    job_ids = {line["job_id"] for line in jvm if "job_id" in line}
    assert len(job_ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", job_ids.pop())
    assert all(line["job_id"] == scoring[0]["job_id"] for line in scoring)
