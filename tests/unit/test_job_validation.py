"""The job's SQL validation against the reference classifier, on a real Flink planner.

No servers: the SQL runs over literal values in an embedded batch TableEnvironment (one
JVM for the module). The expected reasons come from ``trend_tracker.events.classify``.
"""

from __future__ import annotations

import json
import time

import pytest

from jobs.validation import (
    canonical_sql,
    category_sql,
    computed_once,
    event_time_sql,
    fast_ts_sql,
    product_id_sql,
    reason_sql,
    sql_string,
    watermark_sql,
)
from trend_tracker.events import MAX_TS_MS, classify

SKEW_S = 60
# Collected once, long before some tests run: timestamps meant to be in the future stay
# an hour or more ahead, so they are still future when the comparison runs.
NOW = int(time.time() * 1000)
PAST = NOW - 3_600_000


def event(**changes) -> str:
    body = {"event_id": "e-1", "event_type": "click", "product_id": "p-1",
            "category": "shoes", "user_id": "u-1", "ts": PAST, "price": 19.99}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...})


def compact(**changes) -> str:
    """An event as the simulator writes it: compact, an extra field, ts before price."""
    body = {"event_id": "e-7", "event_type": "click", "product_id": "p-7",
            "category": "toys", "user_id": "u-7", "session_id": "s-1", "ts": PAST}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}, separators=(",", ":"),
                      ensure_ascii=False)


PAYLOADS: list[str | None] = [
    event(), event(price=...), event(price=None), event(price=0), event(price=-2),
    event(price=1e300), event(price="1"), event(price=True), event(price=[1]),
    event(ts=0), event(ts=MAX_TS_MS), event(ts=MAX_TS_MS + 1), event(ts=-1),
    event(ts=str(PAST)), event(ts=PAST + 0.5), event(ts=float(PAST)), event(ts=True),
    event(ts=None), event(ts={"ms": PAST}), event(ts=10**30),
    event(ts=NOW + (SKEW_S - 30) * 1000), event(ts=NOW + 3_600_000),
    event(ts=NOW + 86_400_000),
    event(user_id=...), event(event_id=None), event(category=...), event(product_id=None),
    event(event_type=...),
    event(product_id=7), event(category=["shoes"]), event(event_id={"a": 1}),
    event(user_id=False), event(event_type=1),
    event(product_id="bad id"), event(product_id="p" * 64), event(product_id="p" * 65),
    event(product_id="p-1\n"), event(category="shoes/x"), event(category=""),
    event(event_id=""), event(event_id="e" * 128), event(event_id="e" * 129),
    event(user_id="u\"q\\x" + "y" * 124), event(user_id="u\"q\\x" + "y" * 125),
    event(event_id="é" * 128),
    event(event_type="view"), event(event_type="Click"), event(event_type="cart"),
    event(event_type="purchase"),
    event(product_id="bad id", event_type="view"), event(user_id=..., ts="x"),
    '{"event_id": "e", "ts": NaN}', "not json", "", "[1, 2]", "42", "null", '"text"',
    '{"event_id": "e-1"', event() + "\n", " \t" + event() + " \r\n", event() + " x",
    '{"a": 1}', "{}", None,
    # Duplicate keys: the last one wins, as in Python's json module.
    event()[:-1] + ', "ts": "late string"}',
    event()[:-1] + ', "ts": ' + str(PAST + 1) + "}",
    # The compact form with extra fields (the fast path), and its near misses.
    compact(), compact(price=86.65), compact(price=1e-5), compact(price=12345678901234567.0),
    compact(user_id="ü" * 128), compact(user_id="ü" * 129), compact(event_id="a\tb"),
    compact(event_id='q"q'), compact(category="c/x"), compact(product_id="p" * 65),
    compact(event_type="cart"), compact(ts=NOW + 3_600_000), compact(ts=10**15),
    compact(session_id={"ts": 1}), compact(meta={"ts": 5, "product_id": "x"}),
    compact(category={"ts": 5}), compact(user_id='"ts":5,'),
    compact()[:-1], compact() + "\n", compact() + " x",
]


