"""One command per measurement (figures in docs/BENCHMARKS.md), the seeded workload the
event benchmarks share, and the machine each one reports."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trend_tracker.processes import restore_interrupts

#: The simulated clock starts here: a fixed past instant, so no event is "in the future".
START_MS = 1_704_067_200_000
#: The simulator's seed, so every run sends the same events.
SEED = 20240101


def machine() -> dict[str, Any]:
    """The machine a benchmark ran on, and how busy it was (other processes share it)."""
    memory_gb = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory_gb = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def add_rule_flags(parser: argparse.ArgumentParser) -> None:
    """``--dedup-horizon-s`` and ``--max-events-per-user``: the job's duplicate and per-user
    rules (and the naive consumer's, where it runs), at the settings' defaults; 0 turns one
    off."""
    from trend_tracker.settings import Settings

    parser.add_argument("--dedup-horizon-s", type=int,
                        default=Settings.model_fields["dedup_horizon_s"].default,
                        help="the dedup horizon (0: off)")
    parser.add_argument("--max-events-per-user", type=int,
                        default=Settings.model_fields["max_events_per_user"].default,
                        help="the per-user cap (0: no cap)")


def interleaved_runs(phases: Mapping[str, Callable[[], dict[str, Any]]], repeat: int
                     ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """Run each phase ``repeat`` times, interleaved so that a noisy neighbour hurts them
    alike; returns every run by phase, and each phase's median ``rate``."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
    for _ in range(repeat):
        for name, phase in phases.items():
            runs[name].append(phase())
    rates = {name: statistics.median(r["rate"] for r in rs) for name, rs in runs.items()}
    return runs, rates


def percentiles(values: Sequence[float], digits: int = 0) -> dict[str, float]:
    """Nearest-rank p50 and p99, the max and the mean of ``values`` (at least one)."""
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], digits)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], digits),
            "mean": round(statistics.fmean(ordered), digits)}


#: ``measure(args, stack_env, work_dir)``: one benchmark's whole measurement.
Measure = Callable[[argparse.Namespace, dict[str, str], Path], dict[str, Any]]


def run_on_stack(measure: Measure, args: argparse.Namespace,
                 stack_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``measure`` in a temporary work directory (``args.state_dir`` if set), on the
    running stack ``stack_env`` (its ``TREND_*`` variables) names, or else on a private
    embedded stack started here and stopped after."""
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


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def benchmark_main(module: str, parse_args: Callable[[Sequence[str] | None], Any],
                   run_benchmark: Callable[[argparse.Namespace], dict[str, Any]],
                   argv: Sequence[str] | None) -> int:
    """A benchmark's command: parse its flags, run it (SIGTERM stops it cleanly, its
    servers too), print the report as JSON with the command line it ran."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    restore_interrupts()  # the simulator is stopped with SIGINT
    args.command = " ".join([f"python -m {module}", *(sys.argv[1:] if argv is None else argv)])
    print(json.dumps(run_benchmark(args), indent=2))
    return 0
