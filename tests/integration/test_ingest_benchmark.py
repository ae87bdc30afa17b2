"""A small run of `python -m benchmarks.ingest_rate`: correctness only, never timing."""

from __future__ import annotations

import pytest

from benchmarks import ingest_rate


@pytest.mark.benchmark
def test_ingest_rate_benchmark_runs_and_every_event_arrives(local_stack):
    result = ingest_rate.main([
        "--events", "5000", "--batch", "100", "--connections", "4", "--repeat", "1",
        "--bootstrap-servers", local_stack.bootstrap_servers,
    ])
    assert result["verified"] is True  # every event was answered accepted and read back
    assert set(result["rates_events_per_s"]) == {"simulator_direct", "ingest"}
    assert all(rate > 0 for rate in result["rates_events_per_s"].values())
    assert result["ingest_statuses"] == [{"status_202": 50}]
    assert result["events_per_phase"] == 5000
    assert result["ratio_ingest_to_simulator_direct"] > 0
