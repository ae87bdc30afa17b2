"""Secrets stay out of the job graph, and the job still reaches a password-protected Redis.

The job graph (what a client submits, what the JobManager and its HA storage keep, what the
REST API hands out) holds the Python functions serialised with their parameters. The Redis
password and the S3 keys must not be among them: the workers read those from their own
environment or secrets file (udfs/settings_transport.py).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Producer

from localstack.stack import redis_server_binary
from registry.weights import Weights
from simulator.kafka_io import ensure_topics
from trend_tracker import redis_layout as layout
from trend_tracker.processes import free_port

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a window boundary


def job_graph(t_env, statement_set) -> tuple[bytes, str]:
    """The job graph of the statement set, Java-serialised as a client submits it, and the
    stream graph's JSON plan (what the web UI draws)."""
    from pyflink.java_gateway import get_gateway

    statement_set.attach_as_datastream()
    stream_graph = t_env._j_tenv.execEnv().getStreamGraph(False)
    job_graph = stream_graph.getJobGraph()
    serialize = get_gateway().jvm.org.apache.flink.util.InstantiationUtil.serializeObject
    return bytes(serialize(job_graph)), stream_graph.getStreamingPlanAsJSON()


@pytest.mark.parametrize("redis_url", [
    "redis://:{password}@127.0.0.1:6399/0",
    "redis://trend:{password}@127.0.0.1:6399/0",
    "redis://127.0.0.1:6399/0?password={password}",
], ids=["password", "user and password", "query parameter"])
def test_the_job_graph_holds_no_secret(make_settings, tmp_path, redis_url):
    from jobs.trending import build

    marker = uuid.uuid4().hex[:12]
    password, access_key, secret_key, mlflow_password = (
        f"redis-pw-{marker}", f"s3-access-{marker}", f"s3-secret-{marker}",
        f"mlflow-pw-{marker}")
    settings = make_settings(redis_url=redis_url.format(password=password),
                             mlflow_tracking_uri=f"http://ds:{mlflow_password}@127.0.0.1:5999",
                             s3_access_key=access_key, s3_secret_key=secret_key,
                             parquet_root_uri=f"file://{tmp_path / f'parquet-{marker}'}")
    t_env, statement_set = build(settings, bounded=False, weights=Weights(1, 3, 5, "v1"))
    explained = statement_set.explain()
    graph, plan_json = job_graph(t_env, statement_set)
    # The control: the settings do travel in the graph (the Parquet root is among them).
    assert f"parquet-{marker}".encode() in graph
    for secret in (password, access_key, secret_key, mlflow_password):
        assert secret.encode() not in graph, secret
        assert secret not in plan_json and secret not in explained, secret


def test_the_job_graph_holds_no_kafka_password(secured):
    """The connectors say how to log in (protocol, mechanism), never with what: the JVM
    reads the password from the JAAS file the job's process wrote."""
    from jobs.trending import build
    from udfs.settings_transport import settings_to_json

    settings = secured["job"]
    password = settings.kafka_sasl_password.get_secret_value()
    t_env, statement_set = build(settings, bounded=False, weights=Weights(1, 3, 5, "v1"))
    explained = statement_set.explain()
    graph, plan_json = job_graph(t_env, statement_set)
    settings_json = settings_to_json(settings)
    # The control: the connectors' options are in the graph, with the login's user.
    assert b"SASL_PLAINTEXT" in graph and b"SCRAM-SHA-512" in graph
    assert settings.kafka_sasl_username.encode() in graph
    for text in (explained, plan_json, settings_json):
        assert password not in text
    assert password.encode() not in graph
    assert b"sasl.jaas.config" not in graph and b"ScramLoginModule" not in graph
    # The password is in the JAAS file, which this JVM logs in from.
    from pyflink.java_gateway import get_gateway

    jaas = get_gateway().jvm.java.lang.System.getProperty("java.security.auth.login.config")
    assert jaas == str((settings.state_dir / "kafka-client.jaas").resolve())
    assert f'password="{password}"' in Path(jaas).read_text()


@pytest.fixture
def protected_redis(tmp_path):
    """A private redis-server that requires a password: (url with password, password)."""
    password = f"pw-{uuid.uuid4().hex}"
    port = free_port()
    process = subprocess.Popen(
        [str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
         "--requirepass", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    try:
        yield f"redis://:{password}@127.0.0.1:{port}/0", password
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def produce(settings, events: list[tuple[str, str, int]]) -> None:
    """(event_type, product_id, ms after T0), one record per batch."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 0,
                         "batch.num.messages": 1})
    for n, (event_type, product_id, offset_ms) in enumerate(events):
        value = {"event_id": f"e-{n}", "event_type": event_type, "product_id": product_id,
                 "category": "toys", "user_id": f"u-{n}", "ts": T0 + offset_ms}
        producer.produce(settings.event_topics[event_type], value=json.dumps(value).encode(),
                         key=product_id.encode(), partition=0)
        producer.flush(10)
    assert producer.flush(30) == 0


def test_a_bounded_job_writes_to_a_password_protected_redis(make_settings, protected_redis,
                                                            tmp_path):
    from jobs.trending import run

    url, password = protected_redis
    with pytest.raises(redis.AuthenticationError):  # the control: the password is needed
        redis.Redis.from_url(url.replace(password, "wrong")).ping()
    settings = make_settings(redis_url=url, window_size_s=60, window_slide_s=30, top_n=5,
                             checkpoint_interval_s=1, source_idle_timeout_s=120)
    ensure_topics(settings, partitions=1)
    produce(settings, [("click", "p-1", 1_000), ("click", "p-1", 2_000),
                       ("cart", "p-1", 3_000), ("purchase", "p-2", 4_000),
                       ("purchase", "p-2", 5_000)])

    run(settings, bounded=True, weights=Weights(1.0, 3.0, 5.0, "secret-test/1"))

    client = redis.Redis.from_url(url)
    latest = orjson.loads(client.get(layout.latest_key(None)))
    # The events fall in the windows ending at T0 + 30 s and T0 + 60 s; the newest is the
    # latter. p-2: 2 purchases * 5 = 10; p-1: 2 clicks * 1 + 1 cart * 3 = 5. Both had the
    # same ranks in the window ending at T0 + 30 s, and no events in the one ending at T0:
    # momentum (score + 10) / 10 with the default prior.
    assert latest == {
        "window_start": T0, "window_end": T0 + 60_000, "ranking": "popular", "category": None,
        "weights_version": "secret-test/1",
        "items": [
            {"rank": 1, "product_id": "p-2", "score": 10.0, "clicks": 0, "carts": 0,
             "purchases": 2, "previous_rank": 1, "momentum": 2.0},
            {"rank": 2, "product_id": "p-1", "score": 5.0, "clicks": 2, "carts": 1,
             "purchases": 0, "previous_rank": 2, "momentum": 1.5},
        ]}
