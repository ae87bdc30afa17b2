"""The `trend` command. Each area registers its own sub-commands here."""

from __future__ import annotations

import typer

from localstack import cli as localstack_cli

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Trend Tracker: real-time product trends on Apache Flink.")

app.command("up")(localstack_cli.up)
app.command("down")(localstack_cli.down)
app.command("status")(localstack_cli.status)


def _register_optional() -> None:
    """Sub-command groups of the other areas (each module exposes a Typer ``app``)."""
    from api.cli import register as register_api
    from api.cli import serve_ingest
    from jobs.cli import app as job_app
    from jobs.redis_rebuild import app as redis_app
    from registry.cli import app as weights_app
    from simulator.cli import register as register_simulator
    from trend_tracker.demo import demo

    register_simulator(app)
    app.add_typer(job_app, name="job", help="Run or submit the trending job.")
    app.add_typer(redis_app, name="redis", help="The API's Redis view: rebuild it from Parquet.")
    app.add_typer(weights_app, name="weights",
                  help="Weight models in the MLflow registry and their publication to the job.")
    register_api(app)
    app.command("ingest")(serve_ingest)
    app.command("demo")(demo)


_register_optional()


def main() -> None:
    from pydantic import ValidationError

    from trend_tracker.logs import configure_logging
    from trend_tracker.settings import RenamedSettingError

    # Before the settings are read (they may warn), in the format the environment names;
    # a process with settings configures it again from them.
    configure_logging()
    try:
        app()
    except (ValidationError, RenamedSettingError) as exc:
        # A setting that cannot be used is the operator's to fix: say which, without a
        # traceback.
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
