"""Sustainable rate: the largest live event rate at which the job keeps up, with the
simulator, the job, its sinks and the API running together.

    python -m benchmarks.sustainable_rate [--rates 10000 20000 30000 40000 50000 60000]
        [--period-s 300] [--products 1000] [--profile-s 0]

On a private embedded stack: the job streaming (checkpoints every
``--checkpoint-interval-s``, which is when it commits its offsets), the API (polled a few
times a second, as a page would), then the simulator on the live clock at each rate of
``--rates`` in turn, for ``--period-s`` each (300 s is the goal's period; shorten it to
try). During a step, every ``SAMPLE_S``:

- ``sent``: events the simulator has handed to its producer (its Prometheus counter);
- ``committed``: the sum of the offsets the job's consumer group has committed on the
  event topics (:func:`jobs.resume.committed_offsets`), which Flink commits when a
  checkpoint completes;
- ``lag = sent - committed``.

A step is sustained when the simulator achieved its rate (at least ``ACHIEVED_SHARE`` of
it) and the lag stayed bounded: over the step after its first ``SKIP_SHARE``, the lag's
least-squares slope is under ``SLOPE_SHARE`` of the rate, and its largest value is under
the rate times (two checkpoint intervals + ``LAG_SLACK_S``). The steps stop at the first
one not sustained. The figure is the largest sustained rate (goal: >= 50,000 events/s on
2 cores, ``ratio_to_goal``). The baseline, measured in the same run at each step, is the
simulator's own achieved rate (``ratio_achieved_to_target``): a step the producer could
not pace is limited by the producer's share of the machine, not by the job.

With ``--profile-s``, each step is profiled around its middle (:mod:`benchmarks.profile`:
CPU by process and by JVM thread, and the job's JVM sampled by Java Flight Recorder), to
show what limits a rate that is not sustained.

Checks, not timed: after the last step the simulator stops and the job catches up; the
events the job read (``trend_event_type_events_read``) equal the events sent; no dead
letters; the API serves the newest window, equal to its Parquet ranking's top 10.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import SEED, benchmark_main, machine, run_on_stack
from benchmarks.backlog import READ_METRIC
from benchmarks.freshness import overall_parquet_rows
from benchmarks.job_throughput import kill_group, progress, spawn
from benchmarks.live import (
    child_env,
    dead_letter_reasons,
    interrupt_group,
    live_settings,
    metrics_url,
    parquet_dir,
    scrape,
    series,
    simulator_command,
    streaming_job,
    wait_job_running,
)
from benchmarks.profile import Profile
from trend_tracker.processes import free_port
from trend_tracker.settings import Settings

SAMPLE_S = 2.0
ACHIEVED_SHARE = 0.97
SKIP_SHARE = 0.2
SLOPE_SHARE = 0.02
LAG_SLACK_S = 10
SENT_METRIC = "trend_simulator_events_sent_total"
API_POLL_S = 0.25
#: How long the check waits for the API's first window after the steps.
API_WAIT_S = 180


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sustainable_rate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=int, nargs="+",
                        default=[10_000, 20_000, 30_000, 40_000, 50_000, 60_000])
    parser.add_argument("--period-s", type=float, default=300,
                        help="how long each rate must be sustained (the goal's 300 s)")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--window-size-s", type=int, default=600)
    parser.add_argument("--window-slide-s", type=int, default=30)
    parser.add_argument("--checkpoint-interval-s", type=int, default=5)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--profile-s", type=float, default=0,
                        help="profile each step for this many seconds from its middle: the "
                             "job's JVM (Java Flight Recorder) and every process of the "
                             "benchmark (0: no profile)")
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args(argv)


def simulator_sent(port: int) -> float | None:
    text = scrape(f"http://127.0.0.1:{port}/metrics")
    if text is None:
        return None
    return sum(series(text, SENT_METRIC))


def committed_total(settings: Settings) -> int:
    from jobs.resume import committed_offsets

    return sum(sum(parts.values()) for parts in committed_offsets(settings).values())


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points."""
    ts = [t for t, _ in points]
    mean_t, mean_v = statistics.fmean(ts), statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t in ts)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


