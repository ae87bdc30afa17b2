"""The event contract: the shipped JSON Schema and the reference classifier."""

from __future__ import annotations

import json
import math
import random
import sys
import time

import pytest

from tests.contract.event_corpus import CASES
from tests.contract.event_corpus import SKEW_MS as CORPUS_SKEW_MS
from trend_tracker.events import (
    MAX_JSON_DEPTH,
    Reason,
    Verdict,
    classify,
    decode_json,
    event_schema,
    schema_errors,
)

NOW = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SKEW = 60_000


def event(**changes):
    base = {"event_id": "e-1", "event_type": "click", "product_id": "p-1",
            "category": "shoes", "user_id": "u-1", "ts": NOW, "price": 19.99}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def verdict(value, topic_type="click"):
    raw = value if isinstance(value, (str, bytes)) else json.dumps(value)
    return classify(raw, topic_type, NOW, SKEW).reason


def test_schema_is_valid_draft_2020_12_and_accepts_a_good_event():
    assert event_schema()["required"] == ["event_id", "event_type", "product_id",
                                          "category", "user_id", "ts"]
    assert schema_errors(event()) == []
    assert schema_errors(event(price=...)) == []


def test_schema_rejects_each_kind_of_bad_event():
    assert schema_errors(event(ts="1704067200000")) == [
        "ts: '1704067200000' is not of type 'integer'"]
    assert schema_errors(event(event_type="view")) == [
        "event_type: 'view' is not one of ['click', 'cart', 'purchase']"]
    assert schema_errors(event(product_id="p" * 65)) == [
        f"product_id: '{'p' * 65}' does not match '^[A-Za-z0-9._:-]{{1,64}}$'"]
    assert schema_errors(event(user_id=...)) == ["<root>: 'user_id' is a required property"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (event(), None),
        (event(price=...), None),
        (event(price=None), None),
        (event(ts=NOW + SKEW), None),
        ("not json", Reason.NOT_JSON),
        (b"\xff\xfe", Reason.NOT_JSON),
        ('{"ts": NaN}', Reason.NOT_JSON),
        ("[1, 2]", Reason.NOT_JSON),
        ("42", Reason.NOT_JSON),
        (event(user_id=...), Reason.MISSING_FIELD),
        (event(ts=None), Reason.MISSING_FIELD),
        (event(ts="1704067200000"), Reason.WRONG_TYPE),
        (event(ts=1.5), Reason.WRONG_TYPE),
        (event(ts=True), Reason.WRONG_TYPE),
        (event(ts=-1), Reason.WRONG_TYPE),
        (event(ts=0), Reason.WRONG_TYPE),
        (event(ts=NOW // 1000), Reason.WRONG_TYPE),
        (event(product_id=7), Reason.WRONG_TYPE),
        (event(price="9.99"), Reason.WRONG_TYPE),
        (event(product_id="p" * 65), Reason.BAD_ID),
        (event(category="shoes and socks"), Reason.BAD_ID),
        (event(product_id="p-1\n"), Reason.BAD_ID),
        (event(event_id=""), Reason.BAD_ID),
        (event(event_type="view"), Reason.UNKNOWN_EVENT_TYPE),
        (event(event_type="cart"), Reason.TOPIC_MISMATCH),
        (event(ts=NOW + SKEW + 1), Reason.FUTURE_TS),
    ],
)
def test_classify_matches_the_contract(value, expected):
    assert verdict(value) == expected


def test_topic_check_can_be_skipped():
    assert classify(json.dumps(event(event_type="purchase")), None, NOW, SKEW).valid


# --- edge cases decided by the contract (docs/EVENT-CONTRACT.md) ----------------------------

def raw_event(**fragments: str) -> str:
    """The base event as JSON text, fields replaced by raw JSON fragments."""
    fields = {"event_id": '"e-1"', "event_type": '"click"', "product_id": '"p-1"',
              "category": '"shoes"', "user_id": '"u-1"', "ts": str(NOW)}
    fields.update(fragments)
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [("1.7e12", 1_700_000_000_000), ("1.7040672e12", NOW), (f"{NOW}.0", NOW),
     (f"{NOW}.00000001", NOW), ("946684800000", 946_684_800_000),
     ("9.466848e11", 946_684_800_000), ("946684799999.99999999", 946_684_800_000)],
)
def test_any_integral_number_from_2000_on_is_a_ts(ts, expected_ms):
    result = classify(raw_event(ts=ts), "click", NOW, SKEW)
    assert (result.reason, result.ts) == (None, expected_ms)


