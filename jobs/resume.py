"""Where a (re)started streaming job takes its state from.

A streaming job resumes from the newest retained checkpoint or savepoint of its consumer
group by default. Starting it without state from the offsets an earlier run committed
would recompute the windows in flight from the records after those offsets only, and
overwrite finished windows with partial counts. ``--from-scratch`` opts out, with a
warning; the window sink then only adds windows and never replaces one (see
:func:`sink_replaces_windows`).

Layout, under ``checkpoint_dir`` and ``savepoint_dir`` (``file://`` or ``s3://``):

- ``{checkpoint_dir}/{consumer_group}/{job_id}/chk-{n}/_metadata``: a streaming job's
  retained checkpoints (Flink adds the job id and ``chk-{n}``);
- ``{checkpoint_dir}/bounded/{consumer_group}/...``: a backfill's, never resumed from
  (its sources stop at the end offsets of its start);
- ``{savepoint_dir}/{consumer_group}/savepoint-.../_metadata``: savepoints taken with
  ``trend job stop``.

Consumer groups are ids (``[A-Za-z0-9._:-]``), so no group's directory is another's, and
``bounded`` holds directories, never a ``{job_id}``.

The newest is the one whose ``_metadata`` was written last: Flink writes it as the last
step of a checkpoint or savepoint, so a directory without it is incomplete and skipped.

A state named by the Flink configuration the job starts under
(``execution.state-recovery.path``) wins over the lookup: that is how the Kubernetes
operator hands a job the savepoint of an upgrade, or a user's ``initialSavepointPath``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trend_tracker.settings import Settings

log = logging.getLogger("trend.job")

METADATA = "_metadata"
#: The Flink option naming the state a job starts from.
RECOVERY_PATH_OPTION = "execution.state-recovery.path"
_CHECKPOINT_DIR = re.compile(r"chk-\d+")
_SAVEPOINT_DIR = re.compile(r"savepoint-[0-9a-f]{6}-[0-9a-f]{12}")


def job_checkpoint_dir(settings: Settings, bounded: bool) -> str:
    """The directory under which Flink keeps this job's checkpoints."""
    root = settings.resolved_checkpoint_dir.rstrip("/")
    return f"{root}/bounded/{settings.consumer_group}" if bounded else (
        f"{root}/{settings.consumer_group}")


def job_savepoint_dir(settings: Settings) -> str:
    """The directory where ``trend job stop`` puts this job's savepoints."""
    return f"{settings.resolved_savepoint_dir.rstrip('/')}/{settings.consumer_group}"


@dataclass(frozen=True, slots=True)
class RetainedState:
    """A complete checkpoint or savepoint: its directory and when it was completed."""

    path: str  # a URI (file://... or s3://...), what execution.state-recovery.path takes
    completed_ms: int


def _filesystem(uri: str, settings: Settings):
    from udfs.parquet_sink import open_root

    return open_root(uri, settings.s3_storage_options)


def _complete(filesystem, directory: str, uri_prefix: str, base: str) -> RetainedState | None:
    from pyarrow import fs as pafs

    info = filesystem.get_file_info(f"{directory}/{METADATA}")
    if info.type != pafs.FileType.File or info.mtime is None:
        return None
    return RetainedState(uri_prefix + directory[len(base):],
                         int(info.mtime.timestamp() * 1000))


def _children(filesystem, directory: str) -> list:
    from pyarrow import fs as pafs

    selector = pafs.FileSelector(directory, allow_not_found=True, recursive=False)
    return [info for info in filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory]


def retained_checkpoints(settings: Settings) -> list[RetainedState]:
    """The complete retained checkpoints of this consumer group's streaming jobs."""
    uri = job_checkpoint_dir(settings, bounded=False)
    filesystem, base = _filesystem(uri, settings)
    found = []
    for job in _children(filesystem, base):
        for checkpoint in _children(filesystem, job.path):
            if _CHECKPOINT_DIR.fullmatch(checkpoint.base_name):
                state = _complete(filesystem, checkpoint.path, uri, base)
                if state is not None:
                    found.append(state)
    return found


def retained_savepoints(settings: Settings) -> list[RetainedState]:
    """The complete savepoints of this consumer group."""
    uri = job_savepoint_dir(settings)
    filesystem, base = _filesystem(uri, settings)
    found = []
    for savepoint in _children(filesystem, base):
        if _SAVEPOINT_DIR.fullmatch(savepoint.base_name):
            state = _complete(filesystem, savepoint.path, uri, base)
            if state is not None:
                found.append(state)
    return found


