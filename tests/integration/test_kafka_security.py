"""Kafka with SCRAM logins, TLS and ACLs: each component's user may do its own work only, and
the job runs through the secured broker over TLS, logging in from its JAAS file.

The broker is a second local one (:mod:`secured_kafka`), with users for the weights
publisher, the ingest service, the simulator and the job, and these ACLs: only the publisher
writes the weights topic; only ingest and the simulator write the event topics; the job reads
the event and weights topics and writes the dead-letter topic in transactions.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from pydantic import SecretStr
from secured_kafka import ADMIN
from streaming_job import start_job
from test_job_bounded import (
    RISING_MIN_SCORE,
    RISING_PRIOR,
    TOP_N,
    VALID,
    WEIGHTS_VERSION,
    expected_rows,
    read_parquet_rows,
    row_key,
    write_event_set,
)
from test_job_clock_skew import overall_rows
from test_registry import wait_until

from registry.publisher import latest_published, publish_weights
from registry.weights import Weights
from simulator.kafka_io import read_topic
from trend_tracker.kafka_config import client_config

pytestmark = pytest.mark.slow


def delivery_error(settings, topic: str) -> int | None:
    """Write one record to ``topic`` as the settings' user: the delivery's error code, None
    when the broker took it."""
    reports = []
    producer = Producer({**client_config(settings), "message.timeout.ms": 30_000})
    producer.produce(topic, b'{"probe": 1}', b"probe",
                     on_delivery=lambda err, _msg: reports.append(err))
    assert producer.flush(40) == 0
    (error,) = reports
    return None if error is None else error.code()


def login_error(settings) -> int:
    """The first error a client of the settings' user reports as it connects."""
    errors: list[KafkaError] = []
    producer = Producer({**client_config(settings), "error_cb": errors.append, "log_level": 0})
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        producer.poll(0.1)
    assert errors, "the client reported no error"
    return errors[0].code()


def test_each_user_writes_only_the_topics_its_acls_name(secured):
    settings = secured["publisher"]
    weights_topic, clicks = settings.topic_weights, settings.topic_clicks
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Nobody but the publisher writes the weights topic: not ingest, the simulator or the job.
    for user in ("ingest", "simulator", "job"):
        assert delivery_error(secured[user], weights_topic) == denied, user
    # The publisher does, through its own code path, and the job reads what it wrote.
    weights = Weights(2.0, 4.0, 8.0, "secured/1")
    publish_weights(secured["publisher"], weights)
    assert latest_published(secured["job"]) == weights
    # Only ingest and the simulator write the event topics.
    assert delivery_error(secured["ingest"], clicks) is None
    assert delivery_error(secured["simulator"], clicks) is None
    for user in ("publisher", "job"):
        assert delivery_error(secured[user], clicks) == denied, user
    # A wrong password is no login at all.
    impostor = secured["ingest"].model_copy(
        update={"kafka_sasl_password": SecretStr("not-the-password")})
    assert login_error(impostor) == KafkaError._AUTHENTICATION


def test_a_bounded_job_runs_through_the_secured_broker_over_tls(secured, secured_broker):
    """The exact rankings and dead letters of test_job_bounded's event set and reference,
    written by the simulator's user and read by the job's, over SASL_SSL: the broker's
    certificate checked against the test's CA by librdkafka and by the connectors' Java
    client (a PEM trust store)."""
    from jobs.trending import run

    tls = {user: secured_broker.settings(settings, user, tls=True)
           for user, settings in secured.items()}
    # The control: without the CA, the broker's certificate is not trusted.
    untrusted = tls["simulator"].model_copy(update={"kafka_ssl_ca_location": None})
    assert login_error(untrusted) == KafkaError._SSL
    written = write_event_set(tls["simulator"])
    job = tls["job"].model_copy(update={
        "window_size_s": 60, "window_slide_s": 10, "top_n": TOP_N, "out_of_orderness_s": 5,
        "parallelism": 1, "checkpoint_interval_s": 1, "rising_prior": RISING_PRIOR,
        "rising_min_score": RISING_MIN_SCORE, "source_idle_timeout_s": 120})

    run(job, bounded=True)

    # The job's JVM logged in from the JAAS file its process wrote, readable by it alone.
    jaas = job.state_dir / "kafka-client.jaas"
    assert jaas.stat().st_mode & 0o777 == 0o600
    assert f'password="{job.kafka_sasl_password.get_secret_value()}"' in jaas.read_text()
    expected_dlq = sorted(
        (f"{topic}/{partition}/{offset}",
         {"payload": value.decode(), "topic": topic, "partition": partition, "offset": offset,
          "reason": reason, "payload_bytes": len(value),
          "payload_sha256": hashlib.sha256(value).hexdigest()})
        for (topic, partition, offset), value, reason in written if reason is not None)
    dlq = sorted((r.key.decode(), json.loads(r.value))
                 for r in read_topic(tls[ADMIN], job.topic_dead_letters, stop_at_end=True))
    assert dlq == expected_dlq
    root = Path(job.parquet_root[len("file://"):])
    expected = expected_rows([(ms, t, p) for ms, t, p in VALID])
    assert sorted(read_parquet_rows(root), key=row_key) == sorted(expected, key=row_key)


def test_a_streaming_job_that_may_not_write_the_weights_topic_runs(secured, tmp_path):
    """Only the publisher writes the weights topic, which is empty: the job, logged in as its
    own user, cannot publish the weights it starts with, says so, and scores with them."""
    t0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a window boundary
    job_settings = secured["job"].model_copy(update={
        "window_size_s": 10, "window_slide_s": 10, "top_n": TOP_N, "out_of_orderness_s": 5,
        "parallelism": 1, "checkpoint_interval_s": 5, "source_idle_timeout_s": 120})
    assert latest_published(job_settings) is None
    job = start_job(job_settings, tmp_path)
    try:
        producer = Producer({**client_config(secured["simulator"]), "linger.ms": 0})
        topics = job_settings.event_topics
        for event_type, product, ts in [("click", "p-1", t0 + 1_000), ("cart", "p-2", t0 + 2_000),
                                        *((t, "p-9", t0 + 60_000) for t in topics)]:
            producer.produce(topics[event_type], json.dumps({
                "event_id": f"e-{event_type}-{ts}", "event_type": event_type,
                "product_id": product, "category": "toys", "user_id": f"u-{ts}",
                "ts": ts}).encode())
        assert producer.flush(30) == 0
        root = Path(job_settings.parquet_root[len("file://"):])
        assert wait_until(lambda: overall_rows(root, t0 + 10_000) or not job.running(),
                          420, 0.5), job.log()
        assert job.running(), job.log()
        # Scored with the weights file's: a cart 3, a click 1.
        assert overall_rows(root, t0 + 10_000) == [(1, "p-2", 3.0, 0, 1, 0),
                                                  (2, "p-1", 1.0, 1, 0, 0)]
        assert (f"the job starts with weights {WEIGHTS_VERSION} but cannot publish them"
                in job.log())
        assert latest_published(job_settings) is None
    finally:
        job.stop()
