"""The traffic model, checked statistically with fixed seeds (no servers).

Expected values are computed here from the model's definition (Zipf weights
k ** -s, conversion rates, trend factor), not taken from the generator.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import orjson
import pytest

from simulator.options import SimulationOptions, generate_events, parse_start
from simulator.traffic import (
    CART,
    CLICK,
    PURCHASE,
    EventGenerator,
    TrafficConfig,
    Trend,
    parse_offset_s,
    parse_trend,
)
from trend_tracker.events import classify, schema_errors

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def collect(config: TrafficConfig, count: int) -> dict[str, np.ndarray]:
    """The first ``count`` events of a stream, as concatenated columns."""
    batches = list(EventGenerator(config).bounded(count=count))
    return {name: np.concatenate([getattr(b, name) for b in batches])
            for name in ("seq", "ts", "event_type", "product", "user", "session")}


def within(observed: float, expected: float, n: int, sigmas: float = 5.0) -> bool:
    """A share observed over n draws lies within `sigmas` binomial deviations."""
    return abs(observed - expected) <= sigmas * math.sqrt(expected * (1 - expected) / n)


# --- determinism and the event contract ---------------------------------------------

def options(**overrides) -> SimulationOptions:
    values = {"count": 3000, "seed": 7, "start_ms": START_MS, "rate": 500.0, "products": 200,
                  "categories": 12}
    values.update(overrides)
    return SimulationOptions(**values)


def test_same_seed_gives_identical_records():
    first = generate_events(options(bad_fraction=0.02))
    second = generate_events(options(bad_fraction=0.02))
    assert len(first) == 3000
    assert first == second  # keys, values (event_id and ts included), topics


def test_other_seed_or_start_gives_other_records():
    base = generate_events(options())
    assert generate_events(options(seed=8)) != base
    other_start = generate_events(options(start_ms=START_MS + 1000))
    assert {e.value for e in other_start}.isdisjoint({e.value for e in base})


def test_every_event_is_valid_routed_and_keyed_by_product():
    events = generate_events(options())
    now = max(e.ts for e in events)
    ids = set()
    for event in events:
        decoded = orjson.loads(event.value)
        assert schema_errors(decoded) == []
        verdict = classify(event.value, event.topic_event_type, now, 60_000)
        assert verdict.valid, (verdict.reason, event.value)
        assert decoded["event_type"] == event.topic_event_type
        assert event.key == decoded["product_id"].encode()
        assert decoded["ts"] == event.ts
        ids.add(decoded["event_id"])
        # Only carts and purchases carry a price.
        assert ("price" in decoded) == (decoded["event_type"] != "click")
    assert len(ids) == len(events)


def test_events_come_in_ts_order_from_the_start():
    events = generate_events(options())
    ts = [e.ts for e in events]
    assert ts == sorted(ts)
    assert ts[0] >= START_MS


def test_duration_cuts_on_event_time():
    events = generate_events(options(count=None, duration_s=5.0))
    assert events and max(e.ts for e in events) < START_MS + 5000
    # 500 events/s for 5 s; the funnel's follow-ups make the exact count random.
    assert abs(len(events) - 2500) < 150


def test_rate_is_events_per_second_of_event_time():
    config = TrafficConfig(start_ms=START_MS, rate=1000.0, products=100, seed=3, trends=())
    generator = EventGenerator(config)
    n = sum(len(b) for b in generator.bounded(duration_s=100.0))
    # Clicks are evenly spaced; carts and purchases (~11% of events) are Bernoulli.
    assert abs(n - 100_000) < 1000


# --- popularity, funnel, sessions, trends -------------------------------------------

def test_popularity_follows_zipf_by_rank():
    s, products = 1.1, 50
    config = TrafficConfig(start_ms=START_MS, rate=100.0, products=products, seed=11,
                           zipf_s=s, trends=(), cart_rate=0.0)
    generator = EventGenerator(config)
    cols = collect(config, 200_000)
    counts = np.bincount(cols["product"], minlength=products)
    harmonic = sum(k ** -s for k in range(1, products + 1))
    ranking = generator.catalog.by_popularity
    for rank in range(1, 11):
        expected = rank ** -s / harmonic
        observed = counts[ranking[rank - 1]] / 200_000
        assert within(observed, expected, 200_000), (rank, observed, expected)
    # Skew: the top product gets about 50^1.1 = 74 times the clicks of the last one.
    assert counts[ranking[0]] / counts[ranking[-1]] == pytest.approx(50 ** s, rel=0.25)


def test_funnel_conversion_rates():
    config = TrafficConfig(start_ms=START_MS, rate=10.0, products=100, seed=5, trends=(),
                           cart_rate=0.12, purchase_rate=0.25)
    cols = collect(config, 300_000)
    kinds = Counter(cols["event_type"].tolist())
    clicks, carts, purchases = kinds[CLICK], kinds[CART], kinds[PURCHASE]
    assert within(carts / clicks, 0.12, clicks)
    assert within(purchases / carts, 0.25, carts)


def test_carts_and_purchases_follow_a_click_of_the_same_session():
    config = TrafficConfig(start_ms=START_MS, rate=200.0, products=30, seed=9, trends=())
    cols = collect(config, 20_000)
    seen: dict[tuple[int, int, int, int], list[int]] = {}
    checked = Counter()
    for ts, etype, product, user, session in zip(*(cols[n].tolist() for n in (
            "ts", "event_type", "product", "user", "session")), strict=True):
        triple = (product, user, session)
        seen.setdefault((etype, *triple), []).append(ts)
        if etype == CART and ts >= START_MS + 8000:
            # Its click came 1 to 8 s earlier (clicks before the start are not emitted).
            assert any(1000 <= ts - t < 8000 for t in seen.get((CLICK, *triple), []))
            checked["cart"] += 1
        if etype == PURCHASE and ts >= START_MS + 20_000:
            assert any(2000 <= ts - t < 20_000 for t in seen.get((CART, *triple), []))
            checked["purchase"] += 1
    assert checked["cart"] > 1000 and checked["purchase"] > 200


def test_sessions_belong_to_one_user_and_turn_over():
    config = TrafficConfig(start_ms=START_MS, rate=1000.0, products=30, users=10_000,
                           seed=4, trends=())
    cols = collect(config, 100_000)
    users_of_session: dict[int, set[int]] = {}
    for session, user in zip(cols["session"].tolist(), cols["user"].tolist(), strict=True):
        users_of_session.setdefault(session, set()).add(user)
    assert all(len(users) == 1 for users in users_of_session.values())
    clicks = int((cols["event_type"] == CLICK).sum())
    # About 8 clicks per session on average; many sessions, many users.
    assert 5 <= clicks / len(users_of_session) <= 12
    assert len(set(cols["user"].tolist())) > 5000


def test_injected_trend_multiplies_a_products_popularity():
    s, products, factor, at_s = 1.1, 50, 10.0, 3000.0
    base = TrafficConfig(start_ms=START_MS, rate=100.0, products=products, seed=21,
                         zipf_s=s, trends=(), cart_rate=0.0)
    # Pick the product at popularity rank 20 of this seed's catalog.
    target_index = int(EventGenerator(base).catalog.by_popularity[19])
    target = f"p-{target_index + 1:05d}"
    config = TrafficConfig(start_ms=START_MS, rate=100.0, products=products, seed=21,
                           zipf_s=s, cart_rate=0.0, trends=(Trend(target, factor, at_s),))
    cols = collect(config, 600_000)  # 6000 s: half before the trend, half after
    before = cols["ts"] < START_MS + at_s * 1000
    n_before, n_after = int(before.sum()), int((~before).sum())
    hits = cols["product"] == target_index
    share_before = hits[before].sum() / n_before
    share_after = hits[~before].sum() / n_after

    weights = [k ** -s for k in range(1, products + 1)]
    total, w = sum(weights), weights[19]
    expected_before = w / total
    expected_after = factor * w / (total - w + factor * w)
    assert within(share_before, expected_before, n_before)
    assert within(share_after, expected_after, n_after)
    # The product's traffic rises by the factor, less the renormalisation of the total.
    assert share_after / share_before == pytest.approx(
        factor * total / (total - w + factor * w), rel=0.08)


def test_default_trend_is_a_mid_popular_product_times_twenty():
    generator = EventGenerator(TrafficConfig(start_ms=START_MS, products=1000, seed=1))
    (trend,) = generator.trends
    assert trend.product_id == generator.catalog.product_ids[
        int(generator.catalog.by_popularity[49])]
    assert (trend.factor, trend.at_s) == (20.0, 60.0)
    before, after = generator.popularity_at(START_MS), generator.popularity_at(START_MS + 60_000)
    index = generator.catalog.index_of(trend.product_id)
    assert after[index] / before[index] > 10


def test_products_have_categories_and_every_category_is_used():
    events = generate_events(options(products=200, categories=12))
    category_of: dict[str, str] = {}
    for event in events:
        decoded = orjson.loads(event.value)
        assert category_of.setdefault(decoded["product_id"], decoded["category"]) == \
            decoded["category"]
    generator = EventGenerator(TrafficConfig(start_ms=START_MS, products=200, categories=12))
    assert sorted(set(generator.catalog.product_category.tolist())) == list(range(12))


# --- parsing --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("1.5m", 90.0), ("2h", 7200.0), ("500ms", 0.5)])
def test_parse_offset(text, seconds):
    assert parse_offset_s(text) == seconds


def test_parse_trend_splits_from_the_right():
    assert parse_trend("p-00042:10:60s") == Trend("p-00042", 10.0, 60.0)
    assert parse_trend("shop:p-1:2.5:1m") == Trend("shop:p-1", 2.5, 60.0)
    for bad in ("p-1:10", "p-1:x:60", "p-1:-2:60", "bad id!:2:60"):
        with pytest.raises(ValueError):
            parse_trend(bad)


def test_parse_start_iso_or_epoch_ms():
    assert parse_start("2024-01-01T00:00:00Z") == START_MS
    assert parse_start("2024-01-01T01:00:00+01:00") == START_MS
    assert parse_start("2024-01-01T00:00:00") == START_MS
    assert parse_start(str(START_MS)) == START_MS
    with pytest.raises(ValueError):
        parse_start("yesterday")


def test_live_clock_cannot_run_unthrottled():
    with pytest.raises(ValueError, match="live clock"):
        SimulationOptions(throttle=False)
    assert SimulationOptions(start_ms=START_MS).throttled is False
    assert SimulationOptions().throttled is True


def test_a_start_the_contract_refuses_is_an_error():
    # Every event is stamped at or after the start: a start in seconds, or before 2000,
    # would make each of them wrong_type.
    for start_ms in (START_MS // 1000, 0, 946_684_799_999):
        with pytest.raises(ValueError, match="start_ms out of range"):
            TrafficConfig(start_ms=start_ms)
    assert TrafficConfig(start_ms=946_684_800_000).start_ms == 946_684_800_000