@pytest.fixture(scope="module")
def table_env():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    t_env.get_config().set("table.local-time-zone", "UTC")
    return t_env


def run_validation(t_env, payloads: list[str | None], topic_type: str) -> list[tuple]:
    values = ", ".join(
        f"({i}, {'CAST(NULL AS STRING)' if p is None else sql_string(p)})"
        for i, p in enumerate(payloads))
    query = f"""
    SELECT i, reason, CAST(et AS STRING), product_id, category FROM (
      SELECT i, {reason_sql(topic_type, SKEW_S)} AS reason,
             {event_time_sql()} AS et,
             {product_id_sql()} AS product_id, {category_sql()} AS category
      FROM (SELECT *, {computed_once(fast_ts_sql(topic_type))} AS fast_ts
            FROM (SELECT i, payload, {computed_once(canonical_sql())} AS doc
                  FROM (VALUES {values}) AS raw_values(i, payload))))
    """
    with t_env.execute_sql(query).collect() as results:
        return sorted(tuple(row) for row in results)


def test_sql_validation_matches_the_reference_classifier(table_env):
    rows = run_validation(table_env, PAYLOADS, "click")
    assert [row[0] for row in rows] == list(range(len(PAYLOADS)))
    now = int(time.time() * 1000)
    mismatches = []
    for (i, reason, _, product_id, category), payload in zip(rows, PAYLOADS):
        verdict = classify(payload, "click", now, SKEW_S * 1000)
        expected = verdict.reason.value if verdict.reason else None
        if reason != expected:
            mismatches.append((payload, reason, expected))
        elif expected is None and (product_id, category) != (
                verdict.event["product_id"], verdict.event["category"]):
            mismatches.append((payload, product_id, category))
    assert mismatches == []


def test_every_reason_is_exercised():
    now = int(time.time() * 1000)
    reasons = {classify(p, "click", now, SKEW_S * 1000).reason for p in PAYLOADS}
    assert {r.value for r in reasons if r} == {
        "not_json", "missing_field", "wrong_type", "bad_id", "unknown_event_type",
        "topic_mismatch", "future_ts"}
    assert None in reasons


def timestamp_text(ms: int) -> str:
    """How Flink prints a TIMESTAMP_LTZ(3) of epoch milliseconds in UTC."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


def test_event_time_and_watermark_candidate(table_env):
    future = NOW + 86_400_000
    payloads = [event(), event(ts=future), event(ts=str(PAST)), "not json",
                event(ts=MAX_TS_MS + 1), event(product_id="bad id"), event(ts=-5),
                compact(ts=PAST + 7)]
    values = ", ".join(f"({i}, {sql_string(p)})" for i, p in enumerate(payloads))
    query = f"""
    SELECT i, CAST(et AS STRING), CAST(wm AS STRING) FROM (
      SELECT i, et, {watermark_sql(SKEW_S, "INTERVAL '5' SECOND")} AS wm
      FROM (SELECT i, {event_time_sql()} AS et FROM (VALUES {values}) AS v(i, payload)))
    """
    with table_env.execute_sql(query).collect() as results:
        rows = sorted(tuple(row) for row in results)
    event_times = [PAST, future, PAST, 0, MAX_TS_MS, PAST, 0, PAST + 7]
    # The watermark candidate is the event time minus the lateness, except that a time
    # beyond the skew counts as epoch 0, so it never moves the watermark.
    candidates = [0 if ms > NOW + SKEW_S * 1000 else ms for ms in event_times]
    assert rows == [(i, timestamp_text(ms), timestamp_text(wm - 5000))
                    for i, (ms, wm) in enumerate(zip(event_times, candidates))]


def test_topic_mismatch_depends_on_the_topic(table_env):
    payloads = [event(event_type="click"), event(event_type="cart"),
                event(event_type="purchase")]
    rows = run_validation(table_env, payloads, "cart")
    assert [row[1] for row in rows] == ["topic_mismatch", None, "topic_mismatch"]
