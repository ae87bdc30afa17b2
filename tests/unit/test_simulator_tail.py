"""How `trend tail` describes records (pure part, no broker)."""

from __future__ import annotations

import orjson

from simulator.tail import describe, resolve_topic
from trend_tracker.settings import Settings

NOW = 1_704_067_200_000
EVENT = {"event_id": "e-1", "event_type": "click", "product_id": "p-1", "category": "books",
         "user_id": "u-1", "ts": NOW}


def line(value: bytes | None, topic_type: str | None = "click", dlq: bool = False):
    return describe(0, 7, b"p-1", value, topic_type, dlq, NOW, 60_000)


def test_valid_event_is_ok():
    result = line(orjson.dumps(EVENT))
    assert (result.status, result.valid, result.offset, result.key) == ("ok", True, 7, "p-1")


def test_invalid_events_carry_their_reason_and_the_schema_message():
    assert line(b"{nope").status == "not_json"
    assert line(None).status == "not_json"
    wrong = line(orjson.dumps(dict(EVENT, ts=str(NOW))))
    assert wrong.status == "wrong_type" and "ts: '1704067200000' is not of type 'integer'" in \
        wrong.detail
    assert line(orjson.dumps(EVENT), topic_type="cart").status == "topic_mismatch"
    assert line(orjson.dumps(dict(EVENT, ts=NOW + 3_600_000))).status == "future_ts"


def test_contract_edge_cases_are_described_without_errors():
    negative = line(orjson.dumps(dict(EVENT, price=-1)))
    assert negative.status == "wrong_type"
    assert "price: -1 is less than the minimum of 0" in negative.detail
    assert line(b"\xef\xbb\xbf" + orjson.dumps(EVENT)).status == "not_json"  # a BOM
    deep = orjson.dumps(EVENT)[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert line(deep).status == "not_json"
    huge_ts = line(orjson.dumps(EVENT).replace(str(NOW).encode(), b"9" * 5000))
    assert huge_ts.status == "wrong_type" and "ts: inf is not of type 'integer'" in huge_ts.detail
    assert line(orjson.dumps(dict(EVENT, ts=1.7e12))).status == "ok"  # an integral number
    seconds = line(orjson.dumps(dict(EVENT, ts=NOW // 1000)))  # ts in seconds
    assert seconds.status == "wrong_type" and \
        "ts: 1704067200 is less than the minimum of 946684800000" in seconds.detail


def test_dead_letter_records_show_the_jobs_reason():
    envelope = orjson.dumps({"reason": "not_json", "payload": "{nope"})
    assert line(envelope, topic_type=None, dlq=True).status == "dlq:not_json"
    assert line(b"garbage", topic_type=None, dlq=True).status == "dlq:?"


def test_topic_names_resolve_through_the_settings():
    settings = Settings(_env_file=None, topic_clicks="c-1", topic_dead_letters="d-1")
    assert resolve_topic(settings, "clicks") == ("c-1", "click", False)
    assert resolve_topic(settings, "c-1") == ("c-1", "click", False)
    assert resolve_topic(settings, "dlq") == ("d-1", None, True)
    assert resolve_topic(settings, "other") == ("other", None, False)
