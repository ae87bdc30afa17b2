"""`trend tail`: show a topic's records, decoded and checked against the event contract."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from trend_tracker.events import classify, schema_errors
from trend_tracker.settings import Settings


def resolve_topic(settings: Settings, name: str) -> tuple[str, str | None, bool]:
    """(topic name, event type it carries or None, is the dead-letter topic).

    Accepts a configured topic name, or the short names clicks/carts/purchases/dlq.
    """
    by_event_type = {topic: event_type for event_type, topic in settings.event_topics.items()}
    aliases = {"clicks": settings.topic_clicks, "carts": settings.topic_carts,
               "purchases": settings.topic_purchases, "dlq": settings.topic_dead_letters,
               "events-dlq": settings.topic_dead_letters}
    topic = name if name in settings.all_topics else aliases.get(name, name)
    return topic, by_event_type.get(topic), topic == settings.topic_dead_letters


@dataclass(frozen=True)
class TailLine:
    """One record as the tail command shows it."""

    partition: int
    offset: int
    key: str | None
    status: str  # "ok", a dead-letter Reason, or "dlq" for dead-letter records
    detail: str  # the decoded record (or its raw text) and, when invalid, why

    @property
    def valid(self) -> bool:
        return self.status == "ok"


def _text(raw: bytes | None) -> str:
    if raw is None:
        return "<null>"
    return raw.decode("utf-8", errors="replace")


def describe(partition: int, offset: int, key: bytes | None, value: bytes | None,
             topic_event_type: str | None, is_dlq: bool, now_ms: int,
             max_future_skew_ms: int) -> TailLine:
    """Check one record against the event contract (as the job would) and describe it."""
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    if is_dlq:
        # Dead-letter records are the job's envelopes, not events: show their reason.
        try:
            envelope: Any = json.loads(_text(value))
        except ValueError:
            envelope = None
        reason = envelope.get("reason", "?") if isinstance(envelope, dict) else "?"
        return TailLine(partition, offset, key_text, f"dlq:{reason}", _text(value))
    verdict = classify(value, topic_event_type, now_ms, max_future_skew_ms)
    if verdict.valid:
        return TailLine(partition, offset, key_text, "ok", _text(value))
    detail = _text(value)
    if verdict.event is not None:
        errors = schema_errors(verdict.event)
        if errors:
            detail += "  <- " + "; ".join(errors)
    return TailLine(partition, offset, key_text, str(verdict.reason), detail)


def tail_lines(settings: Settings, name: str, *, from_beginning: bool = False,
               max_records: int | None = None, idle_timeout_s: float | None = None,
               stop_at_end: bool = False):
    """Yield a :class:`TailLine` per record of the topic ``name``; with ``stop_at_end``,
    only up to the end of each partition."""
    from simulator.kafka_io import read_topic

    topic, event_type, is_dlq = resolve_topic(settings, name)
    skew_ms = settings.max_future_skew_s * 1000
    for record in read_topic(settings, topic, max_records=max_records,
                             from_beginning=from_beginning, idle_timeout_s=idle_timeout_s,
                             stop_at_end=stop_at_end):
        yield describe(record.partition, record.offset, record.key, record.value,
                       event_type, is_dlq, time.time_ns() // 1_000_000, skew_ms)
