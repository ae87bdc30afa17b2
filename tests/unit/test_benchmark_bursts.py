"""The pure parts of the freshness bursts and of the live profile: when bursts go, how
large they are, and how profile samples are grouped."""

from __future__ import annotations

from benchmarks.freshness import BurstInjector, burst_times
from benchmarks.profile import _thread, descendants


def test_bursts_spread_over_the_span_whose_first_window_is_measured():
    # Windows ending at 10, 12, ..., 18 s, slide 2 s: bursts from 8 s to 16 s.
    ends = [10_000, 12_000, 14_000, 16_000, 18_000]
    assert burst_times(ends, 2000, 4) == [9.0, 11.0, 13.0, 15.0]
    assert burst_times(ends, 2000, 0) == []


def _injector(share: float) -> BurstInjector:
    injector = BurstInjector.__new__(BurstInjector)  # no catalog or broker needed here
    injector.share = share
    return injector


def _items(kth: dict[str, int], k: int = 10) -> list[dict[str, int]]:
    return [{"clicks": 1000, "carts": 100, "purchases": 10}] * (k - 1) + [kth]


def test_a_burst_outweighs_the_tenth_item_by_its_share():
    kth = {"clicks": 68, "carts": 4, "purchases": 1}
    assert _injector(1.5).burst_counts(_items(kth), 1.0) == {
        "click": 102, "cart": 6, "purchase": 2}


def test_a_burst_sized_on_a_half_filled_window_is_scaled_to_a_full_one():
    kth = {"clicks": 68, "carts": 4, "purchases": 1}
    assert _injector(1.5).burst_counts(_items(kth), 0.5) == {
        "click": 204, "cart": 12, "purchase": 3}


def test_with_fewer_than_ten_items_a_burst_is_one_click():
    kth = {"clicks": 68, "carts": 4, "purchases": 1}
    assert _injector(1.5).burst_counts(_items(kth, k=9), 1.0) == {
        "click": 1, "cart": 0, "purchase": 0}


def test_cold_products_are_the_least_popular_not_shown_nor_used():
    import numpy as np

    injector = BurstInjector.__new__(BurstInjector)
    injector.catalog = type("Catalog", (), {
        "by_popularity": np.array([2, 0, 3, 1]),
        "product_ids": ("p-00001", "p-00002", "p-00003", "p-00004")})()
    injector.used = {"p-00002"}
    # Least popular first: index 1 (used), then 3 (shown), then 0.
    assert injector.cold_product([{"product_id": "p-00004"}]) == 0


def test_task_threads_are_grouped_by_operator_chain():
    assert _thread("Source: src_click[1] -> Calc[2] (1/2)#0") == "Source: src_click[1] -> Calc[2]"
    assert _thread("LocalWindowAggregate[21] (2/2)#3") == "LocalWindowAggregate[21]"
    assert _thread("prometheus-http-1-2") == "prometheus-http-1-2"


def test_descendants_follow_parent_links_only():
    table = {1: ("init", 0, 1, 0.0), 10: ("bench", 1, 10, 0.0), 11: ("job", 10, 11, 0.0),
             12: ("java", 11, 11, 0.0), 20: ("other", 1, 20, 0.0)}
    assert descendants(table, 10) == {10, 11, 12}
