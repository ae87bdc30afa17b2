"""Turn the job's event counts (computed in SQL) into Flink metrics.

The job counts events per (``event_type`` of the topic, ``outcome``) in the JVM, in
processing-time tumbling windows of a few seconds, so this function sees one row per key
and interval, not every event. (A bounded run ends before its last interval closes, so
its last few seconds of counts are not published; the dead-letter topic has every record.)
``outcome`` is ``valid`` or a dead-letter reason (``late`` included).
"""

from __future__ import annotations

from typing import Any

VALID = "valid"


def make_event_count_function() -> Any:
    """The PyFlink scalar function ``publish_counts(event_type, outcome, events)``.

    Adds each interval's count to the counters ``events_read`` per event_type, plus
    ``events_valid`` or ``events_invalid`` (label ``reason``).
    """
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    class PublishEventCounts(ScalarFunction):
        def is_deterministic(self) -> bool:
            return False  # called for its side effect: never folded or dropped

        def open(self, function_context):
            self.group = function_context.get_metric_group().add_group("trend")
            self.counters: dict[tuple[str, str], Any] = {}

        def _counter(self, event_type: str, outcome: str) -> Any:
            key = (event_type, outcome)
            if key not in self.counters:
                group = self.group.add_group("event_type", event_type)
                if outcome == "read":
                    self.counters[key] = group.counter("events_read")
                elif outcome == VALID:
                    self.counters[key] = group.counter("events_valid")
                else:
                    self.counters[key] = group.add_group("reason", outcome).counter(
                        "events_invalid")
            return self.counters[key]

        def eval(self, event_type, outcome, events):
            self._counter(event_type, outcome).inc(int(events))
            self._counter(event_type, "read").inc(int(events))
            return int(events)

    return udf(PublishEventCounts(), result_type=DataTypes.BIGINT())