def newest_retained_state(settings: Settings) -> RetainedState | None:
    """The newest complete checkpoint or savepoint of this group, or None."""
    states = [*retained_checkpoints(settings), *retained_savepoints(settings)]
    return max(states, key=lambda s: (s.completed_ms, s.path), default=None)


def committed_offsets(settings: Settings, timeout_s: float = 10.0) -> dict[str, dict[int, int]]:
    """Offsets the consumer group has committed on the event topics (topic -> partition ->
    offset); partitions without a commit are left out."""
    from confluent_kafka import Consumer, TopicPartition

    from trend_tracker.kafka_config import client_config

    topics = list(settings.event_topics.values())
    consumer = Consumer({**client_config(settings),
                         "group.id": settings.consumer_group,
                         "enable.auto.commit": False})
    try:
        partitions = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if meta is not None and meta.error is None:
                partitions += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = _committed(consumer, partitions, timeout_s) if partitions else []
    finally:
        consumer.close()
    result: dict[str, dict[int, int]] = {}
    for tp in committed:
        if tp.error is None and tp.offset >= 0:
            result.setdefault(tp.topic, {})[tp.partition] = tp.offset
    return result


def _committed(consumer, partitions: list, timeout_s: float) -> list:
    """``consumer.committed``, asked again while the group's coordinator is not ready yet
    (the broker creates its offsets topic on a group's first use, and loads it after a
    restart): a retriable state of a healthy broker, not an answer."""
    from confluent_kafka import KafkaError, KafkaException

    retriable = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                 KafkaError.COORDINATOR_LOAD_IN_PROGRESS}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.committed(partitions, timeout=max(deadline - time.monotonic(), 1))
        except KafkaException as exc:
            if exc.args[0].code() not in retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def configured_restore_path(environ: Mapping[str, str] | None = None) -> str | None:
    """``execution.state-recovery.path`` of the Flink configuration this process runs under
    (``$FLINK_CONF_DIR/config.yaml``, flat or nested keys), or None."""
    import yaml

    conf_dir = (os.environ if environ is None else environ).get("FLINK_CONF_DIR")
    if not conf_dir or not (Path(conf_dir) / "config.yaml").is_file():
        return None
    config = yaml.safe_load((Path(conf_dir) / "config.yaml").read_text()) or {}
    value = config.get(RECOVERY_PATH_OPTION)
    if value is None:
        nested = config
        for part in RECOVERY_PATH_OPTION.split("."):
            nested = nested.get(part) if isinstance(nested, dict) else None
        value = nested
    return str(value) if value else None


@dataclass(frozen=True, slots=True)
class StartPoint:
    """How a job starts: from which state, and whether its sink may replace windows."""

    restore_from: str | None
    replace_windows: bool
    reason: str


def start_point(settings: Settings, bounded: bool, from_scratch: bool,
                configured: str | None = None) -> StartPoint:
    """Decide where the job starts (see the module docstring).

    - ``restore_from`` given: that state; windows are replaced (same state lineage).
    - ``configured`` (the Flink configuration's recovery path) given, streaming: that
      state, the same way.
    - bounded: no state (a backfill reads from the earliest offsets, so its windows are
      complete); windows are replaced.
    - streaming, a retained state exists and not ``from_scratch``: the newest one.
    - streaming without state: if the group has committed offsets, an earlier run got that
      far, and the windows it left in flight would now be recomputed from part of their
      records: the sink only adds windows. Without committed offsets the job reads from
      the start of each partition and replaces windows as usual.
    """
    if settings.restore_from:
        return StartPoint(settings.restore_from, True, "restoring the state given")
    if bounded:
        return StartPoint(None, True, "a backfill starts without state")
    if configured:
        return StartPoint(configured, True,
                          f"resuming from the state the Flink configuration names "
                          f"({RECOVERY_PATH_OPTION})")
    if not from_scratch:
        newest = newest_retained_state(settings)
        if newest is not None:
            return StartPoint(newest.path, True,
                              "resuming from the newest retained checkpoint or savepoint")
    offsets = committed_offsets(settings)
    if offsets:
        return StartPoint(None, False,
                          "starting without state from the offsets committed by an earlier "
                          "run: windows already written are kept, never replaced")
    return StartPoint(None, True, "first start of this consumer group")
