"""Fixtures of more than one integration test module: a secured Kafka broker with each
component's user."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType
from secured_kafka import ADMIN, allow, start_secured_broker
from test_job_bounded import WEIGHTS, WEIGHTS_VERSION

from registry.publisher import WEIGHTS_READER_GROUP_PREFIX
from simulator.kafka_io import ensure_topics


@pytest.fixture(scope="session")
def secured_broker(tmp_path_factory):
    yield from start_secured_broker(tmp_path_factory.mktemp("secured-kafka"))


@pytest.fixture
def secured(secured_broker, make_settings, tmp_path):
    """user -> settings logging in as that user, with this test's topics created and each
    component's ACLs on them."""
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    # A Redis database of its own (test_job_bounded's are 11 and 12).
    # A weights topic of its own too: the broker serves the whole session, and a test that
    # finds it empty must not see another test's weights.
    base = make_settings(weights_file=str(weights_file),
                         topic_weights=f"trend-weights-{uuid.uuid4().hex[:10]}",
                         redis_url=make_settings().redis_url.rsplit("/", 1)[0] + "/14")
    redis.Redis.from_url(base.redis_url).flushdb()
    users = {user: secured_broker.settings(base, user)
             for user in (ADMIN, "publisher", "ingest", "simulator", "job")}
    ensure_topics(users[ADMIN], partitions=2)
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    read, write, describe = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
    events = list(base.event_topics.values())
    allow(secured_broker, "publisher", topic, base.topic_weights, [read, write, describe])
    for user in ("ingest", "simulator"):
        for name in events:
            allow(secured_broker, user, topic, name, [write, describe])
    for name in [*events, base.topic_weights]:
        allow(secured_broker, "job", topic, name,
              [read, describe, AclOperation.DESCRIBE_CONFIGS])
    allow(secured_broker, "job", topic, base.topic_dead_letters, [write, describe])
    # The job's consumer groups and dead-letter transactions are named after its group
    # (a backfill's too: <group>-backfill-<name>).
    allow(secured_broker, "job", group, base.consumer_group, [read, describe],
          ResourcePatternType.PREFIXED)
    allow(secured_broker, "job", ResourceType.TRANSACTIONAL_ID, base.consumer_group,
          [write, describe], ResourcePatternType.PREFIXED)
    # Both read the weights topic back (registry.publisher.latest_published).
    for user in ("publisher", "job"):
        allow(secured_broker, user, group, WEIGHTS_READER_GROUP_PREFIX, [read],
              ResourcePatternType.PREFIXED)
    allow(secured_broker, "job", ResourceType.BROKER, "kafka-cluster",
          [AclOperation.IDEMPOTENT_WRITE])
    return users
