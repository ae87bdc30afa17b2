"""The job's SQL, without Flink: the sources' watermark and the dead-letter table."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from jobs.topology import (
    dead_letter_options,
    sink_ddls,
    source_ddl,
    source_options,
    sql_interval,
    views,
)
from trend_tracker.settings import (
    DEAD_LETTER_OVERHEAD_BYTES,
    ESCAPED_BYTES_PER_PAYLOAD_BYTE,
    Settings,
)

#: Kafka's upper bound on a record batch around one record: the batch header (61 bytes) and
#: the record's own header (attributes, varint lengths and deltas: at most 21 bytes).
KAFKA_RECORD_FRAMING_BYTES = 61 + 21


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


def test_the_watermark_never_passes_arrival_minus_the_out_of_orderness():
    ddl = source_ddl(settings(out_of_orderness_s=5, max_future_skew_s=60), "click",
                     "clicks", None)
    # Arrival is the record's timestamp in the topic (the broker's append time), not a
    # clock of the job's.
    assert "arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL," in ddl
    assert "arrival_ts" not in ddl
    # Event time stays et; only the watermark is clamped by the time the record arrived.
    assert "et AS TO_TIMESTAMP_LTZ(ts, 3)," in ddl
    # A future_ts record (stamped more than max_future_skew_s after its arrival) counts as
    # the epoch there: its arrival would pass the old events of a topic loaded late.
    assert (f"WATERMARK FOR et AS CASE WHEN et > arrival + {sql_interval(60)} "
            f"THEN TO_TIMESTAMP_LTZ(0, 3)\n    ELSE LEAST(et, arrival) END - {sql_interval(5)}"
            ) in ddl
    # The decoder judges nothing against its clock.
    options = source_options(settings(), "clicks", None, "click")
    assert not any("future" in key for key in options)


def test_dead_letters_are_keyed_by_their_record_and_sized_for_the_producer():
    s = settings(dead_letter_max_request_bytes=2_000_000)
    options = dead_letter_options(s)
    assert options["topic"] == s.topic_dead_letters
    assert options["properties.max.request.size"] == "2000000"
    assert options["key.format"] == "raw"
    assert options["key.fields"] == "dead_letter_key"
    # The envelope is JSON the job writes (dead_letter_envelope), taken as it is; the key is
    # not repeated in it.
    assert options["value.format"] == "raw"
    assert options["value.fields-include"] == "EXCEPT_KEY"
    table = sink_ddls(s)["dead_letters"]
    assert "`dead_letter_key` STRING,\n  `envelope` BYTES\n)" in table
    records = dict(views(s))["dead_letter_records"]
    assert "CONCAT(`topic`, '/', CAST(`partition` AS STRING), '/', CAST(`offset` AS STRING))" \
        in records
    assert ("dead_letter_envelope(letter.payload, `topic`, `partition`, `offset`,\n"
            "    count_dead_letter(event_type, reason), letter.payload_bytes, "
            "letter.payload_sha256,\n    traceparent) AS envelope") in records


def test_each_record_carries_its_traceparent_header_to_the_core():
    ddl = source_ddl(settings(), "click", "clicks", None)
    assert "headers MAP<STRING, BYTES> METADATA VIRTUAL," in ddl
    checked = dict(views(settings()))["checked_click"]
    assert "CAST(headers['traceparent'] AS STRING) AS traceparent" in checked


def test_the_payload_prefix_is_bounded_by_the_producers_request_size():
    limit = 1_048_576
    largest = (limit - DEAD_LETTER_OVERHEAD_BYTES) // ESCAPED_BYTES_PER_PAYLOAD_BYTE
    fits = settings(dead_letter_max_request_bytes=limit,
                    dead_letter_payload_prefix_bytes=largest)
    assert fits.dead_letter_payload_prefix_bytes == largest
    with pytest.raises(ValidationError, match="dead_letter_payload_prefix_bytes"):
        settings(dead_letter_max_request_bytes=limit, dead_letter_payload_prefix_bytes=largest + 1)
    assert settings().dead_letter_payload_prefix_bytes == 4096
    assert settings().dead_letter_max_request_bytes == 1_048_576


def test_the_worst_envelope_of_the_largest_prefix_fits_the_request():
    """Written out independently: every byte a control character (escaped as \\u00XX), the
    longest topic name, the largest numbers, the longest reason code and a traceparent (the
    job carries one only in the W3C form, 55 characters)."""
    s = settings()
    prefix = ((s.dead_letter_max_request_bytes - DEAD_LETTER_OVERHEAD_BYTES)
              // ESCAPED_BYTES_PER_PAYLOAD_BYTE)
    topic = "t" * 249
    envelope = json.dumps({
        "payload": "\x01" * prefix, "topic": topic, "partition": 2**31 - 1,
        "offset": 2**63 - 1, "reason": "unknown_event_type", "payload_bytes": 2**63 - 1,
        "payload_sha256": "f" * 64, "traceparent": "00-" + "f" * 32 + "-" + "f" * 16 + "-01"},
        separators=(",", ":")).encode()
    assert envelope.count(b"\\u0001") == prefix
    key = f"{topic}/{2**31 - 1}/{2**63 - 1}".encode()
    assert len(envelope) + len(key) + KAFKA_RECORD_FRAMING_BYTES <= s.dead_letter_max_request_bytes


def test_the_weights_topic_is_stamped_before_the_time_each_record_applies_from():
    from jobs.topology import weights_records_query, weights_source_ddl

    s = settings(topic_weights="weights-x")
    ddl = weights_source_ddl(s)
    assert "'topic' = 'weights-x'" in ddl
    assert "'scan.startup.mode' = 'earliest-offset'" in ddl
    assert "'scan.parallelism' = '1'" in ddl
    # applies_from_ms, else published_ms (what the publisher writes), less 1 ms: the
    # windows ending where a record applies from wait for it. Held between the epoch and
    # 9999-12-31T23:59:59.999Z, the last millisecond a Flink timestamp holds, so never NULL.
    assert ("TO_TIMESTAMP_LTZ(GREATEST(LEAST(COALESCE(\n"
            "    TRY_CAST(JSON_VALUE(`value`, '$.applies_from_ms') AS BIGINT),\n"
            "    TRY_CAST(JSON_VALUE(`value`, '$.published_ms') AS BIGINT), 0), "
            "253402300799999), 0) - 1, 3)") in ddl
    assert "WATERMARK FOR applies AS applies" in ddl
    assert weights_records_query("it's").endswith("WHERE `key` = 'it''s'")


def test_the_core_sits_between_the_decoded_records_and_both_sinks():
    from jobs.topology import Core

    steps = dict(views(settings()))
    assert steps["window_results"] == Core("decoded_records", "window_results")
    assert steps["invalid_events"] == Core("decoded_records", "dead_letters")
    assert "FROM invalid_events" in steps["dead_letter_records"]
