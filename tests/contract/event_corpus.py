"""Payloads with their expected verdicts under the event contract, written by hand.

Each case is one raw Kafka value (bytes as they are on the wire; ``None`` is a tombstone),
the event type of the topic it is read from, and the verdict the contract gives it: a
reason code, or ``None`` for a valid event, with the decoded ``(product_id, category, ts)``.
The expected values are not computed by any implementation: ``classify`` (Python), the
JSON Schema and the job's ``trend-event`` decoder (Java) are each checked against them
(tests/unit/test_events.py, tests/integration/test_event_decoder.py); the Java tests of the
decoder (udfs/java) read the same cases from ``event_corpus.json``, which
``python -m tests.contract.event_corpus --write`` writes from this module
(tests/unit/test_event_corpus_json.py checks that the two agree).

Timestamps are either in the past (2000 to 2024) or at least in the year 9000, so the
verdict does not depend on the clock: read them with a processing time of "now" and a skew of
:data:`SKEW_MS`. Most payloads are built from :func:`obj`, which writes JSON text from raw
fragments, so a literal such as ``1e3`` or ``"p\\u002d1"`` reaches the wire exactly as
written here.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

#: 2024-01-01T00:00:00Z.
T = 1_704_067_200_000
#: The same instant in seconds: what a producer that mistakes the unit sends.
T_SECONDS = 1_704_067_200
#: 2000-01-01T00:00:00Z, the least ts the contract accepts.
MIN_TS = 946_684_800_000
#: 9000-01-01T00:00:00Z: in the future of any processing time this code will see.
YEAR_9000 = 221_845_392_000_000
#: 9999-12-31T23:59:59.999Z, the largest ts the contract accepts.
MAX_TS = 253_402_300_799_999
#: The future skew the corpus is read with.
SKEW_MS = 60_000
#: The largest double, written out as an integer (309 digits).
MAX_DOUBLE_DIGITS = (
    "17976931348623157081452742373170435679807056752584499659891747680315726078002853876"
    "05895586327668781715404589535143824642343213268894641827684675467035375169860499105"
    "76551282076245490090389328944075868508455133942304583236903222948165808559332123348"
    "274797826204144723168738177180919299881250404026184124858368"
)

NOT_JSON = "not_json"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
BAD_ID = "bad_id"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
TOPIC_MISMATCH = "topic_mismatch"
FUTURE_TS = "future_ts"


@dataclass(frozen=True)
class Case:
    name: str
    value: bytes | None
    expected: str | None  # the reason code; None when valid
    topic: str = "click"  # event type of the topic the value is read from
    fields: tuple[str, str, int] | None = None  # (product_id, category, ts) when valid


#: The base event's fields as JSON text fragments.
BASE: dict[str, str] = {
    "event_id": '"e-1"',
    "event_type": '"click"',
    "product_id": '"p-1"',
    "category": '"shoes"',
    "user_id": '"u-1"',
    "ts": str(T),
}
DROP = object()


def obj(*extra: tuple[str, str], **fields: object) -> bytes:
    """A JSON object from raw fragments: BASE's fields changed (or dropped with ``DROP``)
    by keyword, in BASE's order, then ``extra`` (name, value) fragment pairs appended."""
    parts = {**BASE, **fields}
    members = [f'"{name}":{value}' for name, value in parts.items() if value is not DROP]
    members += [f"{name}:{value}" for name, value in extra]
    return ("{" + ",".join(members) + "}").encode()


def q(text: str) -> str:
    """A JSON string fragment of ``text`` (no escaping: the text is written as given)."""
    return f'"{text}"'


EVENT = obj()
CART = obj(event_type=q("cart"), price="19.99")
PURCHASE = obj(event_type=q("purchase"), price="5")


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    """A value nested ``depth`` deep (as the value of a field of the event: the event
    object adds one more level)."""
    return open_ * depth + close * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def valid(name: str, value: bytes, topic: str = "click", product_id: str = "p-1",
          category: str = "shoes", ts: int = T) -> Case:
    return Case(name, value, None, topic, (product_id, category, ts))


def bad(name: str, value: bytes | None, reason: str, topic: str = "click") -> Case:
    return Case(name, value, reason, topic)


EMOJI = "\U0001F600"  # one code point, two UTF-16 units, four UTF-8 bytes
EMOJI_ESCAPED = "\\ud83d\\ude00"