@pytest.mark.parametrize(
    "ts",
    ["1" + "0" * 999, "9" * 5000, "-" + "9" * 5000, "1e400", "-1e400", "0.5", "-1.0",
     "253402300800000", "2.53402300800000e14", "9223372036854775808", "true", '"0"', "[0]",
     "0", "-0", "-0.0", "1e3", "1.0", "1e-400", "946684799999", "9.46684799999e11"],
)
def test_a_ts_out_of_range_or_not_integral_is_wrong_type_and_never_an_error(ts):
    assert verdict(raw_event(ts=ts)) == Reason.WRONG_TYPE


def test_a_ts_in_seconds_is_wrong_type_for_classify_and_the_schema():
    seconds = NOW // 1000  # 1704067200: what a producer mistaking the unit sends
    assert verdict(event(ts=seconds)) == Reason.WRONG_TYPE
    assert schema_errors(event(ts=seconds)) == [
        "ts: 1704067200 is less than the minimum of 946684800000"]
    assert verdict(event(ts=946_684_800_000)) is None
    assert schema_errors(event(ts=946_684_800_000)) == []
    # The largest ts in seconds the contract could ever see (9999-12-31) is below 2000 in ms.
    assert verdict(event(ts=253_402_300_799)) == Reason.WRONG_TYPE


@pytest.mark.parametrize(
    ("price", "expected"),
    [("0", None), ("-0", None), ("-0.0", None), ("null", None), ("1e308", None),
     ("1.7976931348623157e308", None), (str(int(sys.float_info.max)), None),
     ("-0.01", Reason.WRONG_TYPE), ("-1", Reason.WRONG_TYPE), ("1e400", Reason.WRONG_TYPE),
     ("-1e400", Reason.WRONG_TYPE), ("1" + "0" * 309, Reason.WRONG_TYPE),
     (str(int(sys.float_info.max) + 1), Reason.WRONG_TYPE), ("9" * 5000, Reason.WRONG_TYPE)],
)
def test_price_is_a_finite_number_at_least_zero(price, expected):
    assert verdict(raw_event(price=price)) == expected


def test_negative_price_is_rejected_by_classify_and_by_the_schema():
    assert verdict(event(price=-0.5)) == Reason.WRONG_TYPE
    assert schema_errors(event(price=-0.5)) == ["price: -0.5 is less than the minimum of 0"]
    assert schema_errors(event(price=10**309)) != []
    assert schema_errors(event(price=None)) == []


def test_nesting_is_limited_to_64_levels_without_recursion_errors():
    assert MAX_JSON_DEPTH == 64
    deep_ok = raw_event()[:-1] + ',"x":' + "[" * 63 + "]" * 63 + "}"
    too_deep = raw_event()[:-1] + ',"x":' + "[" * 64 + "]" * 64 + "}"
    assert verdict(deep_ok) is None
    assert verdict(too_deep) == Reason.NOT_JSON
    assert verdict(raw_event()[:-1] + ',"x":' + '{"a":' * 99_999 + "{}" + "}" * 100_000) \
        == Reason.NOT_JSON
    assert verdict("[" * 200_000) == Reason.NOT_JSON
    # Brackets inside strings do not nest.
    assert verdict(raw_event(user_id='"' + "[{" * 60 + '"')) is None


@pytest.mark.parametrize(
    "value",
    [
        raw_event() + " {}", raw_event() + "}", raw_event() + "x", raw_event() + "\x00",
        b"\xef\xbb\xbf" + raw_event().encode(),  # a byte-order mark
        raw_event().encode().replace(b"u-1", b"u\xc0\xaf"),  # overlong "/"
        raw_event().encode().replace(b"u-1", b"u\xe0\x80\xaf"),  # overlong, 3 bytes
        raw_event().encode().replace(b"u-1", b"u\xed\xa0\x80"),  # an encoded surrogate
        raw_event().encode().replace(b"u-1", b"u\xf4\x90\x80\x80"),  # above U+10FFFF
        raw_event().encode().replace(b"u-1", b"u\xe9"),  # Latin-1
        raw_event().encode("utf-16-le"),
        raw_event(ts="NaN"), raw_event(ts="Infinity"), raw_event(price="-Infinity"),
        raw_event(user_id='"u\t1"'),  # a raw control character in a string
        "\x0c" + raw_event(),  # not JSON whitespace
    ],
)
def test_not_exactly_one_json_object_in_strict_utf8_is_not_json(value):
    assert verdict(value) == Reason.NOT_JSON


