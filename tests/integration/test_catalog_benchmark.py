"""Smoke run of the catalog scale benchmark: one tiny catalog on both state backends,
checking that its results are consistent (both runs read the whole backlog and wrote the
same windows row for row, state and checkpoint figures present, a PNG chart written),
never its timings."""

from __future__ import annotations

import pytest

from benchmarks.catalog_scale import parse_args, run_benchmark

EVENTS = 3000
PRODUCTS = 40


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    chart = tmp_path / "chart.png"
    args = parse_args([
        "--events", str(EVENTS), "--products", str(PRODUCTS), "--event-rate", "50",
        "--ratios", "6", "--backends", "hashmap", "rocksdb", "--window-size-s", "60",
        "--checkpoint-interval-s", "2", "--chart", str(chart), "--state-dir", str(tmp_path),
    ])
    stack_env = dict(local_stack.settings_env())
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/14"
    report = run_benchmark(args, stack_env=stack_env)

    (backlog,) = report["backlogs"]
    assert 0 < backlog["distinct_products_seen"] <= PRODUCTS
    results = report["results"]
    assert [(r["products"], r["backend"], r["ratio"], r["window_slide_s"]) for r in results] \
        == [(PRODUCTS, "hashmap", 6, 10), (PRODUCTS, "rocksdb", 6, 10)]
    for result in results:
        assert result["events_per_s"] == round(EVENTS / result["drain_s"])
        assert result["events_per_s_compared"] == result["events_per_s"] > 0
        assert result["checkpoints"] >= 1
        assert result["state_bytes_max"] > 0
        assert result["heap_used_max_mb"] > 0
    assert results[0]["ratio_to_baseline"] == 1.0
    # Both backends wrote the same windows, row for row.
    check = report["rows_check"]
    assert check["pairs_compared"] == 1 and check["windows"] >= 5 and check["rows"] > 0
    assert (check["windows_missing"], check["windows_extra"], check["mismatched_rows"]) \
        == (0, 0, 0)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
