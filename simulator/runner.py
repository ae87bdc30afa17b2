"""Run a simulation: generate, pace, produce, count. ``run_simulation`` is the Python API."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from simulator import metrics
from simulator.encoding import BAD_KINDS, NO_KIND, EncodedBatch, EventEncoder
from simulator.kafka_io import DeliveryTracker, ensure_topics, make_producer
from simulator.options import SimulationOptions
from simulator.traffic import EventGenerator
from trend_tracker.events import EVENT_TYPES
from trend_tracker.settings import Settings

#: Events sent per producer loop at most (between polls and progress updates).
MAX_SLICE = 4096
#: When throttled, wait for this many events to be due before sending...
MIN_SLICE = 256
#: ...but never hold a due event back longer than this (keeps low rates smooth).
MAX_HOLD_S = 0.005
FLUSH_TIMEOUT_S = 60.0


@dataclass
class SimulationSummary:
    """What a run did. ``sent`` = delivered (produced minus failures and undelivered)."""

    sent: int
    failed: int
    elapsed_s: float
    rate: float  # sent / elapsed_s
    target_rate: float
    throttled: bool
    seed: int
    stream_id: str
    start_ms: int
    first_ts: int | None
    last_ts: int | None
    per_type: dict[str, int]  # valid events produced, by event type
    bad: dict[str, int]  # malformed records produced, by kind
    trends: list[str]
    topics: dict[str, int] = field(default_factory=dict)  # topic -> partitions
    stopped_early: bool = False

    @property
    def produced(self) -> int:
        return sum(self.per_type.values()) + sum(self.bad.values())

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"produced": self.produced}


class Pacer:
    """Maps event time onto wall time: an event with ``ts`` is due at
    ``t0 + (ts - start_ms) / 1000``. The clock and sleep are injectable for tests."""

    def __init__(self, start_ms: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, t0: float | None = None):
        self.start_ms = start_ms
        self.clock = clock
        self.sleep = sleep
        self.t0 = clock() if t0 is None else t0

    def due_time(self, ts: int) -> float:
        return self.t0 + (ts - self.start_ms) / 1000.0

    def due_until(self, ts: np.ndarray, begin: int) -> int:
        """Index after the last event of ``ts[begin:]`` that is due now."""
        # A microsecond of slack absorbs float rounding between the two time scales.
        now_ms = self.start_ms + (self.clock() - self.t0) * 1000.0 + 1e-3
        return max(begin, int(np.searchsorted(ts, now_ms, side="right")))

    def next_slice(self, ts: np.ndarray, begin: int, stop: threading.Event | None = None) -> int:
        """Wait until events are due and return the end of the slice to send.

        Waits for ``MIN_SLICE`` events to be due, holding the first one back at most
        ``MAX_HOLD_S``, so high rates go out in batches and low rates stay smooth.
        """
        n = len(ts)
        target = min(begin + MIN_SLICE, n) - 1
        # wake >= the first event's due time, so that event is due once we get there.
        wake = min(self.due_time(int(ts[target])), self.due_time(int(ts[begin])) + MAX_HOLD_S)
        while True:
            delay = wake - self.clock()
            if delay <= 0:
                break
            if stop is not None and stop.is_set():
                return begin
            # Sleep in short steps so a stop request is seen quickly.
            self.sleep(min(delay, 0.1))
        return min(max(self.due_until(ts, begin), begin + 1), begin + MAX_SLICE)


def _produce_slice(producer, names: list[str], batch: EncodedBatch, begin: int,
                   end: int) -> tuple[int, bool]:
    """Produce records ``begin:end``; on a full local queue, serve it and go on.

    Returns the index reached and whether Ctrl-C interrupted, so counts stay exact.
    """
    produce, poll = producer.produce, producer.poll
    i = begin
    try:
        while i < end:
            try:
                for topic, key, value in zip(batch.topic[i:end], batch.keys[i:end],
                                             batch.values[i:end], strict=True):
                    produce(names[topic], value, key)
                    i += 1
            except BufferError:
                poll(0.005)
    except KeyboardInterrupt:
        return i, True
    poll(0)
    return end, False


class _Counts:
    """Running totals of what was produced, mirrored to the Prometheus counters."""

    def __init__(self) -> None:
        self.per_type = np.zeros(len(EVENT_TYPES), dtype=np.int64)
        self.bad = np.zeros(len(BAD_KINDS), dtype=np.int64)
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    @property
    def produced(self) -> int:
        return int(self.per_type.sum() + self.bad.sum())

    def add(self, batch: EncodedBatch, begin: int, end: int) -> None:
        kinds = batch.bad_kind[begin:end]
        good = kinds == NO_KIND
        per_type = np.bincount(batch.event_type[begin:end][good], minlength=len(EVENT_TYPES))
        bad = np.bincount(kinds[~good], minlength=len(BAD_KINDS))
        self.per_type += per_type
        self.bad += bad
        for i, name in enumerate(EVENT_TYPES):
            if per_type[i]:
                metrics.EVENTS_SENT.labels(event_type=name).inc(int(per_type[i]))
        for i in np.flatnonzero(bad).tolist():
            metrics.BAD_EVENTS.labels(kind=BAD_KINDS[i]).inc(int(bad[i]))
        if self.first_ts is None:
            self.first_ts = int(batch.ts[begin])
        self.last_ts = int(batch.ts[end - 1])


class _Progress:
    """A rich progress bar, refreshed at most ten times a second."""

    def __init__(self, options: SimulationOptions, start_ms: int, enabled: bool):
        self.options, self.start_ms = options, start_ms
        self.bar = None
        self.last = 0.0
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        if options.count is not None:
            total, unit = options.count, "events"
        elif options.duration_s is not None:
            total, unit = options.duration_s, "s of event time"
        else:
            total, unit = None, "events"
        self.by_time = options.count is None and options.duration_s is not None
        self.bar = Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                            TextColumn(unit), TextColumn("{task.fields[rate]}"),
                            TimeElapsedColumn(), transient=True)
        self.task = self.bar.add_task("simulate", total=total, rate="")
        self.bar.start()

    def update(self, counts: _Counts, elapsed_s: float, force: bool = False) -> None:
        if self.bar is None:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        produced = counts.produced
        completed = (round((counts.last_ts - self.start_ms) / 1000) if self.by_time
                     and counts.last_ts is not None else produced)
        rate = f"{produced / elapsed_s:,.0f} ev/s" if elapsed_s > 0 else ""
        self.bar.update(self.task, completed=completed, rate=rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_simulation(settings: Settings, options: SimulationOptions,
                   stop: threading.Event | None = None) -> SimulationSummary:
    """Generate and produce events as ``options`` say; returns when done or ``stop`` is set.

    Creates missing topics first (``options.partitions``), serves metrics when
    ``settings.metrics_port`` is not 0, and flushes the producer before returning.
    """
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    topics = ensure_topics(settings, options.partitions) if options.create_topics else {}
    names = [settings.event_topics[name] for name in EVENT_TYPES]
    metrics.serve_metrics(settings.metrics_port)
    metrics.TARGET_RATE.set(options.rate if options.throttled else 0)
    tracker = DeliveryTracker()
    producer = make_producer(settings, tracker, compression=options.compression,
                             **options.extra_producer_config)

    # A live clock starts now. The pacer starts once the generator is ready, so event
    # times trail the wall clock by that set-up time (well under a second) instead of
    # the run starting with a burst to catch up.
    start_ms = options.start_ms if options.start_ms is not None else time.time_ns() // 1_000_000
    generator = EventGenerator(options.traffic_config(start_ms, seed))
    encoder = EventEncoder(generator.catalog, generator.config.stream_id(),
                           options.bad_fraction)
    pacer = Pacer(start_ms) if options.throttled else None
    counts = _Counts()
    progress = _Progress(options, start_ms, options.progress)
    began = time.perf_counter()
    stopped = False
    failed_seen = 0
    try:
        for batch in generator.bounded(options.count, options.duration_s):
            encoded = encoder.encode(batch)
            i, n = 0, len(encoded)
            while i < n:
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                j = pacer.next_slice(encoded.ts, i, stop) if pacer else min(n, i + MAX_SLICE)
                if j <= i:
                    continue
                j, interrupted = _produce_slice(producer, names, encoded, i, j)
                if j > i:
                    counts.add(encoded, i, j)
                if interrupted:
                    stopped = True
                    break
                if tracker.failed != failed_seen:
                    metrics.EVENTS_FAILED.inc(tracker.failed - failed_seen)
                    failed_seen = tracker.failed
                progress.update(counts, time.perf_counter() - began)
                i = j
            if stopped:
                break
    except KeyboardInterrupt:
        stopped = True
    finally:
        undelivered = producer.flush(FLUSH_TIMEOUT_S)
        elapsed = time.perf_counter() - began
        progress.update(counts, elapsed, force=True)
        progress.close()
    if tracker.failed != failed_seen:
        metrics.EVENTS_FAILED.inc(tracker.failed - failed_seen)
    failed = tracker.failed + undelivered
    sent = counts.produced - failed
    return SimulationSummary(
        sent=sent, failed=failed, elapsed_s=elapsed,
        rate=sent / elapsed if elapsed > 0 else 0.0,
        target_rate=options.rate, throttled=options.throttled, seed=seed,
        stream_id=generator.config.stream_id(), start_ms=start_ms,
        first_ts=counts.first_ts, last_ts=counts.last_ts,
        per_type={name: int(counts.per_type[i]) for i, name in enumerate(EVENT_TYPES)},
        bad={name: int(counts.bad[i]) for i, name in enumerate(BAD_KINDS) if counts.bad[i]},
        trends=[f"{t.product_id}:{t.factor:g}:{t.at_s:g}s" for t in generator.trends],
        topics=topics, stopped_early=stopped,
    )
