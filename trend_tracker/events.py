"""The event contract: the JSON Schema, topic routing and the dead-letter reason codes.

``schemas/event.schema.json`` is the specification. Two implementations follow it and
must agree with it, and with each other, on every payload:

- the job's ``trend-event`` Flink format (``udfs/java/src/dev/trendtracker/format``), which
  decodes each Kafka record once, in the JVM;
- :func:`classify` here, the reference: the simulator's ``tail`` command uses it, and tests
  compare the format with it payload by payload over the corpus in ``tests/contract``.

Reading a value (everything here is ``not_json``): the bytes must be well-formed UTF-8
(Python's strict decoder: no overlong forms, no encoded surrogates, nothing above
U+10FFFF) without a byte-order mark, holding exactly one RFC 8259 JSON value (``NaN``,
``Infinity``, comments and trailing text are rejected) that is an object, nested at most
:data:`MAX_JSON_DEPTH` deep (the event object itself is depth 1). Duplicate keys: the last
one wins. Names and strings are compared after unescaping.

Numbers, as Python's ``json`` reads them: an integer literal is exact (an arbitrarily long
one too: it is out of every range, never an error); a literal with a fraction or exponent
is the nearest IEEE double (``1e400`` is infinite, ``1704067200000.0000001`` is
``1704067200000.0``). ``ts`` is any integral number in ``MIN_TS_MS..MAX_TS_MS`` (``1.7e12``
and ``1704067200000.0`` are accepted, as the schema's ``"integer"`` does); a ``ts`` in seconds
(``1704067200``) is below the range, so it is ``wrong_type`` whatever the watermark. ``price``
is optional (``null`` is absent) and must be a finite number ``>= 0``: a negative price is
``wrong_type``, like a ``ts`` out of range (the range of a number is part of its type here;
no new reason code).
``docs/EVENT-CONTRACT.md`` lists every decision with examples.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

#: The event types, each with its own topic (see ``Settings.event_topics``).
EVENT_TYPES: tuple[str, ...] = ("click", "cart", "purchase")
#: product_id and category: what the JSON Schema says, and what Redis keys are built from.
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
#: Use with ``fullmatch`` (``$`` in ID_PATTERN would also accept a trailing newline).
ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "event_type", "product_id", "category", "user_id",
                                    "ts")
#: The required fields that hold strings.
STRING_FIELDS: tuple[str, ...] = ("event_id", "event_type", "product_id", "category", "user_id")
#: Largest accepted event_id / user_id length in code points (product_id and category
#: follow ID_PATTERN).
MAX_OPAQUE_ID_LEN = 128
#: Least ts accepted (2000-01-01T00:00:00Z): a ts in seconds (1704067200 for 2024) is far
#: below it, so it is wrong_type instead of a valid event of January 1970.
MIN_TS_MS = 946_684_800_000
#: Largest ts accepted (9999-12-31T23:59:59.999Z); keeps ts inside BIGINT and TIMESTAMP ranges.
MAX_TS_MS = 253_402_300_799_999

#: The event topics stamp each record with the broker's append time, its arrival: the same
#: whenever the record is read, so ``future_ts`` and the watermark's clamp, judged against
#: it, are too. (The topic config and its value.)
TIMESTAMP_TYPE_CONFIG = "message.timestamp.type"
ARRIVAL_TIMESTAMP_TYPE = "LogAppendTime"
#: Largest price accepted: the largest finite double.
MAX_PRICE = sys.float_info.max
#: Deepest nesting of objects and arrays in a value; the event object itself is depth 1.
MAX_JSON_DEPTH = 64


class Reason(StrEnum):
    """Why an event went to the dead-letter topic. The order is the check order."""

    NOT_JSON = "not_json"  # not exactly one JSON object in UTF-8 (see the module docstring)
    MISSING_FIELD = "missing_field"  # a required field is absent or null
    WRONG_TYPE = "wrong_type"  # wrong JSON type, or a number out of range (ts, price)
    BAD_ID = "bad_id"  # an id does not match its pattern or length
    UNKNOWN_EVENT_TYPE = "unknown_event_type"  # event_type not click|cart|purchase
    TOPIC_MISMATCH = "topic_mismatch"  # event_type does not belong on this topic
    FUTURE_TS = "future_ts"  # ts more than max_future_skew after its arrival (in the topic)
    LATE = "late"  # behind the watermark on arrival (decided by the job, not here)
    DUPLICATE = "duplicate"  # a copy of an event counted within dedup_horizon_s (the job)


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


# --- reading a value -----------------------------------------------------------------------

#: An integer literal longer than this is out of every range of the contract (ts has at
#: most 15 digits, a price at most 309), so it is read as an infinity of its sign instead
#: of an int: Python refuses to convert more than 4,300 digits, and the verdict (ts
#: ``wrong_type``, price ``wrong_type``, elsewhere ignored) is the same.
_LONGEST_INT_LITERAL = 400

#: What the depth check needs to see: strings (skipped whole; an unterminated one runs to
#: the end, so the scan stays linear) and brackets.
_NESTING_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def _parse_int(literal: str) -> int | float:
    if len(literal) <= _LONGEST_INT_LITERAL:
        return int(literal)
    return -math.inf if literal[0] == "-" else math.inf


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


def _nests_too_deep(text: str) -> bool:
    """True when ``text`` opens more than MAX_JSON_DEPTH brackets outside strings at once.

    Exact for valid JSON; on invalid JSON it may err either way, but then ``json.loads``
    rejects the text anyway (the scan and the parser agree on where strings are up to the
    first syntax error, so the parser never nests deeper than the scan saw).
    """
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for match in _NESTING_TOKENS.finditer(text):
        first = match.group()[0]
        if first in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif first in "]}":
            depth -= 1
    return False


def decode_json(raw: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value of a raw message, read as the contract reads it.

    Raises ``ValueError`` for anything the contract calls ``not_json`` except "not an
    object" (the caller checks that): bytes that are not strict UTF-8, a byte-order mark,
    text that is not exactly one JSON value, ``NaN``/``Infinity``, nesting deeper than
    :data:`MAX_JSON_DEPTH`. Integer literals of more than 400 characters decode as
    ``inf``/``-inf`` (see ``_LONGEST_INT_LITERAL``).
    """
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
    if _nests_too_deep(text):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except RecursionError as exc:  # not expected below MAX_JSON_DEPTH; never propagate
        raise ValueError("nested too deep") from exc


