"""The weights topic against the real local broker and real MLflow servers: the publisher
follows the champion, the topic carries the weights through an MLflow outage, and the job's
start falls back to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

# The private MLflow server (stoppable mid-test) and helpers of the registry tests.
from test_registry import unique_model, wait_until
from typer.testing import CliRunner

from jobs.offsets import end_offsets
from localstack.stack import free_port
from registry.cli import app
from registry.client import WeightsRegistry
from registry.errors import RegistryUnavailableError
from registry.publisher import (
    ensure_published,
    latest_published,
    latest_published_record,
    load_weights_for_start,
    parse_weights_record,
    publish_weights,
)
from registry.weights import Weights
from simulator.kafka_io import Record, ensure_topics, read_topic, send_records, topic_partitions

TREND = Path(sys.executable).parent / "trend"
POLL_S = 0.5


def records(settings) -> list[tuple[str, Weights, int]]:
    """Every record of the weights topic: (key, weights, published_ms), in order.

    The count comes from the true end offset, so the read needs no idle timeout and a
    record too many or too few is seen at once.
    """
    end = end_offsets(settings, [settings.topic_weights])[
        settings.topic_weights][0]
    if end == 0:
        return []
    out = []
    for record in read_topic(settings, settings.topic_weights, max_records=end, deadline_s=10):
        document = parse_weights_record(record.value)
        out.append((record.key.decode(), document, _published_ms(record.value)))
    assert len(out) == end
    return out


def _published_ms(value: bytes) -> int:
    return json.loads(value)["published_ms"]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.splitlines() if line.startswith("trend_")}


def metric(port: int, name: str) -> float | None:
    try:
        return scrape(port).get(name)
    except OSError:
        return None


@pytest.fixture
def weights_settings(make_settings):
    def build(**overrides):
        return make_settings(topic_weights=f"trend-weights-{uuid.uuid4().hex[:10]}",
                             weights_model_name=unique_model(),
                             weights_poll_interval_s=POLL_S, **overrides)

    return build


def test_topics_include_the_compacted_weights_topic(weights_settings):
    settings = weights_settings()
    created = ensure_topics(settings, partitions=3)
    assert created == {topic: 3 for topic in settings.all_topics}
    assert topic_partitions(settings, [settings.topic_weights]) == {settings.topic_weights: 1}
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    resource = ConfigResource("topic", settings.topic_weights)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"
    # Idempotent, and an existing weights topic is kept as it is.
    assert ensure_topics(settings, partitions=5) == created
    assert topic_partitions(settings, [settings.topic_weights]) == {settings.topic_weights: 1}


def test_follow_publishes_each_champion_and_the_topic_outlives_mlflow(
        private_mlflow, weights_settings, caplog):
    settings = weights_settings(mlflow_tracking_uri=private_mlflow.uri)
    model = settings.weights_model_name
    v1_weights = Weights(1.0, 3.0, 5.0, f"{model}/1")
    v2_weights = Weights(2.0, 1.0, 9.0, f"{model}/2")
    registry = WeightsRegistry(private_mlflow.uri, model)
    registry.promote(registry.register({"click": 1, "cart": 3, "purchase": 5},
                                       source="manual").version)
    v2 = registry.register({"click": 2, "cart": 1, "purchase": 9}, source="manual")
    env = settings.as_env()
    cli = CliRunner()

    # Publish v1 once; publishing it again writes nothing.
    before_ms = int(time.time() * 1000)
    result = cli.invoke(app, ["publish"], env=env)
    assert result.exit_code == 0, result.output
    # The command's answer on stdout (its log lines go to stderr).
    assert result.stdout == (f"published {model}/1  click=1 cart=3 purchase=5  "
                             f"(topic {settings.topic_weights}, key {model})\n")
    again = cli.invoke(app, ["publish"], env=env)
    assert again.stdout.startswith(f"already published: {model}/1  click=1 cart=3 purchase=5")
    published = records(settings)
    assert [(key, weights) for key, weights, _ in published] == [(model, v1_weights)]
    assert before_ms <= published[0][2] <= int(time.time() * 1000)

    # Follow: the publisher finds v1 on the topic (no duplicate), then publishes v2 when it
    # is promoted.
    port = free_port()
    follower = subprocess.Popen(
        [str(TREND), "weights", "publish", "--follow", "--metrics-port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: metric(port, "trend_registry_up") == 1.0, 60, 0.1), \
            follower.stderr.read() if follower.poll() is not None else "no metrics"
        assert metric(port, "trend_weights_published_total") == 0.0
        assert len(records(settings)) == 1

        promoted_ms = int(time.time() * 1000)
        promoted_at = time.monotonic()
        registry.promote(v2.version)
        assert wait_until(lambda: len(records(settings)) == 2, 20, 0.1)
        # Within a few poll intervals (one to notice, one read and one write of the topic).
        assert time.monotonic() - promoted_at < 6 * POLL_S + 3
        key, weights, published_ms = records(settings)[1]
        assert (key, weights) == (model, v2_weights)
        assert promoted_ms <= published_ms <= int(time.time() * 1000)
        assert wait_until(lambda: metric(port, "trend_weights_published_total") == 1.0, 10)
        shown = cli.invoke(app, ["show-published"], env=env)
        assert shown.exit_code == 0, shown.output
        assert shown.output.startswith(f"{model}/2  click=2 cart=1 purchase=9  (published ")
        assert shown.output.rstrip().endswith(f"{settings.topic_weights}[0]@1)")

        # MLflow goes down: the follower keeps v2 and publishes nothing.
        last_success = metric(port, "trend_weights_last_success_timestamp_seconds")
        private_mlflow.stop()
        assert wait_until(lambda: metric(port, "trend_registry_up") == 0.0, 30, 0.1)
        polls_seen = time.monotonic()
        while time.monotonic() - polls_seen < 4 * POLL_S:
            assert metric(port, "trend_registry_up") == 0.0
            time.sleep(POLL_S / 2)
        assert len(records(settings)) == 2
        assert metric(port, "trend_weights_published_total") == 1.0
        assert metric(port, "trend_weights_last_success_timestamp_seconds") >= last_success

        # The job starts with what the topic holds.
        with caplog.at_level("WARNING", logger="registry.publisher"):
            assert load_weights_for_start(settings) == v2_weights
        warning = [r.getMessage() for r in caplog.records
                   if r.name == "registry.publisher"][-1]
        assert warning.startswith(f"MLflow registry unreachable (MLflow registry at "
                                  f"{private_mlflow.uri} is unreachable")
        assert f"published to topic {settings.topic_weights}: {model}/2" in warning

        # Publishing what the topic already holds writes nothing.
        assert ensure_published(settings, v2_weights) is False
        assert latest_published(settings) == v2_weights
        assert len(records(settings)) == 2
    finally:
        if follower.poll() is None:
            follower.send_signal(signal.SIGTERM)
        try:
            _, stderr = follower.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            follower.kill()
            _, stderr = follower.communicate()
    assert follower.returncode == 0, stderr
    assert "SIGTERM received: stopping" in stderr
    assert f"keeping weights {model}/2" in stderr
    assert "Traceback" not in stderr


def test_start_prefers_the_registry_and_fails_without_both(local_stack, weights_settings):
    settings = weights_settings()
    model = settings.weights_model_name
    registry = WeightsRegistry(settings.mlflow_tracking_uri, model)
    registry.promote(registry.register({"click": 1, "cart": 2, "purchase": 3},
                                       source="manual").version)
    # An older record on the topic does not win over a reachable registry.
    publish_weights(settings, Weights(9.0, 9.0, 9.0, "older/1"))
    assert load_weights_for_start(settings) == Weights(1.0, 2.0, 3.0, f"{model}/1")

    # MLflow unreachable and nothing published for this model: the registry's error.
    down = settings.model_copy(update={
        "mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}",
        "weights_model_name": unique_model()})
    assert latest_published(down) is None
    with pytest.raises(RegistryUnavailableError, match="connection refused"):
        load_weights_for_start(down)
    # No topic at all is the same as nothing published.
    no_topic = down.model_copy(update={"topic_weights": f"missing-{uuid.uuid4().hex[:8]}"})
    assert latest_published_record(no_topic) is None
    with pytest.raises(RegistryUnavailableError):
        load_weights_for_start(no_topic)


def test_newest_valid_record_wins_and_invalid_ones_are_skipped(weights_settings, caplog):
    settings = weights_settings()
    model = settings.weights_model_name
    publish_weights(settings, Weights(1.0, 3.0, 5.0, f"{model}/1"), published_ms=1000)
    publish_weights(settings, Weights(1.0, 4.0, 5.0, f"{model}/2"), published_ms=2000)
    other = settings.model_copy(update={"weights_model_name": "someone-else"})
    publish_weights(other, Weights(7.0, 7.0, 7.0, "someone-else/1"), published_ms=3000)
    # A broken record after the good ones is skipped, as the job skips it.
    send_records(settings, [Record(settings.topic_weights, b'{"weights_version": "x"}', model)])
    with caplog.at_level("WARNING", logger="registry.publisher"):
        newest = latest_published_record(settings)
    assert newest.weights == Weights(1.0, 4.0, 5.0, f"{model}/2")
    assert (newest.published_ms, newest.partition, newest.offset) == (2000, 0, 1)
    assert latest_published(other) == Weights(7.0, 7.0, 7.0, "someone-else/1")
    assert any("skipping invalid weights record" in r.getMessage()
               and "@3: weights record" in r.getMessage() for r in caplog.records)
