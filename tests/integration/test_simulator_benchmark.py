"""A small run of `python -m benchmarks.simulator_rate`: correctness only, never timing."""

from __future__ import annotations

import pytest

from benchmarks import simulator_rate


@pytest.mark.benchmark
def test_simulator_rate_benchmark_runs_and_every_record_arrives(local_stack):
    result = simulator_rate.main([
        "--events", "20000", "--repeat", "1", "--target-rate", "20000",
        "--bootstrap-servers", local_stack.bootstrap_servers,
    ])
    assert result["verified"] is True  # every phase's records were read back
    assert set(result["rates_events_per_s"]) == {
        "baseline", "simulator_unthrottled", "simulator_at_target"}
    assert all(rate > 0 for rate in result["rates_events_per_s"].values())
    assert result["events_per_phase"] == 20000
    assert result["ratio_unthrottled_to_baseline"] > 0
