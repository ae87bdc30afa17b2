"""The trending job: Kafka -> decode -> HOP windows -> weighted scores -> top-N -> sinks.

Entry point for both ways of running it:

- embedded (Flink MiniCluster in this process): ``trend job run [--bounded] [--flag value]``
- on a cluster: ``flink run -py jobs/trending.py -- [--bounded] [--flag value]``

Flags: ``--bounded`` reads every topic up to its true end offset at start, fires every window
and exits 0; any ``Settings`` field can be overridden as ``--field-name value`` (for example
``--window-size-s 60 --top-n 10``), over ``TREND_*`` variables and ``.env`` files.

Operational choices, set explicitly here:

- Checkpoints every ``checkpoint_interval_s`` under ``checkpoint_dir`` (default: a local
  directory under ``state_dir``), one directory per consumer group, exactly-once, retained
  on cancellation. A streaming start resumes from the group's newest retained checkpoint
  or savepoint (``--from-scratch`` opts out; :mod:`jobs.resume`). The window sink is
  idempotent (files and keys named by window), so the replay after a restore rewrites the
  same results; the dead-letter topic is written in transactions committed with the
  checkpoints (exactly once for ``read_committed`` readers), each record keyed by its
  position.
- State backend ``state_backend``: ``hashmap`` (heap) by default; the state is windows x
  active products, small for this job. ``rocksdb`` for larger key spaces.
- Restarts: streaming runs use exponential delay (1 s doubling to 1 min, without limit),
  so a broker or S3 outage pauses the job instead of killing it (a Redis outage does not
  even restart it: the window sink keeps the windows pending for Redis); a bounded run
  retries 3 times, 2 s apart, then fails with a non-zero exit.
- The hot path is Java, built from ``udfs/java`` by Maven (``make jar``) and shipped with
  the job as ``pipeline.jars``, with the Kafka connector
  (:mod:`trend_tracker.jars`): the ``trend-event`` format decodes and validates each
  record once, and the keyed core (``dev.trendtracker.window``) counts, decides lateness,
  scores and ranks each window (popular and rising), every operator at the job's
  parallelism (:mod:`jobs.topology`).
- Weights: the job starts with the registry's champion (or, while MLflow is down, the
  newest record of the weights topic); a streaming run also reads the weights topic, which
  the registry's publisher feeds, as a source broadcast to the core. Each window is scored
  with the newest record that applies at its end (``applies_from_ms``, by default the time
  it was published), so a replay scores it the same; windows before any record use the
  weights the job started with. A bounded run uses those throughout.
- Python runs once per window (the window sink), in ``python_execution_mode``
  (``process`` by default). A cluster's TaskManagers need the project on their Python path
  for ``thread``. Event counts are metrics counted in the JVM.
- Secrets stay out of the job graph: the window sink gets the settings without the Redis
  password and the S3 keys, and reads those in the worker, from its environment or
  ``secrets_file`` (an embedded run writes a private one; see :func:`worker_settings`). The
  Kafka connectors get the security protocol and SASL mechanism but no password: their JVMs
  log in from a JAAS file (:mod:`trend_tracker.kafka_config`; an embedded run writes a
  private one under ``state_dir``).
- Source idleness ``source_idle_timeout_s``, so a quiet partition does not hold back the
  watermark. SQL operators are named by the views of :mod:`jobs.topology`; the core's
  operators have stable uids.
"""

from __future__ import annotations

import argparse
import logging
import os
import site
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `flink run -py jobs/trending.py` runs this file as a script: make the project importable.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(_PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(_PROJECT_ROOT))

from jobs.metrics import expose_reporter_to_embedded_cluster, reporter_config
from jobs.resume import job_checkpoint_dir, job_savepoint_dir
from jobs.topology import (
    DEAD_LETTERS,
    WEIGHTS_RECORDS,
    WINDOW_SINK_QUERY,
    WRITTEN_WINDOWS,
    create_views,
    sink_ddls,
    source_ddl,
    weights_records_query,
    weights_source_ddl,
)
from registry.weights import Weights
from trend_tracker.logs import configure_logging, embedded_flink_log_config, start_logging
from trend_tracker.settings import (
    Settings,
    add_settings_options,
    load_settings,
    settings_overrides,
)