VALID: list[Case] = [
    valid("click", EVENT),
    valid("cart_with_price", CART, topic="cart"),
    valid("purchase_integer_price", PURCHASE, topic="purchase"),
    valid("purchase_all_id_characters",
          obj(event_type=q("purchase"), product_id=q("Sku:12.A_b-9"),
              category=q("home.garden:Z-0_"), price="1250.5"),
          topic="purchase", product_id="Sku:12.A_b-9", category="home.garden:Z-0_"),
    valid("simulator_shape",
          b'{"event_id":"4f1c2a-17","event_type":"click","product_id":"p-00042",'
          b'"category":"books","user_id":"u-9","session_id":"s-3","ts":1704067201234}',
          product_id="p-00042", category="books", ts=1_704_067_201_234),
    valid("keys_in_another_order",
          b'{"ts":1704067200000,"user_id":"u-1","category":"shoes","product_id":"p-1",'
          b'"event_type":"click","event_id":"e-1"}'),
    valid("pretty_printed",
          b'{\n\t"event_id": "e-1",\r\n\t"event_type": "click",\n  "product_id" : "p-1",\n'
          b'  "category":"shoes" ,\n  "user_id":"u-1",\n  "ts":\t1704067200000\n}\n'),
    valid("surrounding_whitespace", b" \t\r\n" + EVENT + b"\r\n \t"),
    valid("price_null", obj(price="null")),
    valid("price_zero", obj(price="0")),
    valid("price_minus_zero_integer", obj(price="-0")),
    valid("price_minus_zero_float", obj(price="-0.0")),
    valid("price_1e308", obj(price="1e308")),
    valid("price_largest_double_as_integer", obj(price=MAX_DOUBLE_DIGITS)),
    valid("price_largest_double", obj(price="1.7976931348623157e308")),
    valid("price_rounds_down_to_largest_double", obj(price="1.7976931348623158e308")),
    valid("price_long_fraction",
          obj(price="0.1000000000000000055511151231257827021181583404541015625")),
    valid("price_tiny", obj(price="5e-324")),
    valid("price_underflows_to_zero", obj(price="1e-400")),
    valid("price_underflows_to_minus_zero", obj(price="-1e-400")),
    valid("ts_least", obj(ts=str(MIN_TS)), ts=MIN_TS),
    valid("ts_least_as_float", obj(ts="946684800000.0"), ts=MIN_TS),
    valid("ts_least_as_exponent", obj(ts="9.466848e11"), ts=MIN_TS),
    valid("ts_rounds_up_to_least", obj(ts="946684799999.99999999"), ts=MIN_TS),
    valid("ts_exponent", obj(ts="1.7e12"), ts=1_700_000_000_000),
    valid("ts_scientific", obj(ts="1.704067200000e12")),
    valid("ts_scientific_upper_case", obj(ts="1.7040672E+12")),
    valid("ts_with_zero_fraction", obj(ts="1704067200000.0")),
    valid("ts_negative_exponent", obj(ts="17040672000000e-1")),
    valid("ts_fraction_below_double_precision", obj(ts="1704067200000.00000001")),
    valid("escaped_product_id", obj(product_id=q("p\\u002d1"))),
    valid("escaped_category", obj(category=q("\\u0073ho\\u0065s"))),
    valid("escaped_event_type", obj(event_type=q("\\u0063lick"))),
    valid("escaped_name_of_ts", obj(("\"\\u0074s\"", str(T)), ts=DROP)),
    valid("escaped_name_of_product_id", obj(('"product\\u005fid"', q("p-1")), product_id=DROP)),
    valid("escaped_solidus_in_event_id", obj(event_id=q("e\\/1"))),
    valid("all_simple_escapes_in_user_id", obj(user_id=q('\\"\\\\\\/\\b\\f\\n\\r\\t'))),
    valid("duplicate_product_id_last_wins", obj(("\"product_id\"", q("p-2")),
                                                product_id=q("bad id")), product_id="p-2"),
    valid("duplicate_ts_last_wins", obj(('"ts"', str(T)), ts=q("soon"))),
    valid("duplicate_event_type_last_wins", obj(('"event_type"', q("click")),
                                                event_type=q("cart"))),
    valid("duplicate_null_then_value", obj(('"category"', q("shoes")), category="null")),
    valid("duplicate_object_then_value", obj(('"user_id"', q("u-1")), user_id='{"a":1}')),
    valid("product_id_of_64", obj(product_id=q("p" * 64)), product_id="p" * 64),
    valid("product_id_of_1", obj(product_id=q("x")), product_id="x"),
    valid("ids_of_punctuation_only", obj(product_id=q("._:-"), category=q("-")),
          product_id="._:-", category="-"),
    valid("event_id_of_128", obj(event_id=q("e" * 128))),
    valid("event_id_of_128_emoji", obj(event_id=q(EMOJI * 128))),
    valid("event_id_of_128_escaped_emoji", obj(event_id=q(EMOJI_ESCAPED * 128))),
    valid("user_id_of_128_two_byte", obj(user_id=q("\u00e9" * 128))),
    valid("user_id_of_128_three_byte", obj(user_id=q("\u20ac" * 128))),
    valid("event_id_lone_escaped_surrogate", obj(event_id=q("\\ud800"))),
    valid("event_id_reversed_surrogate_escapes", obj(event_id=q("\\ude00\\ud83d"))),
    valid("user_id_escaped_nul", obj(user_id=q("u\\u0000"))),
    valid("event_id_noncharacter_ffff", obj(event_id=q("\uffff"))),
    valid("event_id_line_separator", obj(event_id=q("\u2028"))),
    valid("event_id_last_code_point", obj(event_id=q("\U0010ffff"))),
    valid("user_id_with_inner_bom", obj(user_id=q("u\ufeff1"))),
    valid("event_id_with_delete", obj(event_id=q("e\x7f1"))),
    valid("unknown_objects_64_deep", obj(('"x"', nested_objects(63)))),
    valid("unknown_arrays_64_deep", obj(('"x"', nested(63)))),
    valid("unknown_5000_digit_integer", obj(('"x"', "9" * 5000))),
    valid("unknown_infinite_number", obj(('"x"', "1e400"), ('"y"', "-1e400"))),
    valid("unknown_long_string", obj(('"x"', q("a" * 100_000)))),
    valid("unknown_empty_name", obj(('""', "1"))),
    valid("unknown_many_fields", obj(*[(f'"f{i}"', str(i)) for i in range(300)])),
    valid("unknown_all_json_types",
          obj(('"a"', "true"), ('"b"', "false"), ('"c"', "null"), ('"d"', '[1,"2",{"3":[]}]'),
              ('"e"', '{"ts":"not this one","product_id":7}'), ('"f"', "-12.5e-3"))),
    valid("unknown_string_with_brackets", obj(('"x"', q("[[[[{{{{" * 20)))),
    valid("unknown_escaped_name", obj(('"\\u00e9v\\u00e9nement"', q("\u00e9")))),
    valid("price_on_click", obj(price="3.5")),
    valid("cart_simulator_shape",
          b'{"event_id":"x-1","event_type":"cart","product_id":"p-00001","category":"toys",'
          b'"user_id":"u-1","session_id":"s-1","ts":1704067200999,"price":12.5}',
          topic="cart", product_id="p-00001", category="toys", ts=1_704_067_200_999),
]

