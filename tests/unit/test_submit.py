"""The `flink run` command line and the standalone cluster's configuration (no Flink run)."""

from pathlib import Path

import pytest

from jobs.submit import flink_run_command, resubmit_reason, submit_env
from localstack.flink_cluster import cluster_config
from trend_tracker.settings import Settings

BIN = Path("/opt/flink/bin")


def command(**overrides):
    values = {
        "flink_bin": BIN,
        "jobmanager": "jm:8081",
        "job_script": Path("/src/jobs/trending.py"),
        "python_executable": "/venv/bin/python",
        "py_files": [Path("/src/jobs"), Path("/src/udfs")],
        "bounded": False,
    }
    values.update(overrides)
    return flink_run_command(**values)


def test_streaming_submission_is_detached():
    assert command(parallelism=2) == [
        "/opt/flink/bin/flink", "run", "-m", "jm:8081", "-d", "-p", "2",
        "-pyclientexec", "/venv/bin/python", "-pyexec", "/venv/bin/python",
        "-pyfs", "/src/jobs,/src/udfs", "-py", "/src/jobs/trending.py",
    ]


def test_bounded_submission_waits_and_tells_the_program():
    assert command(bounded=True, program_args=["--top-n", "10"]) == [
        "/opt/flink/bin/flink", "run", "-m", "jm:8081",
        "-pyclientexec", "/venv/bin/python", "-pyexec", "/venv/bin/python",
        "-pyfs", "/src/jobs,/src/udfs", "-py", "/src/jobs/trending.py",
        "--bounded", "--top-n", "10",
    ]


def test_submit_env_hands_workers_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, parquet_root_uri="file://out/parquet",
                        state_dir=Path("state"), top_n=7)
    env = submit_env(settings, base={"PATH": "/usr/bin", "FLINK_CONF_DIR": "/elsewhere"})
    assert env["TREND_PARQUET_ROOT_URI"] == f"file://{tmp_path}/out/parquet"
    assert env["TREND_STATE_DIR"] == str(tmp_path / "state")
    assert env["TREND_CHECKPOINT_DIR"] == f"file://{tmp_path}/state/checkpoints"
    assert env["TREND_TOP_N"] == "7"
    assert "FLINK_CONF_DIR" not in env


def test_cluster_config_replaces_the_wheel_defaults():
    base = {
        "env": {"java": {"opts": {"all": "--add-opens=x"}}},
        "jobmanager": {"rpc": {"port": 6123}},
        "taskmanager": {"numberOfTaskSlots": 1},
        "rest": {"address": "localhost"},
        "parallelism": {"default": 1},
    }
    config = cluster_config(base, rest_port=18081, rpc_port=16123, slots=2,
                            python_executable="/venv/bin/python",
                            log_dir=Path("/c/log"), pid_dir=Path("/c/pid"))
    assert config["env"] == base["env"]
    assert not {"jobmanager", "taskmanager", "rest", "parallelism"} & set(config)
    assert config["rest.port"] == 18081
    assert config["jobmanager.rpc.port"] == 16123
    assert config["taskmanager.numberOfTaskSlots"] == 2
    assert config["python.executable"] == "/venv/bin/python"
    assert config["env.pid.dir"] == "/c/pid"


def _job(jid: str, state: str) -> dict:
    return {"jid": jid, "name": "trend-tracker", "state": state}


@pytest.mark.parametrize("jobs, expected", [
    # nothing known: a first start, or a JobManager without HA that restarted
    ([], "the JobManager knows no such job (first start, or a JobManager restart)"),
    # the newest ended with a failure (restarts exhausted): run it again from its state
    ([_job("b", "FAILED"), _job("a", "FINISHED")], "job b ended failed"),
    # one is active: never a second one
    ([_job("b", "RESTARTING"), _job("a", "FAILED")], None),
    ([_job("b", "INITIALIZING")], None),
    # stopped on purpose (`trend job stop` finishes it; a cancel): leave it stopped
    ([_job("b", "FINISHED"), _job("a", "FAILED")], None),
    ([_job("b", "CANCELED")], None),
])
def test_the_watcher_submits_only_when_no_job_runs_and_none_was_stopped(jobs, expected):
    assert resubmit_reason(jobs) == expected


@pytest.mark.parametrize("text, seconds", [
    ("50000", 50.0), ("120 s", 120.0), ("2 min", 120.0), ("500 ms", 0.5), ("1h", 3600.0)])
def test_flink_durations_in_seconds(text, seconds):
    from jobs.submit import duration_s

    assert duration_s(text) == seconds


def test_a_duration_flink_would_not_take_is_refused():
    from jobs.submit import duration_s

    with pytest.raises(ValueError, match="not a Flink duration"):
        duration_s("soon")
