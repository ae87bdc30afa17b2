"""`trend job run`, `trend job submit`, `trend job watch` and `trend job stop`."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    ctx: typer.Context,
    bounded: bool = typer.Option(False, "--bounded",
                                 help="read each topic to its end offset at start, then exit"),
) -> None:
    """Run the job embedded (Flink MiniCluster); settings as --field-name value."""
    from jobs.trending import main

    raise typer.Exit(main([*(["--bounded"] if bounded else []), *ctx.args]))


@app.command(
    "submit",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def submit(
    ctx: typer.Context,
    jobmanager: str = typer.Option(..., "--jobmanager", "-m",
                                   help="host:port of the cluster's REST endpoint"),
    bounded: bool = typer.Option(False, "--bounded",
                                 help="read each topic to its end offset, wait for the job"),
    pyexec: str = typer.Option(None, "--pyexec",
                               help="Python of the TaskManagers' workers (default: this one)"),
    if_not_running: bool = typer.Option(
        False, "--if-not-running",
        help="when such a job is active, succeed without submitting (a submitter that may "
             "run again)"),
) -> None:
    """Submit the job to a running Flink cluster (flink run -py); settings as --field value.

    Refused while a job of the same name, or reading the same consumer group, is active
    there: two jobs would write the same windows and commit the same offsets.
    """
    from jobs.submit import conflicting_jobs, submit_job
    from jobs.trending import CONSUMER_GROUP_PARAMETER, backfill_settings, job_name, parse_args
    from trend_tracker.settings import load_settings

    job = parse_args([*(["--bounded"] if bounded else []), *ctx.args])
    settings = load_settings(**job.overrides)
    # What the job will be (a backfill's name and group are its own; the job derives them
    # itself from these settings).
    runs_as = backfill_settings(settings, job.replace) if bounded else settings
    conflicts = conflicting_jobs(jobmanager, job_name(runs_as, bounded),
                                 runs_as.consumer_group, CONSUMER_GROUP_PARAMETER)
    if conflicts and if_not_running:
        typer.echo(f"not submitted: {'; '.join(conflicts)} is active on {jobmanager}")
        raise typer.Exit(0)
    if conflicts:
        typer.echo(f"not submitted: {'; '.join(conflicts)} is active on {jobmanager}. "
                   f"Stop it first with `trend job stop --jobmanager {jobmanager}` (it takes "
                   f"a savepoint this submit then resumes from).", err=True)
        raise typer.Exit(1)
    program_args = [*(["--from-scratch"] if job.from_scratch else []),
                    *(["--replace"] if job.replace else [])]
    result = submit_job(settings, jobmanager, bounded=bounded, python_executable=pyexec,
                        program_args=program_args, capture=False)
    raise typer.Exit(result.returncode)


@app.command(
    "watch",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def watch(
    ctx: typer.Context,
    jobmanager: str = typer.Option(..., "--jobmanager", "-m",
                                   help="host:port of the cluster's REST endpoint"),
    interval_s: float = typer.Option(30.0, "--interval-s", min=1.0,
                                     help="seconds between two looks at the cluster"),
) -> None:
    """Keep the streaming job running on a cluster without high availability.

    Submits the job (resuming from its newest retained checkpoint or savepoint) whenever
    the JobManager has no job of its consumer group, as after the JobManager
    restarts, or when the newest one failed. A job stopped with `trend job stop` stays
    stopped while the JobManager lists it (until it restarts, or forgets finished jobs:
    `jobstore.expiration-time`). After a JobManager crash the TaskManagers run the crashed
    job's tasks on until they give up on it (`heartbeat.timeout`): the watcher waits for
    that, since two copies of the job would write the same windows.
    """
    import logging
    import time

    from jobs.submit import (
        ACTIVE_STATES,
        heartbeat_timeout_s,
        jobs_of_group,
        resubmit_reason,
        submit_job,
    )
    from jobs.trending import CONSUMER_GROUP_PARAMETER, JOB_NAME, parse_args
    from trend_tracker.logs import start_logging
    from trend_tracker.settings import load_settings

    log = logging.getLogger("trend.job.watch")
    job = parse_args(list(ctx.args))
    settings = load_settings(**job.overrides)
    start_logging(settings, "trend.job.watch")
    log.info("watching %s for job %s of consumer group %s every %.0f s", jobmanager,
             JOB_NAME, settings.consumer_group, interval_s)
    seen_running = False  # a job of the group was active at some look since the last submit
    lost_at = None  # when this watcher found that job gone with its JobManager
    while True:
        try:
            jobs = jobs_of_group(jobmanager, settings.consumer_group, CONSUMER_GROUP_PARAMETER)
            reason = resubmit_reason(jobs)
            if any(j["state"] in ACTIVE_STATES for j in jobs):
                seen_running, lost_at = True, None
            elif not jobs and seen_running and lost_at is None:
                lost_at = time.monotonic()  # the JobManager restarted between two looks
            wait_s = 0.0
            if reason is not None and lost_at is not None:
                wait_s = lost_at + heartbeat_timeout_s(jobmanager) - time.monotonic()
        except OSError as exc:  # the JobManager is down or restarting: look again later
            log.warning("JobManager %s not reachable: %s", jobmanager, exc)
            if seen_running and lost_at is None:
                lost_at = time.monotonic()
            reason, wait_s = None, 0.0
        if reason is not None and wait_s > 0:
            log.info("not submitting yet: the TaskManagers run the crashed job's tasks until "
                     "their heartbeat timeout, %.0f s from now; two copies of the job would "
                     "write the same windows", wait_s)
            time.sleep(min(wait_s, interval_s))
            continue
        if reason is not None:
            log.info("submitting the job: %s", reason)
            json_logs = settings.log_format == "json"
            result = submit_job(settings, jobmanager, capture=json_logs)
            if json_logs:
                relay_client_output(result.stdout + result.stderr)
            if result.returncode != 0:
                log.error("submit failed (exit %d); trying again in %.0f s",
                          result.returncode, interval_s)
            seen_running, lost_at = False, None
        time.sleep(interval_s)


def relay_client_output(output: str) -> None:
    """What ``flink run`` printed, in json mode: the job's own lines (JSON already) as they
    are, the client's text lines as log lines of ``flink.client``."""
    import json
    import logging
    import sys

    client = logging.getLogger("flink.client")
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            is_json = isinstance(json.loads(line), dict)
        except ValueError:
            is_json = False
        if is_json:
            print(line, file=sys.stderr, flush=True)
        else:
            client.info("%s", line)


@app.command(
    "stop",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def stop(
    ctx: typer.Context,
    jobmanager: str = typer.Option(..., "--jobmanager", "-m",
                                   help="host:port of the cluster's REST endpoint"),
) -> None:
    """Stop the running job with a savepoint; the next submit resumes from it."""
    from jobs.resume import job_savepoint_dir
    from jobs.submit import StopError, job_parameter, running_job_ids, stop_with_savepoint
    from jobs.trending import CONSUMER_GROUP_PARAMETER, JOB_NAME, parse_args
    from trend_tracker.settings import load_settings

    settings = load_settings(**parse_args(list(ctx.args)).overrides)
    jobs = [job_id for job_id in running_job_ids(jobmanager, JOB_NAME)
            if job_parameter(jobmanager, job_id, CONSUMER_GROUP_PARAMETER)
            in (settings.consumer_group, None)]
    if not jobs:
        typer.echo(f"no running job named {JOB_NAME} reading consumer group "
                   f"{settings.consumer_group} on {jobmanager}", err=True)
        raise typer.Exit(1)
    for job_id in jobs:
        try:
            location = stop_with_savepoint(jobmanager, job_id, job_savepoint_dir(settings))
        except StopError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"stopped job {job_id} with savepoint {location}")
