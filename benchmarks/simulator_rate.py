"""The simulator's produce rate against raw confluent-kafka producing, in one run.

    python -m benchmarks.simulator_rate [--events 500000] [--repeat 3]
        [--target-rate 100000] [--compression none] [--bootstrap-servers HOST:PORT]

Starts a private embedded stack (unless ``--bootstrap-servers`` names a broker) and,
each on fresh topics, measures:

1. baseline: confluent-kafka producing the simulator's records already serialised
   (generated and encoded before the clock starts), with the simulator's producer
   settings, until flushed: the ceiling for any Python producer here;
2. the simulator unthrottled (simulated clock): generation, encoding and producing;
3. the simulator throttled to ``--target-rate`` on the live clock.

Every phase reads its topics back (partition assignment from offset 0) and checks that
every record arrived.
Rates are events/s, median over ``--repeat`` runs; the figures of merit are
``simulator_unthrottled / baseline`` and ``simulator_at_target / target``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from benchmarks import SEED, START_MS, interleaved_runs, machine
from simulator.encoding import EventEncoder
from simulator.kafka_io import (
    DeliveryTracker,
    ensure_topics,
    make_producer,
    produce,
    read_topic,
)
from simulator.options import SimulationOptions
from simulator.runner import run_simulation
from simulator.traffic import EventGenerator
from trend_tracker.events import EVENT_TYPES
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulator_rate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500_000, help="events per phase")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase")
    parser.add_argument("--target-rate", type=float, default=100_000.0,
                        help="rate of the throttled phase (events/s)")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--bootstrap-servers", default=None,
                        help="use this broker instead of starting a local stack")
    return parser.parse_args(argv)


def fresh_settings(bootstrap_servers: str, partitions: int) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(_env_file=None, bootstrap_servers=bootstrap_servers, metrics_port=0,
                    topic_partitions=partitions, topic_clicks=f"bench-clicks-{suffix}",
                    topic_carts=f"bench-carts-{suffix}",
                    topic_purchases=f"bench-purchases-{suffix}",
                    topic_dead_letters=f"bench-dlq-{suffix}")


def options(args: argparse.Namespace, **overrides: Any) -> SimulationOptions:
    values: dict[str, Any] = {"count": args.events, "products": args.products, "seed": SEED,
                              "rate": args.target_rate, "compression": args.compression}
    values.update(overrides)
    return SimulationOptions(**values)


def verify(settings: Settings, per_type: dict[str, int]) -> bool:
    """Every produced record is on its topic (read back by assignment, with a deadline)."""
    arrived = {}
    for event_type, expected in per_type.items():
        topic = settings.event_topics[event_type]
        arrived[event_type] = sum(1 for _ in read_topic(
            settings, topic, max_records=expected, deadline_s=120)) if expected else 0
    return arrived == per_type


def drop_topics(settings: Settings) -> None:
    """Free the broker's memory (the local broker keeps everything in RAM)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config(settings), "log_level": 4})
    for topic, future in admin.delete_topics(settings.all_topics,
                                             operation_timeout=30).items():
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - best effort: the figures stand anyway
            print(f"could not delete topic {topic}: {exc}", file=sys.stderr)


def baseline_run(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    """Raw confluent-kafka: produce the simulator's pre-serialised records, then flush."""
    settings = fresh_settings(bootstrap, args.partitions)
    ensure_topics(settings)
    run_options = options(args, start_ms=START_MS)
    generator = EventGenerator(run_options.traffic_config(START_MS, SEED))
    encoder = EventEncoder(generator.catalog, generator.config.stream_id())
    names = [settings.event_topics[t] for t in EVENT_TYPES]
    records = []
    for batch in generator.bounded(count=args.events):
        encoded = encoder.encode(batch)
        records.extend(zip([names[t] for t in encoded.topic], encoded.values, encoded.keys,
                           strict=True))
    tracker = DeliveryTracker()
    producer = make_producer(settings, tracker, compression=args.compression)
    started = time.perf_counter()
    for topic, value, key in records:
        produce(producer, topic, value, key)
    undelivered = producer.flush(60)
    elapsed = time.perf_counter() - started
    per_type = Counter({t: 0 for t in EVENT_TYPES})
    by_name = dict(zip(names, EVENT_TYPES, strict=True))
    per_type.update(by_name[topic] for topic, _, _ in records)
    ok = tracker.failed == 0 and undelivered == 0 and verify(settings, dict(per_type))
    drop_topics(settings)
    return {"rate": len(records) / elapsed, "elapsed_s": elapsed, "verified": ok}


def simulator_run(args: argparse.Namespace, bootstrap: str,
                  run_options: SimulationOptions) -> dict[str, Any]:
    settings = fresh_settings(bootstrap, args.partitions)
    ensure_topics(settings)
    summary = run_simulation(settings, run_options)
    ok = (summary.failed == 0 and summary.sent == args.events
          and verify(settings, summary.per_type))
    drop_topics(settings)
    return {"rate": summary.rate, "elapsed_s": summary.elapsed_s, "verified": ok}


def measure(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    phases = {
        "baseline": lambda: baseline_run(args, bootstrap),
        "simulator_unthrottled": lambda: simulator_run(
            args, bootstrap, options(args, start_ms=START_MS, throttle=False)),
        "simulator_at_target": lambda: simulator_run(args, bootstrap, options(args)),
    }
    runs, rates = interleaved_runs(phases, args.repeat)
    return {
        "rates_events_per_s": {k: round(v) for k, v in rates.items()},
        "runs_events_per_s": {k: [round(r["rate"]) for r in rs] for k, rs in runs.items()},
        "ratio_unthrottled_to_baseline": round(
            rates["simulator_unthrottled"] / rates["baseline"], 3),
        "ratio_at_target_to_target": round(rates["simulator_at_target"] / args.target_rate, 3),
        "verified": all(r["verified"] for rs in runs.values() for r in rs),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stack = None
    bootstrap = args.bootstrap_servers
    state_dir = None
    if bootstrap is None:
        from localstack import LocalStack

        state_dir = tempfile.TemporaryDirectory(prefix="trend-bench-")
        stack = LocalStack(state_dir.name)
        bootstrap = stack.up().bootstrap_servers
    try:
        result = measure(args, bootstrap)
    finally:
        if stack is not None:
            stack.down()
            state_dir.cleanup()
    result.update({
        "benchmark": "simulator_rate",
        "command": " ".join(["python -m benchmarks.simulator_rate", *(argv or sys.argv[1:])]),
        "events_per_phase": args.events,
        "target_rate": args.target_rate,
        "repeat": args.repeat,
        "compression": args.compression,
        "partitions": args.partitions,
        "machine": machine(),
        "broker": "Apache Kafka (local stack), same machine" if stack else bootstrap,
    })
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
