"""A product that changes category mid-window is one item in every ranking: it is ranked
in the category of its latest event in the window (by event time; at the same millisecond,
the greatest category name), with all of its events counted, and in no other category.

A bounded run of the job at parallelism 2; expected rows are written out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from test_job_bounded import produce

from simulator.kafka_io import ensure_topics

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z; tumbling windows of 10 s
WEIGHTS = {"click": 1, "cart": 3, "purchase": 5}

# (ms after T0, event_type, product_id, category), each topic's partition in this order.
EVENTS = [
    # p-1 moves from shoes to books at 6 s: books in [0 s, 10 s).
    (1_000, "click", "p-1", "shoes"), (2_000, "click", "p-1", "shoes"),
    (3_000, "click", "p-2", "shoes"), (4_000, "purchase", "p-3", "books"),
    (6_000, "cart", "p-1", "books"),
    # p-4 is named in two categories at the same millisecond: toys, the greatest name.
    (7_000, "click", "p-4", "art"), (7_000, "cart", "p-4", "toys"),
    # In [10 s, 20 s) p-1 is back in shoes: its latest event, at 15 s, names it.
    (12_000, "click", "p-1", "books"), (15_000, "click", "p-1", "shoes"),
    (14_000, "purchase", "p-1", "books"),
]


def test_a_product_that_changes_category_is_one_item_in_the_category_of_its_latest_event(
        make_settings, tmp_path):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**WEIGHTS, "version": "moves/1"}))
    settings = make_settings(window_size_s=10, window_slide_s=10, top_n=10,
                             out_of_orderness_s=5, parallelism=2,
                             weights_file=str(weights_file), source_idle_timeout_s=120,
                             redis_url=make_settings().redis_url.rsplit("/", 1)[0] + "/13")
    ensure_topics(settings, partitions=1)
    produce(settings, [
        (settings.event_topics[event_type], 0, json.dumps({
            "event_id": f"e-{n}", "event_type": event_type, "product_id": product_id,
            "category": category, "user_id": f"u-{n}", "ts": T0 + offset_ms}).encode())
        for n, (offset_ms, event_type, product_id, category) in enumerate(EVENTS)])

    run(settings, bounded=True)

    root = Path(settings.parquet_root[len("file://"):])

    def popular(end_s: int) -> dict[str | None, list[tuple]]:
        rows = pq.read_table(root / "date=2024-01-01" / "hour=00"
                             / f"trends-{T0 + end_s * 1000}.parquet",
                             partitioning=None).to_pylist()
        scopes: dict[str | None, list[tuple]] = {}
        for r in sorted(rows, key=lambda r: r["rank"]):
            if r["ranking"] == "popular":
                scopes.setdefault(r["category"], []).append(
                    (r["rank"], r["product_id"], r["score"], r["clicks"], r["carts"],
                     r["purchases"]))
        return scopes

    # [0 s, 10 s): p-1 2 clicks + 1 cart = 5, ties with p-3's purchase (5) and ranks first
    # by product_id; p-4 1 click + 1 cart = 4; p-2 1.
    assert popular(10) == {
        None: [(1, "p-1", 5.0, 2, 1, 0), (2, "p-3", 5.0, 0, 0, 1), (3, "p-4", 4.0, 1, 1, 0),
               (4, "p-2", 1.0, 1, 0, 0)],
        "books": [(1, "p-1", 5.0, 2, 1, 0), (2, "p-3", 5.0, 0, 0, 1)],
        "shoes": [(1, "p-2", 1.0, 1, 0, 0)],
        "toys": [(1, "p-4", 4.0, 1, 1, 0)],
    }
    # [10 s, 20 s): p-1 2 clicks + 1 purchase = 7, in shoes (its event at 15 s).
    assert popular(20) == {None: [(1, "p-1", 7.0, 2, 0, 1)],
                           "shoes": [(1, "p-1", 7.0, 2, 0, 1)]}
