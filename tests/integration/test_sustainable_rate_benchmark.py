"""Smoke run of the sustainable rate benchmark: two low rates for a few seconds each,
checking that its results are consistent (lag sampled from committed offsets, every event
read once the simulator stops, the API serving the job's newest window), never its
timings."""

from __future__ import annotations

import pytest

from benchmarks.sustainable_rate import parse_args, run_benchmark


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--rates", "200", "400", "--period-s", "16", "--products", "30",
        "--window-size-s", "6", "--window-slide-s", "2", "--checkpoint-interval-s", "2",
        "--state-dir", str(tmp_path),
    ])
    stack_env = dict(local_stack.settings_env())
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/15"
    report = run_benchmark(args, stack_env=stack_env)

    steps = report["steps"]
    assert [s["target_rate"] for s in steps][:1] == [200]
    for step in steps:
        assert step["sent"] > 0 and step["failed"] == 0
        assert step["samples"], "no lag sample"
        assert step["sustained"] == (step["achieved"] and step["lag_bounded"])
        assert step["ratio_achieved_to_target"] == round(
            step["achieved_rate"] / step["target_rate"], 3)
    assert report["sustainable_rate"] == max(
        (s["target_rate"] for s in steps if s["sustained"]), default=0)
    assert report["goal_met"] is False  # a 16 s period cannot meet a 300 s goal
    check = report["check"]
    assert check["events_sent"] == sum(s["sent"] for s in steps)
    assert check["events_read"] == check["events_sent"]
    assert check["dead_letters"] == 0
    assert check["api_answers"]["ok"] > 0
    assert check["api_top_equal_to_parquet"] is True
