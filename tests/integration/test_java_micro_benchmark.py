"""Smoke run of the Java micro-benchmarks: every benchmark runs once, briefly, and reports
its figures (never checked against any speed)."""

from __future__ import annotations

import pytest

from benchmarks.java_micro import parse_args, run_benchmark


@pytest.mark.benchmark
def test_benchmark_reports_every_jmh_benchmark():
    args = parse_args(["--forks", "1", "--warmups", "0", "--iterations", "1",
                       "--iteration-time", "100ms"])
    report = run_benchmark(args)
    results = report["results"]
    assert [(r["benchmark"], r["params"]) for r in results] == [
        ("DecoderBenchmark.decoder", {}), ("DecoderBenchmark.format", {}),
        ("ProductSlicesBenchmark.add", {"products": "1000"}),
        ("ProductSlicesBenchmark.add", {"products": "100000"})]
    for result in results:
        assert result["ns_per_op"] > 0 and result["events_per_s"] > 0
        assert result["error_ns"] is None  # one iteration: no interval
        assert (result["iterations"], result["forks"]) == (1, 1)
    assert report["jmh"]["version"] == "1.37"