class ApiPoller:
    """A page's load on the API: ``GET /trending?k=10`` every ``API_POLL_S``."""

    def __init__(self, port: int) -> None:
        import threading

        self.url = f"http://127.0.0.1:{port}/trending?k=10"
        self.answers = {"ok": 0, "other": 0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(API_POLL_S):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    response.read()
                    self.answers["ok"] += 1
            except OSError:
                self.answers["other"] += 1

    def __enter__(self) -> ApiPoller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def newest_answer(api_url: str, job: subprocess.Popen, timeout_s: float = API_WAIT_S
                  ) -> dict[str, Any]:
    """``GET /trending?k=10`` once it answers 200: on a loaded machine the job's window sink
    (its Python worker) may write the first window after a short run has ended, and the
    API answers 503 until then."""
    import urllib.error

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{api_url}/trending?k=10", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline or job.poll() is not None:
                raise
        time.sleep(1)


def step(settings: Settings, rate: float, period_s: float, products: int,
         job: subprocess.Popen, sent_before: float, profile: Profile | None = None
         ) -> dict[str, Any]:
    """One rate for ``period_s``; the lag samples and whether the rate was sustained.
    ``profile`` spans ``profile.seconds`` around the step's middle (after its first
    ``SKIP_SHARE``)."""
    profile_at = (max(SKIP_SHARE * period_s, (period_s - profile.seconds) / 2)
                  if profile else None)
    port = free_port()
    env = child_env(settings.model_copy(update={"metrics_port": port}))
    simulator = spawn(simulator_command(rate, products, SEED), env, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float, float]] = []  # (t, sent in this step, lag)
    started = time.monotonic()
    try:
        while time.monotonic() - started < period_s:
            if job.poll() is not None:
                raise RuntimeError(f"the job exited ({job.returncode})")
            if simulator.poll() is not None:
                raise RuntimeError(f"the simulator exited:\n{simulator.stderr.read()[-2000:]}")
            time.sleep(SAMPLE_S)
            sent = simulator_sent(port)
            if sent is None:
                continue
            samples.append((time.monotonic() - started, sent,
                            sent_before + sent - committed_total(settings)))
            if profile and profile.started is None and samples[-1][0] >= profile_at:
                profile.start()
            elif profile and profile.after is None and profile.due():
                profile.stop()
        if profile and profile.started is not None and profile.after is None:
            profile.stop()
        interrupt_group(simulator)
        out, _ = simulator.communicate(timeout=60)
    finally:
        kill_group(simulator)
    summary = json.loads(out.strip().splitlines()[-1])
    measured = [(t, lag) for t, _, lag in samples if t >= SKIP_SHARE * period_s]
    lag_slope = slope(measured) if len(measured) >= 2 else float("nan")
    achieved = round(summary["rate"])  # as reported, so that the ratio checks from it
    limit = rate * (2 * settings.checkpoint_interval_s + LAG_SLACK_S)
    result = {
        "target_rate": rate, "achieved_rate": achieved,
        "ratio_achieved_to_target": round(achieved / rate, 3), "sent": summary["sent"],
        "failed": summary["failed"], "seconds": round(summary["elapsed_s"], 1),
        "lag_max": max((lag for _, lag in measured), default=None),
        "lag_last": measured[-1][1] if measured else None,
        "lag_slope_per_s": round(lag_slope),
        "lag_limit": round(limit),
        "achieved": achieved >= ACHIEVED_SHARE * rate,
        "lag_bounded": lag_slope < SLOPE_SHARE * rate and bool(measured)
                       and max(lag for _, lag in measured) < limit,
        "samples": [(round(t, 1), int(s), int(lag)) for t, s, lag in samples],
    }
    result["sustained"] = result["achieved"] and result["lag_bounded"]
    return result


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from localstack.servers import ApiServer
    from registry.client import ensure_default_weights
    from simulator.kafka_io import count_records, ensure_topics

    load_before = [round(v, 2) for v in os.getloadavg()]
    settings = live_settings(
        stack_env, work_dir, parallelism=args.parallelism, window_size_s=args.window_size_s,
        window_slide_s=args.window_slide_s, top_n=args.top_n,
        checkpoint_interval_s=args.checkpoint_interval_s)
    ensure_default_weights(settings)
    ensure_topics(settings)
    logs = Path(settings.state_dir).parent
    logs.mkdir(parents=True, exist_ok=True)
    job_log = logs / "job.log"
    steps: list[dict[str, Any]] = []
    profiles: list[Profile | None] = []
    sent = 0
    with streaming_job(settings, job_log) as job:
        progress("starting the streaming job")
        wait_job_running(job, settings, job_log)
        with ApiServer(settings.as_env(), log_path=logs / "api.log") as api, \
                ApiPoller(api.port) as poller:
            for rate in args.rates:
                load = round(os.getloadavg()[0], 2)
                progress(f"{rate} events/s for {args.period_s:g} s (load {load})")
                profiles.append(Profile(job, logs, args.profile_s) if args.profile_s
                                else None)
                result = step(settings, rate, args.period_s, args.products, job, sent,
                              profiles[-1])
                result["load_avg_1m_at_start"] = load
                result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
                steps.append(result)
                sent += result["sent"]
                progress(f"achieved {result['achieved_rate']}/s, lag max "
                         f"{result['lag_max']}, slope {result['lag_slope_per_s']}/s")
                if not result["sustained"]:
                    break
            progress("letting the job catch up")
            deadline = time.monotonic() + 600
            read = 0.0
            while time.monotonic() < deadline:
                text = scrape(metrics_url(settings))
                read = sum(series(text, READ_METRIC)) if text else read
                if read >= sent:
                    break
                time.sleep(2)
            time.sleep(3)  # past the API's ranking cache
            served = newest_answer(api.url, job)
        topic = settings.topic_dead_letters
        dead_letters = count_records(settings, topic)
    reasons = dead_letter_reasons(settings) if dead_letters else {}
    # Read after the job stopped, so that reading the recordings loads no measured span.
    for result, profile in zip(steps, profiles, strict=True):
        result["profile"] = profile.summary() if profile else None
    rows = overall_parquet_rows(parquet_dir(settings), served["window_end"])
    fields = ("rank", "product_id", "clicks", "carts", "purchases")
    sustained = [s["target_rate"] for s in steps if s.get("sustained")]
    best = max(sustained, default=0)
    return {
        "benchmark": "sustainable_rate",
        "command": args.command,
        "machine": machine(),
        "load_avg_before": load_before,
        "shape": {"period_s": args.period_s, "products": args.products,
                  "window_size_s": args.window_size_s, "window_slide_s": args.window_slide_s,
                  "checkpoint_interval_s": args.checkpoint_interval_s, "top_n": args.top_n,
                  "parallelism": args.parallelism, "api_polls_per_s": 1 / API_POLL_S},
        "sustainable_rate": best,
        "goal_rate": 50_000,
        "goal_met": best >= 50_000 and args.period_s >= 300,
        "ratio_to_goal": round(best / 50_000, 3),
        "steps": steps,
        "check": {
            "events_sent": sent, "events_read": int(read), "dead_letters": dead_letters,
            "dead_letter_reasons": reasons,
            "api_answers": poller.answers,
            "api_newest_window": served["window_end"],
            "api_top_equal_to_parquet": bool(rows) and [
                tuple(r[f] for f in fields) for r in rows[:10]] == [
                tuple(item[f] for f in fields) for item in served["items"]],
        },
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The whole measurement on a private stack, or on the running one ``stack_env`` names."""
    args.command = getattr(args, "command", "python -m benchmarks.sustainable_rate")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.sustainable_rate", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
