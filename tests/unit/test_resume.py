"""Where a restarted job takes its state from: the newest complete checkpoint or savepoint
of its consumer group, found on the filesystem (no servers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.resume import (
    configured_restore_path,
    job_checkpoint_dir,
    job_savepoint_dir,
    newest_retained_state,
    retained_checkpoints,
    retained_savepoints,
    start_point,
)
from jobs.trending import flink_config, parse_args
from trend_tracker.settings import Settings


def make(tmp_path: Path, **values) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path / "state",  # type: ignore[call-arg]
                    checkpoint_dir=(tmp_path / "cp").as_uri(),
                    savepoint_dir=(tmp_path / "sp").as_uri(),
                    consumer_group="group-a", **values)


def state(directory: Path, completed_s: int | None) -> Path:
    """A checkpoint or savepoint directory; complete (with _metadata) when given a time."""
    directory.mkdir(parents=True)
    (directory / "some-state-file").write_bytes(b"x")
    if completed_s is not None:
        metadata = directory / "_metadata"
        metadata.write_bytes(b"m")
        os.utime(metadata, (completed_s, completed_s))
    return directory


def test_checkpoints_and_savepoints_live_under_the_consumer_group(tmp_path):
    settings = make(tmp_path)
    assert job_checkpoint_dir(settings, bounded=False) == f"{(tmp_path / 'cp').as_uri()}/group-a"
    assert job_checkpoint_dir(settings, bounded=True) == (
        f"{(tmp_path / 'cp').as_uri()}/bounded/group-a")
    assert job_savepoint_dir(settings) == f"{(tmp_path / 'sp').as_uri()}/group-a"
    streaming, bounded = flink_config(settings, False), flink_config(settings, True)
    assert streaming["execution.checkpointing.dir"] == f"{(tmp_path / 'cp').as_uri()}/group-a"
    assert bounded["execution.checkpointing.dir"] == (
        f"{(tmp_path / 'cp').as_uri()}/bounded/group-a")
    assert streaming["execution.checkpointing.savepoint-dir"] == (
        f"{(tmp_path / 'sp').as_uri()}/group-a")


def test_the_newest_complete_state_of_the_group_is_found(tmp_path):
    cp, sp = tmp_path / "cp", tmp_path / "sp"
    state(cp / "group-a" / "0f" / "chk-3", 1_000)
    state(cp / "group-a" / "0f" / "chk-4", 2_000)
    state(cp / "group-a" / "0f" / "chk-5", None)  # in progress: no _metadata
    state(cp / "group-a" / "aa" / "chk-1", 1_500)
    state(cp / "group-a" / "aa" / "shared", 9_000)  # not a checkpoint directory
    state(cp / "group-b" / "bb" / "chk-9", 9_000)  # another group
    state(cp / "bounded" / "group-a" / "cc" / "chk-2", 9_000)  # a backfill
    state(sp / "group-a" / "savepoint-0f0f0f-0123456789ab", 1_800)
    state(sp / "group-b" / "savepoint-0f0f0f-0123456789ac", 9_000)
    settings = make(tmp_path)

    assert sorted((s.path, s.completed_ms) for s in retained_checkpoints(settings)) == [
        ((cp / "group-a" / "0f" / "chk-3").as_uri(), 1_000_000),
        ((cp / "group-a" / "0f" / "chk-4").as_uri(), 2_000_000),
        ((cp / "group-a" / "aa" / "chk-1").as_uri(), 1_500_000),
    ]
    assert [(s.path, s.completed_ms) for s in retained_savepoints(settings)] == [
        ((sp / "group-a" / "savepoint-0f0f0f-0123456789ab").as_uri(), 1_800_000)]
    newest = newest_retained_state(settings)
    assert newest is not None and newest.path == (cp / "group-a" / "0f" / "chk-4").as_uri()

    # A savepoint taken after the last checkpoint wins.
    state(sp / "group-a" / "savepoint-0f0f0f-0123456789ff", 3_000)
    newest = newest_retained_state(settings)
    assert newest is not None
    assert newest.path == (sp / "group-a" / "savepoint-0f0f0f-0123456789ff").as_uri()


def test_no_state_directories_means_no_state(tmp_path):
    assert newest_retained_state(make(tmp_path)) is None


def test_a_streaming_start_resumes_from_the_newest_state_by_default(tmp_path):
    state(tmp_path / "cp" / "group-a" / "0f" / "chk-7", 5_000)
    start = start_point(make(tmp_path), bounded=False, from_scratch=False)
    assert start.restore_from == (tmp_path / "cp" / "group-a" / "0f" / "chk-7").as_uri()
    assert start.replace_windows is True


def test_explicit_state_and_backfills_never_look_for_retained_state(tmp_path):
    state(tmp_path / "cp" / "group-a" / "0f" / "chk-7", 5_000)
    given = make(tmp_path, restore_from="file:///somewhere/savepoint-1")
    assert start_point(given, bounded=False, from_scratch=False).restore_from == (
        "file:///somewhere/savepoint-1")
    backfill = start_point(make(tmp_path), bounded=True, from_scratch=False)
    assert (backfill.restore_from, backfill.replace_windows) == (None, True)


@pytest.mark.parametrize("config", [
    "execution.state-recovery.path: s3://trends/savepoints/group-a/savepoint-0a0a0a-000000000001\n",
    "execution:\n  state-recovery:\n    path: "
    "s3://trends/savepoints/group-a/savepoint-0a0a0a-000000000001\n",
])
def test_the_state_the_flink_configuration_names_wins_over_the_lookup(tmp_path, config):
    """The Kubernetes operator starts an upgraded job with the upgrade's savepoint in the
    Flink configuration; a newer retained checkpoint must not override its choice."""
    state(tmp_path / "cp" / "group-a" / "0f" / "chk-7", 5_000)
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "config.yaml").write_text(config)
    configured = configured_restore_path({"FLINK_CONF_DIR": str(conf_dir)})
    assert configured == "s3://trends/savepoints/group-a/savepoint-0a0a0a-000000000001"
    start = start_point(make(tmp_path), bounded=False, from_scratch=False,
                        configured=configured)
    assert (start.restore_from, start.replace_windows) == (configured, True)
    # A backfill never takes a streaming job's state.
    backfill = start_point(make(tmp_path), bounded=True, from_scratch=False,
                           configured=configured)
    assert backfill.restore_from is None


def test_no_flink_configuration_names_no_state(tmp_path):
    (tmp_path / "config.yaml").write_text("parallelism.default: 2\n")
    assert configured_restore_path({"FLINK_CONF_DIR": str(tmp_path)}) is None
    assert configured_restore_path({}) is None


@pytest.mark.parametrize("argv, expected", [
    ([], (False, False, {})),
    (["--from-scratch"], (False, True, {})),
    (["--bounded", "--top-n", "5"], (True, False, {"top_n": "5"})),
])
def test_job_arguments(argv, expected):
    job = parse_args(argv)
    assert (job.bounded, job.from_scratch, job.overrides) == expected


def test_the_job_names_its_consumer_group_among_its_parameters(tmp_path):
    from jobs.trending import flink_map

    settings = make(tmp_path)
    assert flink_config(settings, False)["pipeline.global-job-parameters"] == (
        "consumer_group:group-a")
    # Flink's map syntax: a part holding a separator or a quote is quoted, quotes doubled.
    assert flink_map({"consumer_group": "team:a,b's"}) == "consumer_group:'team:a,b''s'"
