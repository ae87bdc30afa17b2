"""Prometheus metrics of the simulator (served when ``metrics_port`` is not 0).

Counters are updated once per sent slice of events, never once per event.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, start_http_server

log = logging.getLogger(__name__)

EVENTS_SENT = Counter(
    "trend_simulator_events_sent", "Valid events handed to the producer, by event type",
    ["event_type"])
EVENTS_FAILED = Counter(
    "trend_simulator_events_failed", "Records the broker did not accept (delivery errors)")
BAD_EVENTS = Counter(
    "trend_simulator_bad_events", "Malformed records sent on purpose, by kind", ["kind"])
TARGET_RATE = Gauge("trend_simulator_target_rate", "Requested events per second")

_served_ports: set[int] = set()


def serve_metrics(port: int) -> bool:
    """Serve /metrics on ``port`` once per process; 0 disables. False if the port is taken."""
    if port == 0:
        return False
    if port in _served_ports:
        return True
    try:
        start_http_server(port)
    except OSError as exc:
        log.warning("simulator metrics not served: port %d: %s", port, exc)
        return False
    _served_ports.add(port)
    return True