# --- checking an event ---------------------------------------------------------------------

def event_time_ms(value: Any) -> int | None:
    """``ts`` as epoch milliseconds when it is an integral number in ``MIN_TS_MS..MAX_TS_MS``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if MIN_TS_MS <= value <= MAX_TS_MS else None
    if isinstance(value, float) and value.is_integer() and MIN_TS_MS <= value <= MAX_TS_MS:
        return int(value)
    return None


def price_ok(value: Any) -> bool:
    """An absent/null price, or a finite number ``>= 0`` (an int compared exactly)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= MAX_PRICE  # False for NaN and the infinities


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of validating one raw Kafka value.

    ``event`` is the decoded object (when the value was a JSON object); ``ts`` is the event
    time in epoch milliseconds of a valid event (``1.7e12`` in the value gives
    ``1700000000000``).
    """

    reason: Reason | None
    event: dict[str, Any] | None = None
    ts: int | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def classify(
    raw: bytes | str | None,
    topic_event_type: str | None,
    processing_time_ms: int,
    max_future_skew_ms: int,
) -> Verdict:
    """Validate one raw message value the way the job's decoder does. Never raises.

    The checks, in order (the first that fails is the reason):

    1. ``not_json``: ``None`` (a tombstone), or not exactly one JSON object as
       :func:`decode_json` reads it (strict UTF-8, no BOM, no trailing text, no
       ``NaN``/``Infinity``, at most :data:`MAX_JSON_DEPTH` deep).
    2. ``missing_field``: a required field is absent or ``null`` (with duplicate keys, the
       last one counts: ``{"ts": 1704067200000, "ts": null}`` has no ts).
    3. ``wrong_type``: an id or ``event_type`` that is not a string; a ``ts`` that is not an
       integral number in ``MIN_TS_MS..MAX_TS_MS`` (``1.5``, ``"1704067200000"``, ``true``,
       ``-1``, ``0``, a ts in seconds such as ``1704067200`` and a thousand-digit number are
       wrong, ``1.7e12`` and ``1704067200000.0`` are fine); a ``price``
       (optional, ``null`` allowed) that is not a finite number ``>= 0``: ``-0.01``,
       ``1e400`` and an integer above the largest double are wrong.
    4. ``bad_id``: ``product_id``/``category`` not matching ``ID_RE`` in full (after
       unescaping: ``"p\\u002d1"`` is ``p-1``); ``event_id``/``user_id`` not 1 to 128 code
       points long (``len``: an emoji counts once, a lone escaped surrogate too).
    5. ``unknown_event_type``: ``event_type`` not ``click``, ``cart`` or ``purchase``.
    6. ``topic_mismatch``: ``event_type`` is not ``topic_event_type`` (``None`` skips this).
    7. ``future_ts``: ``ts > processing_time_ms + max_future_skew_ms``.

    Lateness depends on the watermark and is decided by the job, not here.
    """
    if raw is None:
        return Verdict(Reason.NOT_JSON)
    try:
        event = decode_json(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return Verdict(Reason.NOT_JSON)
    if not isinstance(event, dict):
        return Verdict(Reason.NOT_JSON)

    if any(event.get(name) is None for name in REQUIRED_FIELDS):
        return Verdict(Reason.MISSING_FIELD, event)

    if not all(isinstance(event[name], str) for name in STRING_FIELDS):
        return Verdict(Reason.WRONG_TYPE, event)
    ts = event_time_ms(event["ts"])
    if ts is None or not price_ok(event.get("price")):
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
    return Verdict(None, event, ts)
