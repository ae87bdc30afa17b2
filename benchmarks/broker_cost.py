"""What the local broker costs: its CPU while a producer writes at a fixed rate, alone and
with one consumer group reading at the tail.

    python -m benchmarks.broker_cost [--rate 5000] [--period-s 100] [--partitions 2]

On a private embedded stack: three topics of ``--partitions`` partitions, one producer
paced at ``--rate`` events/s (round-robin over the topics) for ``--period-s``, first alone
(produce), then with a consumer group subscribed to the three topics reading everything as
it arrives (produce + consume). The broker's CPU is read from ``/proc/<pid>/stat`` at the
start and end of each phase; the figure is cores (CPU seconds per second). The consumer must
have read every record produced in its phase. Prints JSON.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import benchmark_main, machine, run_on_stack
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import Settings, settings_from_env

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker_cost",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events per second")
    parser.add_argument("--period-s", type=float, default=100.0, help="length of each phase")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args(argv)


def produce_paced(settings: Settings, topics: list[str], rate: float, period_s: float) -> int:
    """Produce ``rate * period_s`` JSON events of about 120 bytes, paced at ``rate``."""
    from confluent_kafka import Producer

    producer = Producer({**client_config(settings), "linger.ms": 5,
                         "acks": "all", "log_level": 4})
    total = int(rate * period_s)
    start = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate))
        while sent < due:
            value = (b'{"event_id":"e-%d","event_type":"click","product_id":"p-%05d",'
                     b'"category":"c-%02d","user_id":"u-%d","ts":%d}'
                     % (sent, sent % 1000, sent % 20, sent % 5000, 1_704_067_200_000 + sent))
            producer.produce(topics[sent % len(topics)], value, b"p-%05d" % (sent % 1000))
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(30)
    return sent


class TailReader(threading.Thread):
    """One consumer group member reading the topics at their tail until stopped."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Consumer

        self.consumer = Consumer({**client_config(settings),
                                  "group.id": f"broker-cost-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "latest", "log_level": 4})
        self.consumer.subscribe(topics)
        self.read = 0
        self.assigned = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for message in self.consumer.consume(1000, timeout=0.2):
                if message.error() is None:
                    self.read += 1
            if self.consumer.assignment():
                self.assigned.set()
        self.consumer.close()


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from localstack import LocalStack
    from simulator.kafka_io import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    settings = settings_from_env(stack_env, topic_clicks=f"clicks-{suffix}",
                                 topic_carts=f"carts-{suffix}",
                                 topic_purchases=f"purchases-{suffix}",
                                 topic_dead_letters=f"events-dlq-{suffix}",
                                 topic_weights=f"weights-{suffix}")
    ensure_topics(settings, partitions=args.partitions)
    topics = list(settings.event_topics.values())
    broker = LocalStack(stack_env["TREND_STATE_DIR"]).read_state().services["kafka"].pid
    load_before = [round(v, 2) for v in os.getloadavg()]

    phases: dict[str, dict[str, Any]] = {}
    for phase in ("produce", "produce_and_consume"):
        reader = None
        if phase == "produce_and_consume":
            reader = TailReader(settings, topics)
            reader.start()
            reader.assigned.wait(60)
            time.sleep(1)  # the group's first fetches, not part of the measure
            read_before = reader.read
        cpu_before, clock_before = cpu_seconds(broker), time.monotonic()
        sent = produce_paced(settings, topics, args.rate, args.period_s)
        cpu_after, clock_after = cpu_seconds(broker), time.monotonic()
        result: dict[str, Any] = {
            "events": sent, "seconds": round(clock_after - clock_before, 1),
            "broker_cores": round((cpu_after - cpu_before) / (clock_after - clock_before), 3),
        }
        if reader is not None:
            deadline = time.monotonic() + 30
            while reader.read - read_before < sent and time.monotonic() < deadline:
                time.sleep(0.1)
            result["consumed"] = reader.read - read_before
            result["consumer_kept_up"] = result["consumed"] >= sent
            reader.stopping.set()
            reader.join(10)
        phases[phase] = result
    return {
        "benchmark": "broker_cost", "command": args.command,
        "broker": "Apache Kafka 4.1.1 (one KRaft node), same machine",
        "load": {"rate": args.rate, "period_s": args.period_s, "topics": len(topics),
                 "partitions": args.partitions},
        "phases": phases,
        "machine": machine(), "load_avg_before": load_before,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The measurement on a private stack (the broker's pid must be this machine's)."""
    args.command = getattr(args, "command", "python -m benchmarks.broker_cost")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.broker_cost", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
