"""Submit the trending job to a running Flink cluster with the wheel's ``bin/flink run -py``.

The Python program runs on the client (it builds the plan); its Python functions run in
workers on the TaskManagers. Both use the project's interpreter (``-pyclientexec`` and
``-pyexec``), and the project's packages are shipped with ``-pyfs`` so a cluster on other
machines can import them. Settings reach the program as ``TREND_*`` environment variables
of the client, the same way the embedded ``trend job run`` reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from trend_tracker.java import ensure_java_env
from trend_tracker.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
JOB_SCRIPT = PROJECT_ROOT / "jobs" / "trending.py"
#: The packages the job imports, on the client and in the Python workers.
JOB_PACKAGES = ("jobs", "udfs", "trend_tracker", "registry")


def flink_home() -> Path:
    """The Flink distribution inside the ``apache-flink`` wheel, with runnable scripts.

    The wheel does not keep the scripts' executable bit, so it is restored here.
    """
    import pyflink  # imported here: pyflink is heavy and only some commands need it

    home = Path(pyflink.__file__).resolve().parent
    for script in (home / "bin").iterdir():
        if script.suffix in ("", ".sh") and not os.access(script, os.X_OK):
            script.chmod(script.stat().st_mode | 0o111)
    return home


def flink_run_command(
    *,
    flink_bin: Path,
    jobmanager: str,
    job_script: Path,
    python_executable: str,
    py_files: Sequence[Path],
    bounded: bool,
    parallelism: int | None = None,
    program_args: Sequence[str] = (),
) -> list[str]:
    """The ``flink run`` command line for the Python job (pure: builds, never runs).

    A bounded run is attached, so the command ends when the job has finished and its exit
    status is the job's; an unbounded one is detached (``-d``) and returns once submitted.
    """
    command = [str(flink_bin / "flink"), "run", "-m", jobmanager]
    if not bounded:
        command.append("-d")
    if parallelism is not None:
        command += ["-p", str(parallelism)]
    command += [
        "-pyclientexec", python_executable,
        "-pyexec", python_executable,
        "-pyfs", ",".join(str(path) for path in py_files),
        "-py", str(job_script),
    ]
    if bounded:
        command.append("--bounded")
    command += list(program_args)
    return command


def submit_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The client's environment: ``base`` plus the settings as ``TREND_*`` and Java found."""
    env = dict(os.environ if base is None else base)
    env.update(settings.as_env())
    # TaskManagers have their own working directory: hand them absolute local paths.
    env["TREND_STATE_DIR"] = str(settings.state_dir.resolve())
    env["TREND_PARQUET_ROOT_URI"] = settings.parquet_root
    env["TREND_CHECKPOINT_DIR"] = settings.resolved_checkpoint_dir
    env.pop("FLINK_CONF_DIR", None)  # the target is named by -m, not by a local conf dir
    return dict(ensure_java_env(env))


