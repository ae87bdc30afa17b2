"""Parallelism: what a second subtask buys the job, on the same events, in one run.

    python -m benchmarks.parallelism [--events 1000000] [--products 1000] [--repeat 2]

On a private embedded stack: produce ``--events`` seeded events (as
:mod:`benchmarks.job_throughput` does, two partitions per topic), then run bounded, each in a
fresh process and JVM, interleaved ``--repeat`` times:

- ``count``, the per-event path: the job's sources and decoder, the keyed core's counts and
  top-N, and the window results into a blackhole (``job_throughput``'s ``job-count``
  phase: no Python sink, no dead letters written);
- ``job``, the whole bounded job to its real sinks (Parquet, Redis, dead-letter topic);

each at parallelism 1 and 2. Rates are events/s by Flink's net job runtime (JVM start and
planning excluded); each figure is the median of its runs. Figures of merit:
``speedup_count`` (parallelism 2 over 1, goal >= 1.5) and ``speedup_job`` (goal >= 1.3).

Checks, not timed: what the whole job wrote at parallelism 1 (``job_outputs``, as in
``job_throughput``), and the same rows at parallelism 2 (``rows_check``).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import add_rule_flags, benchmark_main, machine, run_on_stack
from benchmarks.job_throughput import (
    add_rates,
    benchmark_settings,
    compare_rows,
    job_outputs,
    local_root,
    phase_settings,
    produce,
    progress,
    run_phase,
)

PHASES = {"count": "job-count", "job": "job"}
PARALLELISMS = (1, 2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parallelism",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--event-rate", type=float, default=1000.0,
                        help="events per second of simulated time")
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--window-slide-s", type=int, default=30)
    parser.add_argument("--top-n", type=int, default=100)
    add_rule_flags(parser)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--phase-timeout-s", type=float, default=3600)
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.conf = []  # run_phase passes these to the phases' Flink configuration
    args.parallelism = max(PARALLELISMS)  # the topics' partitions
    return args


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from jobs.offsets import end_offsets
    from registry.client import ensure_default_weights

    load_before = [round(v, 2) for v in os.getloadavg()]
    settings = benchmark_settings(stack_env, work_dir, args)
    ensure_default_weights(settings)
    progress(f"producing {args.events} events")
    produce(settings, args)
    ends = end_offsets(settings, list(settings.event_topics.values()), timeout_s=30)
    in_topics = sum(sum(parts.values()) for parts in ends.values())

    runs: dict[str, list[dict[str, Any]]] = {}
    roots: dict[int, Path] = {}
    outputs: dict[str, Any] = {}
    for round_ in range(args.repeat):
        for name, phase in PHASES.items():
            for parallelism in PARALLELISMS:
                label = f"{name}_p{parallelism}"
                progress(f"{label}, run {round_ + 1} of {args.repeat}")
                run_settings = phase_settings(settings, f"{label}-{round_}").model_copy(
                    update={"parallelism": parallelism})
                run = run_phase(phase, run_settings, args)
                add_rates(run, in_topics)
                runs.setdefault(label, []).append(run)
                if name == "job" and round_ == 0:
                    roots[parallelism] = local_root(run_settings)
                    if parallelism == 1:
                        outputs = job_outputs(run_settings)
    rates = {label: round(statistics.median(r["events_per_s"] for r in rs))
             for label, rs in runs.items()}
    return {
        "benchmark": "parallelism",
        "command": args.command,
        "events": args.events,
        "events_in_topics": in_topics,
        "job_shape": {"window_size_s": args.window_size_s, "window_slide_s": args.window_slide_s,
                      "top_n": args.top_n, "products": args.products,
                      "categories": args.categories, "partitions": settings.topic_partitions},
        "runs": runs,
        "events_per_s": rates,
        "speedup_count": round(rates["count_p2"] / rates["count_p1"], 3),
        "speedup_job": round(rates["job_p2"] / rates["job_p1"], 3),
        "job_outputs": outputs,
        "rows_check": compare_rows(roots[1], roots[2]),
        "machine": machine(),
        "load_avg_before": load_before,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    args.command = getattr(args, "command", "python -m benchmarks.parallelism")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.parallelism", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