UTF16_EVENT = EVENT.decode().encode("utf-16-le")

NOT_JSON_CASES: list[Case] = [
    bad("tombstone", None, NOT_JSON),
    bad("empty", b"", NOT_JSON),
    bad("whitespace_only", b" \r\n\t", NOT_JSON),
    bad("null", b"null", NOT_JSON),
    bad("true", b"true", NOT_JSON),
    bad("number", b"42", NOT_JSON),
    bad("string", b'"an event"', NOT_JSON),
    bad("empty_array", b"[]", NOT_JSON),
    bad("event_in_array", b"[" + EVENT + b"]", NOT_JSON),
    bad("plain_text", b"this is not json", NOT_JSON),
    bad("open_brace", b"{", NOT_JSON),
    bad("close_brace", b"}", NOT_JSON),
    bad("name_without_value", b'{"event_id"}', NOT_JSON),
    bad("colon_without_value", b'{"event_id":}', NOT_JSON),
    bad("missing_colon", b'{"event_id" "e-1"}', NOT_JSON),
    bad("missing_comma", EVENT.replace(b',"category"', b' "category"'), NOT_JSON),
    bad("trailing_comma", EVENT[:-1] + b",}", NOT_JSON),
    bad("leading_comma", b'{,"event_id":"e-1"}', NOT_JSON),
    bad("double_colon", EVENT.replace(b'"user_id":', b'"user_id"::'), NOT_JSON),
    bad("single_quotes", EVENT.replace(b'"', b"'"), NOT_JSON),
    bad("unquoted_names", EVENT.replace(b'"event_id"', b"event_id"), NOT_JSON),
    bad("number_as_name", b'{1:2}', NOT_JSON),
    bad("block_comment", b"/* x */" + EVENT, NOT_JSON),
    bad("line_comment", EVENT + b"// x", NOT_JSON),
    bad("hash_comment", EVENT + b"\n# x", NOT_JSON),
    bad("truncated", EVENT[: len(EVENT) // 2], NOT_JSON),
    bad("truncated_before_close", EVENT[:-1], NOT_JSON),
    bad("unterminated_string", b'{"event_id":"e-1', NOT_JSON),
    bad("trailing_brace", EVENT + b"}", NOT_JSON),
    bad("trailing_object", EVENT + b" {}", NOT_JSON),
    bad("trailing_object_no_space", EVENT + b"{}", NOT_JSON),
    bad("two_events_on_two_lines", EVENT + b"\n" + EVENT, NOT_JSON),
    bad("trailing_text", EVENT + b"x", NOT_JSON),
    bad("trailing_number", EVENT + b"0", NOT_JSON),
    bad("trailing_nul", EVENT + b"\x00", NOT_JSON),
    bad("ts_nan", obj(ts="NaN"), NOT_JSON),
    bad("ts_infinity", obj(ts="Infinity"), NOT_JSON),
    bad("ts_minus_infinity", obj(ts="-Infinity"), NOT_JSON),
    bad("price_nan", obj(price="NaN"), NOT_JSON),
    bad("unknown_nan", obj(('"x"', "NaN")), NOT_JSON),
    bad("ts_lower_case_nan", obj(ts="nan"), NOT_JSON),
    bad("ts_leading_zero", obj(ts="01704067200000"), NOT_JSON),
    bad("ts_minus_leading_zero", obj(ts="-01"), NOT_JSON),
    bad("ts_plus_sign", obj(ts="+1704067200000"), NOT_JSON),
    bad("ts_leading_point", obj(ts=".5"), NOT_JSON),
    bad("ts_trailing_point", obj(ts="1704067200000."), NOT_JSON),
    bad("ts_bare_exponent", obj(ts="1e"), NOT_JSON),
    bad("ts_hex", obj(ts="0x10"), NOT_JSON),
    bad("ts_underscores", obj(ts="1_704_067_200_000"), NOT_JSON),
    bad("ts_trailing_letters", obj(ts="1704067200000ms"), NOT_JSON),
    bad("ts_lone_minus", obj(ts="-"), NOT_JSON),
    bad("capitalised_true", obj(('"x"', "True")), NOT_JSON),
    bad("capitalised_null", obj(price="Null"), NOT_JSON),
    bad("bom", b"\xef\xbb\xbf" + EVENT, NOT_JSON),
    bad("bom_after_whitespace", b" \xef\xbb\xbf" + EVENT, NOT_JSON),
    bad("utf16_le", UTF16_EVENT, NOT_JSON),
    bad("utf16_le_with_bom", b"\xff\xfe" + UTF16_EVENT, NOT_JSON),
    bad("utf16_be_with_bom", b"\xfe\xff" + EVENT.decode().encode("utf-16-be"), NOT_JSON),
    bad("utf32_le", EVENT.decode().encode("utf-32-le"), NOT_JSON),
    bad("invalid_lead_bytes", b"\xff\xfe" + EVENT, NOT_JSON),
    bad("latin1_in_user_id", EVENT.replace(b'"u-1"', b'"caf\xe9"'), NOT_JSON),
    bad("lone_continuation_byte", EVENT.replace(b'"u-1"', b'"u-\x801"'), NOT_JSON),
    bad("overlong_solidus_2_bytes", EVENT.replace(b'"u-1"', b'"u\xc0\xaf1"'), NOT_JSON),
    bad("overlong_c1", EVENT.replace(b'"u-1"', b'"u\xc1\xbf1"'), NOT_JSON),
    bad("overlong_solidus_3_bytes", EVENT.replace(b'"u-1"', b'"u\xe0\x80\xaf1"'), NOT_JSON),
    bad("overlong_4_bytes", EVENT.replace(b'"u-1"', b'"u\xf0\x80\x80\xaf1"'), NOT_JSON),
    bad("encoded_high_surrogate", EVENT.replace(b'"u-1"', b'"u\xed\xa0\x801"'), NOT_JSON),
    bad("encoded_low_surrogate", EVENT.replace(b'"u-1"', b'"u\xed\xbf\xbf1"'), NOT_JSON),
    bad("encoded_surrogate_pair", EVENT.replace(b'"u-1"', b'"\xed\xa0\xbd\xed\xb8\x80"'),
        NOT_JSON),
    bad("above_max_code_point", EVENT.replace(b'"u-1"', b'"u\xf4\x90\x80\x801"'), NOT_JSON),
    bad("lead_byte_f5", EVENT.replace(b'"u-1"', b'"u\xf5\x80\x80\x801"'), NOT_JSON),
    bad("five_byte_form", EVENT.replace(b'"u-1"', b'"u\xf8\x88\x80\x80\x801"'), NOT_JSON),
    bad("bad_continuation", EVENT.replace(b'"u-1"', b'"u\xc3\x281"'), NOT_JSON),
    bad("truncated_3_byte_sequence", EVENT.replace(b'"u-1"', b'"u\xe2\x82"'), NOT_JSON),
    bad("truncated_sequence_at_end", EVENT + b"\xe2\x82", NOT_JSON),
    bad("invalid_utf8_in_unknown_value", EVENT[:-1] + b',"x":"a\xffb"}', NOT_JSON),
    bad("invalid_utf8_in_name", EVENT.replace(b'"user_id"', b'"user\xff_id"'), NOT_JSON),
    bad("raw_nul_in_string", EVENT.replace(b'"u-1"', b'"u\x001"'), NOT_JSON),
    bad("raw_control_in_string", EVENT.replace(b'"u-1"', b'"u\x011"'), NOT_JSON),
    bad("raw_unit_separator_in_string", EVENT.replace(b'"u-1"', b'"u\x1f1"'), NOT_JSON),
    bad("raw_tab_in_string", EVENT.replace(b'"u-1"', b'"u\t1"'), NOT_JSON),
    bad("raw_newline_in_string", EVENT.replace(b'"u-1"', b'"u\n1"'), NOT_JSON),
    bad("raw_tab_in_unknown_string", obj(('"x"', '"a\tb"')), NOT_JSON),
    bad("form_feed_as_whitespace", b"\x0c" + EVENT, NOT_JSON),
    bad("vertical_tab_as_whitespace", EVENT.replace(b',"ts"', b',\x0b"ts"'), NOT_JSON),
    bad("no_break_space_as_whitespace", EVENT.replace(b',"ts"', b',\xc2\xa0"ts"'), NOT_JSON),
    bad("escape_x", EVENT.replace(b'"u-1"', b'"u\\x41"'), NOT_JSON),
    bad("escape_single_quote", EVENT.replace(b'"u-1"', b'"u\\\'"'), NOT_JSON),
    bad("escape_upper_u", EVENT.replace(b'"u-1"', b'"u\\U0041"'), NOT_JSON),
    bad("escape_bad_hex", EVENT.replace(b'"u-1"', b'"u\\u12G4"'), NOT_JSON),
    bad("escape_short_hex", EVENT.replace(b'"u-1"', b'"u\\u12"'), NOT_JSON),
    bad("escape_in_unknown_value", obj(('"x"', '"\\a"')), NOT_JSON),
    bad("backslash_before_closing_quote", b'{"event_id":"e-1\\"}', NOT_JSON),
    bad("objects_65_deep", obj(('"x"', nested_objects(64))), NOT_JSON),
    bad("arrays_65_deep", obj(('"x"', nested(64))), NOT_JSON),
    bad("arrays_1000_deep", obj(('"x"', nested(999))), NOT_JSON),
    bad("arrays_100000_deep", obj(('"x"', nested(99_999))), NOT_JSON),
    bad("objects_2000_deep", obj(('"x"', nested_objects(1999))), NOT_JSON),
    bad("arrays_100000_deep_unclosed", b'{"x":' + b"[" * 100_000, NOT_JSON),
    bad("arrays_65_deep_as_ts", obj(ts=nested(64)), NOT_JSON),
    bad("nan_and_missing_field", obj(("\"x\"", "NaN"), user_id=DROP), NOT_JSON),
    bad("nested_arrays_200_deep_at_root", nested(200).encode(), NOT_JSON),
]

MISSING: list[Case] = [
    *[bad(f"absent_{name}", obj(**{name: DROP}), MISSING_FIELD) for name in BASE],
    *[bad(f"null_{name}", obj(**{name: "null"}), MISSING_FIELD) for name in BASE],
    bad("empty_object", b"{}", MISSING_FIELD),
    bad("only_unknown_fields", b'{"id":"e-1","type":"click"}', MISSING_FIELD),
    bad("duplicate_value_then_null", obj(('"ts"', "null")), MISSING_FIELD),
    bad("escaped_name_is_another_field", obj(('"user\\u005fid2"', q("u-1")), user_id=DROP),
        MISSING_FIELD),
    bad("name_with_trailing_space", obj(('"ts "', str(T)), ts=DROP), MISSING_FIELD),
    bad("missing_and_wrong_type", obj(ts=q("1"), user_id=DROP), MISSING_FIELD),
    bad("missing_and_bad_id", obj(product_id=q("bad id"), category=DROP), MISSING_FIELD),
    bad("missing_on_wrong_topic", obj(event_type=q("cart"), event_id=DROP), MISSING_FIELD),
]

WRONG: list[Case] = [
    bad("ts_string", obj(ts=q(str(T))), WRONG_TYPE),
    bad("ts_empty_string", obj(ts='""'), WRONG_TYPE),
    bad("ts_fraction", obj(ts="1.5"), WRONG_TYPE),
    bad("ts_half_below_max", obj(ts="253402300799998.5"), WRONG_TYPE),
    bad("ts_true", obj(ts="true"), WRONG_TYPE),
    bad("ts_false", obj(ts="false"), WRONG_TYPE),
    bad("ts_negative", obj(ts="-1"), WRONG_TYPE),
    bad("ts_negative_integral_float", obj(ts="-1.0"), WRONG_TYPE),
    bad("ts_zero", obj(ts="0"), WRONG_TYPE),
    bad("ts_zero_float", obj(ts="0.0"), WRONG_TYPE),
    bad("ts_minus_zero", obj(ts="-0"), WRONG_TYPE),
    bad("ts_minus_zero_float", obj(ts="-0.0"), WRONG_TYPE),
    bad("ts_1e3", obj(ts="1e3"), WRONG_TYPE),
    bad("ts_one_as_float", obj(ts="1.0"), WRONG_TYPE),
    bad("ts_underflows_to_zero", obj(ts="1e-400"), WRONG_TYPE),
    bad("ts_in_seconds", obj(ts=str(T_SECONDS)), WRONG_TYPE),
    bad("ts_in_seconds_as_float", obj(ts="1.7040672e9"), WRONG_TYPE),
    bad("ts_in_seconds_with_fraction", obj(ts="1704067200.123"), WRONG_TYPE),
    bad("ts_just_below_least", obj(ts=str(MIN_TS - 1)), WRONG_TYPE),
    bad("ts_just_below_least_as_float", obj(ts="946684799999.0"), WRONG_TYPE),
    bad("ts_just_below_least_as_exponent", obj(ts="9.46684799999e11"), WRONG_TYPE),
    bad("ts_in_seconds_of_year_9999", obj(ts=str(MAX_TS // 1000)), WRONG_TYPE),
    bad("duplicate_ts_last_in_seconds", obj(('"ts"', str(T_SECONDS))), WRONG_TYPE),
    bad("ts_in_seconds_and_bad_id", obj(ts=str(T_SECONDS), product_id=q("bad id")),
        WRONG_TYPE),
    bad("ts_in_seconds_on_wrong_topic", obj(event_type=q("cart"), ts=str(T_SECONDS)),
        WRONG_TYPE),
    bad("ts_above_max", obj(ts=str(MAX_TS + 1)), WRONG_TYPE),
    bad("ts_above_max_float", obj(ts="2.53402300800000e14"), WRONG_TYPE),
    bad("ts_1e15", obj(ts="1e15"), WRONG_TYPE),
    bad("ts_beyond_bigint", obj(ts="9223372036854775808"), WRONG_TYPE),
    bad("ts_1000_digits", obj(ts="1" + "0" * 999), WRONG_TYPE),
    bad("ts_5000_digits", obj(ts="1704067200000" + "0" * 4987), WRONG_TYPE),
    bad("ts_negative_1000_digits", obj(ts="-" + "9" * 1000), WRONG_TYPE),
    bad("ts_infinite", obj(ts="1e400"), WRONG_TYPE),
    bad("ts_negative_infinite", obj(ts="-1e400"), WRONG_TYPE),
    bad("ts_largest_double", obj(ts="1.7976931348623157e308"), WRONG_TYPE),
    bad("ts_array", obj(ts=f"[{T}]"), WRONG_TYPE),
    bad("ts_object", obj(ts=f'{{"ms":{T}}}'), WRONG_TYPE),
    bad("product_id_number", obj(product_id="7"), WRONG_TYPE),
    bad("category_array", obj(category='["shoes"]'), WRONG_TYPE),
    bad("event_id_true", obj(event_id="true"), WRONG_TYPE),
    bad("user_id_object", obj(user_id='{"id":1}'), WRONG_TYPE),
    bad("user_id_number", obj(user_id="17"), WRONG_TYPE),
    bad("event_type_number", obj(event_type="1"), WRONG_TYPE),
    bad("event_type_array", obj(event_type='["click"]'), WRONG_TYPE),
    bad("price_string", obj(price=q("9.99")), WRONG_TYPE),
    bad("price_true", obj(price="true"), WRONG_TYPE),
    bad("price_array", obj(price="[]"), WRONG_TYPE),
    bad("price_object", obj(price="{}"), WRONG_TYPE),
    bad("price_negative", obj(price="-0.01"), WRONG_TYPE),
    bad("price_negative_integer", obj(price="-1"), WRONG_TYPE),
    bad("price_negative_tiny", obj(price="-5e-324"), WRONG_TYPE),
    bad("price_infinite", obj(price="1e400"), WRONG_TYPE),
    bad("price_negative_infinite", obj(price="-1e400"), WRONG_TYPE),
    bad("price_rounds_up_to_infinity", obj(price="1.7976931348623159e308"), WRONG_TYPE),
    bad("price_integer_just_above_largest_double",
        obj(price=MAX_DOUBLE_DIGITS[:-1] + "9"), WRONG_TYPE),
    bad("price_integer_above_largest_double", obj(price="17976931348623158" + "0" * 292),
        WRONG_TYPE),
    bad("price_1e309_as_integer", obj(price="1" + "0" * 309), WRONG_TYPE),
    bad("price_1000_digits", obj(price="9" * 1000), WRONG_TYPE),
    bad("price_5000_digits", obj(price="9" * 5000), WRONG_TYPE),
    bad("price_negative_5000_digits", obj(price="-" + "9" * 5000), WRONG_TYPE),
    bad("duplicate_ts_last_is_string", obj(('"ts"', q(str(T)))), WRONG_TYPE),
    bad("duplicate_price_last_is_negative", obj(('"price"', "-2"), price="2"), WRONG_TYPE),
    bad("wrong_type_and_bad_id", obj(ts="1.5", product_id=q("bad id")), WRONG_TYPE),
    bad("negative_price_and_bad_id", obj(price="-1", category=q("")), WRONG_TYPE),
    bad("wrong_type_and_unknown_event_type", obj(user_id="1", event_type=q("view")),
        WRONG_TYPE),
]

BAD_IDS: list[Case] = [
    bad("product_id_of_65", obj(product_id=q("p" * 65)), BAD_ID),
    bad("product_id_empty", obj(product_id='""'), BAD_ID),
    bad("product_id_with_space", obj(product_id=q("p 1")), BAD_ID),
    bad("product_id_with_slash", obj(product_id=q("p/1")), BAD_ID),
    bad("product_id_trailing_newline", obj(product_id=q("p-1\\n")), BAD_ID),
    bad("product_id_trailing_space", obj(product_id=q("p-1 ")), BAD_ID),
    bad("product_id_non_ascii", obj(product_id=q("p\u00e91")), BAD_ID),
    bad("product_id_escaped_non_ascii", obj(product_id=q("p\\u00e91")), BAD_ID),
    bad("product_id_escaped_nul", obj(product_id=q("p\\u0000")), BAD_ID),
    bad("product_id_lone_surrogate", obj(product_id=q("p\\ud800")), BAD_ID),
    bad("product_id_fullwidth_digit", obj(product_id=q("p\uff11")), BAD_ID),
    bad("category_with_spaces", obj(category=q("shoes and socks")), BAD_ID),
    bad("category_empty", obj(category='""'), BAD_ID),
    bad("category_of_65", obj(category=q("c" * 65)), BAD_ID),
    bad("category_escaped_slash", obj(category=q("a\\/b")), BAD_ID),
    bad("event_id_empty", obj(event_id='""'), BAD_ID),
    bad("event_id_of_129", obj(event_id=q("e" * 129)), BAD_ID),
    bad("event_id_of_129_emoji", obj(event_id=q(EMOJI * 129)), BAD_ID),
    bad("event_id_of_129_escaped_emoji", obj(event_id=q(EMOJI_ESCAPED * 129)), BAD_ID),
    bad("user_id_empty", obj(user_id='""'), BAD_ID),
    bad("user_id_of_129_two_byte", obj(user_id=q("\u00e9" * 129)), BAD_ID),
    bad("user_id_of_129_lone_surrogates", obj(user_id=q("\\udc00" * 129)), BAD_ID),
    bad("duplicate_product_id_last_is_bad", obj(('"product_id"', q("p 2"))), BAD_ID),
    bad("bad_id_and_unknown_event_type", obj(product_id=q("p 1"), event_type=q("view")),
        BAD_ID),
    bad("bad_id_on_wrong_topic", obj(event_id='""', event_type=q("purchase")), BAD_ID),
    bad("bad_id_and_future_ts", obj(user_id='""', ts=str(YEAR_9000)), BAD_ID),
]

UNKNOWN_TYPES: list[Case] = [
    bad("event_type_view", obj(event_type=q("view")), UNKNOWN_EVENT_TYPE),
    bad("event_type_upper_case", obj(event_type=q("CLICK")), UNKNOWN_EVENT_TYPE),
    bad("event_type_empty", obj(event_type='""'), UNKNOWN_EVENT_TYPE),
    bad("event_type_trailing_space", obj(event_type=q("click ")), UNKNOWN_EVENT_TYPE),
    bad("event_type_plural", obj(event_type=q("clicks")), UNKNOWN_EVENT_TYPE),
    bad("event_type_escaped_longer", obj(event_type=q("\\u0063lick2")), UNKNOWN_EVENT_TYPE),
    bad("event_type_with_escaped_nul", obj(event_type=q("cart\\u0000")), UNKNOWN_EVENT_TYPE,
        topic="cart"),
    bad("event_type_unknown_and_future", obj(event_type=q("wishlist"), ts=str(YEAR_9000)),
        UNKNOWN_EVENT_TYPE),
]

MISMATCHED: list[Case] = [
    bad("cart_on_clicks", CART, TOPIC_MISMATCH),
    bad("purchase_on_clicks", PURCHASE, TOPIC_MISMATCH),
    bad("click_on_carts", EVENT, TOPIC_MISMATCH, topic="cart"),
    bad("purchase_on_carts", PURCHASE, TOPIC_MISMATCH, topic="cart"),
    bad("click_on_purchases", EVENT, TOPIC_MISMATCH, topic="purchase"),
    bad("cart_on_purchases", CART, TOPIC_MISMATCH, topic="purchase"),
    bad("escaped_cart_on_clicks", obj(event_type=q("c\\u0061rt")), TOPIC_MISMATCH),
    bad("mismatch_and_future_ts", obj(event_type=q("cart"), ts=str(YEAR_9000)),
        TOPIC_MISMATCH),
]

FUTURE: list[Case] = [
    bad("year_9000", obj(ts=str(YEAR_9000)), FUTURE_TS),
    bad("year_9000_cart", obj(event_type=q("cart"), ts=str(YEAR_9000)), FUTURE_TS,
        topic="cart"),
    bad("year_9000_purchase", obj(event_type=q("purchase"), ts=str(YEAR_9000)), FUTURE_TS,
        topic="purchase"),
    bad("largest_ts", obj(ts=str(MAX_TS)), FUTURE_TS),
    bad("largest_ts_as_float", obj(ts="2.53402300799999e14"), FUTURE_TS),
    bad("year_9000_as_float", obj(ts="2.21845392e14"), FUTURE_TS),
    bad("duplicate_ts_last_is_future", obj(('"ts"', str(YEAR_9000))), FUTURE_TS),
]

CASES: list[Case] = [*VALID, *NOT_JSON_CASES, *MISSING, *WRONG, *BAD_IDS, *UNKNOWN_TYPES,
                     *MISMATCHED, *FUTURE]


def _check() -> None:
    names = [case.name for case in CASES]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, duplicates
    for case in CASES:
        assert (case.expected is None) == (case.fields is not None), case.name
        assert case.topic in ("click", "cart", "purchase"), case.name


_check()


#: The corpus as data, for the Java tests of the decoder.
JSON_PATH = Path(__file__).with_suffix(".json")


def as_json() -> str:
    """The corpus as JSON: ``skew_ms`` and one case a line, in corpus order. ``value`` is
    the raw value in base64 (it may be any bytes), or null for a tombstone; ``reason`` is
    null for a valid event, whose ``product_id``, ``category`` and ``ts`` are given."""
    lines = []
    for case in CASES:
        product_id, category, ts = case.fields or (None, None, None)
        lines.append(json.dumps({
            "name": case.name,
            "topic": case.topic,
            "value": None if case.value is None else base64.b64encode(case.value).decode(),
            "reason": case.expected,
            "product_id": product_id,
            "category": category,
            "ts": ts,
        }))
    cases = ",\n".join(lines)
    return f'{{"skew_ms": {SKEW_MS}, "cases": [\n{cases}\n]}}\n'


def main(argv: list[str]) -> int:
    """``python -m tests.contract.event_corpus --write``: write :data:`JSON_PATH`."""
    if argv != ["--write"]:
        print("usage: python -m tests.contract.event_corpus --write", file=sys.stderr)
        return 2
    JSON_PATH.write_text(as_json())
    print(f"wrote {len(CASES)} cases to {JSON_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
