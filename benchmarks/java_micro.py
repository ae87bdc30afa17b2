"""Java micro-benchmarks (JMH) of the job's hot path, per event: decoding, and counting into
a product's window slices.

    python -m benchmarks.java_micro [--forks 1] [--warmups 3] [--warmup-time 2s]
        [--iterations 5] [--iteration-time 2s] [--include dev.trendtracker.bench]

Runs the JMH benchmarks of ``udfs/java/src/jmh/java`` with Maven (``mvn -Pjmh test-compile
exec:exec@jmh``; they never go into the job's jar), JMH's own progress on stderr, and prints
its figures as JSON:

- ``DecoderBenchmark.decoder``: bytes of a valid event to its verdict and fields
  (``EventDecoder``, the event contract alone);
- ``DecoderBenchmark.format``: bytes to the decoded row, as the job's sources run the
  ``trend-event`` format per record;
- ``ProductSlicesBenchmark.add``: one valid event counted into its product's slices, as
  the keyed core's ``product-windows`` does per event (``ProductSlices``), with 1,000 and
  100,000 distinct products.

Each result is JMH's average time per operation (``ns_per_op``, one operation = one event)
with its 99.9% confidence half-width (``error_ns``; null from a single iteration), and the
same as events per second of one core (``events_per_s``). Figures of the Java code alone:
no Flink runtime, Kafka or state backend around it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import benchmark_main, machine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POM = PROJECT_ROOT / "udfs" / "java" / "pom.xml"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.java_micro",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--forks", type=int, default=1, help="JVM forks per benchmark")
    parser.add_argument("--warmups", type=int, default=3, help="warm-up iterations")
    parser.add_argument("--warmup-time", default="2s", help="JMH time of a warm-up")
    parser.add_argument("--iterations", type=int, default=5, help="measured iterations")
    parser.add_argument("--iteration-time", default="2s", help="JMH time of an iteration")
    parser.add_argument("--include", default="dev.trendtracker.bench",
                        help="JMH regular expression of the benchmarks to run")
    return parser.parse_args(argv)


def jmh_args(args: argparse.Namespace) -> str:
    return (f"-f {args.forks} -wi {args.warmups} -w {args.warmup_time} "
            f"-i {args.iterations} -r {args.iteration_time}")


def run_jmh(args: argparse.Namespace, result: Path) -> None:
    """Compile and run the benchmarks with Maven, JMH writing its JSON to ``result``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("Maven (mvn) not found: bash deploy/scripts/ensure-system-tools.sh "
                         "java maven")
    command = [mvn, "-B", "-q", "-f", str(POM), "-Pjmh", "test-compile", "exec:exec@jmh",
               f"-Djmh.args={jmh_args(args)}", f"-Djmh.include={args.include}",
               f"-Djmh.result={result}"]
    # JMH's progress goes to stderr: stdout is the report.
    subprocess.run(command, check=True, stdout=sys.stderr, cwd=PROJECT_ROOT)


def figures(jmh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each benchmark's figures from JMH's JSON result (average time, ns/op)."""
    results = []
    for run in jmh:
        metric = run["primaryMetric"]
        if metric["scoreUnit"] != "ns/op":
            raise ValueError(f"unexpected unit {metric['scoreUnit']} of {run['benchmark']}")
        score = metric["score"]
        results.append({
            "benchmark": run["benchmark"].removeprefix("dev.trendtracker.bench."),
            "params": run.get("params", {}),
            "ns_per_op": round(score, 1),
            # JMH writes "NaN" when one iteration gives no interval.
            "error_ns": (round(metric["scoreError"], 1)
                         if isinstance(metric["scoreError"], int | float) else None),
            "events_per_s": round(1e9 / score),
            "iterations": sum(len(fork) for fork in metric["rawData"]),
            "forks": run["forks"],
        })
    return results


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trend-jmh-") as tmp:
        result = Path(tmp) / "jmh-result.json"
        run_jmh(args, result)
        jmh = json.loads(result.read_text())
    return {
        "benchmark": "java_micro",
        "command": getattr(args, "command", "python -m benchmarks.java_micro"),
        "machine": machine(),
        "jmh": {"version": jmh[0]["jmhVersion"] if jmh else None,
                "jvm": jmh[0]["vmVersion"] if jmh else None, "args": jmh_args(args)},
        "results": figures(jmh),
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.java_micro", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
