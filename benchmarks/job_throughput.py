"""Throughput of the trending job against baselines on the same events, one run.

    python -m benchmarks.job_throughput [--events 1000000] [--products 1000] [--parallelism 2]
        [--window-size-s 600 --window-slide-s 30] [--dedup-horizon-s 300]
        [--max-events-per-user 5] [--conf key=value ...]

On a private embedded stack (Apache Kafka, redis-server, S3 endpoint, MLflow):

1. produce N simulated events (``simulator.runner.run_simulation``, seeded, simulated
   clock, no pacing) across the clicks/carts/purchases topics with confluent-kafka;
2. baseline A: read them back raw with one confluent-kafka consumer (assign, no group);
3. baseline B: a Flink job reading the same three topics (``raw`` format, one table per
   topic, bounded at the end offsets, the job's own Flink configuration) into a
   ``blackhole`` sink;
4. baseline C: the same raw read, parsing each value once (``JSON_VALUE`` of one field) into
   the blackhole: the floor of any job that has to look inside every event;
5. baseline D, the naive consumer (:mod:`benchmarks.naive_consumer`): the job's whole
   backfill in one plain Python process (confluent-kafka, ``json.loads``, the same validity
   rules, dict counts per window, ``heapq`` top-N, the job's Parquet writer);
6. the trending job in bounded mode (``jobs.trending.build``), writing to its real sinks
   (Parquet, Redis, dead-letter topic);
7. the trending job in streaming mode (``python -m jobs.trending``) over the same backlog,
   with a fresh consumer group, from its start until every window the watermark allows
   has been written to Parquet, then stopped.

Checks, not timed: the job's Parquet rows against the naive consumer's, row for row, for
every window (``rows_check``, mismatches should be 0), and the streaming run's windows
against the bounded run's.

Each Flink run and the naive consumer run in a fresh Python process (the Flink ones with
their own JVM), in a process group of their own that is killed when the phase ends or the
benchmark is interrupted. A bounded Flink run's time is measured from ``execute()`` to the
end of ``wait()``, so it includes job scheduling and shutdown (a few seconds, the same in B
and the job) but not JVM start nor plan building; its primary rate is by Flink's net job
runtime. The naive consumer's time runs from its first fetch to its last window written.
The streaming run has no end of its own: its time runs from the process start (JVM start
and planning included) to the last window on disk, and is compared with the bounded run's
process time, which includes the same start-up (``ratio_streaming_to_bounded``).

Which windows the streaming run must write: every window whose last millisecond the
watermark reaches once the backlog is read (``window_end - 1 <= watermark``). The job's
watermark is per partition (largest ``ts`` - ``out_of_orderness_s``), combined as a
minimum, so the windows up to the slowest partition's watermark are certain; the windows
up to ``max ts - out_of_orderness_s`` (the target) also come once idle partitions stop
holding the watermark back. The run waits for the target, and when only the certain
windows arrive, it stops after ``source_idle_timeout_s`` plus a grace period and reports
the time of the last certain window (``reached`` says which).

Rates are events/s. Figures of merit: ``job / flink_raw`` (goal >= 0.8), ``job / naive``
and ``streaming / bounded``. Results print as JSON, with the machine, the load average
before and after, and the command.

``--conf key=value`` sets a Flink/table option on the bounded job (after its own
configuration, before planning), to try tunings; ``--skip-raw`` skips baselines A-C,
``--skip-streaming`` the streaming run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import SEED, START_MS, add_rule_flags, machine, run_on_stack
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings, settings_from_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: How long the streaming run may wait for windows beyond the certain ones, on top of the
#: source idleness timeout.
STREAMING_GRACE_S = 15


# --- the parent: stack, data, baselines, report ------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job_throughput",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to produce")
    parser.add_argument("--event-rate", type=float, default=1000.0,
                        help="events per second of event time (sets how many windows)")
    parser.add_argument("--products", type=int, default=1000,
                        help="distinct products (1000; 100000 for the large key space)")
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--window-slide-s", type=int, default=30)
    parser.add_argument("--top-n", type=int, default=100)
    add_rule_flags(parser)
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Flink option for the job (repeatable)")
    parser.add_argument("--skip-raw", action="store_true",
                        help="skip baselines A-C (raw reads and the one-parse read)")
    parser.add_argument("--skip-streaming", action="store_true",
                        help="skip the streaming run of the job")
    parser.add_argument("--phase-timeout-s", type=float, default=3600,
                        help="longest any one phase may take before it is killed")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the private stack and outputs live (default: a temp dir)")
    parser.add_argument("--phase", choices=("flink-raw", "flink-parse", "job", "job-count"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def benchmark_settings(stack_env: dict[str, str], work_dir: Path,
                       args: argparse.Namespace) -> Settings:
    """Settings on the private stack, with fresh topics and the benchmark's job shape.

    Everything the run writes (state, Parquet, topics, the weights topic) is named by a
    fresh id, so runs sharing a stack or a state directory never see each other's data.
    """
    suffix = uuid.uuid4().hex[:8]
    run_dir = work_dir / f"run-{suffix}"
    return settings_from_env(
        stack_env,
        state_dir=run_dir / "state",
        topic_clicks=f"clicks-{suffix}",
        topic_carts=f"carts-{suffix}",
        topic_purchases=f"purchases-{suffix}",
        topic_dead_letters=f"events-dlq-{suffix}",
        topic_weights=f"weights-{suffix}",
        consumer_group=f"bench-{suffix}",
        parquet_root_uri=f"file://{run_dir / 'parquet-job'}",
        metrics_port=0,
        parallelism=args.parallelism,
        window_size_s=args.window_size_s,
        window_slide_s=args.window_slide_s,
        top_n=args.top_n,
        dedup_horizon_s=args.dedup_horizon_s,
        max_events_per_user=args.max_events_per_user,
        # Bounded runs end before a checkpoint matters; keep them out of the measurement.
        checkpoint_interval_s=600,
    )


def phase_settings(settings: Settings, name: str) -> Settings:
    """``settings`` for one phase: its own Parquet root, state directory and consumer
    group (a fresh one: a streaming job starts from its group's committed offsets)."""
    run_dir = Path(settings.state_dir).parent
    return settings.model_copy(update={
        "parquet_root_uri": f"file://{run_dir / f'parquet-{name}'}",
        "state_dir": run_dir / f"state-{name}",
        "consumer_group": f"{settings.consumer_group}-{name}-{uuid.uuid4().hex[:8]}",
    })


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
        **client_config(settings),
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


def kill_group(process: subprocess.Popen, grace_s: float = 15) -> None:
    """Stop a child started in its own process group, and whatever it started: SIGTERM to
    the group, SIGKILL after ``grace_s``; then SIGKILL to any member left behind (a JVM or a
    Python worker outliving its parent). Only this child's group is signalled."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):  # the group is empty: nothing left behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def spawn(command: Sequence[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.Popen:
    """A child in a process group of its own (see :func:`kill_group`)."""
    return subprocess.Popen(list(command), env=dict(env), cwd=PROJECT_ROOT,
                            start_new_session=True, **kwargs)


def run_child(command: Sequence[str], settings: Settings, name: str,
              timeout_s: float) -> dict[str, Any]:
    """Run a child to its end (killed after ``timeout_s``); the JSON of its last stdout line,
    with ``process_seconds`` from its start to its exit."""
    env = {**os.environ, **settings.as_env()}
    started = time.perf_counter()
    process = spawn(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{name} took more than {timeout_s} s; stopped") from None
    finally:
        kill_group(process)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{name} failed ({process.returncode}):\n{stderr[-4000:]}")
    report = json.loads(stdout.strip().splitlines()[-1])
    report["process_seconds"] = round(elapsed, 3)
    return report


def run_phase(phase: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Run one Flink measurement in a fresh Python process (its own JVM); its JSON result."""
    command = [sys.executable, "-m", "benchmarks.job_throughput", "--phase", phase]
    for conf in args.conf:
        command += ["--conf", conf]
    return run_child(command, settings, phase, args.phase_timeout_s)


def naive_run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """Baseline D: the naive consumer over the same topics, writing its own Parquet."""
    command = [sys.executable, "-m", "benchmarks.naive_consumer"]
    report = run_child(command, settings, "naive consumer", args.phase_timeout_s)
    report["parquet_root"] = settings.parquet_root
    return report


def local_root(settings: Settings) -> Path:
    return Path(settings.parquet_root[len("file://"):])


class NoWindowToWaitFor(RuntimeError):
    """The backlog spans too little event time for a streaming run to fire any window."""


def window_ends_to_expect(window_ends: Sequence[int], watermark: int | None) -> list[int]:
    """The windows a watermark has fired: those whose last millisecond it has reached."""
    if watermark is None:
        return []
    return sorted(end for end in window_ends if end - 1 <= watermark)


def streaming_run(settings: Settings, args: argparse.Namespace, window_ends: Sequence[int],
                  max_ts: int | None, slowest_watermark: int | None) -> dict[str, Any]:
    """The job in streaming mode over the backlog, from its start until the windows the
    watermark allows are on disk (see the module docstring); then stopped.

    ``window_ends`` are the windows of the bounded run; ``max_ts`` the largest event time;
    ``slowest_watermark`` the watermark of the slowest partition once everything is read.
    """
    from udfs.parquet_sink import window_file_path

    lateness_ms = settings.out_of_orderness_s * 1000
    target = window_ends_to_expect(window_ends,
                                   None if max_ts is None else max_ts - lateness_ms)
    certain = set(window_ends_to_expect(window_ends, slowest_watermark))
    report: dict[str, Any] = {
        "consumer_group": settings.consumer_group,
        "target_watermark": None if max_ts is None else max_ts - lateness_ms,
        "slowest_partition_watermark": slowest_watermark,
        "windows_target": len(target),
        "windows_certain": len(certain),
    }
    if not target:
        raise NoWindowToWaitFor("no window ends before the backlog's watermark: produce "
                                "more events, or use a lower --event-rate or shorter windows")
    root = local_root(settings)
    pending = {end: root / window_file_path(end) for end in target}
    seen: dict[int, float] = {}
    patience = settings.source_idle_timeout_s + STREAMING_GRACE_S
    log_path = Path(settings.state_dir).parent / "streaming-job.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.as_env()}
    with open(log_path, "w") as log:
        started = time.perf_counter()
        process = spawn([sys.executable, "-m", "jobs.trending"], env, stdout=log,
                        stderr=subprocess.STDOUT)
        try:
            certain_at = None
            while pending:
                now = time.perf_counter()
                for end, path in list(pending.items()):
                    if path.exists():
                        seen[end] = now
                        del pending[end]
                if not pending:
                    break
                if certain_at is None and certain and certain <= seen.keys():
                    certain_at = now
                if certain_at is not None and now - certain_at > patience:
                    break  # the idle partitions kept holding the watermark back
                if process.poll() is not None:
                    raise RuntimeError(f"the streaming job exited ({process.returncode}); "
                                       f"see {log_path}:\n{tail(log_path)}")
                if now - started > args.phase_timeout_s:
                    raise RuntimeError(f"the streaming job wrote {len(seen)} of {len(target)} "
                                       f"windows in {args.phase_timeout_s} s; see {log_path}")
                time.sleep(0.05)
        finally:
            kill_group(process)
    reached_target = not pending
    counted = target if reached_target else sorted(certain)
    report.update({
        "reached": "target" if reached_target else "slowest-partition watermark",
        "windows_expected": len(counted),
        "windows_seen": len(seen),
        "process_seconds": round(max(seen[end] for end in counted) - started, 3),
    })
    if certain:
        report["process_seconds_certain"] = round(max(seen[end] for end in certain) - started, 3)
    return report


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def parquet_windows(root: Path) -> dict[int, tuple[str, Any, list[tuple]]]:
    """window_end -> (file path under root, Arrow schema, rows as tuples in file order)."""
    import pyarrow.parquet as pq

    windows = {}
    for path in sorted(root.rglob("trends-*.parquet")):
        table = pq.read_table(path, partitioning=None)
        end = int(path.stem.rsplit("-", 1)[1])
        rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
        windows[end] = (path.relative_to(root).as_posix(), table.schema, rows)
    return windows


def _readable(row: tuple | None, schema: Any) -> dict[str, str] | None:
    return None if row is None else {name: str(value)
                                     for name, value in zip(schema.names, row, strict=False)}


def compare_rows(expected_root: Path, actual_root: Path,
                 only: Sequence[int] | None = None) -> dict[str, Any]:
    """Row for row, window by window: the rows of each window's file under ``actual_root``
    against the same window's under ``expected_root`` (all columns, file order, which the
    writer makes rank order). A window missing on one side counts all its rows.
    ``only`` limits the comparison to those windows."""
    expected, actual = parquet_windows(expected_root), parquet_windows(actual_root)
    ends = set(expected) | set(actual) if only is None else set(only)
    mismatched = rows = schema_mismatches = path_mismatches = 0
    examples: list[dict[str, Any]] = []
    for end in sorted(ends):
        path_a, schema_a, rows_a = expected.get(end, (None, None, []))
        path_b, schema_b, rows_b = actual.get(end, (None, None, []))
        rows += max(len(rows_a), len(rows_b))
        if path_a and path_b and path_a != path_b:
            path_mismatches += 1
        if schema_a is not None and schema_b is not None and not schema_a.equals(
                schema_b, check_metadata=False):
            schema_mismatches += 1
        for i in range(max(len(rows_a), len(rows_b))):
            a = rows_a[i] if i < len(rows_a) else None
            b = rows_b[i] if i < len(rows_b) else None
            if a != b:
                mismatched += 1
                if len(examples) < 5:
                    examples.append({"window_end": end, "position": i,
                                     "expected": _readable(a, schema_a or schema_b),
                                     "actual": _readable(b, schema_b or schema_a)})
    return {
        "windows": len(ends),
        "windows_missing": sum(1 for end in ends if end not in actual),
        "windows_extra": sum(1 for end in ends if end not in expected),
        "rows": rows,
        "mismatched_rows": mismatched,
        "schema_mismatches": schema_mismatches,
        "path_mismatches": path_mismatches,
        "examples": examples,
    }


def job_outputs(settings: Settings) -> dict[str, Any]:
    """What the job wrote, to check a run (not timed): Parquet rows and windows, the summed
    counts of the overall popular rankings, how many Parquet rankings (popular and rising)
    Redis holds identically (same products in the same ranks), and dead letters."""
    import pyarrow.dataset as ds
    import redis

    from simulator.kafka_io import count_records
    from trend_tracker.redis_layout import ranking_key

    root = settings.parquet_root[len("file://"):]
    rows = ds.dataset(root, format="parquet", partitioning="hive").to_table(
        columns=["window_end", "ranking", "category", "rank", "product_id", "clicks", "carts",
                 "purchases"]).to_pylist()
    rankings: dict[tuple[int, str, str | None], list[tuple[int, str]]] = {}
    for row in rows:
        key = (int(row["window_end"].timestamp() * 1000), row["ranking"], row["category"])
        rankings.setdefault(key, []).append((row["rank"], row["product_id"]))
    client = redis.Redis.from_url(settings.redis_url)
    try:
        stored = client.mget([ranking_key(category, end, kind)
                              for end, kind, category in rankings])
    finally:
        client.close()
    same_in_redis = sum(
        1 for ranked, document in zip(rankings.values(), stored, strict=True)
        if document is not None and sorted(ranked) == sorted(
            (item["rank"], item["product_id"]) for item in json.loads(document)["items"]))
    topic = settings.topic_dead_letters
    return {
        "parquet_rows": len(rows),
        "windows": len({end for end, _, _ in rankings}),
        "rankings": len(rankings),
        "rankings_same_in_redis": same_in_redis,
        "overall_events": sum(row["clicks"] + row["carts"] + row["purchases"]
                              for row in rows
                              if row["category"] is None and row["ranking"] == "popular"),
        "dead_letters": count_records(settings, topic),
    }


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def run_benchmark(args: argparse.Namespace,
                  stack_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The whole measurement; returns the report.

    Starts a private embedded stack unless ``stack_env`` (its ``TREND_*`` variables) names
    a running one.
    """
    return run_on_stack(measure, args, stack_env)


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    """Produce, run the baselines and the job, check, and report (see the module docstring)."""
    from jobs.offsets import end_offsets
    from registry.client import ensure_default_weights

    load_before = load_average()
    settings = benchmark_settings(stack_env, work_dir, args)
    ensure_default_weights(settings)  # the job reads its weights from the registry
    progress(f"producing {args.events} events")
    produced = produce(settings, args)
    topics = list(settings.event_topics.values())
    ends = end_offsets(settings, topics, timeout_s=30)
    in_topics = sum(sum(parts.values()) for parts in ends.values())
    report: dict[str, Any] = {
        "benchmark": "job_throughput",
        "command": getattr(args, "command", "python -m benchmarks.job_throughput"),
        "machine": machine(),
        "load_avg_before": load_before,
        "events": args.events,
        "events_in_topics": in_topics,
        "job_shape": {"window_size_s": args.window_size_s, "window_slide_s": args.window_slide_s,
                      "top_n": args.top_n, "parallelism": args.parallelism,
                      "dedup_horizon_s": args.dedup_horizon_s,
                      "max_events_per_user": args.max_events_per_user,
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
    progress("baseline: the naive consumer")
    naive_settings = phase_settings(settings, "naive")
    report["naive"] = naive = naive_run(naive_settings, args)
    progress("the trending job, bounded")
    report["job"] = run_phase("job", settings, args)
    report["job"]["outputs"] = job_outputs(settings)
    progress("checking the job's rows against the naive consumer's")
    report["rows_check"] = compare_rows(local_root(settings), local_root(naive_settings))
    for name in ("flink_raw", "flink_parse", "job"):
        if name in report:
            add_rates(report[name], in_topics)
    job = report["job"]
    job["events_per_s_process"] = round(in_topics / job["process_seconds"])
    naive["events_per_s_process"] = round(in_topics / naive["process_seconds"])
    report["ratio_job_to_naive"] = round(job["events_per_s"] / naive["events_per_s"], 3)
    report["ratio_job_to_naive_process"] = round(
        job["events_per_s_process"] / naive["events_per_s_process"], 3)
    if not args.skip_streaming:
        progress("the trending job, streaming over the same backlog")
        stream_settings = phase_settings(settings, "streaming")
        window_ends = sorted(parquet_windows(local_root(settings)))
        try:
            streaming = streaming_run(stream_settings, args, window_ends, naive["max_ts"],
                                      naive["final_watermark"])
        except NoWindowToWaitFor as exc:
            report["job_streaming"] = {"skipped": str(exc)}
        else:
            streaming["events_per_s"] = round(in_topics / streaming["process_seconds"])
            expected = window_ends_to_expect(
                window_ends, streaming["target_watermark"] if streaming["reached"] == "target"
                else streaming["slowest_partition_watermark"])
            streaming["rows_check"] = compare_rows(
                local_root(settings), local_root(stream_settings), only=expected)
            report["job_streaming"] = streaming
            report["ratio_streaming_to_bounded"] = round(
                streaming["events_per_s"] / job["events_per_s_process"], 3)
    if "flink_raw" in report:
        raw = report["flink_raw"]
        report["ratio_job_to_flink_raw"] = round(job["events_per_s"] / raw["events_per_s"], 3)
        report["ratio_job_to_flink_raw_wall"] = round(
            job["events_per_s_wall"] / raw["events_per_s_wall"], 3)
        report["ratio_job_to_flink_parse"] = round(
            job["events_per_s"] / report["flink_parse"]["events_per_s"], 3)
        report["ratio_flink_parse_to_flink_raw"] = round(
            report["flink_parse"]["events_per_s"] / raw["events_per_s"], 3)
        report["ratio_job_to_confluent_raw"] = round(
            job["events_per_s"] / report["confluent_raw"]["events_per_s"], 3)
        report["ratio_naive_to_flink_raw"] = round(
            naive["events_per_s"] / raw["events_per_s"], 3)
    report["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    report["load_avg_after"] = load_average()
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
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from jobs.offsets import end_offsets
    from jobs.topology import source_options, with_clause
    from jobs.trending import flink_config
    from trend_tracker.jars import job_jars
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    topics = list(settings.event_topics.values())
    ends = end_offsets(settings, topics)
    config = Configuration()
    for key, value in flink_config(settings, bounded=True).items():
        config.set_string(key, value)
    # The Kafka connector ships with this job as with the trending job.
    config.set_string("pipeline.jars", ";".join(
        jar.as_uri() for jar in job_jars(settings.udf_jar)))
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode()
                                    .with_configuration(config).build())
    _apply_conf(t_env, conf)
    for i, topic in enumerate(topics):
        options = with_clause(source_options(settings, topic, ends[topic]))
        t_env.execute_sql(f"CREATE TEMPORARY TABLE raw_{i} (payload STRING) WITH ({options})")
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE sink (payload STRING) WITH ('connector' = 'blackhole')")
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


def phase_job_count(settings: Settings, conf: Sequence[str]) -> dict[str, Any]:
    """The job's per-event path, bounded: its sources and decoder, the keyed core's counts
    and top-N, and the window results into a blackhole (no Python sink, no dead letters
    written)."""
    from jobs.topology import WINDOW_RESULTS
    from jobs.trending import build
    from trend_tracker.java import ensure_java_env

    ensure_java_env(os.environ)
    t_env, _ = build(settings, bounded=True)
    _apply_conf(t_env, conf)
    t_env.execute_sql("CREATE TEMPORARY TABLE counted (window_end TIMESTAMP(3), "
                      "weights_version STRING) WITH ('connector' = 'blackhole')")
    return _timed_execution(lambda: t_env.execute_sql(
        f"INSERT INTO counted SELECT window_end, weights_version FROM {WINDOW_RESULTS}"))


def _stop(signum: int, _frame: Any) -> None:
    # Unwind, so that every phase's process group and the private stack are stopped.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase is not None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg] - all from TREND_* env
        phases = {"flink-raw": phase_flink_raw, "flink-parse": phase_flink_parse,
                  "job": phase_job, "job-count": phase_job_count}
        print(json.dumps(phases[args.phase](settings, args.conf)), flush=True)
        return 0
    signal.signal(signal.SIGTERM, _stop)
    args.command = " ".join(["python -m benchmarks.job_throughput",
                             *(sys.argv[1:] if argv is None else argv)])
    print(json.dumps(run_benchmark(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
