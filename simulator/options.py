"""What a simulation run is asked to do, and a pure way to produce its events."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator.encoding import BAD_KINDS, NO_KIND, EventEncoder
from simulator.traffic import EventGenerator, TrafficConfig, Trend
from trend_tracker.events import EVENT_TYPES

COMPRESSIONS = ("none", "lz4", "zstd", "snappy", "gzip")


def parse_start(text: str) -> int:
    """An ISO-8601 time (UTC unless it says otherwise) or epoch milliseconds -> epoch ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"start must be ISO-8601 (2024-01-01T00:00:00Z) or epoch ms, "
                         f"got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class SimulationOptions:
    """One simulation run. ``rate`` is events per second of event time; when throttled it
    is also the send rate. Without ``start_ms`` the clock is live (event time = now)."""

    rate: float = 1000.0
    count: int | None = None
    duration_s: float | None = None
    products: int = 1000
    categories: int = 20
    users: int = 50_000
    seed: int | None = None
    #: Simulated clock start (epoch ms); None = live clock.
    start_ms: int | None = None
    #: Pace sends to event time. None: throttled on a live clock, full speed on a
    #: simulated one (a backfill).
    throttle: bool | None = None
    bad_fraction: float = 0.0
    #: None: one default trend; () for none.
    trends: tuple[Trend, ...] | None = None
    cart_rate: float = 0.10
    purchase_rate: float = 0.30
    zipf_s: float = 1.1
    #: Create missing topics with this many partitions first (None: settings' default).
    partitions: int | None = None
    create_topics: bool = True
    progress: bool = False
    compression: str = "none"
    extra_producer_config: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        if self.duration_s is not None and not (self.duration_s >= 0
                                                and math.isfinite(self.duration_s)):
            raise ValueError("duration must be >= 0 seconds")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}")
        if self.start_ms is None and self.throttle is False:
            raise ValueError("a live clock cannot run ahead of real time: give a simulated "
                             "start (--start) for an unthrottled run")
        if not 0.0 <= self.bad_fraction <= 1.0:
            raise ValueError("bad fraction must be in [0, 1]")

    @property
    def throttled(self) -> bool:
        return self.throttle if self.throttle is not None else self.start_ms is None

    def traffic_config(self, start_ms: int, seed: int) -> TrafficConfig:
        return TrafficConfig(start_ms=start_ms, rate=self.rate, products=self.products,
                             categories=self.categories, users=self.users, seed=seed,
                             cart_rate=self.cart_rate, purchase_rate=self.purchase_rate,
                             zipf_s=self.zipf_s, trends=self.trends)


@dataclass(frozen=True)
class SimulatedEvent:
    """One generated record: the event type whose topic it goes to, key, value, ts."""

    topic_event_type: str
    key: bytes
    value: bytes
    ts: int
    bad_kind: str | None


def generate_events(options: SimulationOptions) -> list[SimulatedEvent]:
    """The exact records a run with these options sends (no I/O).

    Needs a simulated clock (``start_ms``), a ``seed`` and a ``count`` or ``duration_s``.
    """
    if options.start_ms is None or options.seed is None:
        raise ValueError("a reproducible stream needs start_ms and seed")
    if options.count is None and options.duration_s is None:
        raise ValueError("give count or duration_s: the stream is otherwise endless")
    generator = EventGenerator(options.traffic_config(options.start_ms, options.seed))
    encoder = EventEncoder(generator.catalog, generator.config.stream_id(),
                           options.bad_fraction)
    events: list[SimulatedEvent] = []
    for batch in generator.bounded(options.count, options.duration_s):
        encoded = encoder.encode(batch)
        for topic, key, value, ts, kind in zip(encoded.topic, encoded.keys, encoded.values,
                                               encoded.ts.tolist(), encoded.bad_kind.tolist(),
                                               strict=True):
            events.append(SimulatedEvent(EVENT_TYPES[topic], key, value, ts,
                                         None if kind == NO_KIND else BAD_KINDS[kind]))
    return events
