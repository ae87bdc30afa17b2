"""The corpus file the Java tests read (tests/contract/event_corpus.json) is the corpus."""

from __future__ import annotations

import base64
import json

from tests.contract import event_corpus
from tests.contract.event_corpus import CASES, JSON_PATH, SKEW_MS


def test_the_json_file_is_what_the_corpus_module_writes():
    assert JSON_PATH.read_text() == event_corpus.as_json(), (
        "tests/contract/event_corpus.json is out of date: "
        "run python -m tests.contract.event_corpus --write")


def test_the_json_file_holds_every_case_byte_for_byte():
    document = json.loads(JSON_PATH.read_text())
    assert document["skew_ms"] == SKEW_MS
    cases = document["cases"]
    assert [case["name"] for case in cases] == [case.name for case in CASES]
    for read, case in zip(cases, CASES, strict=True):
        value = None if read["value"] is None else base64.b64decode(read["value"])
        assert value == case.value, case.name
        assert (read["topic"], read["reason"]) == (case.topic, case.expected), case.name
        fields = (read["product_id"], read["category"], read["ts"])
        assert fields == (case.fields or (None, None, None)), case.name
