"""The event simulator: topic bootstrap, realistic traffic, malformed events, tail.

The Python API (imported lazily, so the `trend` command starts fast):

- :func:`ensure_topics` creates the event and dead-letter topics;
- :func:`run_simulation` runs a simulation (:class:`SimulationOptions`) and returns a
  :class:`SimulationSummary`;
- :func:`generate_events` returns the exact records a seeded run sends, without I/O;
- :func:`send_records` / :func:`event_record` produce a fixed list of records;
- :func:`read_topic` reads a topic back by partition assignment.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ensure_topics": "simulator.kafka_io",
    "send_records": "simulator.kafka_io",
    "event_record": "simulator.kafka_io",
    "read_topic": "simulator.kafka_io",
    "Record": "simulator.kafka_io",
    "run_simulation": "simulator.runner",
    "SimulationSummary": "simulator.runner",
    "SimulationOptions": "simulator.options",
    "generate_events": "simulator.options",
    "Trend": "simulator.traffic",
    "parse_trend": "simulator.traffic",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
