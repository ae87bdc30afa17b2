"""Oversized bad records: each is dead-lettered once, and the job never restarts.

The dead-letter envelope is JSON. A byte that is not UTF-8 becomes U+FFFD there (3 bytes) and
a control character ``\\u00XX`` (6 bytes), so a whole payload of a few hundred KB made an
envelope over the producer's ``max.request.size``: the sink failed, and the job restarted on
the same record until it gave up. The envelope now carries a prefix of the payload, its size
and its SHA-256, and a stable key (``{topic}/{partition}/{offset}``).

A bounded run in its own process, on valid events mixed with a record of 400 KB that is not
UTF-8, one of 1 MiB of control characters and one as large as the local broker takes. The
Flink log must show the job finishing without a restart, with the exact rankings, and each bad
record dead-lettered exactly once with its reason, size and hash (computed here).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from test_job_bounded import (
    RISING_MIN_SCORE,
    RISING_PRIOR,
    TOP_N,
    VALID,
    WEIGHTS,
    WEIGHTS_VERSION,
    event,
    expected_rows,
    partition_of,
    produce,
    read_parquet_rows,
    row_key,
)

from localstack.stack import KAFKA_MAX_MESSAGE_BYTES
from simulator.kafka_io import ensure_topics, read_topic

pytestmark = pytest.mark.slow

#: As large as a record on the local broker can be (its ``message.max.bytes``, less room for
#: the batch's framing).
AT_BROKER_LIMIT_BYTES = KAFKA_MAX_MESSAGE_BYTES - 1024

#: (event type of the topic, partition, ms after T0 for ordering, value). Each partition has
#: valid events after its bad record, so no partition ends with one.
BAD_RECORDS: list[tuple[str, int, int, bytes]] = [
    ("click", 0, 30_000, b"\xff" * 400_000),  # not UTF-8: 3 bytes each in JSON
    ("cart", 1, 30_000, bytes(i % 32 for i in range(1_048_576))),  # 6 bytes each in JSON
    ("purchase", 0, 30_000, b"x" * AT_BROKER_LIMIT_BYTES),
    # UTF-8 but not JSON: the prefix ends before the character the limit would cut.
    ("click", 1, 30_000, "\u20ac".encode() * 2_000),
]


def utf8_prefix(value: bytes, limit: int) -> str:
    """The first ``limit`` bytes, less a UTF-8 character the limit would cut, as the JSON
    serializer shows them (invalid bytes as U+FFFD)."""
    end = min(limit, len(value))
    if end < len(value):
        while end > 0 and limit - end < 3 and value[end] & 0xC0 == 0x80:
            end -= 1
    return value[:end].decode("utf-8", errors="replace")


def test_oversized_bad_records_are_dead_lettered_once_without_a_restart(make_settings,
                                                                        tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120)
    ensure_topics(settings, partitions=2)
    topics = settings.event_topics

    per_partition: dict[tuple[str, int], list[tuple[int, bytes, bool]]] = defaultdict(list)
    for n, (offset_ms, event_type, product) in enumerate(VALID):
        value = json.dumps(event(n, offset_ms, event_type, product)).encode()
        per_partition[(topics[event_type], partition_of(event_type, product))].append(
            (offset_ms, value, False))
    for event_type, partition, offset_ms, value in BAD_RECORDS:
        per_partition[(topics[event_type], partition)].append((offset_ms, value, True))
    records, bad = [], []
    for (topic, partition), items in sorted(per_partition.items()):
        items.sort(key=lambda item: item[0])
        assert not items[-1][2]  # a partition's end is found by reading its last record
        for _, value, is_bad in items:
            records.append((topic, partition, value))
            bad.append(is_bad)
    positions = produce(settings, records, flush_s=120,
                        **{"message.max.bytes": 1_000_000_000})

    flink_logs = tmp_path / "flink-log"
    job = subprocess.run(
        [sys.executable, "-m", "jobs.trending", "--bounded"],
        env={**os.environ, **settings.as_env(), "FLINK_LOG_DIR": str(flink_logs)},
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=900,
        check=False)
    flink_log = "".join(p.read_text(errors="replace") for p in flink_logs.glob("*.log"))
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    # Zero restarts: the job went from RUNNING to FINISHED, and never to RESTARTING.
    assert "switched from state RUNNING to FINISHED" in flink_log
    assert "switched from state RUNNING to RESTARTING" not in flink_log
    assert "to RESTARTING" not in flink_log

    # Each bad record exactly once, keyed by its position, with its size and hash.
    limit = settings.dead_letter_payload_prefix_bytes
    expected = sorted(
        (f"{topic}/{partition}/{offset}",
         {"payload": utf8_prefix(value, limit), "topic": topic, "partition": partition,
          "offset": offset, "reason": "not_json", "payload_bytes": len(value),
          "payload_sha256": hashlib.sha256(value).hexdigest()})
        for (topic, partition, offset), (_, _, value), is_bad
        in zip(positions, records, bad, strict=True)
        if is_bad)
    dead = list(read_topic(settings, settings.topic_dead_letters, idle_timeout_s=3, deadline_s=60))
    assert all(len(record.value) <= settings.dead_letter_max_request_bytes for record in dead)
    letters = sorted((record.key.decode(), json.loads(record.value)) for record in dead)
    assert [key for key, _ in letters] == [key for key, _ in expected]
    assert letters == expected
    # The "\u20ac" record's prefix stops at a character boundary: 1,365 characters.
    assert any(len(e["payload"]) == limit // 3 and e["payload_bytes"] == 6_000
               for _, e in letters)

    # The valid events give exactly the rankings of the reference.
    from jobs.trending import backfill_settings

    backfill_root = backfill_settings(settings).parquet_root
    actual = read_parquet_rows(Path(backfill_root[len("file://"):]))
    reference = expected_rows([(ms, t, p) for ms, t, p in VALID])
    assert sorted(actual, key=row_key) == sorted(reference, key=row_key)
