"""Every kind of bad input at once, about 1% of a stream, into a running job.

A streaming job reads a stream of valid events with bad records of every kind mixed in,
then late events after their windows were written. Expected, each computed here:

- zero restarts (Flink's restart counter stays 0);
- one dead letter per bad record, with the reason the contract gives it (labelled by hand
  below, and checked against ``classify``), keyed by its position, and counted by reason
  in the job's metric;
- the windows exactly those of the valid events alone (a small reference, no job code), a
  user's events of one type on one product counted at most ``max_events_per_user`` (5)
  times per window (nine users share the traffic, so the cap applies often): every row of
  both rankings, overall and per category;
- the late events dead-lettered as ``late`` and counted exactly;
- a ``ts`` in seconds ``wrong_type`` whatever the watermark: one is the first record of its
  topic, read before its source has a watermark (a valid event of 1970 there would be
  counted, in a window of its own), another comes after the windows were written.

A record sent again (the same event: its ``event_id``, product and event type) is a
``duplicate`` dead letter and counts once; an ``event_id`` reused by an event of another
product or type is another event, valid and counted.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Producer
from streaming_job import committed_dead_letters, job_metric, start_job
from test_job_bounded import MAX_EVENTS_PER_USER, read_parquet_rows, reference_rows, row_key
from test_registry import wait_until

from localstack.stack import free_port
from simulator.kafka_io import ensure_topics
from trend_tracker.events import classify

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SIZE_MS, SLIDE_MS, TOP_N = 20_000, 10_000, 5
WEIGHTS = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
VERSION = "matrix/1"
RISING_PRIOR, RISING_MIN_SCORE = 10.0, 10.0
CATEGORY = {f"p-{n}": f"c-{n % 4}" for n in range(20)}
TYPES = ("click", "cart", "purchase")
METRICS = "flink_taskmanager_job_task_operator_trend_event_type_reason_dead_letters"
RESTARTS = "flink_jobmanager_job_numRestarts"


def event(n: int, ts: object, event_type: str = "click", product: str = "p-1",
          **changes) -> dict:
    body = {"event_id": f"e-{n}", "event_type": event_type, "product_id": product,
            "category": CATEGORY.get(product, "c-0"), "user_id": f"u-{n % 9}", "ts": ts,
            "price": 12.5}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def dump(body: dict) -> bytes:
    return json.dumps(body).encode()


def bad_records(now_ms: int) -> list[tuple[str, bytes | None, str]]:
    """(topic's event type, value, expected reason): every kind, in the stream's time."""
    ts = T0 + 20_000
    deep = b'{"x": ' + b"[" * 64 + b"]" * 64 + b"}"
    return [
        ("click", dump(event(900, T0 // 1000)), "wrong_type"),  # ts in seconds, sent first
        ("click", b'{"event_id": "t", "event_type": "click", "product_id": "p-1"', "not_json"),
        ("click", b'{"event_id": "\xff\xfe", "event_type": "click"}', "not_json"),
        ("cart", b"\xef\xbb\xbf" + dump(event(901, ts, "cart")), "not_json"),  # a BOM
        ("click", dump(event(902, ts))[:-1] + b', "score": NaN}', "not_json"),
        ("purchase", dump(event(903, ts, "purchase"))[:-1] + b', "x": Infinity}', "not_json"),
        ("click", b"", "not_json"),  # an empty value
        ("cart", None, "not_json"),  # a null value (a tombstone)
        ("click", deep, "not_json"),  # nested 65 deep
        ("purchase", b"{" + b" " * 1_048_576 + b"}", "missing_field"),  # 1 MB, no fields
        ("click", dump(event(904, ts, user_id=...)), "missing_field"),
        ("cart", dump(event(905, ts, "cart", product_id=None)), "missing_field"),
        ("click", dump(event(906, str(ts))), "wrong_type"),  # a quoted number
        ("click", dump(event(907, "2024-01-01T00:00:20Z")), "wrong_type"),  # ISO string
        ("purchase", dump(event(908, -5, "purchase")), "wrong_type"),  # a negative ts
        ("click", dump(event(909, now_ms + 24 * 3600_000)), "future_ts"),
        ("click", dump(event(910, ts, "view")), "unknown_event_type"),
        ("cart", dump(event(911, ts, "Cart")), "unknown_event_type"),  # wrongly cased
        ("click", dump(event(912, ts, "purchase")), "topic_mismatch"),  # on the wrong topic
        ("click", dump(event(913, ts, product="p" * 65)), "bad_id"),  # oversized id
        ("cart", dump(event(914, ts, "cart", product="p*1")), "bad_id"),  # Redis glob
        ("click", dump(event(915, ts, product="p{1}")), "bad_id"),  # Redis hash tag
        ("purchase", dump(event(916, ts, "purchase", category="c 1\r\n")), "bad_id"),
        ("click", dump(event(917, ts, event_id="e" * 129)), "bad_id"),  # oversized id
        ("cart", dump(event(918, ts, "cart", product="../p-1")), "bad_id"),
    ]


def valid_events() -> list[tuple[int, str, str, int]]:
    """(ms after T0, event type, product, event number) in time order, 0 s to 40 s; the
    last 20 reuse event_ids of events of other products or types (other events, valid)."""
    rng = random.Random(7)
    events = []
    for n, ts in enumerate(range(0, 40_000, 16)):
        events.append((ts + rng.randrange(16), rng.choices(TYPES, [6, 3, 1])[0],
                       f"p-{rng.randrange(20)}", n))
    return events


def user_of(number: int) -> str:
    """The user_id of :func:`event` number ``number``."""
    return f"u-{number % 9}"


def expected_counts(events: list[tuple[int, str, str, str]]) -> dict[int, dict]:
    """Window end -> the overall top-N as {product: (score, clicks, carts, purchases)}, of
    events (ts, event_type, product_id, user_id): a user's events of one type on one product
    count at most MAX_EVENTS_PER_USER times per window."""
    result = {}
    last = max(ts for ts, _, _, _ in events)
    for end in range(SLIDE_MS, last + SIZE_MS + SLIDE_MS, SLIDE_MS):
        by_user: Counter = Counter(
            (product, event_type, user) for ts, event_type, product, user in events
            if end - SIZE_MS <= ts < end)
        counts: dict[str, Counter] = defaultdict(Counter)
        for (product, event_type, _), n in by_user.items():
            counts[product][event_type] += min(n, MAX_EVENTS_PER_USER)
        if counts:
            scored = sorted(((-sum(WEIGHTS[t] * n for t, n in c.items()), p)
                             for p, c in counts.items()))[:TOP_N]
            result[end] = {p: (-s, counts[p]["click"], counts[p]["cart"],
                               counts[p]["purchase"]) for s, p in scored}
    return result


def test_every_kind_of_bad_input_is_dead_lettered_and_nothing_else_changes(make_settings,
                                                                           tmp_path):
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": VERSION}))
    metrics_port = free_port()
    settings = make_settings(weights_file=weights_file, window_size_s=SIZE_MS // 1000,
                             window_slide_s=SLIDE_MS // 1000, top_n=TOP_N,
                             out_of_orderness_s=2, allowed_lateness_s=0, parallelism=1,
                             checkpoint_interval_s=5,
                             source_idle_timeout_s=120, flink_metrics_port=metrics_port,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE)
    ensure_topics(settings, partitions=1)
    topics = settings.event_topics
    now_ms = int(time.time() * 1000)
    bad = bad_records(now_ms)
    # The labels agree with the contract's reference classifier.
    for event_type, value, reason in bad:
        verdict = classify(value if value is not None else b"", event_type, now_ms,
                           settings.max_future_skew_s * 1000)
        assert (verdict.reason.value if verdict.reason else None) == reason, value
    assert Counter(reason for _, _, reason in bad) == {
        "not_json": 8, "missing_field": 3, "wrong_type": 4, "future_ts": 1,
        "unknown_event_type": 2, "topic_mismatch": 1, "bad_id": 6}

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5,
                         "message.max.bytes": 2_000_000})
    dead: list[tuple[str, int, str]] = []  # (topic, offset, reason) expected

    def send(event_type: str, value: bytes | None, reason: str | None) -> None:
        def report(err, msg):
            assert err is None, err
            if reason is not None:
                dead.append((msg.topic(), msg.offset(), reason))
        producer.produce(topics[event_type], value=value, on_delivery=report)

    valid = valid_events()
    reused_ids = valid[-20:]
    # Sent twice, the copy right after the first: the copy is a duplicate.
    resent = valid[100:105]
    # The ts in seconds is the first record of the clicks topic: the job reads it before its
    # source has seen any event, so before any watermark.
    send(*bad[0])
    spread = bad[1:]
    every = len(valid) // len(spread)  # one bad record in about every 100 valid ones
    for index, (ts, event_type, product, n) in enumerate(valid):
        number = n if (ts, event_type, product, n) not in reused_ids else n - 100
        send(event_type, dump(event(number, T0 + ts, event_type, product)), None)
        if (ts, event_type, product, n) in resent:
            send(event_type, dump(event(number, T0 + ts, event_type, product)), "duplicate")
        if index % every == every // 2 and index // every < len(spread):
            send(*spread[index // every])
    advance = [(50_000, t, "p-19") for t in TYPES]  # every watermark passes 40 s
    for ts, event_type, product in advance:
        send(event_type, dump(event(99_000, T0 + ts, event_type, product)), None)
    assert producer.flush(60) == 0
    assert len(dead) == len(bad) + len(resent)
    assert 0.009 < len(bad) / (len(valid) + len(bad)) < 0.011

    root = Path(settings.parquet_root[len("file://"):])

    def window_file(end_ms: int) -> Path:
        return root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + end_ms}.parquet"

    job = start_job(settings, tmp_path)
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        assert wait_until(lambda: window_file(40_000).exists() or not job.running(),
                          420, 0.2), job.log()
        # Late: behind every watermark now (the window ending at 40 s is written). A ts in
        # seconds is below the contract's least ts: wrong_type now as before any watermark.
        late = [("click", dump(event(801, T0 + 5_000)), "late"),
                ("cart", dump(event(802, T0 + 1_000, "cart")), "late"),
                ("purchase", dump(event(803, T0 + 15_000, "purchase")), "late"),
                ("click", dump(event(804, (T0 + 20_000) // 1000)), "wrong_type")]
        for event_type, value, reason in late:
            verdict = classify(value, event_type, now_ms, settings.max_future_skew_s * 1000)
            assert (verdict.reason.value if verdict.reason else "late") == reason, value
            send(event_type, value, reason)
        for event_type in TYPES:  # fires the windows holding the events at 50 s
            send(event_type, dump(event(99_001, T0 + 200_000, event_type, "p-18")), None)
        assert producer.flush(30) == 0
        counted = [(ts, t, p, user_of(n if (ts, t, p, n) not in reused_ids else n - 100))
                   for ts, t, p, n in valid] + [(ts, t, p, user_of(99_000))
                                                for ts, t, p in advance]
        last_end = max(expected_counts(counted))
        assert wait_until(lambda: window_file(last_end).exists() or not job.running(),
                          300, 0.2), job.log()
        assert job.running(), job.log()

        # One dead letter per bad or late record, keyed by its position, with its reason.
        letters = committed_dead_letters(settings, at_least=len(dead))
        got = sorted((json.loads(r.value)["topic"], json.loads(r.value)["offset"],
                      json.loads(r.value)["reason"]) for r in letters)
        assert got == sorted(dead)
        assert sorted(r.key.decode() for r in letters) == sorted(
            f"{topic}/0/{offset}" for topic, offset, _ in dead)

        # Counted by reason in the job's metric (published every few seconds).
        injected = Counter(reason for _, _, reason in dead)
        assert injected == {"not_json": 8, "missing_field": 3, "wrong_type": 5, "future_ts": 1,
                            "unknown_event_type": 2, "topic_mismatch": 1, "bad_id": 6,
                            "late": 3, "duplicate": 5}
        assert wait_until(lambda: all(
            job_metric(metrics, METRICS, f'reason="{reason}"') == count
            for reason, count in injected.items()), 60, 0.5), {
            reason: job_metric(metrics, METRICS, f'reason="{reason}"') for reason in injected}
        assert job_metric(metrics, RESTARTS) == 0

        # The windows are exactly those of the valid events, each user capped.
        for end, expected in expected_counts(counted).items():
            rows = pq.read_table(window_file(end), partitioning=None).to_pylist()
            overall = {r["product_id"]: (r["score"], r["clicks"], r["carts"], r["purchases"])
                       for r in rows if r["category"] is None and r["ranking"] == "popular"}
            assert overall == expected, end
        written = sorted(int(p.stem.split("-")[1]) - T0 for p in root.rglob("*.parquet"))
        assert written == sorted(expected_counts(counted))
        # Every row of every window, both rankings, overall and per category, with previous
        # ranks and momentum: those of a run over the valid events alone (test_job_bounded's
        # reference, which a run without bad records matches).
        reference = reference_rows(
            counted, last_end_ms=max(ts for ts, _, _, _ in counted) + SIZE_MS, size_ms=SIZE_MS,
            slide_ms=SLIDE_MS, top_n=TOP_N, weights=WEIGHTS, category_of=CATEGORY,
            version=VERSION, prior=RISING_PRIOR, min_score=RISING_MIN_SCORE)
        assert {r["category"] for r in reference} == {None, "c-0", "c-1", "c-2", "c-3"}
        assert {r["ranking"] for r in reference} == {"popular", "rising"}
        assert sorted(read_parquet_rows(root), key=row_key) == sorted(reference, key=row_key)
    finally:
        job.stop()
