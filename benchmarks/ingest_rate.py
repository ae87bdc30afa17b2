"""The ingest service's accept rate against the simulator's direct produce rate, in one run.

    python -m benchmarks.ingest_rate [--events 200000] [--batch 100] [--connections 8]
        [--repeat 3] [--bootstrap-servers HOST:PORT] [--tracing]

Starts a private embedded stack (unless ``--bootstrap-servers`` names a broker) and,
each on fresh topics, measures:

1. baseline: the simulator unthrottled (simulated clock), producing straight to Kafka with
   confluent-kafka: generation, encoding and producing, until flushed;
2. the ingest service (``trend ingest``: one uvicorn worker, its own process) taking the
   same simulator's events as JSON arrays of ``--batch`` events, posted over
   ``--connections`` keep-alive connections; timed from the first request to the last
   answer, each answer coming after the broker acknowledged its events (``acks=all``).
   Every request carries the phase's API key, and the key's rate limit is on, with a
   bucket as large as the phase: the checks cost what they cost, and never refuse.

The bodies are generated and encoded before the clock starts. The load generator is a
minimal HTTP/1.1 client on asyncio streams, so that on a small machine it takes little of
the CPU the service and the broker need. Every phase reads its topics back (partition
assignment from offset 0, not the high watermark, which the local broker under-reports)
and checks that every event arrived; the ingest phase also checks that every event was
answered as accepted. Rates are events/s, median over ``--repeat`` runs; the figure of
merit is ``ingest / simulator_direct`` (goal: at least 0.5). Where the service's time goes:
its CPU per event (from ``/proc``), and, in this process on the same bodies, what framing
the bodies and checking the events with the contract cost per event.

Whether the service's event loop stays responsive while it checks and produces events at
full speed: a client in a process of its own sends ``GET /health`` probes at a fixed rate
(``PROBE_RATE``) over one keep-alive connection, ``IDLE_PROBES`` of them on the idle
server before each ingest run (the baseline), then throughout the run. The latencies of
every run are pooled: p50, p99 and max of each, and the p99 under load against the idle
one. Each ingest request's latency (from sending it to its answer) is pooled the same way.

With ``--tracing``, a third phase runs the ingest service with tracing on
(``OTEL_TRACES_EXPORTER=otlp``, the SDK's default batching) exporting to a real OTLP/HTTP
endpoint in this process (``localstack.otlp``), and every request of both ingest phases
carries a ``traceparent`` header, as a traced client sends: the cost of tracing is that
phase against the ingest phase of the same run. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from api.ingest_auth import ApiKeyStore, RateLimiter
from api.ingest_batch import check_batch, split_events
from benchmarks import SEED, START_MS, interleaved_runs, machine, percentiles
from benchmarks.simulator_rate import drop_topics, fresh_settings, verify
from localstack.otlp import OtlpReceiver
from localstack.servers import IngestServer
from simulator.encoding import EventEncoder
from simulator.kafka_io import ensure_topics
from simulator.options import SimulationOptions
from simulator.runner import run_simulation
from simulator.traffic import EventGenerator
from trend_tracker.events import EVENT_TYPES
from trend_tracker.settings import Settings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_rate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per phase")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--connections", type=int, default=8,
                        help="concurrent keep-alive connections to the ingest service")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--bootstrap-servers", default=None,
                        help="use this broker instead of starting a local stack")
    parser.add_argument("--tracing", action="store_true",
                        help="also measure the service with tracing on (OTLP), clients "
                             "sending a traceparent")
    return parser.parse_args(argv)


# --- the events ------------------------------------------------------------------------------


def request_bodies(events: int, products: int, batch: int) -> tuple[list[bytes], Counter[str]]:
    """The simulator's events as JSON array bodies of ``batch`` events, and the count of
    each event type."""
    options = SimulationOptions(count=events, products=products, seed=SEED, start_ms=START_MS)
    generator = EventGenerator(options.traffic_config(START_MS, SEED))
    encoder = EventEncoder(generator.catalog, generator.config.stream_id())
    values: list[bytes] = []
    per_type: Counter[str] = Counter({t: 0 for t in EVENT_TYPES})
    for chunk in generator.bounded(count=events):
        encoded = encoder.encode(chunk)
        values.extend(encoded.values)
        per_type.update(EVENT_TYPES[t] for t in encoded.topic)
    bodies = [b"[" + b",".join(values[i:i + batch]) + b"]"
              for i in range(0, len(values), batch)]
    return bodies, per_type


# --- the load generator --------------------------------------------------------------------

#: The client's trace context a traced request carries (W3C Trace Context).
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request_head(api_key: str, traceparent: bool = False) -> bytes:
    """The head of each request, with ``%d`` for the body's length."""
    return (b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + api_key.encode("ascii") + b"\r\n"
            + (b"traceparent: " + TRACEPARENT + b"\r\n" if traceparent else b"")
            + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")


async def _post_all(port: int, head: bytes, bodies: Iterator[bytes],
                    tally: Counter[str], latencies: list[float]) -> None:
    """POST bodies over one keep-alive connection until ``bodies`` is exhausted."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:  # shared by every connection; asyncio runs one at a time
            sent = time.perf_counter()
            writer.write(head % len(body) + body)
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
            tally[f"status_{status}"] += 1
            if status == 202:
                tally["accepted"] += orjson.loads(answer)["accepted"]
    finally:
        writer.close()
        await writer.wait_closed()


async def _post_concurrently(port: int, api_key: str, bodies: list[bytes],
                             connections: int, traceparent: bool = False
                             ) -> tuple[Counter[str], list[float]]:
    """The answers' statuses and accepted events, and each request's latency (s)."""
    tally: Counter[str] = Counter()
    latencies: list[float] = []
    shared = iter(bodies)
    head = request_head(api_key, traceparent)
    await asyncio.gather(*(_post_all(port, head, shared, tally, latencies)
                           for _ in range(connections)))
    return tally, latencies


# --- the health probe ------------------------------------------------------------------------

#: ``GET /health`` probes per second, from a client of their own.
PROBE_RATE = 20
#: Probes of the idle server before each ingest run: the baseline.
IDLE_PROBES = 100


def _probe_health(port: int, interval_s: float, commands: Connection) -> None:
    """A probing client (a process of its own, so that neither the load generator's event
    loop nor its interpreter lock delays it): one ``GET /health`` every ``interval_s`` on a
    fixed schedule, over one keep-alive connection. Each command is a number of probes to
    send, or None to probe until the next message; the answer is the latencies in seconds
    and the count of each status."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get_health() -> tuple[float, int]:
        started = time.perf_counter()
        client.request("GET", "/health")
        response = client.getresponse()
        response.read()
        return time.perf_counter() - started, response.status

    get_health()  # the connection and the route's first call: not measured
    while (count := commands.recv()) != "exit":
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        next_at = time.perf_counter()
        while count is None or len(latencies) < count:
            latency, status = get_health()
            latencies.append(latency)
            statuses[f"status_{status}"] += 1
            next_at += interval_s
            wait = max(0.0, next_at - time.perf_counter())
            if count is None and commands.poll(wait):
                commands.recv()
                break
            if count is not None:
                time.sleep(wait)
        commands.send((latencies, dict(statuses)))
    client.close()


class HealthProbe:
    """:func:`_probe_health` in its own process, driven from here."""

    def __init__(self, port: int, rate: float = PROBE_RATE) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of this process's threads
        self._commands, child = context.Pipe()
        self._process = context.Process(target=_probe_health, args=(port, 1 / rate, child),
                                        daemon=True)
        self._process.start()

    def probe(self, count: int) -> tuple[list[float], dict[str, int]]:
        """``count`` probes, at the rate."""
        self._commands.send(count)
        return self._commands.recv()

    def start(self) -> None:
        """Probe at the rate until :meth:`stop`."""
        self._commands.send(None)

    def stop(self) -> tuple[list[float], dict[str, int]]:
        self._commands.send("stop")
        return self._commands.recv()

    def close(self) -> None:
        self._commands.send("exit")
        self._process.join(10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the phases ----------------------------------------------------------------------------


def simulator_direct_run(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    """The simulator, unthrottled on a simulated clock, producing straight to Kafka."""
    settings = fresh_settings(bootstrap, args.partitions)
    ensure_topics(settings)
    summary = run_simulation(settings, SimulationOptions(
        count=args.events, products=args.products, seed=SEED, start_ms=START_MS,
        throttle=False))
    ok = (summary.failed == 0 and summary.sent == args.events
          and verify(settings, summary.per_type))
    drop_topics(settings)
    return {"rate": summary.rate, "elapsed_s": summary.elapsed_s, "verified": ok}


def ingest_run(args: argparse.Namespace, bootstrap: str, bodies: list[bytes],
               per_type: Counter[str], workdir: Path, tracing: bool = False) -> dict[str, Any]:
    """The ingest service taking the same events over HTTP, batch by batch; with
    ``tracing``, exporting its spans to an OTLP endpoint of this process."""
    with ExitStack() as stack:
        traces = stack.enter_context(OtlpReceiver(keep=False)) if tracing else None
        result = _ingest_run(args, bootstrap, bodies, per_type, workdir, traces)
    if traces is not None:
        # Every request's server and producer spans, sent by the time the service stopped
        # (the /health probes' spans besides).
        received = {name: traces.span_names[name] for name in ("POST /events", "send events")}
        result["spans_received"] = received
        result["verified"] = result["verified"] and set(received.values()) == {len(bodies)}
    return result


def _ingest_run(args: argparse.Namespace, bootstrap: str, bodies: list[bytes],
                per_type: Counter[str], workdir: Path,
                traces: OtlpReceiver | None) -> dict[str, Any]:
    settings: Settings = fresh_settings(bootstrap, args.partitions)
    ensure_topics(settings)
    env = settings.as_env()
    api_key = secrets.token_urlsafe(32)
    env.update({
        "TREND_INGEST_MAX_BATCH": str(max(args.batch, 1)),
        "TREND_INGEST_API_KEYS": f"benchmark:{api_key}",
        # Charged on every request, and never short: the bucket holds the whole phase.
        "TREND_INGEST_RATE_BURST": str(max(args.events, args.batch, 1)),
        "TREND_INGEST_RATE_LIMIT_EVENTS_PER_S": str(max(args.events, 1)),
    })
    if traces is not None:
        env.update({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": traces.url})
    with IngestServer(env, log_path=workdir / "ingest.log") as server:
        health = HealthProbe(server.port)
        try:
            idle_probes, idle_statuses = health.probe(IDLE_PROBES)
            cpu_before = _cpu_seconds(server.pid)
            health.start()
            started = time.perf_counter()
            tally, latencies = asyncio.run(_post_concurrently(
                server.port, api_key, bodies, args.connections, traceparent=args.tracing))
            elapsed = time.perf_counter() - started
            loaded_probes, loaded_statuses = health.stop()
            server_cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            health.close()
    accepted = tally["accepted"]
    ok = (accepted == args.events and tally["status_202"] == len(bodies)
          and verify(settings, dict(per_type)))
    drop_topics(settings)
    return {"rate": accepted / elapsed, "elapsed_s": elapsed, "verified": ok,
            "requests": len(bodies), "statuses": {k: v for k, v in tally.items()
                                                  if k.startswith("status_")},
            "server_cpu_us_per_event": round(server_cpu / max(accepted, 1) * 1e6, 2),
            "request_latencies_s": latencies,
            "health_probes_s": {"idle": idle_probes, "under_load": loaded_probes},
            "health_probe_statuses": {"idle": idle_statuses, "under_load": loaded_statuses}}


def in_process_costs(bodies: list[bytes], batch: int) -> dict[str, float]:
    """Microseconds per event of the service's pure steps, on one core: finding the client
    of each request's API key (among 10 keys) and charging its bucket, cutting the bodies
    into events, and checking each with ``classify`` and routing it."""
    sample = bodies[:200]
    topics = Settings(_env_file=None).event_topics
    keys = [f"client-{n}:{secrets.token_urlsafe(32)}" for n in range(10)]
    store = ApiKeyStore.from_settings(",".join(keys), None)
    limiter = RateLimiter(rate=1e9, burst=10**9)
    presented = keys[-1].split(":", 1)[1]
    started_auth = time.perf_counter()
    for _ in sample:
        limiter.charge(store.client(presented), batch)
    authenticated = time.perf_counter()
    started = time.perf_counter()
    items = [split_events(body, batch) for body in sample]
    framed = time.perf_counter()
    now_ms = time.time_ns() // 1_000_000
    for events in items:
        check_batch(events, topics, now_ms, 60_000)
    checked = time.perf_counter()
    count = sum(len(events) for events in items)
    return {"api_key_and_rate_limit": round((authenticated - started_auth) / count * 1e6, 3),
            "framing": round((framed - started) / count * 1e6, 2),
            "classify_and_route": round((checked - framed) / count * 1e6, 2)}


def measure(args: argparse.Namespace, bootstrap: str, workdir: Path) -> dict[str, Any]:
    bodies, per_type = request_bodies(args.events, args.products, args.batch)
    phases = {
        "simulator_direct": lambda: simulator_direct_run(args, bootstrap),
        "ingest": lambda: ingest_run(args, bootstrap, bodies, per_type, workdir),
    }
    if args.tracing:
        phases["ingest_tracing"] = lambda: ingest_run(args, bootstrap, bodies, per_type,
                                                      workdir, tracing=True)
    runs, rates = interleaved_runs(phases, args.repeat)
    probes_ms = {phase: percentiles([s * 1000 for r in runs["ingest"]
                                     for s in r["health_probes_s"][phase]], 2)
                 for phase in ("idle", "under_load")}
    latency_ms = {phase: percentiles([s * 1000 for r in runs[phase]
                                      for s in r.pop("request_latencies_s")], 2)
                  for phase in phases if phase.startswith("ingest")}
    tracing = {}
    if args.tracing:
        on, off = runs["ingest_tracing"], runs["ingest"]
        cpu_on = statistics.median(r["server_cpu_us_per_event"] for r in on)
        cpu_off = statistics.median(r["server_cpu_us_per_event"] for r in off)
        tracing = {"tracing": {
            "request_latency_ms": {"off": latency_ms["ingest"], "on": latency_ms["ingest_tracing"]},
            "server_cpu_us_per_event": {"off": cpu_off, "on": cpu_on},
            "spans_received": [r["spans_received"] for r in on],
            "ratio_on_to_off": {
                "rate": round(rates["ingest_tracing"] / rates["ingest"], 3),
                "latency_p50": round(latency_ms["ingest_tracing"]["p50"]
                                     / latency_ms["ingest"]["p50"], 3),
                "latency_p99": round(latency_ms["ingest_tracing"]["p99"]
                                     / latency_ms["ingest"]["p99"], 3),
                "server_cpu_per_event": round(cpu_on / cpu_off, 3)},
        }}
    return {
        "rates_events_per_s": {k: round(v) for k, v in rates.items()},
        "runs_events_per_s": {k: [round(r["rate"]) for r in rs] for k, rs in runs.items()},
        "ratio_ingest_to_simulator_direct": round(rates["ingest"] / rates["simulator_direct"], 3),
        "ingest_server_cpu_us_per_event": statistics.median(
            r["server_cpu_us_per_event"] for r in runs["ingest"]),
        "ingest_statuses": [r["statuses"] for r in runs["ingest"]],
        "in_process_us_per_event": in_process_costs(bodies, args.batch),
        "health_probe_rate_per_s": PROBE_RATE,
        "health_probes": {phase: sum(len(r["health_probes_s"][phase]) for r in runs["ingest"])
                          for phase in ("idle", "under_load")},
        "health_probe_statuses": [r["health_probe_statuses"] for r in runs["ingest"]],
        "health_probe_ms": probes_ms,
        "ratio_health_p99_under_load_to_idle": round(
            probes_ms["under_load"]["p99"] / probes_ms["idle"]["p99"], 3),
        "ingest_request_latency_ms": latency_ms["ingest"],
        **tracing,
        "verified": all(r["verified"] for rs in runs.values() for r in rs),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stack = None
    bootstrap = args.bootstrap_servers
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="trend-bench-") as tmp:
        workdir = Path(tmp)
        if bootstrap is None:
            from localstack import LocalStack

            stack = LocalStack(workdir / "stack")
            bootstrap = stack.up().bootstrap_servers
        try:
            result = measure(args, bootstrap, workdir)
        finally:
            if stack is not None:
                stack.down()
    result.update({
        "benchmark": "ingest_rate",
        "command": " ".join(["python -m benchmarks.ingest_rate",
                             *(argv if argv is not None else sys.argv[1:])]),
        "events_per_phase": args.events,
        "batch": args.batch,
        "connections": args.connections,
        "repeat": args.repeat,
        "partitions": args.partitions,
        "ingest_server": "trend ingest, one uvicorn worker, acks=all, idempotent producer, "
                         "an API key per request and a rate limit that never binds",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": machine(),
        "broker": "Apache Kafka (local stack), same machine" if stack else bootstrap,
    })
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
