"""End to end: a fixed event set through a bounded run of the job on the MiniCluster.

Every Parquet row, the Redis rankings and the dead-letter records are compared with values
computed here by a small reference (plain Python, not the job's code). Disorder inside
each partition stays below the allowed out-of-orderness, so no event is late; lateness is
tested with controlled timing in test_job_lateness.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import redis
from confluent_kafka import Producer

from simulator.kafka_io import ensure_topics, read_topic
from trend_tracker import redis_layout as layout
from trend_tracker.events import classify
from trend_tracker.kafka_config import client_config

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SIZE_MS, SLIDE_MS, TOP_N = 60_000, 10_000, 3
WEIGHTS = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
WEIGHTS_VERSION = "test-weights-7"
CATEGORY = {"p-a": "shoes", "p-b": "shoes", "p-c": "books", "p-d": "books",
            "p-e": "toys", "p-f": "toys"}
COLUMNS = ["window_start", "window_end", "ranking", "category", "rank", "product_id", "score",
           "clicks", "carts", "purchases", "previous_rank", "momentum", "weights_version"]
#: The rising ranking's settings in this test (score units of WEIGHTS), and the job's
#: defaults of its significance test.
RISING_PRIOR, RISING_MIN_SCORE = 2.0, 3.0
RISING_RECENT_SLIDES, RISING_MIN_Z, RISING_DISPERSION = 2, 4.0, 1.7
#: A least z that this event set, a few events per product and window, passes only in some
#: windows past the first (at 4, only products with nothing in the window before rise).
LOW_MIN_Z = 0.5
#: How many times a user's events of one type on one product count in a window at most
#: (the job's default max_events_per_user).
MAX_EVENTS_PER_USER = 5

# (ms after T0, event_type, product_id). p-a/p-b and p-c/p-d tie in several windows.
VALID = [
    (1_250, "click", "p-a"), (2_250, "click", "p-b"), (3_250, "cart", "p-c"),
    (4_250, "click", "p-a"), (5_250, "purchase", "p-d"), (7_250, "click", "p-e"),
    (8_250, "click", "p-f"), (9_250, "cart", "p-a"), (9_999, "cart", "p-b"),
    (10_000, "click", "p-b"), (11_250, "click", "p-b"), (13_250, "cart", "p-c"),
    (14_250, "click", "p-d"), (15_250, "purchase", "p-e"), (17_250, "click", "p-d"),
    (18_250, "click", "p-c"), (20_000, "cart", "p-f"), (21_250, "click", "p-f"),
    (22_250, "click", "p-f"), (24_250, "cart", "p-e"), (26_250, "click", "p-a"),
    (28_250, "purchase", "p-b"), (31_250, "click", "p-c"), (33_250, "click", "p-c"),
    (34_250, "cart", "p-d"), (36_250, "click", "p-e"), (38_250, "click", "p-a"),
    (41_250, "purchase", "p-f"), (43_250, "click", "p-b"), (45_250, "cart", "p-c"),
    (47_250, "click", "p-d"), (52_250, "click", "p-e"), (55_250, "cart", "p-a"),
    (58_250, "click", "p-b"), (63_250, "click", "p-f"), (66_250, "purchase", "p-c"),
    (70_250, "click", "p-d"), (75_250, "cart", "p-e"), (82_250, "click", "p-a"),
]


def event(n: int, offset_ms: int, event_type: str, product_id: str, **changes) -> dict:
    body = {"event_id": f"e-{n}", "event_type": event_type, "product_id": product_id,
            "category": CATEGORY.get(product_id, "misc"), "user_id": f"u-{n % 5}",
            "ts": T0 + offset_ms, "price": 9.5}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def partition_of(event_type: str, product_id: str) -> int:
    """purchases[1] stays empty (an idle partition); the others split by product."""
    if event_type == "purchase":
        return 0
    return 0 if product_id in ("p-a", "p-c", "p-e") else 1


def invalid_records(future_ts: int) -> list[tuple[str, int, int, bytes, str]]:
    """(event type of the topic, partition, ts for ordering, value, expected reason)."""
    base = 30_000
    def dump(body: dict) -> bytes:
        return json.dumps(body).encode()

    return [
        ("click", 0, base, b"this is not json", "not_json"),
        ("click", 1, base, b'{"event_id": "x1", "event_type": "click"', "not_json"),
        ("click", 0, base, dump(event(901, base, "click", "p-a", user_id=...)),
         "missing_field"),
        ("click", 1, base, dump(event(902, base, "click", "p-b", ts=str(T0 + base))),
         "wrong_type"),
        ("cart", 0, base, dump(event(903, base, "cart", "p-a", ts=T0 + base + 0.5)),
         "wrong_type"),
        ("cart", 1, base, dump(event(904, base, "cart", "bad id!")), "bad_id"),
        ("click", 0, base, dump(event(905, base, "click", "p-a", event_id="")), "bad_id"),
        ("click", 1, base, dump(event(906, base, "view", "p-b")), "unknown_event_type"),
        ("click", 0, base, dump(event(907, base, "cart", "p-a")), "topic_mismatch"),
        ("purchase", 0, base, dump(event(908, base, "purchase", "p-c", ts=future_ts)),
         "future_ts"),
    ]


def produce(settings, records: list[tuple[str, int, bytes]], flush_s: float = 30,
            **config: object) -> list[tuple[str, int, int]]:
    """Produce in the given order, batched (linger), returning (topic, partition, offset);
    ``config`` adds producer settings (a larger ``message.max.bytes``, say)."""
    producer = Producer({**client_config(settings), "linger.ms": 50, **config})
    delivered: dict[int, tuple[str, int, int]] = {}

    def on_delivery(index):
        def report(err, msg):
            assert err is None, err
            delivered[index] = (msg.topic(), msg.partition(), msg.offset())
        return report

    for index, (topic, partition, value) in enumerate(records):
        producer.produce(topic, value=value, partition=partition, on_delivery=on_delivery(index))
        producer.poll(0)  # serve delivery reports, so the queue never fills
    assert producer.flush(flush_s) == 0
    return [delivered[i] for i in range(len(records))]


def expected_rows(valid: list[tuple[int, str, str]], **options) -> list[dict]:
    """The reference rows of this test's event set and settings (:func:`reference_rows`,
    with ``options``): ``valid`` is :data:`VALID`, whose n-th event has the user of
    :func:`event`."""
    last = max(ts for ts, _, _ in valid)
    return reference_rows([(ts, t, p, f"u-{n % 5}") for n, (ts, t, p) in enumerate(valid)],
                          last_end_ms=last + SIZE_MS, **options)


def reference_rows(valid: list[tuple], *, last_end_ms: int,
                   size_ms: int = SIZE_MS, slide_ms: int = SLIDE_MS, top_n: int = TOP_N,
                   weights: dict[str, float] = WEIGHTS, category_of: dict[str, str] = CATEGORY,
                   version: str = WEIGHTS_VERSION, prior: float = RISING_PRIOR,
                   min_score: float = RISING_MIN_SCORE, t0: int = T0,
                   cap: int = MAX_EVENTS_PER_USER, recent_slides: int = RISING_RECENT_SLIDES,
                   min_z: float | None = RISING_MIN_Z,
                   dispersion: float = RISING_DISPERSION) -> list[dict]:
    """The reference: HOP windows [end - size, end) ending up to ``last_end_ms`` (ms after
    ``t0``), top-N overall and per category, by score (popular) and by momentum (rising),
    each item with its rank in the same ranking of the window ``slide_ms`` earlier.

    Rising compares the newest ``recent_slides`` slides (the recent score: the window's
    counts less those of its older part, each capped) with the window just before them (the
    base score), at scale = their share of a window: momentum
    (recent / scale + prior) / (base + prior); a product enters with a score of at least
    ``min_score`` and z = (recent - scale * base) / sqrt(dispersion * (scale + scale**2) *
    base variance + 1) of at least ``min_z`` (None: any), the base variance being
    sum(weight**2 * count).

    ``valid`` holds ``(ts, event_type, product_id, user_id)``; in each window, and in each
    recent span, a user's events of one type on one product count at most ``cap`` times (0:
    no cap). An event given as ``(ts, event_type, product_id)`` is its own user."""
    def counts_in(start: int, end: int) -> dict[str, dict[str, int]]:
        by_user: dict[tuple, int] = defaultdict(int)
        for index, (ts, event_type, product, *user) in enumerate(valid):
            if start <= ts < end:
                by_user[(product, event_type, user[0] if user else ("event", index))] += 1
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (product, event_type, _), n in by_user.items():
            counts[product][event_type] += min(n, cap) if cap else n
        return counts

    counts_at = {end: counts for end in range(slide_ms, last_end_ms + slide_ms, slide_ms)
                 if (counts := counts_in(end - size_ms, end))}

    def score(c) -> float:
        return float(sum(weights[t] * n for t, n in c.items()))

    span = min(recent_slides, size_ms // slide_ms) * slide_ms
    scale = span / size_ms
    rankings: dict[int, dict[tuple, list[tuple]]] = {}
    for end, counts in counts_at.items():
        older = counts_in(end - size_ms, end - span)
        base_counts = counts_at.get(end - span, {})
        scored = []
        for product, c in counts.items():
            recent = score({t: n - older.get(product, {}).get(t, 0) for t, n in c.items()})
            base = base_counts.get(product, {})
            variance = sum(weights[t] ** 2 * n for t, n in base.items())
            z = ((recent - scale * score(base))
                 / math.sqrt(dispersion * (scale + scale * scale) * variance + 1))
            scored.append((score(c), (recent / scale + prior) / (score(base) + prior),
                           product, c, min_z is None or z >= min_z))
        scopes = [None, *sorted({category_of[p] for p in counts})]
        rankings[end] = {}
        for category in scopes:
            members = [m for m in scored if category is None or category_of[m[2]] == category]
            rankings[end][("popular", category)] = sorted(
                members, key=lambda m: (-m[0], m[2]))[:top_n]
            rankings[end][("rising", category)] = sorted(
                (m for m in members if m[0] >= min_score and m[4]),
                key=lambda m: (-m[1], m[2]))[:top_n]
    rows = []
    for end, by_ranking in rankings.items():
        for (kind, category), ranked in by_ranking.items():
            before = [m[2] for m in rankings.get(end - slide_ms, {}).get((kind, category), [])]
            for rank, (value, momentum, product, c, _) in enumerate(ranked, start=1):
                rows.append({"window_start": t0 + end - size_ms, "window_end": t0 + end,
                             "ranking": kind, "category": category, "rank": rank,
                             "product_id": product, "score": value, "clicks": c["click"],
                             "carts": c["cart"], "purchases": c["purchase"],
                             "previous_rank": (before.index(product) + 1
                                               if product in before else None),
                             "momentum": momentum, "weights_version": version})
    return rows


def read_parquet_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        assert table.column_names == COLUMNS
        for row in table.to_pylist():
            row["window_start"] = int(row["window_start"].timestamp() * 1000)
            row["window_end"] = int(row["window_end"].timestamp() * 1000)
            end = row["window_end"]
            # Partitioned by window_end's UTC date and hour, named by window_end.
            at = datetime.fromtimestamp(end / 1000, UTC)
            assert path.relative_to(root).as_posix() == (
                f"date={at:%Y-%m-%d}/hour={at:%H}/trends-{end}.parquet")
            rows.append(row)
    return rows


def ranking_documents(rows: list[dict]) -> dict[tuple[str | None, int, str], dict]:
    """The Redis document of each ranking in ``rows`` (reference rows), by (category,
    window_end, ranking): the arguments of ``ranking_key``."""
    by_ranking: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        by_ranking[(row["window_start"], row["window_end"], row["ranking"], row["category"],
                    row["weights_version"])].append(row)
    return {(category, end, kind): {
        "window_start": start, "window_end": end, "ranking": kind, "category": category,
        "weights_version": version,
        "items": [{k: r[k] for k in ("rank", "product_id", "score", "clicks", "carts",
                                     "purchases", "previous_rank", "momentum")}
                  for r in members]}
        for (start, end, kind, category, version), members in by_ranking.items()}


def row_key(row: dict) -> tuple:
    return (row["window_end"], row["ranking"], row["category"] or "", row["rank"])


def write_event_set(settings) -> list[tuple[tuple[str, int, int], bytes, str | None]]:
    """Produce the valid and invalid events, each partition in ts order with up to 3 s of
    disorder (below the allowed 5 s). Returns ((topic, partition, offset), value, reason)."""
    topics = settings.event_topics
    future_ts = int(time.time() * 1000) + 24 * 3600 * 1000
    per_partition: dict[tuple[str, int], list[tuple[int, bytes, str | None]]] = defaultdict(list)
    for n, (offset_ms, event_type, product) in enumerate(VALID):
        value = json.dumps(event(n, offset_ms, event_type, product)).encode()
        per_partition[(topics[event_type], partition_of(event_type, product))].append(
            (offset_ms, value, None))
    for event_type, partition, offset_ms, value, reason in invalid_records(future_ts):
        per_partition[(topics[event_type], partition)].append((offset_ms, value, reason))
    records, reasons = [], []
    for (topic, partition), items in sorted(per_partition.items()):
        ordered = sorted(enumerate(items), key=lambda p: p[1][0] + (p[0] % 3) * 1_500)
        for _, (_, value, reason) in ordered:
            records.append((topic, partition, value))
            reasons.append(reason)
    positions = produce(settings, records)
    return [(pos, value, reason)
            for pos, (_, _, value), reason in zip(positions, records, reasons, strict=True)]


@pytest.mark.parametrize("parallelism", [1, 2])
def test_bounded_run_gives_the_exact_rankings_and_dead_letters(make_settings, tmp_path,
                                                               parallelism):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    redis_db = 10 + parallelism
    settings = make_settings(window_size_s=60, window_slide_s=10, top_n=TOP_N,
                             out_of_orderness_s=5, parallelism=parallelism,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             rising_min_z=LOW_MIN_Z,
                             # A bounded run needs no idleness (an empty partition ends at
                             # once); a long timeout keeps a slow machine from marking a
                             # partition idle mid-read, which would make its events late.
                             source_idle_timeout_s=120,
                             redis_url=make_settings().redis_url.rsplit("/", 1)[0]
                             + f"/{redis_db}")
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    ensure_topics(settings, partitions=2)
    topics = settings.event_topics
    written = write_event_set(settings)
    assert not any((topic, partition) == (topics["purchase"], 1)
                   for (topic, partition, _), _, _ in written)  # the idle partition

    # The test data agrees with the reference classifier of the event contract.
    topic_type = {topic: t for t, topic in topics.items()}
    now = int(time.time() * 1000)
    for (topic, _, _), value, reason in written:
        verdict = classify(value, topic_type[topic], now, settings.max_future_skew_s * 1000)
        assert (verdict.reason.value if verdict.reason else None) == reason, value

    started = time.monotonic()
    run(settings, bounded=True)
    elapsed = time.monotonic() - started
    print(f"bounded run at parallelism {parallelism}: {elapsed:.1f} s")

    # Dead letters: every invalid record, keyed by its position, with its topic, partition,
    # offset and reason, and its whole payload (each is under the prefix limit) with its
    # size and SHA-256.
    expected_dlq = sorted(
        (f"{topic}/{partition}/{offset}",
         {"payload": value.decode(), "topic": topic, "partition": partition, "offset": offset,
          "reason": reason, "payload_bytes": len(value),
          "payload_sha256": hashlib.sha256(value).hexdigest()})
        for (topic, partition, offset), value, reason in written if reason is not None)
    assert all(len(value) <= settings.dead_letter_payload_prefix_bytes for _, value, _ in written)
    dlq = sorted((r.key.decode(), json.loads(r.value))
                 for r in read_topic(settings, settings.topic_dead_letters, idle_timeout_s=3))
    assert dlq == expected_dlq

    expected = expected_rows([(ms, t, p) for ms, t, p in VALID], min_z=LOW_MIN_Z)
    # The data has ties broken by product_id.
    assert any(a["score"] == b["score"] and a["window_end"] == b["window_end"]
               and a["category"] == b["category"] and b["rank"] == a["rank"] + 1
               for a, b in itertools.pairwise(expected))
    actual = read_parquet_rows(Path(settings.parquet_root[len("file://"):]))
    assert sorted(actual, key=row_key) == sorted(expected, key=row_key)

    # The data has products rising from nothing and from a base, products growing too
    # little to rise, and previous ranks of both kinds.
    rising = [r for r in expected if r["ranking"] == "rising"]
    assert {r["momentum"] > 1 for r in rising} == {True}
    # Both before the window before the newest slides holds events (end 30 s) and after.
    assert {r["window_end"] >= T0 + 3 * SLIDE_MS for r in rising} == {True, False}
    growing = [r for r in expected_rows([(ms, t, p) for ms, t, p in VALID], min_z=None)
               if r["ranking"] == "rising" and r["momentum"] > 1]
    assert ({(r["window_end"], r["category"], r["product_id"]) for r in rising}
            < {(r["window_end"], r["category"], r["product_id"]) for r in growing})
    assert any(r["previous_rank"] is None for r in rising)
    assert any(r["previous_rank"] not in (None, r["rank"]) for r in rising)

    # Redis: every ranking of both kinds whole, the latest pointers at the newest window.
    documents = ranking_documents(expected)
    for (category, end, kind), document in documents.items():
        assert orjson.loads(client.get(layout.ranking_key(category, end, kind))) == document
    newest = max(end for _, end, _ in documents)
    latest = orjson.loads(client.get(layout.latest_key(None)))
    assert latest["window_end"] == newest
    # The newest windows hold too few events for the rising ranking's least score: its
    # latest copy is the newest window that has one.
    newest_rising = max(end for category, end, kind in documents
                        if kind == "rising" and category is None)
    assert newest_rising < newest
    assert (orjson.loads(client.get(layout.latest_key(None, "rising"))) ==
            orjson.loads(client.get(layout.ranking_key(None, newest_rising, "rising"))))
    assert sorted(client.zrange(layout.CATEGORIES_KEY, 0, -1)) == [b"books", b"shoes", b"toys"]

