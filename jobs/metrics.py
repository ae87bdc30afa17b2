"""The job's metrics, and the Prometheus reporter that exports them.

With ``flink_metrics_port`` > 0 the job starts Flink's Prometheus reporter (the plugin in
the Flink distribution's ``plugins/metrics-prometheus``) on that port (a MiniCluster
exports everything on it; on a cluster give each TaskManager its own port, e.g. a range
``9251-9260`` in the cluster's config). Flink prefixes user metrics with
``flink_taskmanager_job_task_operator_`` and turns key/value groups into labels.

Metrics published by the job's functions (all in the ``trend`` group):

- ``trend_events_read{event_type}``: events read from the topic of that event type.
- ``trend_events_valid{event_type}``: of those, events counted in a window (the keyed core).
- ``trend_dead_letters{event_type, reason}``: events sent to the dead-letter topic, by
  reason: not_json, missing_field, wrong_type, bad_id, unknown_event_type,
  topic_mismatch, future_ts, late, duplicate. (``event_type`` is the topic's, not the payload's.)
  These three are counted in SQL per 5 s of processing time, so they lag by up to 5 s.
- ``trend_aggregates_scored``: (window, product) aggregates scored (the keyed core).
- ``trend_weights_version_weights_in_use{weights_version}``: 1 for the version the last
  window was scored with, 0 for versions used before.
- ``trend_weights_records_invalid``: weights records skipped as invalid.
- ``trend_events_late``: valid events behind every window's allowed lateness (each is
  also a ``late`` dead letter).
- ``trend_events_duplicate``: copies of events counted within ``dedup_horizon_s`` (each is
  also a ``duplicate`` dead letter).
- ``trend_windows_ranked``: window rankings computed (first emissions and updates).
- ``trend_windows_emitted``: windows written (Parquet, and Redis or pending for it).
- ``trend_rankings_written``: rankings of those windows (overall plus one per category).
- ``trend_rows_written``: ranked rows written.
- ``trend_last_window_end_seconds``: window_end of the newest window written (epoch s); the
  freshness of the output is now minus this.
- ``trend_sink_write_latency_ms{sink="parquet"|"redis"}``: duration of the last write.
- ``trend_sink_write_failures{sink}``: writes that failed after retries. Parquet: each
  fails the task, which restarts from the last checkpoint. Redis: each window that could
  not be written at its time (it stays pending, the job goes on) or that Redis refused.
- ``trend_sink_pending_windows{sink="redis"}``: windows waiting for Redis (0 while Redis
  answers).
- ``trend_sink_windows_refused{sink="redis"}``: windows Redis answered with an error of its
  own (wrong type, out of memory, no permission): logged and skipped, never retried.

Flink's own metrics cover the rest, e.g. ``numRecordsInPerSecond`` of each source
operator, ``currentInputWatermark``, checkpoint durations, restarts (``numRestarts``).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from trend_tracker.settings import Settings

PROMETHEUS_REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"


def reporter_config(settings: Settings) -> dict[str, str]:
    """Flink configuration enabling the Prometheus reporter, or nothing when port is 0."""
    if settings.flink_metrics_port <= 0:
        return {}
    return {
        "metrics.reporter.prom.factory.class": PROMETHEUS_REPORTER_FACTORY,
        "metrics.reporter.prom.port": str(settings.flink_metrics_port),
    }


def expose_reporter_to_embedded_cluster(
    settings: Settings, environ: MutableMapping[str, str] = os.environ
) -> None:
    """Put the Prometheus reporter's jar on the class path of the embedded Flink JVM.

    A MiniCluster does not load reporters from the distribution's ``plugins/`` folder
    (Flink logs "reporter factory ... could not be found" and serves nothing), and PyFlink
    appends ``HADOOP_CLASSPATH`` to the class path of the JVM it starts: the jar goes
    there. Call it before the first PyFlink object starts that JVM; on a cluster, where
    the plugin is loaded normally, it changes nothing. Nothing to do with the reporter off.
    """
    if settings.flink_metrics_port <= 0:
        return
    import pyflink

    plugin = Path(pyflink.__file__).resolve().parent / "plugins" / "metrics-prometheus"
    jars = sorted(str(jar) for jar in plugin.glob("flink-metrics-prometheus-*.jar"))
    entries = [e for e in environ.get("HADOOP_CLASSPATH", "").split(os.pathsep) if e]
    environ["HADOOP_CLASSPATH"] = os.pathsep.join(
        entries + [jar for jar in jars if jar not in entries])