log = logging.getLogger("trend.job")

JOB_NAME = "trend-tracker"
#: The job parameter that names the job's consumer group.
CONSUMER_GROUP_PARAMETER = "consumer_group"
#: Longest checkpoint interval of a bounded run: it ends at its next checkpoint, so a
#: shorter one ends sooner, but the heap backend writes the whole state at each one. At
#: 100,000 products 1 s took a fifth of the job's profile samples (1 M events: 77.7 CPU-s at
#: 1 s, 54.9 to 61.8 CPU-s at 5 s, docs/BENCHMARKS.md).
BOUNDED_CHECKPOINT_INTERVAL_S = 5


@dataclass(frozen=True, slots=True)
class JobArgs:
    """The job's command line: how to run it, and the settings given as flags."""

    bounded: bool
    from_scratch: bool
    overrides: dict[str, Any]
    #: A bounded run writes to the production output, replacing its windows.
    replace: bool = False


def parse_args(argv: Sequence[str] | None) -> JobArgs:
    """``--bounded``, ``--from-scratch`` and ``--<settings-field> value`` overrides."""
    parser = argparse.ArgumentParser(prog="trending", description=__doc__.split("\n")[0])
    parser.add_argument("--bounded", action="store_true",
                        help="read each topic to its end offset at start, then exit")
    parser.add_argument("--from-scratch", action="store_true",
                        help="start without state even when a retained checkpoint or "
                             "savepoint exists (windows already written are then kept)")
    parser.add_argument("--replace", action="store_true",
                        help="with --bounded: write to the production output (Parquet root, "
                             "Redis namespace), replacing the windows the streaming job "
                             "wrote, instead of the backfill's own output")
    add_settings_options(parser)
    args = vars(parser.parse_args(argv))
    if args["replace"] and not args["bounded"]:
        parser.error("--replace applies to a --bounded run only")
    return JobArgs(bool(args["bounded"]), bool(args["from_scratch"]), settings_overrides(args),
                   bool(args["replace"]))


def job_name(settings: Settings, bounded: bool) -> str:
    """The streaming job's name, or a backfill's (named by ``backfill_name``)."""
    return f"{JOB_NAME}-backfill-{settings.backfill_name}" if bounded else JOB_NAME


def backfill_settings(settings: Settings, replace: bool = False) -> Settings:
    """The settings of a bounded run, a backfill, which never touches the streaming job.

    Its consumer group is its own (``<group>-backfill-<name>``), so it commits no offsets
    into the streaming job's group, and its checkpoints and dead-letter transactions are its
    own. Its output is its own too, unless ``replace``: Parquet under
    ``<parquet_root_uri>-backfills/<name>`` (beside the production root, never inside it)
    and Redis under the namespace ``<redis_namespace>-backfill-<name>``.
    """
    name = settings.backfill_name
    update: dict[str, Any] = {"consumer_group": f"{settings.consumer_group}-backfill-{name}"}
    if not replace:
        update["parquet_root_uri"] = f"{settings.parquet_root_uri.rstrip('/')}-backfills/{name}"
        update["redis_namespace"] = f"{settings.redis_namespace}-backfill-{name}"
    return settings.model_copy(update=update)


def flink_map(values: dict[str, str]) -> str:
    """A map option of Flink's configuration (``k1:v1,k2:v2``), each part quoted when it
    holds a separator or a quote."""
    def part(text: str) -> str:
        if any(c in text for c in ":,'\""):
            return "'" + text.replace("'", "''") + "'"
        return text
    return ",".join(f"{part(key)}:{part(value)}" for key, value in values.items())


