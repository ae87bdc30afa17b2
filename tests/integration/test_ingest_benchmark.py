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
    # The event loop's responsiveness: /health probes on the idle server, then under the load.
    probes = result["health_probes"]
    assert probes["idle"] == ingest_rate.IDLE_PROBES
    assert probes["under_load"] >= 1  # the first is sent as the load starts
    assert result["health_probe_statuses"] == [
        {"idle": {"status_200": probes["idle"]},
         "under_load": {"status_200": probes["under_load"]}}]
    for phase in ("idle", "under_load"):
        figures = result["health_probe_ms"][phase]
        assert set(figures) == {"p50", "p99", "max", "mean"}
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"]
    assert result["ratio_health_p99_under_load_to_idle"] == round(
        result["health_probe_ms"]["under_load"]["p99"] / result["health_probe_ms"]["idle"]["p99"],
        3)


@pytest.mark.benchmark
def test_with_tracing_every_request_sends_its_spans_and_both_modes_are_compared(local_stack):
    result = ingest_rate.main([
        "--events", "2000", "--batch", "100", "--connections", "2", "--repeat", "1",
        "--bootstrap-servers", local_stack.bootstrap_servers, "--tracing",
    ])
    assert result["verified"] is True  # every event arrived, every span was received
    assert set(result["rates_events_per_s"]) == {"simulator_direct", "ingest", "ingest_tracing"}
    tracing = result["tracing"]
    # A server and a producer span per request.
    assert tracing["spans_received"] == [{"POST /events": 20, "send events": 20}]
    off, on = tracing["request_latency_ms"]["off"], tracing["request_latency_ms"]["on"]
    assert off == result["ingest_request_latency_ms"]
    ratios = tracing["ratio_on_to_off"]
    assert ratios.pop("rate") > 0  # of the unrounded rates
    assert ratios == {
        "latency_p50": round(on["p50"] / off["p50"], 3),
        "latency_p99": round(on["p99"] / off["p99"], 3),
        "server_cpu_per_event": round(tracing["server_cpu_us_per_event"]["on"]
                                      / tracing["server_cpu_us_per_event"]["off"], 3)}
