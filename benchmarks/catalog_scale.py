"""Catalog scale: the streaming job's throughput, state size, checkpoint duration and heap
at 1 K, 100 K and 1 M distinct products, for window/slide ratios 6, 20 and 120, on both
state backends; writes a chart.

    python -m benchmarks.catalog_scale [--events 400000] [--products 1000 100000 1000000]
        [--ratios 20 6 120] [--backends hashmap rocksdb] [--chart docs/catalog_scale.png]

On a private embedded stack, for each catalog size in ``--products``: produce ``--events``
simulated events (seeded, simulated clock at ``--event-rate`` events per second of event
time; products drawn Zipf-like from the catalog, so the distinct products actually seen
are counted and reported too), then run the job streaming over that backlog
(:mod:`benchmarks.backlog`: timed from the first event read to the last window the backlog
closes, checkpoints every ``--checkpoint-interval-s``):

- every catalog size on every backend in ``--backends``, at the first ratio (window
  ``--window-size-s``, slide = size / ratio);
- every other ratio on the middle catalog size and the first backend.

Figures per run: events/s from the first event read to the last window
(``events_per_s_compared``) and to the last event read (``events_per_s_read``), the median
and largest checkpoint duration, the checkpoint
full size (Flink's ``lastCheckpointFullSize``, the state) and the largest heap used by
the MiniCluster's JVM. The baseline, measured in the same run, is the smallest catalog on
the first backend at the first ratio: ``ratio_to_baseline`` is each run's events/s over
it. Goal: from 1 K to 1 M products, throughput falls by less than 3x
(``goal_throughput_within_3x``) and memory stays bounded.

Checks, not timed: every run read exactly the backlog, and on each catalog the runs of
different backends at the same ratio wrote the same windows with the same rows
(``rows_check``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import benchmark_main, machine, run_on_stack
from benchmarks.backlog import distinct_products, produce_backlog, run_streaming_backlog
from benchmarks.job_throughput import compare_rows, local_root, progress
from benchmarks.live import live_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_scale",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--event-rate", type=float, default=1000.0,
                        help="events per second of event time")
    parser.add_argument("--products", type=int, nargs="+",
                        default=[1000, 100_000, 1_000_000])
    parser.add_argument("--ratios", type=int, nargs="+", default=[20, 6, 120],
                        help="window/slide ratios; the first is run on every catalog")
    parser.add_argument("--backends", nargs="+", choices=("hashmap", "rocksdb"),
                        default=["hashmap", "rocksdb"])
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--checkpoint-interval-s", type=int, default=10)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--run-timeout-s", type=float, default=1200)
    parser.add_argument("--chart", type=Path, default=PROJECT_ROOT / "docs" / "catalog_scale.png",
                        help="where the PNG chart goes (empty: none)")
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[int, str, int]]:
    """(products, backend, ratio) of every run, in order."""
    ratio, middle = args.ratios[0], sorted(args.products)[len(args.products) // 2]
    runs = [(p, b, ratio) for p in args.products for b in args.backends]
    runs += [(middle, args.backends[0], r) for r in args.ratios[1:]]
    return runs


def figures(run: dict[str, Any]) -> dict[str, Any]:
    durations = [c["duration_ms"] for c in run["checkpoints"] if "duration_ms" in c]
    full = [c["full_size_bytes"] for c in run["checkpoints"] if "full_size_bytes" in c]
    return {
        # Compared: first event read to last window. The sources and the window counts
        # (the part that scales with the catalog) read most of a small backlog before the
        # Python worker of the sink is up, so the rate "once every task runs" says little
        # here; the read rate (first to last event read) is the JVM part's alone.
        "events_per_s_compared": run["events_per_s"],
        "events_per_s_read": run["events_per_s_read"],
        "events_per_s_flowing": run["events_per_s_flowing"],
        "events_per_s": run["events_per_s"],
        "first_window_s": run["first_window_s"],
        "drain_s": run["drain_s"],
        "checkpoints": len(run["checkpoints"]),
        "checkpoint_duration_ms_median": round(statistics.median(durations))
        if durations else None,
        "checkpoint_duration_ms_max": max(durations, default=None),
        "state_bytes_max": max(full, default=None),
        "heap_used_max_mb": run["heap_used_max_mb"],
        "last_window_end": run["last_window_end"],
    }


def write_chart(path: Path, results: list[dict[str, Any]], ratio: int, middle: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    backends = sorted({r["backend"] for r in results})
    for backend in backends:
        rows = sorted((r for r in results if r["backend"] == backend and r["ratio"] == ratio),
                      key=lambda r: r["products"])
        xs = [r["products"] for r in rows]
        axes[0].plot(xs, [r["events_per_s_compared"] / 1000 for r in rows], marker="o",
                     label=backend)
        axes[1].plot(xs, [(r["state_bytes_max"] or 0) / 2**20 for r in rows], marker="o",
                     label=f"{backend}: state (checkpoint)")
        axes[1].plot(xs, [r["heap_used_max_mb"] for r in rows], marker="x", linestyle="--",
                     label=f"{backend}: heap used, max")
    for axis, title, unit in ((axes[0], f"throughput, window/slide {ratio}", "K events/s"),
                              (axes[1], f"memory, window/slide {ratio}", "MiB")):
        axis.set_xscale("log")
        axis.set_xlabel("products in the catalog")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8)
    rows = sorted((r for r in results if r["products"] == middle
                   and r["backend"] == results[0]["backend"]), key=lambda r: r["ratio"])
    axes[2].bar([str(r["ratio"]) for r in rows],
                [r["events_per_s_compared"] / 1000 for r in rows])
    axes[2].set_xlabel("window / slide")
    axes[2].set_ylabel("K events/s")
    axes[2].set_title(f"by window/slide: {middle:,} products, {results[0]['backend']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from registry.client import ensure_default_weights

    load_before = [round(v, 2) for v in os.getloadavg()]
    results: list[dict[str, Any]] = []
    backlogs: dict[int, dict[str, Any]] = {}
    outputs: dict[tuple[int, int], dict[str, Path]] = {}
    runs = plan(args)
    for products in dict.fromkeys(p for p, _, _ in runs):
        settings = live_settings(stack_env, work_dir, parallelism=args.parallelism,
                                 window_size_s=args.window_size_s, top_n=args.top_n,
                                 checkpoint_interval_s=args.checkpoint_interval_s)
        ensure_default_weights(settings)
        progress(f"producing {args.events} events, {products} products")
        produced = produce_backlog(settings, args.events, products, args.event_rate)
        backlogs[products] = {"products": products, "distinct_products_seen":
                              distinct_products(settings),
                              "produce_events_per_s": round(produced["rate"])}
        for run_products, backend, ratio in runs:
            if run_products != products:
                continue
            slide = args.window_size_s // ratio
            name = f"{products}-{backend}-r{ratio}"
            progress(f"streaming run {name} (load {os.getloadavg()[0]:.1f})")
            load = round(os.getloadavg()[0], 2)
            run = run_streaming_backlog(
                settings.model_copy(update={"state_backend": backend, "window_slide_s": slide}),
                args.events, Path(settings.state_dir).parent, name,
                timeout_s=args.run_timeout_s)
            outputs.setdefault((products, ratio), {})[backend] = local_root(run.pop("settings"))
            results.append({"products": products, "backend": backend, "ratio": ratio,
                            "window_slide_s": slide, "load_avg_1m_at_start": load,
                            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                            **figures(run)})
            progress(json.dumps(results[-1]))  # kept if a later run fails
    base = results[0]
    for result in results:
        result["ratio_to_baseline"] = round(result["events_per_s_compared"]
                                            / base["events_per_s_compared"], 3)
    checks = [compare_rows(roots[a], roots[b]) for roots in outputs.values()
              for a, b in zip(list(roots), list(roots)[1:], strict=False)]
    smallest, largest = min(args.products), max(args.products)
    falls = {}
    for backend in args.backends:
        at = {r["products"]: r for r in results
              if r["backend"] == backend and r["ratio"] == args.ratios[0]}
        if smallest in at and largest in at and smallest != largest:
            falls[backend] = round(at[smallest]["events_per_s_compared"]
                                   / at[largest]["events_per_s_compared"], 2)
    middle = sorted(args.products)[len(args.products) // 2]
    if args.chart:
        write_chart(args.chart, results, args.ratios[0], middle)
    return {
        "benchmark": "catalog_scale",
        "command": args.command,
        "machine": machine(),
        "load_avg_before": load_before,
        "shape": {"events": args.events, "event_rate": args.event_rate,
                  "window_size_s": args.window_size_s,
                  "checkpoint_interval_s": args.checkpoint_interval_s, "top_n": args.top_n,
                  "parallelism": args.parallelism},
        "baseline": {k: base[k] for k in ("products", "backend", "ratio",
                                           "events_per_s_compared")},
        "backlogs": list(backlogs.values()),
        "results": results,
        "throughput_fall_smallest_to_largest": falls,
        "goal_throughput_within_3x": {b: f < 3 for b, f in falls.items()},
        "rows_check": {
            "pairs_compared": len(checks),
            "windows": sum(c["windows"] for c in checks),
            "windows_missing": sum(c["windows_missing"] for c in checks),
            "windows_extra": sum(c["windows_extra"] for c in checks),
            "mismatched_rows": sum(c["mismatched_rows"] for c in checks),
            "rows": sum(c["rows"] for c in checks),
        },
        "chart": str(args.chart) if args.chart else None,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The whole measurement on a private stack, or on the running one ``stack_env`` names."""
    args.command = getattr(args, "command", "python -m benchmarks.catalog_scale")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.catalog_scale", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
