"""What the ingest service does with a request body, without any I/O.

A body is UTF-8 JSON text: one event object, or an array of event values. It is cut into
items at the offsets where each value starts and ends, so every item keeps the bytes the
client sent: that is the Kafka record's value, and what the job's decoder will read. Each
item is then judged by :func:`trend_tracker.events.classify`, the contract's one Python
implementation (the job's decoder agrees with it payload by payload), so an item gets
exactly the reason code the job would give it.

Framing only finds where the values are, from the body's structure: strings, brackets,
commas. It never parses a value, so everything inside one is classify's to judge: ``NaN``,
a leading zero, a raw control character in a string, a value that is not an object or is
nested deeper than the contract allows, or even unbalanced brackets of different kinds
(``{"a": [1}]``) are items rejected as ``not_json``. A body whose structure cannot be
framed is an error of the whole request: not UTF-8, an unterminated string or bracket,
anything but commas and whitespace between the values, an empty element, a top-level value
that is neither an object nor an array, an empty array, or more items than allowed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from trend_tracker.events import Reason, classify

_WHITESPACE = " \t\n\r"

# Possessive quantifiers and atomic groups: no backtracking, linear time on any input.
#: An object without nested objects or arrays (what events are), strings skipped whole.
_FLAT_OBJECT = re.compile(
    r'\{[^{}\[\]"]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^{}\[\]"]*+)*+\}', re.DOTALL)
#: A complete string.
_STRING = re.compile(r'"(?>[^"\\]++|\\.)*+"', re.DOTALL)
#: What a nested value's depth depends on: complete strings, a lone quote (a string that
#: never ends), brackets.
_NESTING = re.compile(r'"(?>[^"\\]++|\\.)*+"|"|[\[\]{}]', re.DOTALL)
#: A value that is neither a string nor a bracketed one: a number, true, false, null, or
#: any other run of text up to the next structural character (classify rejects it).
_BARE = re.compile(r'[^ \t\n\r,\[\]{}"]+')

#: Only tells, for a body that is neither an object nor an array, whether it is JSON at all.
_RELAXED_JSON = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str,
                                 strict=False)


class BodyError(ValueError):
    """A request body that is not a batch of events, with its HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _malformed(message: str) -> BodyError:
    return BodyError(400, "malformed_body", message)


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _plain_object_end(text: str, start: int) -> int:
    """Where the object at ``start`` ends if it is flat and its strings have no escapes
    (what almost every event is), else -1. A few string scans, no per-character loop."""
    close = text.find("}", start)
    if close < 0:
        return -1
    inside = text[start + 1:close]
    # Without escapes, quotes pair up in order: after an even number of them the "}" is
    # outside every string.
    if inside.count('"') % 2 or "\\" in inside or "{" in inside or "[" in inside:
        return -1
    return close + 1


def _value_end(text: str, start: int) -> int:
    """Where the value starting at ``text[start]`` (not whitespace) ends."""
    first = text[start]
    if first == "{":
        end = _plain_object_end(text, start)
        if end > 0:
            return end
        flat = _FLAT_OBJECT.match(text, start)
        if flat:
            return flat.end()
    if first in "{[":
        depth = 0
        for token in _NESTING.finditer(text, start):
            kind = text[token.start()]
            if kind == '"':
                if token.end() - token.start() == 1:
                    raise _malformed(f"unterminated string at character {token.start()}")
                continue
            depth += 1 if kind in "{[" else -1
            if depth == 0:
                return token.end()
        raise _malformed(f"unterminated {first!r} at character {start}")
    if first == '"':
        string = _STRING.match(text, start)
        if not string:
            raise _malformed(f"unterminated string at character {start}")
        return string.end()
    bare = _BARE.match(text, start)
    if not bare:
        raise _malformed(f"unexpected {first!r} at character {start}")
    return bare.end()


