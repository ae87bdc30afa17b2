"""Throughput of the trending job against the raw read rate of the same events, one run.

    python -m benchmarks.job_throughput [--events 1000000] [--parallelism 2]
        [--window-size-s 600 --window-slide-s 30] [--conf key=value ...]

On a private embedded stack (Tansu broker, redis-server, S3 endpoint, MLflow):

1. produce N simulated events (``simulator.run_simulation``, seeded, simulated clock, no
   pacing) across the clicks/carts/purchases topics with confluent-kafka;
2. baseline A: read them back raw with one confluent-kafka consumer (assign, no group);
3. baseline B: a Flink job reading the same three topics (``raw`` format, one table per
   topic, bounded at the true end offsets, the job's own Flink configuration) into a
   ``blackhole`` sink;
4. baseline C: the same raw read, parsing each value once (``JSON_VALUE`` of one field) into
   the blackhole: the floor of any job that has to look inside every event;
5. the trending job in bounded mode (``jobs.trending.build``), writing to its real sinks
   (Parquet, Redis, dead-letter topic).

Each Flink run is a fresh Python process (its own JVM). Its time is measured from
``execute()`` to the end of ``wait()``, so it includes job scheduling and shutdown (a few
seconds, the same in B and the job) but not JVM start nor plan building. Rates are
events/s; the figure of merit is ``job / flink_raw`` (goal >= 0.8); ``job / flink_parse``
shows how far the job is from the one-parse floor. Results print as JSON,
with the machine and the command.

``--conf key=value`` sets a Flink/table option on the job (after its own configuration,
before planning), to try tunings; ``--skip-raw`` skips the baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trend_tracker.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The simulated clock starts here: a fixed past instant, so no event is "in the future".
START_MS = 1_704_067_200_000
SEED = 20240101


# --- the parent: stack, data, baselines, report ------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job_throughput",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to produce")
    parser.add_argument("--event-rate", type=float, default=1000.0,
                        help="events per second of event time (sets how many windows)")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--window-slide-s", type=int, default=30)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Flink option for the job (repeatable)")
    parser.add_argument("--skip-raw", action="store_true", help="skip both raw baselines")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the private stack and outputs live (default: a temp dir)")
    parser.add_argument("--phase", choices=("flink-raw", "flink-parse", "job"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def benchmark_settings(stack_env: dict[str, str], work_dir: Path,
                       args: argparse.Namespace) -> Settings:
    """Settings on the private stack, with fresh topics and the benchmark's job shape."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {k[len("TREND_"):].lower(): v for k, v in stack_env.items()}
    values.update(
        state_dir=work_dir / "state",
        topic_clicks=f"clicks-{suffix}",
        topic_carts=f"carts-{suffix}",
        topic_purchases=f"purchases-{suffix}",
        topic_dlq=f"events-dlq-{suffix}",
        parquet_root_uri=f"file://{work_dir / 'parquet'}",
        metrics_port=0,
        parallelism=args.parallelism,
        window_size_s=args.window_size_s,
        window_slide_s=args.window_slide_s,
        top_n=args.top_n,
        # Bounded runs end before a checkpoint matters; keep them out of the measurement.
        checkpoint_interval_s=600,
    )
    return Settings(_env_file=None, **values)


