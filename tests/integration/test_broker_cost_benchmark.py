"""Smoke run of the broker cost benchmark: a short, slow run whose results are consistent
(the consumer read every record produced in its phase, and the broker's CPU was read),
never its timings."""

from __future__ import annotations

import pytest

from benchmarks.broker_cost import parse_args, run_benchmark


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args(["--rate", "200", "--period-s", "3", "--state-dir", str(tmp_path)])
    report = run_benchmark(args, stack_env=dict(local_stack.settings_env()))

    produce, both = report["phases"]["produce"], report["phases"]["produce_and_consume"]
    for phase in (produce, both):
        assert phase["events"] == 600  # 200 events/s for 3 s
        assert phase["broker_cores"] >= 0
    assert both["consumed"] == both["events"]
    assert both["consumer_kept_up"] is True
    assert report["load"] == {"rate": 200.0, "period_s": 3.0, "topics": 3, "partitions": 2}