def split_events(body: bytes, max_batch: int) -> list[bytes]:
    """The raw bytes of each event value in ``body``, in order.

    ``body`` is one event object, or an array of 1 to ``max_batch`` values (any value:
    what is not an event is rejected per item later). Raises :class:`BodyError`: 400
    ``malformed_body`` (not UTF-8, or a structure that cannot be framed), 422
    ``invalid_body`` (neither an object nor an array, an empty array), 413
    ``batch_too_large`` (more than ``max_batch`` values).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed("the body is not UTF-8 text") from exc
    # Character offsets are byte offsets in an ASCII body, so items are slices of the body
    # itself; otherwise each item's text is encoded back (exactly its bytes: the body was
    # decoded strictly).
    ascii_body = body.isascii()

    def item(start: int, end: int) -> bytes:
        return body[start:end] if ascii_body else text[start:end].encode("utf-8")

    def expect_end(index: int) -> None:
        if _skip_whitespace(text, index) != len(text):
            raise _malformed(f"unexpected text after the body's value at character {index}")

    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise _malformed("the body is empty")
    if text[start] == "{":
        end = _value_end(text, start)
        expect_end(end)
        return [item(start, end)]
    if text[start] != "[":
        try:
            _RELAXED_JSON.decode(text)
        except (ValueError, RecursionError) as exc:
            raise _malformed("the body is not JSON") from exc
        raise BodyError(422, "invalid_body",
                        "the body must be one event object or an array of events")

    items: list[bytes] = []
    index = _skip_whitespace(text, start + 1)
    if index < len(text) and text[index] == "]":
        expect_end(index + 1)
        raise BodyError(422, "invalid_body", "the array holds no event")
    while True:
        if index >= len(text) or text[index] in ",]":
            raise _malformed(f"missing value at character {index}")
        if len(items) == max_batch:
            raise BodyError(413, "batch_too_large",
                            f"a request may carry at most {max_batch} events")
        end = _value_end(text, index)
        items.append(item(index, end))
        index = _skip_whitespace(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip_whitespace(text, index + 1)
            continue
        if index < len(text) and text[index] == "]":
            break
        raise _malformed(f"expected ',' or ']' at character {index}")
    expect_end(index + 1)
    return items


@dataclass(slots=True)
class Record:
    """A valid event as its Kafka record: topic of its type, key ``product_id``, value the
    event's bytes as sent."""

    index: int
    event_type: str
    topic: str
    key: bytes
    value: bytes


@dataclass
class CheckedBatch:
    """The verdicts of a batch: the records to produce, and each rejected item's reason."""

    records: list[Record] = field(default_factory=list)
    rejected: dict[int, Reason] = field(default_factory=dict)

    def accepted_by_type(self) -> Counter[str]:
        return Counter(record.event_type for record in self.records)

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(str(reason) for reason in self.rejected.values())

    def results(self) -> list[dict[str, object]]:
        """One result per item, in order: ``index``, ``status`` and a rejected one's ``reason``."""
        out: list[dict[str, object]] = []
        rejected = self.rejected
        for index in range(len(self.records) + len(rejected)):
            reason = rejected.get(index)
            if reason is None:
                out.append({"index": index, "status": "accepted"})
            else:
                out.append({"index": index, "status": "rejected", "reason": str(reason)})
        return out


def check_batch(items: list[bytes], topics: dict[str, str], now_ms: int,
                max_future_skew_ms: int) -> CheckedBatch:
    """Judge each item with :func:`classify` and route the valid ones to their topics.

    ``topics`` is ``Settings.event_topics``. No topic is read from, so the topic check
    (``topic_mismatch``) does not apply: each event goes to the topic of its own type.
    """
    batch = CheckedBatch()
    for index, raw in enumerate(items):
        verdict = classify(raw, None, now_ms, max_future_skew_ms)
        if verdict.reason is not None:
            batch.rejected[index] = verdict.reason
            continue
        event = verdict.event
        event_type = event["event_type"]
        batch.records.append(Record(index, event_type, topics[event_type],
                                    event["product_id"].encode("ascii"), raw))
    return batch
