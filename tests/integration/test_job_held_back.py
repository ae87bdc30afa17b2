"""A producer that holds its events back for 30 s, on a partition it shares with others,
loses nothing: its windows, already written, are written again with its events.

Events are stamped with the live clock. One producer sends on time; the other, on the same
partition of each topic, makes its events at the same pace but sends them only 30 s later,
in one burst. By then the on-time producer has moved the watermark 30 s past them: beyond
the out-of-orderness (1 s), within the default allowed lateness (60 s). The windows they
belong to have been written without them; each must be written again, in place, with every
event of both producers, in Parquet and in Redis, and nothing may be dead-lettered.
Expected counts are tallied here from the events sent.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis
from confluent_kafka import Producer
from streaming_job import committed_dead_letters, start_job
from test_registry import wait_until

from simulator.kafka_io import ensure_topics
from trend_tracker import redis_layout as layout
from trend_tracker.settings import Settings

# Live clock: about three minutes.
pytestmark = pytest.mark.slow

WINDOW_MS = 10_000
STEP_S = 0.25
HOLD_S = 30
TYPES = ("click", "cart", "purchase")
WEIGHTS = {"click": 1, "cart": 3, "purchase": 5}


def window_file(root: Path, end_ms: int) -> Path | None:
    found = list(root.glob(f"**/trends-{end_ms}.parquet"))
    return found[0] if found else None


def overall_counts(root: Path, end_ms: int) -> dict[str, tuple[int, int, int]]:
    """product_id -> (clicks, carts, purchases) in a window's overall popular ranking."""
    path = window_file(root, end_ms)
    if path is None:
        return {}
    rows = pq.read_table(path, partitioning=None).to_pylist()
    return {r["product_id"]: (r["clicks"], r["carts"], r["purchases"]) for r in rows
            if r["category"] is None and r["ranking"] == "popular"}


def test_a_producer_held_back_30_s_on_a_shared_partition_loses_nothing(
        make_settings, tmp_path):
    assert Settings.model_fields["allowed_lateness_s"].default == 60
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": "held/1"}))
    settings = make_settings(weights_file=weights_file, window_size_s=WINDOW_MS // 1000,
                             window_slide_s=WINDOW_MS // 1000, top_n=50,
                             out_of_orderness_s=1, topic_partitions=1, parallelism=1,
                             checkpoint_interval_s=5)
    assert settings.allowed_lateness_s == 60
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5})
    sent: dict[int, Counter] = defaultdict(Counter)  # window end -> (product, type) -> n
    step = 0

    def event(source: str, ts: int) -> tuple[str, bytes]:
        nonlocal step
        step += 1
        event_type = TYPES[step % 3]
        product_id = f"p-{source}{step % 4}"
        sent[(ts // WINDOW_MS + 1) * WINDOW_MS][(product_id, event_type)] += 1
        body = {"event_id": f"e-{step}", "event_type": event_type, "product_id": product_id,
                "category": "gadgets", "user_id": f"u-{source}-{step}", "ts": ts}
        return settings.event_topics[event_type], json.dumps(body).encode()

    def on_time(seconds: float, held: list | None = None) -> None:
        """Both producers make one event per step; the held-back one keeps its own."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            now = int(time.time() * 1000)
            producer.produce(*event("a", now), partition=0)
            if held is not None:
                held.append(event("b", now))
            producer.poll(0)
            time.sleep(STEP_S)
        assert producer.flush(30) == 0

    def expected(end_ms: int) -> dict[str, tuple[int, int, int]]:
        counts = sent[end_ms]
        return {p: tuple(counts[(p, t)] for t in TYPES) for p in {p for p, _ in counts}}

    job = start_job(settings, tmp_path)
    try:
        # The job is up once it writes a window.
        first = ((int(time.time() * 1000) // WINDOW_MS) + 1) * WINDOW_MS
        while not window_file(root, first):
            assert job.running(), job.log()
            on_time(2)
            assert time.time() * 1000 < first + 420_000, f"no window written:\n{job.log()}"

        # 30 s of events, the held-back producer's kept back.
        held: list[tuple[str, bytes]] = []
        hold_from = int(time.time() * 1000)
        on_time(HOLD_S, held)
        held_ends = sorted({end for end in sent if end > hold_from} - {max(sent)})
        # Its windows fired without its events (two complete ones at least).
        written = [end for end in held_ends if window_file(root, end)]
        assert len(written) >= 2, (held_ends, job.log())
        for end in written:
            assert all(p.startswith("p-a") for p in overall_counts(root, end)), end

        # It sends them all at once, 30 s behind the watermark; the other goes on.
        for topic, value in held:
            producer.produce(topic, value=value, partition=0)
        assert producer.flush(30) == 0
        last_sent = int(time.time() * 1000)

        # Every window ends exact once the watermark is past its allowed lateness: the
        # held-back events counted, in place, in the windows already written.
        checked = [end for end in sorted(sent) if first < end <= last_sent - WINDOW_MS]
        on_time(settings.allowed_lateness_s + 5)
        for end in checked:
            assert wait_until(lambda end=end: overall_counts(root, end) == expected(end),
                              60, 0.5), (end, overall_counts(root, end), expected(end))
        assert any(p.startswith("p-b") for end in written for p in overall_counts(root, end))
        # The API's store holds the corrected windows too.
        client = redis.Redis.from_url(settings.redis_url)
        for end in written:
            document = json.loads(client.get(layout.ranking_key(None, end)))
            scores = {item["product_id"]: item["score"] for item in document["items"]}
            assert scores == {p: float(sum(n * w for n, w in zip(c, WEIGHTS.values(),
                                                                  strict=True)))
                              for p, c in expected(end).items()}, end
        # Nothing lost: no dead letter, the held-back events included.
        assert committed_dead_letters(settings) == []
        assert job.running(), job.log()
    finally:
        job.stop()
