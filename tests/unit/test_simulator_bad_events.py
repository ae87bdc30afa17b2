"""Malformed events: how many, of which kind, and that each is rejected for its reason."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import orjson
import pytest

from simulator.encoding import make_bad
from simulator.options import SimulationOptions, generate_events
from trend_tracker.events import Reason, classify

START_MS = 1_704_067_200_000
SKEW_MS = 60_000

# The dead-letter reason each kind is meant to trigger (the event contract's codes).
EXPECTED_REASON = {
    "not_json": Reason.NOT_JSON,
    "missing_field": Reason.MISSING_FIELD,
    "wrong_type": Reason.WRONG_TYPE,
    "unknown_event_type": Reason.UNKNOWN_EVENT_TYPE,
    "future_ts": Reason.FUTURE_TS,
    "bad_id": Reason.BAD_ID,
    "topic_mismatch": Reason.TOPIC_MISMATCH,
}
KIND_ORDER = list(EXPECTED_REASON)

EVENT = {"event_id": "e-1", "event_type": "cart", "product_id": "p-00001",
         "category": "books", "user_id": "u-7", "session_id": "s-3", "ts": START_MS,
         "price": 12.5}


def expected_bad_positions(count: int, fraction: str) -> list[int]:
    """Stream positions i where floor((i + 1) * f) > floor(i * f), with exact fractions."""
    f = Fraction(fraction)
    return [i for i in range(count) if (i + 1) * f // 1 > i * f // 1]


@pytest.mark.parametrize(("count", "fraction"), [(7000, "0.01"), (5000, "0.037"),
                                                 (1000, "0")])
def test_bad_events_count_per_kind_is_exact(count, fraction):
    events = generate_events(SimulationOptions(count=count, seed=3, start_ms=START_MS,
                                               rate=2000.0, bad_fraction=float(fraction)))
    positions = expected_bad_positions(count, fraction)
    assert [i for i, e in enumerate(events) if e.bad_kind] == positions
    expected_kinds = Counter(KIND_ORDER[b % len(KIND_ORDER)] for b in range(len(positions)))
    assert Counter(e.bad_kind for e in events if e.bad_kind) == expected_kinds


def test_each_bad_event_is_classified_with_its_reason():
    events = generate_events(SimulationOptions(count=20_000, seed=5, start_ms=START_MS,
                                               rate=2000.0, bad_fraction=0.02))
    now = max(e.ts for e in events)
    reasons: dict[str, Counter] = {}
    for event in events:
        verdict = classify(event.value, event.topic_event_type, now, SKEW_MS)
        if event.bad_kind is None:
            assert verdict.valid, event.value
        else:
            reasons.setdefault(event.bad_kind, Counter())[verdict.reason] += 1
    assert set(reasons) == set(EXPECTED_REASON)
    for kind, seen in reasons.items():
        assert set(seen) == {EXPECTED_REASON[kind]}, (kind, seen)


@pytest.mark.parametrize("variant", range(6))
@pytest.mark.parametrize("kind", KIND_ORDER)
def test_every_variant_of_every_kind_is_rejected_for_its_reason(kind, variant):
    topic, _key, value = make_bad(kind, EVENT, variant)
    topic_type = ("click", "cart", "purchase")[topic]
    verdict = classify(value, topic_type, START_MS, SKEW_MS)
    assert verdict.reason == EXPECTED_REASON[kind]


def test_bad_kinds_change_what_they_say():
    assert orjson.loads(make_bad("wrong_type", EVENT, 0)[2])["ts"] == str(START_MS)
    assert "event_id" not in orjson.loads(make_bad("missing_field", EVENT, 0)[2])
    assert orjson.loads(make_bad("unknown_event_type", EVENT, 0)[2])["event_type"] == "view"
    assert orjson.loads(make_bad("future_ts", EVENT, 0)[2])["ts"] > START_MS + 50 * 365 * 86_400_000
    topic, key, value = make_bad("bad_id", EVENT, 0)
    assert len(orjson.loads(value)["product_id"]) == 65 and key == b"p-00001" + b"x" * 58
    # A cart on the purchases topic (topic code 2), otherwise unchanged.
    topic, key, value = make_bad("topic_mismatch", EVENT, 0)
    assert (topic, orjson.loads(value)) == (2, EVENT)
    assert make_bad("not_json", EVENT, 0)[2] == orjson.dumps(EVENT)[: len(orjson.dumps(EVENT)) // 2]
