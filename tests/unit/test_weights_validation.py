"""Weights as data: validation of weights documents, CLI assignments and version names."""

from __future__ import annotations

import json
import math

import pytest

from registry.client import _version_number, weights_tags, weights_version_name
from registry.errors import VersionNotFoundError
from registry.weights import (
    DEFAULT_WEIGHTS,
    MAX_WEIGHT,
    InvalidWeightsError,
    Weights,
    load_weights_file,
    parse_assignments,
    parse_weights_json,
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


@pytest.mark.parametrize("value, message", [
    (1e308, "weight click=1e+308 is above the maximum of 1000000.0"),
    (1_000_000.5, "weight click=1000000.5 is above the maximum of 1000000.0"),
    (10**400, "weight click is not a finite number"),
    (float("inf"), "weight click=inf is not finite"),
    (float("-inf"), "weight click=-inf is not finite"),
    (float("nan"), "weight click=nan is not finite"),
    (-0.5, "weight click=-0.5 is negative"),
])
def test_weights_must_be_finite_non_negative_and_at_most_the_maximum(value, message):
    with pytest.raises(InvalidWeightsError) as raised:
        validate_weights({"click": value, "cart": 3, "purchase": 5})
    assert str(raised.value) == message


def test_the_maximum_weight_itself_is_valid_and_keeps_any_score_finite():
    assert MAX_WEIGHT == 1e6
    weights = Weights.from_mapping({"click": MAX_WEIGHT, "cart": MAX_WEIGHT,
                                    "purchase": MAX_WEIGHT}, "max/1")
    longest = 2**63 - 1  # the largest count a window can hold (a Java long)
    score = weights.score(longest, longest, longest)
    assert math.isfinite(score)
    assert score == float(3 * 10**6 * 2**63)  # 2**63 - 1 rounds to 2**63 as a double


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
    with pytest.raises(InvalidWeightsError, match="invalid"):
        parse_weights_json('{"click": 1e308, "cart": 3, "purchase": 5}', "m/1")


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


# --- the same rules in the job's Java module (the weights topic's reader) ----------------


@pytest.fixture(scope="module")
def window():
    from types import SimpleNamespace

    from trend_tracker.jars import ModuleClass

    return SimpleNamespace(**{name.replace("$", "_"): ModuleClass(
        f"dev.trendtracker.window.{name}") for name in (
            "WeightsRecord", "ProductWindow", "WindowSpec", "ProductSlices$ProductCounts")})


def _record(click) -> str:
    return ('{"weights_version": "v1", "click": ' + click
            + ', "cart": 3.0, "purchase": 5.0, "published_ms": 0}')


def test_java_weights_have_the_same_maximum(window):
    from py4j.java_gateway import get_field

    assert window.WeightsRecord.MAX_WEIGHT == MAX_WEIGHT
    assert get_field(window.WeightsRecord.parse(_record("1000000.0")), "click") == MAX_WEIGHT


@pytest.mark.parametrize("click, message", [
    ("1e308", "weight click=1.0E308 is above the maximum of 1000000.0"),
    ("1e400", "weight click=Infinity is not finite"),
    ("-0.5", "weight click=-0.5 is negative"),
    ('"1"', "weight click is not a number"),
    ("null", "weight click is not a number"),
])
def test_java_weights_records_out_of_bounds_are_rejected(window, click, message):
    from py4j.protocol import Py4JJavaError

    with pytest.raises(Py4JJavaError) as raised:
        window.WeightsRecord.parse(_record(click))
    assert raised.value.java_exception.getMessage() == message


@pytest.mark.parametrize("click", [1e308, float("inf"), float("nan"), -1.0])
def test_java_weights_cannot_be_built_out_of_bounds(window, click):
    """Every weights record is valid, so nothing can score with unbounded weights."""
    from py4j.protocol import Py4JJavaError

    with pytest.raises(Py4JJavaError, match="IllegalArgumentException"):
        window.WeightsRecord("v1", click, 3.0, 5.0, 0)


def test_java_scores_stay_finite_at_the_largest_weights_and_counts(window):
    from py4j.java_gateway import get_field, set_field

    weights = window.WeightsRecord("max/1", MAX_WEIGHT, MAX_WEIGHT, MAX_WEIGHT, 0)
    longest = 2**63 - 1
    assert weights.score(longest, longest, longest) == float(3 * 10**6 * 2**63)
    # The least prior the settings allow, and the smallest recent span (one slide of a
    # day's window sliding by a second), all recent: momentum stays finite too.
    spec = window.WindowSpec(86_400_000, 1_000, 0, 1, 1, 1e-6, 0.0, 1, 4.0, 1.7, 0, 0)
    recent, base = window.ProductSlices_ProductCounts(), window.ProductSlices_ProductCounts()
    for name in ("clicks", "carts", "purchases"):
        set_field(recent, name, longest)
    product = window.ProductWindow.scored(10_000, "p-1", "toys", longest, longest, longest,
                                          recent, base, weights, spec)
    assert get_field(product, "score") == float(3 * 10**6 * 2**63)
    assert math.isfinite(get_field(product, "momentum"))
    assert get_field(product, "significantGrowth") is True


def test_java_reads_from_when_the_publishers_records_apply(window):
    from py4j.java_gateway import get_field

    from registry.publisher import weights_record

    weights = Weights(1.0, 3.0, 5.0, "v")
    explicit = window.WeightsRecord.parse(weights_record(weights, 7, applies_from_ms=3).decode())
    assert get_field(explicit, "appliesFromMs") == 3
    published = window.WeightsRecord.parse(weights_record(weights, 7).decode())
    assert get_field(published, "appliesFromMs") == 7
