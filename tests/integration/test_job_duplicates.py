"""A batch of events sent three times counts once: a bounded run over the event set of
test_job_bounded, each partition's batch written three times over (the same records, as a
producer's retries or a client replaying its batch would), gives exactly the rankings of
one batch, and each of the 2 x N copies is one ``duplicate`` dead letter, keyed by its
position, with its whole payload.

The copies are on time (their windows take updates for ``allowed_lateness_s``, 60 s, past
the batch's last event) and within ``dedup_horizon_s`` of the first copy (the same ts).
"""

from __future__ import annotations

import hashlib
import json
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

from simulator.kafka_io import ensure_topics, read_topic

SENDS = 3


@pytest.mark.parametrize("parallelism", [1, 2])
def test_a_batch_sent_three_times_counts_once_and_each_copy_is_one_duplicate(
        make_settings, tmp_path, parallelism):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=parallelism,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120)
    assert (settings.dedup_horizon_s, settings.allowed_lateness_s) == (300, 60)
    ensure_topics(settings, partitions=2)
    topics = settings.event_topics

    batch: dict[tuple[str, int], list[tuple[int, bytes]]] = defaultdict(list)
    for n, (offset_ms, event_type, product) in enumerate(VALID):
        value = json.dumps(event(n, offset_ms, event_type, product)).encode()
        batch[(topics[event_type], partition_of(event_type, product))].append(
            (offset_ms, value))
    records, copies = [], []
    for (topic, partition), items in sorted(batch.items()):
        items.sort()
        for send in range(SENDS):
            for _, value in items:
                records.append((topic, partition, value))
                copies.append(send > 0)
    positions = produce(settings, records)

    run(settings, bounded=True)

    expected_letters = sorted(
        (f"{topic}/{partition}/{offset}",
         {"payload": value.decode(), "topic": topic, "partition": partition, "offset": offset,
          "reason": "duplicate", "payload_bytes": len(value),
          "payload_sha256": hashlib.sha256(value).hexdigest()})
        for (topic, partition, offset), (_, _, value), copy
        in zip(positions, records, copies, strict=True) if copy)
    assert len(expected_letters) == (SENDS - 1) * len(VALID)
    letters = sorted((r.key.decode(), json.loads(r.value))
                     for r in read_topic(settings, settings.topic_dead_letters,
                                         idle_timeout_s=3))
    assert letters == expected_letters

    root = Path(settings.parquet_root[len("file://"):])
    actual = read_parquet_rows(root)
    expected = expected_rows([(ms, t, p) for ms, t, p in VALID])
    assert sorted(actual, key=row_key) == sorted(expected, key=row_key)