def submit_job(
    settings: Settings,
    jobmanager: str,
    *,
    bounded: bool = False,
    python_executable: str | None = None,
    job_script: Path = JOB_SCRIPT,
    program_args: Sequence[str] = (),
    timeout_s: float | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``flink run`` against ``jobmanager`` (``host:port`` of its REST endpoint).

    Returns the finished client process (its output captured unless ``capture`` is false).
    A bounded job is waited for; an unbounded one returns once the JobManager accepted it.
    """
    home = flink_home()
    command = flink_run_command(
        flink_bin=home / "bin",
        jobmanager=jobmanager,
        job_script=job_script,
        python_executable=python_executable or sys.executable,
        py_files=[PROJECT_ROOT / name for name in JOB_PACKAGES if (PROJECT_ROOT / name).is_dir()],
        bounded=bounded,
        parallelism=settings.parallelism,
        program_args=program_args,
    )
    env = submit_env(settings)
    env["FLINK_HOME"] = str(home)
    return subprocess.run(
        command,
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=capture,
        text=True,
        timeout=timeout_s,
        check=False,
    )


class StopError(RuntimeError):
    """The job could not be stopped with a savepoint."""


def _rest(url: str, body: Mapping[str, object] | None = None, timeout_s: float = 10) -> dict:
    import json
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.load(response)


#: Job states of a job that runs, or is about to.
RUNNING_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"})
#: ... and of one that still may read its topics again.
ACTIVE_STATES = RUNNING_STATES | {"FAILING", "CANCELLING", "SUSPENDED"}


def active_jobs(jobmanager: str) -> list[dict]:
    """The jobs of the cluster that run, or may run again (``jid``, ``name``, ``state``)."""
    jobs = _rest(f"http://{jobmanager}/jobs/overview")["jobs"]
    return [job for job in jobs if job["state"] in ACTIVE_STATES]


def running_job_ids(jobmanager: str, job_name: str) -> list[str]:
    """Ids of the jobs named ``job_name`` that are running (or restarting) there."""
    return [job["jid"] for job in active_jobs(jobmanager)
            if job["name"] == job_name and job["state"] in RUNNING_STATES]


def job_parameter(jobmanager: str, job_id: str, name: str) -> str | None:
    """A job parameter (``pipeline.global-job-parameters``) of a job, None if unset or if
    the JobManager has no configuration for it yet (a job still initializing)."""
    import urllib.error

    try:
        config = _rest(f"http://{jobmanager}/jobs/{job_id}/config")
    except urllib.error.HTTPError:
        return None
    return (config.get("execution-config") or {}).get("user-config", {}).get(name)


def conflicting_jobs(jobmanager: str, job_name: str, consumer_group: str,
                     parameter: str) -> list[str]:
    """What a new job would run beside: each active job of the same name or reading the
    same consumer group (its ``parameter``), described for the user."""
    conflicts = []
    for job in active_jobs(jobmanager):
        group = job_parameter(jobmanager, job["jid"], parameter)
        if job["name"] == job_name or group == consumer_group:
            conflicts.append(f"job {job['jid']} ({job['name']}, {job['state'].lower()}, "
                             f"consumer group {group or 'unknown'})")
    return conflicts


#: Final states of a job someone stopped (``trend job stop`` finishes it with a savepoint).
STOPPED_STATES = frozenset({"FINISHED", "CANCELED"})


def jobs_of_group(jobmanager: str, consumer_group: str, parameter: str) -> list[dict]:
    """Every job the JobManager knows (any state) reading ``consumer_group`` (its job
    ``parameter``), newest first (``jid``, ``name``, ``state``, ``start-time``). Jobs of
    the same name reading other groups are other deployments' and do not count."""
    jobs = _rest(f"http://{jobmanager}/jobs/overview")["jobs"]
    ours = [job for job in jobs
            if job_parameter(jobmanager, job["jid"], parameter) == consumer_group]
    return sorted(ours, key=lambda job: job.get("start-time", 0), reverse=True)


#: Seconds per unit of a Flink duration ("50000" is milliseconds).
_DURATION_UNITS = {"": 0.001, "ms": 0.001, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0,
                   "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0,
                   "minutes": 60.0, "h": 3600.0, "hour": 3600.0, "hours": 3600.0}
#: Flink's default ``heartbeat.timeout``.
DEFAULT_HEARTBEAT_TIMEOUT_S = 50.0


def duration_s(text: str) -> float:
    """A Flink duration (``50000``, ``50 s``, ``2 min``) in seconds."""
    import re

    match = re.fullmatch(r"(\d+)\s*([a-z]*)", text.strip().lower())
    if match is None or match.group(2) not in _DURATION_UNITS:
        raise ValueError(f"not a Flink duration: {text!r}")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def heartbeat_timeout_s(jobmanager: str) -> float:
    """How long a TaskManager runs the tasks of a job whose JobManager is gone before it
    gives up on them: the cluster's ``heartbeat.timeout``."""
    entries = _rest(f"http://{jobmanager}/jobmanager/config")
    value = next((entry["value"] for entry in entries if entry["key"] == "heartbeat.timeout"),
                 None)
    return duration_s(value) if value else DEFAULT_HEARTBEAT_TIMEOUT_S


def resubmit_reason(jobs: Sequence[Mapping[str, object]]) -> str | None:
    """Why a watcher should submit the job now, given the JobManager's jobs of it (newest
    first), or None: while one is active, and after one was stopped on purpose, never.

    A JobManager without high availability forgets its jobs when it restarts: an empty
    list after the job ran means a crash, and the job resumes from its retained state.
    """
    if any(job["state"] in ACTIVE_STATES for job in jobs):
        return None
    if not jobs:
        return "the JobManager knows no such job (first start, or a JobManager restart)"
    newest = jobs[0]
    if newest["state"] in STOPPED_STATES:
        return None
    return f"job {newest['jid']} ended {str(newest['state']).lower()}"


def stop_with_savepoint(jobmanager: str, job_id: str, target_dir: str,
                        timeout_s: float = 300) -> str:
    """Stop job ``job_id`` with a savepoint under ``target_dir``; returns its location.

    Flink takes the savepoint, then finishes the job without draining (no window is fired
    early), so a job resumed from the savepoint continues exactly where this one stopped.
    """
    import time

    trigger = _rest(f"http://{jobmanager}/jobs/{job_id}/stop",
                    {"targetDirectory": target_dir, "drain": False})["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _rest(f"http://{jobmanager}/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status.get("operation") or {}
            if "location" in operation:
                return str(operation["location"])
            raise StopError(f"savepoint of job {job_id} failed: "
                            f"{operation.get('failure-cause', {}).get('stack-trace', '')[:2000]}")
        time.sleep(0.5)
    raise StopError(f"no savepoint of job {job_id} within {timeout_s:.0f} s")
