"""Checkpoint cost: the streaming job's throughput over a fixed backlog with checkpoints
every 5 s against every 60 s, and each checkpoint's size and duration.

    python -m benchmarks.checkpoint_cost [--events 1000000] [--products 100000]
        [--intervals 5 60] [--state-backend hashmap] [--repeat 1]

On a private embedded stack: produce ``--events`` simulated events (seeded, simulated
clock at ``--event-rate`` events per second of event time, ``--products`` distinct
products), then run the job streaming over that backlog once per checkpoint interval
(``checkpoint_interval_s``), each with a fresh consumer group, state and Parquet root,
interleaved ``--repeat`` times (see :mod:`benchmarks.backlog` for what is timed:
``events_per_s`` from the first event read to the last window the backlog closes, JVM
start excluded; ``events_per_s_flowing`` from the first window written, once every task
runs, which leaves out the Python worker's start).

The baseline is the longest interval, measured in the same run: ``ratio_to_baseline`` is
each interval's ``events_per_s_flowing`` over the baseline's (``events_per_s`` for a
backlog so small that it is read before the first window). Each checkpoint's duration
and size come from Flink's checkpoint metrics (``lastCheckpointDuration``, ``lastCheckpointSize``,
``lastCheckpointFullSize``), the retained checkpoint's size also from its directory.

Checks, not timed: every run read exactly the backlog, and every run wrote the same
windows with the same rows as the first run (``rows_check``, all columns, row for row).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import add_rule_flags, benchmark_main, interleaved_runs, machine, run_on_stack
from benchmarks.backlog import produce_backlog, run_streaming_backlog
from benchmarks.job_throughput import compare_rows, local_root, parquet_windows, progress
from benchmarks.live import live_settings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkpoint_cost",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--event-rate", type=float, default=1000.0,
                        help="events per second of event time")
    parser.add_argument("--intervals", type=int, nargs="+", default=[5, 60],
                        help="checkpoint intervals (s); the longest is the baseline")
    parser.add_argument("--state-backend", choices=("hashmap", "rocksdb"), default="hashmap")
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--window-slide-s", type=int, default=30)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=2)
    add_rule_flags(parser)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--run-timeout-s", type=float, default=1200)
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args(argv)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One interval's runs: median rate, and its checkpoints' durations and sizes."""
    checkpoints = [c for run in runs for c in run["checkpoints"]]

    def median_of(key: str) -> float | None:
        values = [c[key] for c in checkpoints if key in c]
        return round(statistics.median(values)) if values else None

    return {
        "events_per_s_compared": round(statistics.median(r["rate"] for r in runs)),
        "events_per_s": round(statistics.median(r["events_per_s"] for r in runs)),
        "drain_s": [r["drain_s"] for r in runs],
        "checkpoints_during_drain": [r["checkpoints_during_drain"] for r in runs],
        "checkpoint_duration_ms_median": median_of("duration_ms"),
        "checkpoint_duration_ms_max": max((c["duration_ms"] for c in checkpoints
                                           if "duration_ms" in c), default=None),
        "checkpoint_size_bytes_median": median_of("size_bytes"),
        "checkpoint_full_size_bytes_median": median_of("full_size_bytes"),
        "retained_checkpoint_bytes": [r["retained_checkpoint_bytes"] for r in runs],
        "heap_used_max_mb": max(r["heap_used_max_mb"] for r in runs),
    }


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from registry.client import ensure_default_weights

    load_before = [round(v, 2) for v in os.getloadavg()]
    settings = live_settings(
        stack_env, work_dir, parallelism=args.parallelism, window_size_s=args.window_size_s,
        window_slide_s=args.window_slide_s, top_n=args.top_n,
        state_backend=args.state_backend, dedup_horizon_s=args.dedup_horizon_s,
        max_events_per_user=args.max_events_per_user)
    ensure_default_weights(settings)
    progress(f"producing {args.events} events, {args.products} products")
    produced = produce_backlog(settings, args.events, args.products, args.event_rate)
    logs = Path(settings.state_dir).parent
    outputs: list[Path] = []

    def phase(interval: int):
        def run() -> dict[str, Any]:
            progress(f"streaming over the backlog, checkpoints every {interval} s")
            result = run_streaming_backlog(
                settings.model_copy(update={"checkpoint_interval_s": interval}), args.events,
                logs, f"every-{interval}s-{len(outputs)}", timeout_s=args.run_timeout_s)
            outputs.append(local_root(result.pop("settings")))
            # A backlog read before the first window has no flowing rate.
            result["rate"] = result["events_per_s_flowing"] or result["events_per_s"]
            result["checkpoint_interval_s"] = interval
            return result
        return run

    intervals = sorted(set(args.intervals))
    runs, rates = interleaved_runs({f"every_{i}s": phase(i) for i in intervals}, args.repeat)
    checks = [compare_rows(outputs[0], other) for other in outputs[1:]]
    baseline = f"every_{intervals[-1]}s"
    return {
        "benchmark": "checkpoint_cost",
        "command": args.command,
        "machine": machine(),
        "load_avg_before": load_before,
        "shape": {"events": args.events, "products": args.products,
                  "event_rate": args.event_rate, "window_size_s": args.window_size_s,
                  "window_slide_s": args.window_slide_s, "top_n": args.top_n,
                  "parallelism": args.parallelism, "state_backend": args.state_backend,
                  "dedup_horizon_s": args.dedup_horizon_s,
                  "max_events_per_user": args.max_events_per_user,
                  "repeat": args.repeat},
        "produce": {"seconds": round(produced["elapsed_s"], 1),
                    "events_per_s": round(produced["rate"])},
        "baseline": baseline,
        "intervals": {name: summary(rs) for name, rs in runs.items()},
        "ratio_to_baseline": {name: round(rate / rates[baseline], 3)
                              for name, rate in rates.items()},
        "windows_written": len(parquet_windows(outputs[0])),
        "rows_check": {
            "runs_compared": len(checks),
            "windows_missing": sum(c["windows_missing"] for c in checks),
            "windows_extra": sum(c["windows_extra"] for c in checks),
            "mismatched_rows": sum(c["mismatched_rows"] for c in checks),
            "rows": sum(c["rows"] for c in checks),
        },
        "runs": runs,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The whole measurement on a private stack, or on the running one ``stack_env`` names."""
    args.command = getattr(args, "command", "python -m benchmarks.checkpoint_cost")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.checkpoint_cost", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
