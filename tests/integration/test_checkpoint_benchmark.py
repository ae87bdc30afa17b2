"""Smoke run of the checkpoint cost benchmark: a small backlog and short intervals,
checking that its results are consistent (every run read the whole backlog, wrote the
same windows row for row, and reported its checkpoints), never its timings."""

from __future__ import annotations

import pytest

from benchmarks.checkpoint_cost import parse_args, run_benchmark

EVENTS = 3000


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--events", str(EVENTS), "--products", "50", "--event-rate", "50",
        "--window-size-s", "60", "--window-slide-s", "10", "--intervals", "1", "3",
        "--state-dir", str(tmp_path),
    ])
    stack_env = dict(local_stack.settings_env())
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/13"
    report = run_benchmark(args, stack_env=stack_env)

    assert report["baseline"] == "every_3s"
    assert set(report["intervals"]) == {"every_1s", "every_3s"}
    # 3000 events at 50 per second of event time span 60 s: the backlog's watermark
    # closes the windows ending up to about 55 s in, each run wrote them all alike.
    assert report["windows_written"] >= 5
    check = report["rows_check"]
    assert check["runs_compared"] == 1
    assert check["rows"] > 0
    assert (check["windows_missing"], check["windows_extra"], check["mismatched_rows"]) \
        == (0, 0, 0)
    for name, runs in report["runs"].items():
        (run,) = runs
        assert run["checkpoint_interval_s"] == int(name[len("every_"):-1])
        assert run["events_per_s"] == round(EVENTS / run["drain_s"])
        assert run["rate"] == (run["events_per_s_flowing"] or run["events_per_s"]) > 0
        assert run["checkpoints"], name
        for checkpoint in run["checkpoints"]:
            assert checkpoint["duration_ms"] >= 0 and checkpoint["full_size_bytes"] > 0
        assert run["retained_checkpoint_bytes"] > 0
    ratios = report["ratio_to_baseline"]
    assert ratios["every_3s"] == 1.0
    assert ratios["every_1s"] == round(report["intervals"]["every_1s"]["events_per_s_compared"]
                                       / report["intervals"]["every_3s"]["events_per_s_compared"],
                                       3)
    for moment in ("load_avg_before", "load_avg_after"):
        assert len(report[moment]) == 3 and min(report[moment]) >= 0
