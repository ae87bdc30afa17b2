"""One command per measurement (figures in docs/BENCHMARKS.md), the seeded workload the
event benchmarks share, and the machine each one reports."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Mapping
from typing import Any

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
