"""`trend job run` and `trend job submit`."""

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
) -> None:
    """Submit the job to a running Flink cluster (flink run -py); settings as --field value."""
    from jobs.submit import submit_job
    from jobs.trending import parse_args
    from trend_tracker.settings import load_settings

    _, overrides = parse_args(list(ctx.args))
    settings = load_settings(**overrides)
    result = submit_job(settings, jobmanager, bounded=bounded, python_executable=pyexec,
                        capture=False)
    raise typer.Exit(result.returncode)
