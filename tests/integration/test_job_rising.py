"""The simulator's injected trend shows up in the rising ranking of a bounded run.

Demo-shaped: the demo's windows (2 min sliding by 10 s), rate (500 events/s) and catalog
(500 products), a fixed seed, and the simulator's default trend (a product from the 50th
popularity rank that becomes 20 times as popular). The trend starts once a whole window of
traffic lies behind it, so the window it is compared with (the previous non-overlapping one)
is complete; within two slides of its start the product must be in the rising top 3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from registry.weights import DEFAULT_WEIGHTS
from simulator.options import SimulationOptions
from simulator.runner import run_simulation
from simulator.traffic import EventGenerator, Trend, default_trend
from trend_tracker.demo import DEMO_PRODUCTS, DEMO_RATE, DEMO_WINDOW_SIZE_S, DEMO_WINDOW_SLIDE_S

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a multiple of the slide
SEED = 20240101
TREND_AT_S = 2 * DEMO_WINDOW_SIZE_S


def test_the_injected_trend_is_rising_within_two_slides(make_settings, tmp_path):
    from jobs.trending import run

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({**DEFAULT_WEIGHTS, "version": "demo/1"}))
    settings = make_settings(window_size_s=DEMO_WINDOW_SIZE_S,
                             window_slide_s=DEMO_WINDOW_SLIDE_S, top_n=10, parallelism=1,
                             weights_file=str(weights_file), source_idle_timeout_s=120)
    options = SimulationOptions(rate=DEMO_RATE, products=DEMO_PRODUCTS, seed=SEED,
                                start_ms=T0, partitions=2)
    catalog = EventGenerator(options.traffic_config(T0, SEED)).catalog
    demo_trend = default_trend(catalog)
    trend = Trend(demo_trend.product_id, demo_trend.factor, TREND_AT_S)
    slide_ms = DEMO_WINDOW_SLIDE_S * 1000
    start_ms = T0 + TREND_AT_S * 1000
    # Enough event time for the window two slides after the start to close.
    duration_s = TREND_AT_S + 2 * DEMO_WINDOW_SLIDE_S + settings.out_of_orderness_s + 5
    run_simulation(settings, SimulationOptions(
        rate=DEMO_RATE, products=DEMO_PRODUCTS, seed=SEED, start_ms=T0, partitions=2,
        duration_s=duration_s, trends=(trend,)))
    run(settings, bounded=True)

    root = Path(settings.parquet_root[len("file://"):])
    rising_top: dict[int, list[str]] = {}
    popular_rank: dict[int, int | None] = {}
    for end in (start_ms - slide_ms, start_ms + slide_ms, start_ms + 2 * slide_ms):
        (path,) = root.rglob(f"trends-{end}.parquet")
        rows = [r for r in pq.read_table(path, partitioning=None).to_pylist()
                if r["category"] is None]
        rising_top[end] = [r["product_id"] for r in rows if r["ranking"] == "rising"][:3]
        popular_rank[end] = next((r["rank"] for r in rows if r["ranking"] == "popular"
                                  and r["product_id"] == trend.product_id), None)
    print(f"trend {trend.product_id}: rising top 3 {rising_top}, popular rank {popular_rank}")
    # Before the trend the product is not rising; two slides after its start it is.
    assert trend.product_id not in rising_top[start_ms - slide_ms]
    assert trend.product_id in rising_top[start_ms + 2 * slide_ms]
