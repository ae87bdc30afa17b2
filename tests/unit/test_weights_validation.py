"""Weights as data: validation of weights documents, CLI assignments and version names."""

from __future__ import annotations

import json

import pytest

from registry.client import (
    VersionNotFoundError,
    _version_number,
    parse_assignments,
    parse_weights_json,
    weights_tags,
    weights_version_name,
)
from registry.weights import (
    DEFAULT_WEIGHTS,
    InvalidWeightsError,
    Weights,
    load_weights_file,
    validate_weights,
)


def test_valid_weights_are_floats():
    assert validate_weights({"click": 1, "cart": 2.5, "purchase": 0}) == {
        "click": 1.0, "cart": 2.5, "purchase": 0.0}


@pytest.mark.parametrize("values, message", [
    ({"click": 1, "cart": 3}, "missing for: purchase"),
    ({"click": 1, "cart": 3, "purchase": 5, "view": 1}, "unknown event types in weights: view"),
    ({"click": -1, "cart": 3, "purchase": 5}, "negative"),
    ({"click": float("nan"), "cart": 3, "purchase": 5}, "not finite"),
    ({"click": float("inf"), "cart": 3, "purchase": 5}, "not finite"),
    ({"click": "1", "cart": 3, "purchase": 5}, "not a number"),
    ({"click": True, "cart": 3, "purchase": 5}, "not a number"),
    ({"click": 0, "cart": 0, "purchase": 0}, "at least one weight must be positive"),
    ([1, 3, 5], "must be an object"),
])
def test_invalid_weights_are_rejected(values, message):
    with pytest.raises(InvalidWeightsError, match=message):
        validate_weights(values)


def test_weights_json_is_checked_against_the_schema():
    weights = parse_weights_json('{"click": 1, "cart": 3, "purchase": 5}', "trend-weights/3")
    assert weights == Weights(click=1.0, cart=3.0, purchase=5.0, version="trend-weights/3")
    with pytest.raises(InvalidWeightsError, match="not JSON"):
        parse_weights_json("{click: 1}", "m/1")
    with pytest.raises(InvalidWeightsError, match="invalid"):
        parse_weights_json('{"click": 1, "cart": "3", "purchase": 5}', "m/1")
    with pytest.raises(InvalidWeightsError, match="invalid"):
        parse_weights_json('{"click": 1, "cart": 3, "purchase": 5, "code": "x"}', "m/1")
    with pytest.raises(InvalidWeightsError, match="invalid"):
        parse_weights_json('{"click": -2, "cart": 3, "purchase": 5}', "m/1")


def test_score_is_linear_in_counts():
    weights = Weights.from_mapping(DEFAULT_WEIGHTS, "trend-weights/1")
    assert weights.score(clicks=4, carts=2, purchases=1) == 4 * 1.0 + 2 * 3.0 + 1 * 5.0


def test_assignments_from_the_command_line():
    assert parse_assignments(["click=1", "cart=3", "purchase=5.5"]) == {
        "click": 1.0, "cart": 3.0, "purchase": 5.5}
    with pytest.raises(InvalidWeightsError, match="EVENT_TYPE=NUMBER"):
        parse_assignments(["click", "cart=3", "purchase=5"])
    with pytest.raises(InvalidWeightsError, match="given twice"):
        parse_assignments(["click=1", "click=2", "cart=3", "purchase=5"])
    with pytest.raises(InvalidWeightsError, match="not a number"):
        parse_assignments(["click=one", "cart=3", "purchase=5"])
    with pytest.raises(InvalidWeightsError, match="missing for: purchase"):
        parse_assignments(["click=1", "cart=3"])
    with pytest.raises(InvalidWeightsError, match="not finite"):
        parse_assignments(["click=nan", "cart=3", "purchase=5"])


def test_weights_file(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"click": 2, "cart": 4, "purchase": 8, "version": "offline-1"}))
    assert load_weights_file(path) == Weights(2.0, 4.0, 8.0, "offline-1")
    path.write_text(json.dumps({"click": 2, "cart": 4, "purchase": 8}))
    assert load_weights_file(path).version == "file:weights.json"
    with pytest.raises(InvalidWeightsError, match="not found"):
        load_weights_file(tmp_path / "missing.json")


def test_version_names():
    assert weights_version_name("trend-weights", 3) == "trend-weights/3"
    assert _version_number("3", "trend-weights") == 3
    assert _version_number("trend-weights/12", "trend-weights") == 12
    with pytest.raises(VersionNotFoundError):
        _version_number("other/3", "trend-weights")
    with pytest.raises(VersionNotFoundError):
        _version_number("latest", "trend-weights")
    with pytest.raises(VersionNotFoundError):
        _version_number("0", "trend-weights")


def test_tags_show_the_weights():
    assert weights_tags(Weights(1.0, 3.0, 0.25, "m/1")) == {
        "weight_click": "1.0", "weight_cart": "3.0", "weight_purchase": "0.25"}
