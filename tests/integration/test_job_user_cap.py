"""One user cannot make a trend: a single user's 10,000 clicks on one product, amid ordinary
traffic on four other products, put it in neither ranking (popular nor rising, overall nor
in its category), in a bounded run of the job.

Each window counts a user's events of one type on one product at most
``max_events_per_user`` (5) times. Every row is compared with the reference of
test_job_bounded (plain Python, the cap applied there by its own rule); without the cap that
reference ranks the product first, so the data does test the cap. The capped clicks are
valid events: none is a dead letter.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_job_bounded import (
    MAX_EVENTS_PER_USER,
    RISING_MIN_SCORE,
    RISING_PRIOR,
    T0,
    WEIGHTS,
    WEIGHTS_VERSION,
    produce,
    read_parquet_rows,
    reference_rows,
    row_key,
)

from simulator.kafka_io import ensure_topics, read_topic

SIZE_MS, SLIDE_MS, TOP_N = 60_000, 10_000, 3
SPAM, BOT = "p-spam", "u-bot"
PRODUCTS = ["p-1", "p-2", "p-3", "p-4"]
CATEGORY = {**{product: "shoes" for product in PRODUCTS}, SPAM: "shoes"}
SLICES = 12  # ordinary traffic over 0 s to 120 s


def traffic() -> list[tuple[int, str, str, str]]:
    """(ms after T0, event_type, product_id, user_id): the bot's 10,000 clicks on SPAM in
    the first minute, and on each other product, in each 10 s, more shoppers than the 10 s
    before (6 + slice + k clicks, one each) and one cart."""
    events = [(6 * i, "click", SPAM, BOT) for i in range(10_000)]
    for j in range(SLICES):
        for k, product in enumerate(PRODUCTS, start=1):
            for i in range(6 + j + k):
                events.append((j * SLIDE_MS + 100 * i + 10 * k, "click", product,
                               f"u-{k}-{j}-{i}"))
            events.append((j * SLIDE_MS + 9_000 + 10 * k, "cart", product, f"c-{k}-{j}"))
    return sorted(events)


def test_a_single_users_10000_clicks_put_a_product_in_no_ranking(make_settings, tmp_path):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": WEIGHTS_VERSION}))
    settings = make_settings(window_size_s=SIZE_MS // 1000, window_slide_s=SLIDE_MS // 1000,
                             top_n=TOP_N, out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), checkpoint_interval_s=1,
                             rising_prior=RISING_PRIOR, rising_min_score=RISING_MIN_SCORE,
                             source_idle_timeout_s=120)
    assert settings.max_events_per_user == MAX_EVENTS_PER_USER
    ensure_topics(settings, partitions=2)
    topics = settings.event_topics

    events = traffic()
    partition = {SPAM: 0, "p-1": 1, "p-2": 0, "p-3": 1, "p-4": 0}
    records = [(topics[event_type], partition[product], json.dumps({
        "event_id": f"e-{n}", "event_type": event_type, "product_id": product,
        "category": CATEGORY[product], "user_id": user, "ts": T0 + ts}).encode())
        for n, (ts, event_type, product, user) in enumerate(events)]
    produce(settings, records)

    run(settings, bounded=True)

    last_end = max(ts for ts, _, _, _ in events) + SIZE_MS
    shape = {"size_ms": SIZE_MS, "slide_ms": SLIDE_MS, "top_n": TOP_N,
             "category_of": CATEGORY, "last_end_ms": last_end}
    expected = reference_rows(events, **shape)
    # Without the cap, the bot's product would lead both rankings.
    uncapped = reference_rows(events, cap=0, **shape)
    assert {(r["ranking"], r["rank"]) for r in uncapped if r["product_id"] == SPAM} == {
        ("popular", 1), ("rising", 1)}

    actual = read_parquet_rows(Path(settings.parquet_root[len("file://"):]))
    assert not any(row["product_id"] == SPAM for row in actual)
    assert {row["category"] for row in actual} == {None, "shoes"}
    assert {row["ranking"] for row in actual} == {"popular", "rising"}
    assert sorted(actual, key=row_key) == sorted(expected, key=row_key)
    # Capped clicks are valid events, not dead letters.
    assert list(read_topic(settings, settings.topic_dead_letters, idle_timeout_s=3)) == []
