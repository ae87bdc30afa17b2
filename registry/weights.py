"""Event-type weights: the data a weights model holds, its validation and parsing.

Weights are data, never code: they are read from JSON (a file, or an MLflow artifact) or
from ``click=1``-style assignments and validated here. Nothing from the registry is
unpickled or executed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from trend_tracker.events import EVENT_TYPES

#: The weights a fresh deployment starts with (registered as version 1 by `make demo`).
DEFAULT_WEIGHTS: dict[str, float] = {"click": 1.0, "cart": 3.0, "purchase": 5.0}

#: The largest weight of an event type. With every weight at most this, a score
#: ``click*clicks + cart*carts + purchase*purchases`` stays finite for any counts a window
#: can hold (Java longs, at most 2**63 - 1): at most 3 * 1e6 * 2**63 ~ 2.8e25, far below the
#: largest double (~1.8e308). The same bound is ``Weights.MAX_WEIGHT`` in the Java module.
MAX_WEIGHT = 1e6

#: JSON Schema of a weights document (the artifact ``weights.json``).
WEIGHTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Trend Tracker event-type weights",
    "type": "object",
    "required": list(EVENT_TYPES),
    "properties": {name: {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT}
                   for name in EVENT_TYPES},
    "additionalProperties": False,
}


class InvalidWeightsError(ValueError):
    """Weights that are missing an event type, or not numbers from 0 to MAX_WEIGHT."""


@dataclass(frozen=True, slots=True)
class Weights:
    """One weights version: ``score = click*clicks + cart*carts + purchase*purchases``."""

    click: float
    cart: float
    purchase: float
    version: str

    def score(self, clicks: int, carts: int, purchases: int) -> float:
        return self.click * clicks + self.cart * carts + self.purchase * purchases

    def as_dict(self) -> dict[str, float]:
        return {"click": self.click, "cart": self.cart, "purchase": self.purchase}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], version: str) -> Weights:
        return cls(version=version, **validate_weights(values))


def validate_weights(values: Mapping[str, Any]) -> dict[str, float]:
    """Check that all three event types have numeric weights from 0 to ``MAX_WEIGHT``
    (finite, non-negative, bounded), at least one of them positive."""
    if not isinstance(values, Mapping):
        raise InvalidWeightsError(f"weights must be an object, got {type(values).__name__}")
    missing = [name for name in EVENT_TYPES if name not in values]
    if missing:
        raise InvalidWeightsError(f"weights missing for: {', '.join(missing)}")
    unknown = sorted(set(values) - set(EVENT_TYPES))
    if unknown:
        raise InvalidWeightsError(f"unknown event types in weights: {', '.join(unknown)}")
    clean: dict[str, float] = {}
    for name in EVENT_TYPES:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidWeightsError(f"weight {name}={value!r} is not a number")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any double
            raise InvalidWeightsError(f"weight {name} is not a finite number") from None
        if not math.isfinite(value):
            raise InvalidWeightsError(f"weight {name}={value} is not finite")
        if value < 0:
            raise InvalidWeightsError(f"weight {name}={value} is negative")
        if value > MAX_WEIGHT:
            raise InvalidWeightsError(
                f"weight {name}={value} is above the maximum of {MAX_WEIGHT}")
        clean[name] = value
    if not any(clean.values()):
        raise InvalidWeightsError("at least one weight must be positive")
    return clean


def load_weights_file(path: Path | str) -> Weights:
    """Weights from a JSON file ``{"click": 1, "cart": 3, "purchase": 5, "version": "..."}``.

    Without a ``version`` key the version is ``file:<name>``.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidWeightsError(f"weights file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise InvalidWeightsError(f"weights file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidWeightsError(f"weights file {path} must hold a JSON object")
    version = str(document.pop("version", f"file:{path.name}"))
    return Weights.from_mapping(document, version)


def parse_weights_json(text: str, version: str) -> Weights:
    """Validate a ``weights.json`` document (schema, then finiteness) into :class:`Weights`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidWeightsError(f"{version}: weights.json is not JSON: {exc}") from None
    try:
        jsonschema.validate(document, WEIGHTS_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise InvalidWeightsError(f"{version}: weights.json is invalid: {exc.message}") from None
    return Weights.from_mapping(document, version)


def parse_assignments(assignments: list[str]) -> dict[str, float]:
    """``["click=1", "cart=3", "purchase=5"]`` -> validated weights."""
    values: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidWeightsError(f"expected EVENT_TYPE=NUMBER, got {item!r}")
        if name in values:
            raise InvalidWeightsError(f"weight {name} given twice")
        try:
            values[name] = float(raw)
        except ValueError:
            raise InvalidWeightsError(f"weight {name}={raw!r} is not a number") from None
    return validate_weights(values)