def flink_config(settings: Settings, bounded: bool) -> dict[str, str]:
    """The Flink configuration of the job (see the module docstring for the choices)."""
    config = {
        "pipeline.name": job_name(settings, bounded),
        # Shown by the REST API (/jobs/<id>/config), where `trend job submit` looks for a
        # job already reading the group.
        "pipeline.global-job-parameters": flink_map({CONSUMER_GROUP_PARAMETER:
                                                     settings.consumer_group}),
        "parallelism.default": str(settings.parallelism),
        "pipeline.object-reuse": "true",
        "execution.checkpointing.interval": f"{settings.checkpoint_interval_s} s",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.dir": job_checkpoint_dir(settings, bounded),
        "execution.checkpointing.savepoint-dir": job_savepoint_dir(settings),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "state.backend.type": settings.state_backend,
        "python.execution-mode": settings.python_execution_mode,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "table.local-time-zone": "UTC",
        "table.exec.source.idle-timeout": f"{settings.source_idle_timeout_s} s",
        # No mini-batch: its processing-time assigner would swallow the event-time
        # watermarks (and CURRENT_WATERMARK would see processing time).
        "table.exec.mini-batch.enabled": "false",
    }
    if settings.restore_from:
        config["execution.state-recovery.path"] = settings.restore_from
    if bounded:
        # A finishing job waits for one last checkpoint (to commit its sinks): keep the
        # wait short, but not shorter than the state's snapshots can afford.
        interval = min(settings.checkpoint_interval_s, BOUNDED_CHECKPOINT_INTERVAL_S)
        config["execution.checkpointing.interval"] = f"{interval} s"
        # Checkpoints that often would block the union of the three sources on barrier
        # alignment; unaligned ones do not (one run each: 0.95 against 0.87 of the naive
        # consumer, docs/BENCHMARKS.md).
        config["execution.checkpointing.unaligned.enabled"] = "true"
        # Bounded runs keep Flink's default Python bundles (see the streaming case below):
        # the end of the input flushes every bundle, so no window waits.
        config.update({
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": "3",
            "restart-strategy.fixed-delay.delay": "2 s",
        })
    else:
        config.update({
            # A Python operator in process mode holds the watermark until its current
            # bundle finishes, and a bundle left open on a quiet stream would hold the
            # newest window back until the next one. Bundles of one row finish as each
            # window is written; the window sink sees one row per window, so this costs
            # nothing.
            "python.fn-execution.bundle.size": "1",
            "restart-strategy.type": "exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff": "1 s",
            "restart-strategy.exponential-delay.max-backoff": "1 min",
            "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
        })
    config.update(reporter_config(settings))
    return config


def python_path() -> str:
    """PYTHONPATH for thread-mode Python functions, which run inside the JVM and do not
    see the virtualenv otherwise: its site-packages plus this project."""
    entries = [*site.getsitepackages(), str(_PROJECT_ROOT)]
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*entries, *([existing] if existing else [])])


def end_offsets(settings: Settings) -> dict[str, dict[int, int]]:
    """Each topic's true end offsets now (the bound of a ``--bounded`` run)."""
    from jobs.offsets import end_offsets as topic_end_offsets

    return topic_end_offsets(settings, list(settings.event_topics.values()))


def initial_weights_record(weights: Weights) -> str:
    """The weights the job starts with, as a weights record that applies from the epoch."""
    from registry.publisher import weights_record

    return weights_record(weights, published_ms=0).decode()


