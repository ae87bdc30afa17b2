"""Smoke run of the sustainable rate benchmark: two low rates for a few seconds each,
checking that its results are consistent (lag sampled from committed offsets, every event
read once the simulator stops, the API serving the job's newest window), never its
timings, and that each step carries its profile)."""

from __future__ import annotations

import pytest

from benchmarks.sustainable_rate import parse_args, run_benchmark


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--rates", "200", "400", "--period-s", "16", "--products", "30",
        "--window-size-s", "6", "--window-slide-s", "2", "--checkpoint-interval-s", "2",
        "--profile-s", "6", "--state-dir", str(tmp_path),
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
        # The profile: the job's JVM and the simulator used CPU, and the recording holds
        # samples of the job's threads, each share its count over the total.
        profile = step["profile"]
        assert "jfr_error" not in profile, profile.get("jfr_error")
        assert 5 <= profile["span_s"] <= 16
        assert profile["cores_by_process"]["job JVM (MiniCluster)"] > 0
        assert profile["cores_by_process"]["simulator"] > 0
        assert profile["benchmark_cores"] + 0.01 >= \
            profile["cores_by_process"]["job JVM (MiniCluster)"]
        jfr = profile["jfr"]
        assert jfr["samples"] > 0 and jfr["by_thread"] and jfr["top_self_frames"]
        for entry in jfr["by_thread"] + jfr["top_self_frames"]:
            assert entry["share"] == round(entry["samples"] / jfr["samples"], 3)
        assert sum(e["samples"] for e in jfr["by_thread"]) <= jfr["samples"]
    assert report["sustainable_rate"] == max(
        (s["target_rate"] for s in steps if s["sustained"]), default=0)
    assert report["goal_met"] is False  # a 16 s period cannot meet a 300 s goal
    check = report["check"]
    assert check["events_sent"] == sum(s["sent"] for s in steps)
    assert check["events_read"] == check["events_sent"]
    assert check["dead_letters"] == 0 and check["dead_letter_reasons"] == {}
    assert check["api_answers"]["ok"] > 0
    assert check["api_top_equal_to_parquet"] is True
