"""The ingest service's body handling, without a server: framing and per-item verdicts."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.ingest_batch import BodyError, check_batch, split_events
from tests.contract.event_corpus import CASES, SKEW_MS, TOPIC_MISMATCH
from trend_tracker.events import classify
from trend_tracker.settings import Settings

TOPICS = Settings(_env_file=None).event_topics
NOW = int(time.time() * 1000)


def test_items_are_the_bytes_sent_whatever_the_whitespace_and_content():
    items = [
        b'{"event_id": "e-1", "event_type": "click", "product_id": "p-1"}',
        b'{\n  "a": "}", "b": "]", "c": "\\"}", "d": [1, {"e": "{"}]\n}',
        '{"caf\u00e9": "\U0001F600", "x": "\\u00e9"}'.encode(),
        b'42', b'"a string, with [brackets]"', b'null', b'NaN', b'01', b'[[[]]]',
        b'{"unbalanced": [1}]',
    ]
    body = b" [\n\t" + b" ,\r\n ".join(items) + b"\n] \n"
    assert split_events(body, 100) == items
    single = b'\t{"event_id": "e-1", "ts": 1}\n'
    assert split_events(single, 1) == [single.strip()]


_JSON_SCALARS = (st.none() | st.booleans() | st.integers()
                 | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
_WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.tuples(_JSON_VALUES, st.booleans(), _WHITESPACE, _WHITESPACE),
                       min_size=1, max_size=8))
def test_any_json_array_is_cut_into_its_values_exactly(values):
    """Each value serialised on its own, joined with any JSON whitespace: the items are
    exactly those serialisations (the framing needs no parser's help)."""
    texts = [json.dumps(value, ensure_ascii=ascii_only).encode()
             for value, ascii_only, _, _ in values]
    body = b"[" + b",".join(
        before.encode() + text + after.encode()
        for text, (_, _, before, after) in zip(texts, values, strict=True)) + b"]"
    assert split_events(body, 100) == texts


@pytest.mark.parametrize("body, status, code", [
    (b"", 400, "malformed_body"),
    (b" \n", 400, "malformed_body"),
    (b"\xff{}", 400, "malformed_body"),
    (b"\xef\xbb\xbf{}", 400, "malformed_body"),  # a byte-order mark
    (b"not json", 400, "malformed_body"),
    (b"[1,", 400, "malformed_body"),
    (b"[1,,2]", 400, "malformed_body"),
    (b"[1,]", 400, "malformed_body"),
    (b"[,1]", 400, "malformed_body"),
    (b"[1 2]", 400, "malformed_body"),
    (b'["never ends]', 400, "malformed_body"),
    (b'[{"a": "never ends}]', 400, "malformed_body"),
    (b"[{]", 400, "malformed_body"),
    (b"[" * 100_000, 400, "malformed_body"),
    (b'{"a": 1} {"b": 2}', 400, "malformed_body"),
    (b'{"a": 1}}', 400, "malformed_body"),
    (b"[1] x", 400, "malformed_body"),
    (b"42", 422, "invalid_body"),
    (b'"an event"', 422, "invalid_body"),
    (b"null", 422, "invalid_body"),
    (b"[]", 422, "invalid_body"),
    (b" [ \n ] ", 422, "invalid_body"),
    (b"[1, 2, 3, 4]", 413, "batch_too_large"),
])
def test_bodies_that_are_not_a_batch_are_errors_of_the_request(body, status, code):
    with pytest.raises(BodyError) as error:
        split_events(body, 3)
    assert (error.value.status, error.value.code) == (status, code)


MARKER = "zq<script>"


@pytest.mark.parametrize("body", [
    MARKER, f"[1 {MARKER}]", f"[1] {MARKER}", f"[1, }}{MARKER}]",
    f'{{"a": 1}} {MARKER}', f'["{MARKER}', f"[{{{MARKER}", f"\ufeff{MARKER}",
    f"[{MARKER}" + "[" * 100,
])
def test_no_body_error_passes_the_input_on(body):
    """A body refused whole is described by a position (and at most a bracket it lacks
    or did not expect), never by the text it holds."""
    with pytest.raises(BodyError) as error:
        split_events(body.encode(), 3)
    assert error.value.status == 400
    assert "zq" not in error.value.message and "<" not in error.value.message, \
        error.value.message


def test_a_batch_of_exactly_the_limit_is_taken():
    assert split_events(b"[1, 2, 3]", 3) == [b"1", b"2", b"3"]


def test_deep_nesting_inside_an_item_is_the_item_s_problem():
    deep = b"[" * 5000 + b"]" * 5000
    assert split_events(b"[" + deep + b"]", 3) == [deep]
    assert check_batch([deep], TOPICS, NOW, SKEW_MS).rejected == {0: "not_json"}


def _ingest_verdict(case) -> str | None:
    """The corpus verdict without a topic to read from: each event goes to its own type's
    topic, so a payload that was only on the wrong topic is valid here, unless its ts is in
    the future (the check after the topic's)."""
    if case.expected != TOPIC_MISMATCH:
        return case.expected
    return "future_ts" if json.loads(case.value)["ts"] > NOW + SKEW_MS else None


@pytest.mark.parametrize("case", [c for c in CASES if c.value is not None],
                         ids=[c.name for c in CASES if c.value is not None])
def test_each_corpus_payload_gets_its_contract_verdict_or_is_refused_whole(case):
    """Alone as the body, and as an array's only element: either the item is the payload
    (whitespace around it aside) with the verdict written by hand in the corpus, or the
    whole body is refused as malformed, which only happens to payloads that are not JSON.
    (A payload that is an array is a batch as a body of its own, so it is only sent inside
    one.)"""
    bodies = [b"[" + case.value + b"]"]
    if not case.value.lstrip(b" \t\r\n").startswith(b"["):
        bodies.append(case.value)
    for body in bodies:
        try:
            items = split_events(body, 10)
        except BodyError as error:
            assert error.status in (400, 422)
            assert case.expected == "not_json", f"a {case.expected} payload was refused whole"
            continue
        assert items == [case.value.strip(b" \t\r\n")]
        batch = check_batch(items, TOPICS, NOW, SKEW_MS)
        reason = batch.rejected.get(0)
        assert (None if reason is None else str(reason)) == _ingest_verdict(case)
        assert reason == classify(items[0], None, NOW, SKEW_MS).reason


def test_most_of_the_corpus_is_judged_per_item():
    """Only structure refuses a body: the 45 payloads that are not UTF-8, hold text after
    their value, are truncated or are not one value at all."""
    framed = 0
    for case in CASES:
        if case.value is None:
            continue
        try:
            split_events(b"[" + case.value + b"]", 10)
        except BodyError:
            continue
        framed += 1
    assert framed >= 240, framed


def test_valid_events_are_routed_to_their_type_s_topic_keyed_by_product_id():
    def event(event_id: str, event_type: str, product_id: str, ts: int, extra: str = "") -> bytes:
        return (f'{{"event_id":"{event_id}","event_type":"{event_type}",'
                f'"product_id":"{product_id}","category":"c","user_id":"u","ts":{ts}{extra}}}'
                ).encode()

    items = [
        event("e-1", "cart", "p-7", 1_704_067_200_000, ',"price":3'),
        event("e-2", "click", "p-8", 1_704_067_200_000),
        event("e-3", "sale", "p-9", 1_704_067_200_000),
        event("e-4", "purchase", "p-9", NOW + SKEW_MS + 60_000),
    ]
    batch = check_batch(items, TOPICS, NOW, SKEW_MS)
    assert [(r.index, r.event_type, r.topic, r.key, r.value) for r in batch.records] == [
        (0, "cart", "carts", b"p-7", items[0]),
        (1, "click", "clicks", b"p-8", items[1]),
    ]
    assert batch.rejected == {2: "unknown_event_type", 3: "future_ts"}
    assert batch.results() == [
        {"index": 0, "status": "accepted"},
        {"index": 1, "status": "accepted"},
        {"index": 2, "status": "rejected", "reason": "unknown_event_type"},
        {"index": 3, "status": "rejected", "reason": "future_ts"},
    ]
    assert batch.accepted_by_type() == {"cart": 1, "click": 1}
    assert batch.rejected_by_reason() == {"unknown_event_type": 1, "future_ts": 1}
