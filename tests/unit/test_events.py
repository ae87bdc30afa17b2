"""The event contract: the shipped JSON Schema and the reference classifier."""

from __future__ import annotations

import json

import pytest

from trend_tracker.events import Reason, classify, event_schema, schema_errors

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
    assert schema_errors(event(ts="1704067200000")) == ["ts: '1704067200000' is not of type 'integer'"]
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
