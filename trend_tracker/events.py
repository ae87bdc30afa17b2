"""The event contract: the JSON Schema, topic routing and the dead-letter reason codes.

The job validates events in Flink SQL (in the JVM). :func:`classify` is the same rule
set written as a plain function: the simulator's ``tail`` command uses it, and tests
use it as an independent reference for what the job must route to the dead-letter
topic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from trend_tracker.settings import EVENT_TYPES, ID_RE

REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "product_id", "category", "user_id", "ts")
#: Largest accepted event_id / user_id length (product_id and category follow ID_PATTERN).
MAX_OPAQUE_ID_LEN = 128
#: Largest ts accepted (year 9999); keeps ts inside BIGINT and TIMESTAMP ranges.
MAX_TS_MS = 253_402_300_799_999


class Reason(StrEnum):
    """Why an event went to the dead-letter topic. The order is the check order."""

    NOT_JSON = "not_json"  # not a JSON object
    MISSING_FIELD = "missing_field"  # a required field is absent or null
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type (e.g. ts as a string)
    BAD_ID = "bad_id"  # an id does not match its pattern
    UNKNOWN_EVENT_TYPE = "unknown_event_type"  # event_type not click|cart|purchase
    TOPIC_MISMATCH = "topic_mismatch"  # event_type does not belong on this topic
    FUTURE_TS = "future_ts"  # ts more than max_future_skew ahead of processing time
    LATE = "late"  # behind the watermark on arrival


@lru_cache(maxsize=1)
def event_schema() -> dict[str, Any]:
    """The event JSON Schema shipped with the package."""
    text = resources.files("trend_tracker").joinpath("schemas/event.schema.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = event_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(event: Any) -> list[str]:
    """Schema violations of a decoded event, as readable messages (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    ]


def topic_for(event_type: str, topics: dict[str, str]) -> str:
    """The topic an event type is published to (``topics`` is ``Settings.event_topics``)."""
    return topics[event_type]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of validating one raw Kafka value."""

    reason: Reason | None
    event: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


def classify(
    raw: bytes | str | None,
    topic_event_type: str | None,
    processing_time_ms: int,
    max_future_skew_ms: int,
) -> Verdict:
    """Validate one raw message value the way the job does.

    ``topic_event_type`` is the event type the topic carries (``None`` skips the
    topic check). Lateness depends on the watermark and is decided by the job, not here.
    """
    if raw is None:
        return Verdict(Reason.NOT_JSON)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        event = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return Verdict(Reason.NOT_JSON)
    if not isinstance(event, dict):
        return Verdict(Reason.NOT_JSON)

    if any(event.get(name) is None for name in REQUIRED_FIELDS):
        return Verdict(Reason.MISSING_FIELD, event)

    strings = ("event_id", "event_type", "product_id", "category", "user_id")
    if not all(isinstance(event[name], str) for name in strings):
        return Verdict(Reason.WRONG_TYPE, event)
    ts = event["ts"]
    if not _is_int(ts) or not 0 <= ts <= MAX_TS_MS:
        return Verdict(Reason.WRONG_TYPE, event)
    price = event.get("price")
    if price is not None and not _is_number(price):
        return Verdict(Reason.WRONG_TYPE, event)

    if not (ID_RE.fullmatch(event["product_id"]) and ID_RE.fullmatch(event["category"])):
        return Verdict(Reason.BAD_ID, event)
    if not all(0 < len(event[name]) <= MAX_OPAQUE_ID_LEN for name in ("event_id", "user_id")):
        return Verdict(Reason.BAD_ID, event)

    if event["event_type"] not in EVENT_TYPES:
        return Verdict(Reason.UNKNOWN_EVENT_TYPE, event)
    if topic_event_type is not None and event["event_type"] != topic_event_type:
        return Verdict(Reason.TOPIC_MISMATCH, event)

    if ts > processing_time_ms + max_future_skew_ms:
        return Verdict(Reason.FUTURE_TS, event)
    return Verdict(None, event)