def test_strings_and_names_are_compared_after_unescaping():
    result = classify(raw_event(product_id='"p\\u002d1"', event_type='"\\u0063lick"'),
                      "click", NOW, SKEW)
    assert result.valid and result.event["product_id"] == "p-1"
    without_ts = raw_event()[1:].replace(f',"ts":{NOW}', "")
    assert verdict(f'{{"\\u0074s":{NOW},{without_ts}') is None
    assert verdict(raw_event(product_id='"p-1\\n"')) == Reason.BAD_ID


def test_duplicate_keys_last_one_wins():
    assert verdict(raw_event()[:-1] + ',"ts":null}') == Reason.MISSING_FIELD
    assert verdict(raw_event(ts='"soon"')[:-1] + f',"ts":{NOW}}}') is None
    assert verdict(raw_event()[:-1] + ',"product_id":"p 2"}') == Reason.BAD_ID


def test_empty_strings_and_nulls():
    assert verdict(event(event_type="")) == Reason.UNKNOWN_EVENT_TYPE
    assert verdict(event(category="")) == Reason.BAD_ID
    assert verdict(event(user_id="")) == Reason.BAD_ID
    for name in ("event_id", "event_type", "product_id", "category", "user_id", "ts"):
        assert verdict(event(**{name: None})) == Reason.MISSING_FIELD


def test_opaque_id_lengths_count_code_points():
    assert verdict(event(event_id="\U0001F600" * 128)) is None  # 256 UTF-16 units
    assert verdict(event(event_id="\U0001F600" * 129)) == Reason.BAD_ID
    assert verdict(raw_event(user_id='"' + "\\ud83d\\ude00" * 128 + '"')) is None
    assert verdict(raw_event(user_id='"\\ud800"')) is None  # a lone surrogate counts once
    assert schema_errors(event(event_id="\U0001F600" * 128)) == []


def test_the_schema_rejects_an_id_with_a_trailing_line_break():
    assert schema_errors(event(product_id="p-1\n")) == [
        "product_id: 'p-1\\n' should not be valid under {'pattern': '\\\\n'}"]


def test_huge_integers_decode_as_infinities():
    long, short = "9" * 401, "9" * 399
    assert decode_json(f'{{"a": {long}, "b": -{long}, "c": {short}}}') \
        == {"a": math.inf, "b": -math.inf, "c": int(short)}


def test_classify_never_raises():
    rng = random.Random(7)
    seeds = [case.value for case in CASES if case.value is not None][:120]
    for _ in range(3000):
        value = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            if value and rng.random() < 0.5:
                del value[rng.randrange(len(value))]
            else:
                value.insert(rng.randint(0, len(value)), rng.randrange(256))
        assert isinstance(classify(bytes(value), "click", NOW, SKEW), Verdict)
        assert isinstance(classify(bytes(value).decode("latin-1"), None, NOW, SKEW), Verdict)


# --- the contract corpus: classify and the schema against hand-written verdicts ------------

@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_classify_gives_each_corpus_payload_its_verdict(case):
    result = classify(case.value, case.topic, int(time.time() * 1000), CORPUS_SKEW_MS)
    assert (None if result.reason is None else str(result.reason)) == case.expected
    if case.expected is None:
        assert (result.event["product_id"], result.event["category"], result.ts) == case.fields


def _schema_valid(value: bytes | None) -> bool:
    """The schema's verdict on a payload: it sees the value as the contract decodes it, so
    a value that is not JSON (or nests too deep, ...) is invalid before the schema applies."""
    if value is None:
        return False
    try:
        decoded = decode_json(value)
    except ValueError:
        return False
    return schema_errors(decoded) == []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_schema_accepts_exactly_the_corpus_payloads_that_are_events(case):
    # The schema knows neither the topic nor the clock: a topic_mismatch or future_ts
    # payload is a well-formed event as far as the schema can tell.
    schema_says_event = case.expected in (None, "topic_mismatch", "future_ts")
    assert _schema_valid(case.value) == schema_says_event


def test_the_corpus_covers_every_reason_and_topic():
    assert len(CASES) >= 150
    assert {case.expected for case in CASES} == {None} | {
        reason.value for reason in Reason if reason not in (Reason.LATE, Reason.DUPLICATE)}
    assert {case.topic for case in CASES if case.expected is None} == {"click", "cart",
                                                                       "purchase"}