def produce(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Produce the events; returns the simulator's summary."""
    from simulator.options import SimulationOptions
    from simulator.runner import run_simulation

    options = SimulationOptions(
        rate=args.event_rate, count=args.events, products=args.products,
        categories=args.categories, seed=SEED, start_ms=START_MS, throttle=False,
        partitions=settings.topic_partitions,
    )
    summary = run_simulation(settings, options)
    if summary.failed or summary.sent != args.events:
        raise RuntimeError(f"produced {summary.sent} of {args.events} events")
    return summary.as_dict()


def confluent_raw_read(settings: Settings, ends: dict[str, dict[int, int]]) -> dict[str, Any]:
    """Baseline A: read every record up to ``ends`` with one confluent-kafka consumer."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 20,
    })
    remaining = {(t, p): end for t, parts in ends.items() for p, end in parts.items() if end}
    count, value_bytes = 0, 0
    started = time.perf_counter()
    consumer.assign([TopicPartition(t, p, 0) for t, p in remaining])
    while remaining:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error():
                continue
            key = (message.topic(), message.partition())
            if key not in remaining:
                continue
            count += 1
            value_bytes += len(message.value() or b"")
            if message.offset() + 1 >= remaining[key]:
                del remaining[key]
    elapsed = time.perf_counter() - started
    consumer.close()
    return {"events": count, "bytes": value_bytes, "seconds": round(elapsed, 3),
            "events_per_s": round(count / elapsed)}


def run_phase(phase: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Run one Flink measurement in a fresh Python process (its own JVM); its JSON result."""
    command = [sys.executable, "-m", "benchmarks.job_throughput", "--phase", phase]
    for conf in args.conf:
        command += ["--conf", conf]
    env = {**os.environ, **settings.as_env()}
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{phase} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process_seconds"] = round(time.perf_counter() - started, 3)
    return report


def job_outputs(settings: Settings) -> dict[str, Any]:
    """What the job wrote, to check a run (not timed): Parquet rows and windows, the summed
    counts of the overall rankings, how many Parquet rankings Redis holds identically
    (same products in the same ranks), and dead letters."""
    import pyarrow.dataset as ds
    import redis

    from jobs.offsets import true_end_offsets
    from trend_tracker.redis_layout import ranking_key

    root = settings.parquet_root[len("file://"):]
    rows = ds.dataset(root, format="parquet", partitioning="hive").to_table(
        columns=["window_end", "category", "rank", "product_id", "clicks", "carts",
                 "purchases"]).to_pylist()
    rankings: dict[tuple[int, str | None], list[tuple[int, str]]] = {}
    for row in rows:
        key = (int(row["window_end"].timestamp() * 1000), row["category"])
        rankings.setdefault(key, []).append((row["rank"], row["product_id"]))
    client = redis.Redis.from_url(settings.redis_url)
    try:
        stored = client.mget([ranking_key(category, end) for end, category in rankings])
    finally:
        client.close()
    same_in_redis = sum(
        1 for ranked, document in zip(rankings.values(), stored)
        if document is not None and sorted(ranked) == sorted(
            (item["rank"], item["product_id"]) for item in json.loads(document)["items"]))
    dlq = true_end_offsets(settings.bootstrap_servers, [settings.topic_dlq])[settings.topic_dlq]
    return {
        "parquet_rows": len(rows),
        "windows": len({end for end, _ in rankings}),
        "rankings": len(rankings),
        "rankings_same_in_redis": same_in_redis,
        "overall_events": sum(row["clicks"] + row["carts"] + row["purchases"]
                              for row in rows if row["category"] is None),
        "dead_letters": sum(dlq.values()),
    }


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    memory_gb = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory_gb = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def run_benchmark(args: argparse.Namespace,
                  stack_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The whole measurement; returns the report.

    Starts a private embedded stack unless ``stack_env`` (its ``TREND_*`` variables) names
    a running one.
    """
    from localstack import LocalStack

    with tempfile.TemporaryDirectory(prefix="trend-bench-") as tmp:
        work_dir = (args.state_dir or Path(tmp)).resolve()
        if stack_env is not None:
            return measure(args, stack_env, work_dir)
        stack = LocalStack(work_dir / "stack")
        state = stack.up()
        try:
            return measure(args, state.settings_env(), work_dir)
        finally:
            stack.down()


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    """Produce, read raw, run the job, and report (see the module docstring)."""
    from jobs.offsets import true_end_offsets
    from registry.client import ensure_default_weights

    settings = benchmark_settings(stack_env, work_dir, args)
    ensure_default_weights(settings)  # the job reads its weights from the registry
    progress(f"producing {args.events} events")
    produced = produce(settings, args)
    topics = list(settings.event_topics.values())
    ends = true_end_offsets(settings.bootstrap_servers, topics, timeout_s=30)
    in_topics = sum(sum(parts.values()) for parts in ends.values())
    report: dict[str, Any] = {
        "benchmark": "job_throughput",
        "command": getattr(args, "command", "python -m benchmarks.job_throughput"),
        "machine": machine(),
        "events": args.events,
        "events_in_topics": in_topics,
        "job_shape": {"window_size_s": args.window_size_s, "window_slide_s": args.window_slide_s,
                      "top_n": args.top_n, "parallelism": args.parallelism,
                      "products": args.products, "categories": args.categories,
                      "event_rate": args.event_rate, "conf": args.conf},
        "produce": {"seconds": produced["elapsed_s"], "events_per_s": round(produced["rate"])},
    }
    if not args.skip_raw:
        progress("baseline: confluent-kafka raw read")
        report["confluent_raw"] = confluent_raw_read(settings, ends)
        progress("baseline: Flink raw read into a blackhole")
        report["flink_raw"] = run_phase("flink-raw", settings, args)
        progress("baseline: Flink raw read, one JSON parse per event, into a blackhole")
        report["flink_parse"] = run_phase("flink-parse", settings, args)
    progress("the trending job, bounded")
    report["job"] = run_phase("job", settings, args)
    report["job"]["outputs"] = job_outputs(settings)
    for name in ("flink_raw", "flink_parse", "job"):
        if name in report:
            add_rates(report[name], in_topics)
    if "flink_raw" in report:
        job, raw = report["job"], report["flink_raw"]
        report["ratio_job_to_flink_raw"] = round(job["events_per_s"] / raw["events_per_s"], 3)
        report["ratio_job_to_flink_raw_wall"] = round(
            job["events_per_s_wall"] / raw["events_per_s_wall"], 3)
        report["ratio_job_to_flink_parse"] = round(
            job["events_per_s"] / report["flink_parse"]["events_per_s"], 3)
        report["ratio_flink_parse_to_flink_raw"] = round(
            report["flink_parse"]["events_per_s"] / raw["events_per_s"], 3)
        report["ratio_job_to_confluent_raw"] = round(
            job["events_per_s"] / report["confluent_raw"]["events_per_s"], 3)
    report["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return report


def add_rates(run: dict[str, Any], events: int) -> None:
    """events/s by Flink's net runtime of the job (primary) and by wall time."""
    run["events_per_s_wall"] = round(events / run["seconds"])
    if "net_runtime_seconds" in run:
        run["events_per_s"] = round(events / run["net_runtime_seconds"])
    else:
        run["events_per_s"] = run["events_per_s_wall"]


# --- the children: one Flink job each ------------------------------------------------------


def _timed_execution(statement_set_or_result_factory) -> dict[str, Any]:
    started = time.perf_counter()
    result = statement_set_or_result_factory()
    result.wait()
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {"seconds": round(seconds, 3)}
    try:
        execution = result.get_job_client().get_job_execution_result().result()
        report["net_runtime_seconds"] = round(execution.get_net_runtime() / 1000, 3)
    except Exception as exc:  # noqa: BLE001 - the figure is optional, the run is not
        report["net_runtime_error"] = str(exc)
    return report


def _apply_conf(t_env, conf: Sequence[str]) -> None:
    for item in conf:
        key, _, value = item.partition("=")
        t_env.get_config().set(key.strip(), value.strip())


def phase_flink_raw(settings: Settings, conf: Sequence[str],
                    written: str = "payload") -> dict[str, Any]:
    """Baseline B: the job's sources, raw, into a blackhole; same Flink configuration.

    ``written`` is what is written per record (baseline C parses the payload once).
    """
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from jobs.offsets import true_end_offsets
    from jobs.topology import source_options, with_clause
    from jobs.trending import flink_config
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    topics = list(settings.event_topics.values())
    ends = true_end_offsets(settings.bootstrap_servers, topics)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    for key, value in flink_config(settings, bounded=True).items():
        t_env.get_config().set(key, value)
    _apply_conf(t_env, conf)
    for i, topic in enumerate(topics):
        options = with_clause(source_options(settings, topic, ends[topic]))
        t_env.execute_sql(f"CREATE TEMPORARY TABLE raw_{i} (payload STRING) WITH ({options})")
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (payload STRING) WITH ('connector' = 'blackhole')")
    union = " UNION ALL ".join(f"SELECT {written} FROM raw_{i}" for i in range(len(topics)))
    return _timed_execution(lambda: t_env.execute_sql(f"INSERT INTO sink {union}"))


def phase_flink_parse(settings: Settings, conf: Sequence[str]) -> dict[str, Any]:
    """Baseline C: baseline B with one JSON parse per record."""
    return phase_flink_raw(settings, conf, written="JSON_VALUE(payload, '$.product_id')")


def phase_job(settings: Settings, conf: Sequence[str]) -> dict[str, Any]:
    """The trending job, bounded, to its real sinks."""
    from jobs.trending import build
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    t_env, statement_set = build(settings, bounded=True)
    _apply_conf(t_env, conf)
    return _timed_execution(statement_set.execute)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase is not None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg] - all from TREND_* env
        phases = {"flink-raw": phase_flink_raw, "flink-parse": phase_flink_parse,
                  "job": phase_job}
        print(json.dumps(phases[args.phase](settings, args.conf)), flush=True)
        return 0
    args.command = " ".join(["python -m benchmarks.job_throughput",
                             *(sys.argv[1:] if argv is None else argv)])
    print(json.dumps(run_benchmark(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
