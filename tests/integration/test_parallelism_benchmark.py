"""Smoke run of the parallelism benchmark: a small N, checking that its results are
consistent (each run at each parallelism, the whole job's rows equal at 1 and 2), never its
timings."""

from __future__ import annotations

import pytest

from benchmarks.parallelism import parse_args, run_benchmark

EVENTS = 3000


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args(["--events", str(EVENTS), "--products", "30", "--categories", "4",
                       "--event-rate", "50", "--window-size-s", "60",
                       "--window-slide-s", "10", "--repeat", "1",
                       "--state-dir", str(tmp_path), "--phase-timeout-s", "900"])
    stack_env = dict(local_stack.settings_env())
    # A Redis database of its own, so other tests' windows cannot be mistaken for ours.
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/12"
    report = run_benchmark(args, stack_env=stack_env)

    assert report["events_in_topics"] == EVENTS
    assert sorted(report["runs"]) == ["count_p1", "count_p2", "job_p1", "job_p2"]
    assert all(len(runs) == 1 and runs[0]["events_per_s"] > 0
               for runs in report["runs"].values())
    assert set(report["events_per_s"]) == set(report["runs"])
    assert report["speedup_count"] > 0 and report["speedup_job"] > 0
    # top_n exceeds the products, so the overall rankings hold every product of every
    # window, and a bounded run fires every window: each event is counted once per window
    # containing it, size / slide times.
    outputs = report["job_outputs"]
    assert outputs["overall_events"] == EVENTS * 60 // 10
    assert outputs["dead_letters"] == 0
    check = report["rows_check"]
    assert check["windows"] == outputs["windows"] > 0
    assert check["rows"] == outputs["parquet_rows"]
    assert (check["windows_missing"], check["windows_extra"], check["schema_mismatches"],
            check["path_mismatches"], check["mismatched_rows"]) == (0, 0, 0, 0, 0)
