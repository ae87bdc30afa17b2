"""A forged weights record cannot stop a later promotion from taking effect.

An earlier design kept a "last scored window" record on the weights topic: a forged one
with a huge window end made every later window "already scored", and promotions never took
effect again. The weights topic now holds weights records only, each applying from an event
time; the forgeries here are written under the job's own key, with the times that would do
the most harm: one applying from the year 9999 (the largest time Flink's timestamps hold,
pushing the weights stream's watermark there), one from the largest 64-bit integer (past
any timestamp), and one with a huge version number applying from event time 15 s. Then the
publisher promotes new weights from event time 25 s, and the windows must come out with the
exact scores of the weights the rule gives them: the one ending at 20 s with the forged
record of 15 s (a record under the job's key that applies before a window's end is in force
there, however it got on the topic: only the topic's ACLs keep writers out, see
test_kafka_security.py), and those ending at 30 s and 40 s with the promoted ones.

The job runs streaming in its own process (:mod:`streaming_job`), on weights from a file
(the topic's key is then ``file``), so no registry is involved.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from confluent_kafka import Producer
from streaming_job import streaming_job
from test_job_weights import T0, WINDOW_MS, advance_to, overall_rows, produce, weights_switches
from test_registry import wait_until

from registry.publisher import publish_weights, weights_key
from registry.weights import Weights
from simulator.kafka_io import ensure_topics
from trend_tracker.kafka_config import client_config

V1 = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
V2 = {"click": 2.0, "cart": 0.0, "purchase": 1.0}
YEAR_9999_MS = 253_402_300_799_999
LONG_MAX = 2**63 - 1
FORGED_VERSION = "file/999999999999"


def forged(version: str, applies_from_ms: int) -> bytes:
    return json.dumps({"weights_version": version, "click": 1e6, "cart": 1e6,
                       "purchase": 1e6, "published_ms": applies_from_ms,
                       "applies_from_ms": applies_from_ms}).encode()


def test_a_promotion_takes_effect_after_forged_weights_records(make_settings, tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**V1, "version": "file/1"}))
    settings = make_settings(
        weights_file=str(weights_file), window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, source_idle_timeout_s=60, topic_partitions=1, parallelism=1,
        checkpoint_interval_s=5, topic_weights=f"weights-{uuid.uuid4().hex[:10]}")
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    flink_logs = tmp_path / "flink-log-job"

    def flink_log() -> str:
        return "".join(p.read_text(errors="replace") for p in flink_logs.glob("*.log"))

    with streaming_job(settings, tmp_path) as job:
        def window(end_offset_ms: int, timeout_s: float = 180) -> list[tuple]:
            end = T0 + end_offset_ms
            found = wait_until(lambda: overall_rows(root, end) or not job.running(),
                               timeout_s, 0.2)
            assert job.running(), job.log()
            assert found, f"window {end} not written:\n{job.log()}\n{flink_log()[-3000:]}"
            return overall_rows(root, end)

        # Window A [0 s, 10 s) with the weights the job started with (file/1): p-1: 2 clicks
        # + 1 cart = 5; p-2: 1 purchase = 5, ranked after p-1 by product id.
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1"),
                           (3_000, "cart", "p-1"), (4_000, "purchase", "p-2")])
        advance_to(settings, 12_000, "p-3")
        assert window(WINDOW_MS, timeout_s=420) == [(1, "p-1", 5.0, "file/1"),
                                                      (2, "p-2", 5.0, "file/1")]

        # The forgeries, under the job's own key, as anyone who may write the topic could.
        producer = Producer({**client_config(settings), "linger.ms": 0})
        key = weights_key(settings).encode()
        for value in (forged("forged/9999", YEAR_9999_MS), forged("forged/max", LONG_MAX),
                      forged(FORGED_VERSION, T0 + 15_000)):
            producer.produce(settings.topic_weights, value, key)
        assert producer.flush(30) == 0

        # The promotion, from event time 25 s: first scored window C [20 s, 30 s).
        publish_weights(settings, Weights(**V2, version="file/2"), applies_from_ms=T0 + 25_000)
        assert wait_until(lambda: ("file/2", FORGED_VERSION, T0 + 3 * WINDOW_MS)
                          in weights_switches(flink_log()), 120), flink_log()[-3000:]

        # Window B [10 s, 20 s): the forged record of 15 s is in force at its end: p-3
        # (click + cart + purchase at 12 s) and p-1 (1 purchase) score 3e6 and 1e6.
        produce(settings, [(14_000, "purchase", "p-1")])
        advance_to(settings, 22_000, "p-4")
        assert window(2 * WINDOW_MS) == [(1, "p-3", 3e6, FORGED_VERSION),
                                         (2, "p-1", 1e6, FORGED_VERSION)]
        # Window C [20 s, 30 s) with the promotion (click 2, cart 0, purchase 1): p-5 (2
        # clicks) = 4; p-4 (click + cart + purchase at 22 s) = 3.
        produce(settings, [(25_000, "click", "p-5"), (26_000, "click", "p-5")])
        advance_to(settings, 32_000, "p-6")
        assert window(3 * WINDOW_MS) == [(1, "p-5", 4.0, "file/2"), (2, "p-4", 3.0, "file/2")]
        # And the promotion keeps holding: window D [30 s, 40 s) too.
        produce(settings, [(35_000, "purchase", "p-7")])
        advance_to(settings, 42_000, "p-8")
        assert window(4 * WINDOW_MS) == [(1, "p-6", 3.0, "file/2"), (2, "p-7", 1.0, "file/2")]
        assert job.running(), job.log()