def shipped_jars() -> list[str]:
    """The jars the environment already ships with a job: under ``flink run -py`` the
    client lists Flink's Python runtime there, and adding the Java module must keep it."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.java_gateway import get_gateway

    jars = get_gateway().jvm.org.apache.flink.configuration.PipelineOptions.JARS
    env = StreamExecutionEnvironment.get_execution_environment()
    return list(env._j_stream_execution_environment.getConfiguration().getOptional(jars)
                .orElse(None) or [])


def runs_embedded(env) -> bool:
    """Whether ``env`` runs its job in a MiniCluster of this process (``trend job run``),
    rather than on a cluster (``flink run``, the Kubernetes operator)."""
    java_env = env._j_stream_execution_environment
    return java_env.getClass().getName() == (
        "org.apache.flink.streaming.api.environment.LocalStreamEnvironment")


def worker_settings(settings: Settings, env) -> Settings:
    """The settings the job graph carries to the Python workers, whose secrets stay out of
    it (:mod:`udfs.settings_transport`): a cluster's workers read theirs from their own
    environment or ``secrets_file``. An embedded run's workers run on this machine: they
    get this process's secrets in a private file, written here, named by ``secrets_file``.
    (Not through the environment: the JVM that starts them keeps the environment it was
    started with, and a process may run several jobs with different secrets.)
    """
    from udfs.settings_transport import write_secrets_file

    if settings.secrets_file is not None or not runs_embedded(env):
        return settings
    return settings.model_copy(update={"secrets_file": write_secrets_file(settings)})


def build(settings: Settings, bounded: bool, weights: Weights | None = None,
          replace_windows: bool = True):
    """Create the table environment with every table, view and function, and the statement
    set of the job's INSERTs (not yet executed).

    ``weights`` are those the job starts with (default: :func:`load_weights_for_start`).
    Without ``replace_windows`` the window sink only adds windows that are not written yet
    (a start without state from offsets an earlier run committed: :mod:`jobs.resume`).
    """
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from registry.publisher import load_weights_for_start
    from trend_tracker.jars import job_jars
    from trend_tracker.kafka_config import install_jaas_config
    from udfs.settings_transport import settings_to_json
    from udfs.window_sink import make_window_writer_function

    if weights is None:
        weights = load_weights_for_start(settings)
    jars = job_jars(settings.udf_jar)
    bounds = end_offsets(settings) if bounded else None
    expose_reporter_to_embedded_cluster(settings)  # before Configuration() starts the JVM
    embedded_flink_log_config(settings.log_format)
    if settings.python_execution_mode == "thread":
        os.environ["PYTHONPATH"] = python_path()
    config = flink_config(settings, bounded)
    config["pipeline.jars"] = ";".join(
        dict.fromkeys([*shipped_jars(), *(jar.as_uri() for jar in jars)]))
    configuration = Configuration()
    for key, value in config.items():
        configuration.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(configuration)
    # The table environment reads its options (table.*, python.*) from the environment's
    # configuration: the one built above, set once.
    t_env = StreamTableEnvironment.create(env)
    if runs_embedded(env):
        # The MiniCluster's Kafka clients log in from a JAAS file of this JVM: the connector
        # options carry no password (a cluster's JVMs are started with theirs).
        install_jaas_config(settings)

    settings_json = settings_to_json(worker_settings(settings, env))
    t_env.create_java_temporary_function("count_read", "dev.trendtracker.scoring.CountRead")
    t_env.create_java_temporary_function("count_dead_letter",
                                         "dev.trendtracker.scoring.CountDeadLetter")
    t_env.create_java_temporary_function("dead_letter_payload",
                                         "dev.trendtracker.deadletter.DeadLetterPayload")
    t_env.create_java_temporary_function("dead_letter_envelope",
                                         "dev.trendtracker.deadletter.DeadLetterEnvelope")
    t_env.create_temporary_function(
        "write_window", make_window_writer_function(settings_json, replace_windows))

    # The wiring: sources and sinks; then the logic between them (jobs.topology).
    for event_type, topic in settings.event_topics.items():
        t_env.execute_sql(source_ddl(settings, event_type, topic,
                                     bounds[topic] if bounds is not None else None))
    for ddl in sink_ddls(settings).values():
        t_env.execute_sql(ddl)
    weights_records = None
    if not bounded:
        from registry.publisher import ensure_weights_topic, weights_key

        ensure_weights_topic(settings)  # a Kafka source needs its topic
        t_env.execute_sql(weights_source_ddl(settings))
        t_env.create_temporary_view(
            WEIGHTS_RECORDS, t_env.sql_query(weights_records_query(weights_key(settings))))
        weights_records = WEIGHTS_RECORDS
    outputs = create_views(t_env, settings, initial_weights_record(weights), weights_records)
    statement_set = t_env.create_statement_set()
    statement_set.add_insert(DEAD_LETTERS, outputs.dead_letters)
    statement_set.add_insert(WRITTEN_WINDOWS, t_env.sql_query(WINDOW_SINK_QUERY))
    return t_env, statement_set


def run(settings: Settings, bounded: bool = False, wait: bool = True,
        weights: Weights | None = None, replace_windows: bool = True):
    """Submit the job (to the MiniCluster, or the cluster of ``flink run``).

    A streaming job that this process waits for (embedded, or ``flink run`` attached) is
    followed by a weights publisher in this process: a new champion in the registry reaches
    the weights topic, and so the job, within the poll interval. A detached submission
    needs ``trend weights publish --follow`` beside it (the compose stack runs one).
    """
    t_env, statement_set = build(settings, bounded, weights, replace_windows)
    result = statement_set.execute()
    # Under `flink run -d` the client only submits: waiting for a streaming job to end
    # would keep it (and a one-shot submitter) running forever.
    detached = t_env.get_config().get("execution.attached", "true") == "false"
    if wait and not detached:
        if bounded or settings.weights_file is not None:
            result.wait()
        else:
            from registry.publisher import WeightsPublisher

            with WeightsPublisher(settings):
                result.wait()
    return result


def check_timestamp_types(settings: Settings) -> None:
    """Say at start when an event topic stamps records with the producers' clocks
    (``CreateTime``) instead of the broker's append time: the job judges ``future_ts`` and
    clamps the watermark against a record's timestamp, its arrival."""
    from jobs.offsets import EndOffsetsError, timestamp_types
    from trend_tracker.events import ARRIVAL_TIMESTAMP_TYPE, TIMESTAMP_TYPE_CONFIG

    try:
        types = timestamp_types(settings, list(settings.event_topics.values()))
    except EndOffsetsError as exc:
        log.warning("cannot read the event topics' timestamp type: %s", exc)
        return
    for topic, kind in sorted(types.items()):
        if kind != ARRIVAL_TIMESTAMP_TYPE:
            log.warning(
                "topic %s has %s=%s: a record's arrival is the time its producer stamped, so "
                "future_ts and the watermark's clamp follow producers' clocks, and a producer "
                "that stamps records with the event's ts is never future_ts. Set "
                "%s=%s on the topic (kafka-configs.sh --alter --entity-type topics "
                "--entity-name %s --add-config %s=%s) for the broker's append time",
                topic, TIMESTAMP_TYPE_CONFIG, kind, TIMESTAMP_TYPE_CONFIG,
                ARRIVAL_TIMESTAMP_TYPE, topic, TIMESTAMP_TYPE_CONFIG, ARRIVAL_TIMESTAMP_TYPE)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    job = parse_args(argv)
    settings = load_settings(**job.overrides)
    start_logging(settings, "trend.job")
    if job.bounded:
        settings = backfill_settings(settings, job.replace)
    log.info("starting %s (%s), topics %s", job_name(settings, job.bounded),
             "bounded" if job.bounded else "streaming", ", ".join(settings.event_topics.values()))
    # Fail here, with the registry's one-line error, rather than inside a Flink worker
    # that would restart forever without weights.
    from jobs.resume import configured_restore_path, start_point
    from registry.client import RegistryError
    from registry.publisher import (
        WeightsTopicError,
        ensure_published,
        load_weights_for_start,
    )
    from registry.weights import InvalidWeightsError

    try:
        weights = load_weights_for_start(settings)
    except (RegistryError, InvalidWeightsError) as exc:
        log.error("cannot start without weights: %s", exc)
        return 2
    log.info("weights at start: %s %s", weights.version, weights.as_dict(),
             extra={"weights_version": weights.version})
    if job.bounded:
        log.info("backfill %s: every window is scored with weights %s, today's, not those it "
                 "had when it was live; output %s and Redis namespace %s%s",
                 settings.backfill_name, weights.version, settings.parquet_root,
                 settings.redis_namespace,
                 " (the production output: its windows are replaced)" if job.replace else "")
    start = start_point(settings, job.bounded, job.from_scratch, configured_restore_path())
    if not start.replace_windows:
        log.warning("starting without state from the offsets an earlier run committed: the "
                    "windows it left in flight are recomputed from part of their events, so "
                    "windows already written are kept and never replaced")
    check_timestamp_types(settings)
    log.info("state: %s%s", start.reason,
             f" ({start.restore_from})" if start.restore_from else "")
    settings = settings.model_copy(update={"restore_from": start.restore_from})
    if not job.bounded:
        # The weights topic is the job's source of weights from now on (and after a restore).
        try:
            ensure_published(settings, weights)
        except WeightsTopicError as exc:
            # Where ACLs let only the weights publisher write the topic: the job scores with
            # these weights until the topic's first record, which the publisher writes.
            log.warning("the job starts with weights %s but cannot publish them (%s); the "
                        "weights publisher (trend weights publish --follow) keeps the topic",
                        weights.version, exc)
    run(settings, bounded=job.bounded, weights=weights, replace_windows=start.replace_windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
