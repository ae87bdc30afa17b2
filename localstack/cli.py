"""`trend up`, `trend down`, `trend status`: the embedded local stack."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from localstack.stack import LocalStack, StackError
from trend_tracker.settings import load_settings

console = Console()


def _stack() -> LocalStack:
    settings = load_settings()
    return LocalStack(settings.state_dir, bucket=settings.s3_bucket)


def up() -> None:
    """Start the local servers (broker, Redis, S3, MLflow) and wait until healthy."""
    stack = _stack()
    try:
        state = stack.up()
    except StackError as exc:
        console.print(f"[red]local stack failed:[/] {exc}")
        raise typer.Exit(1) from exc
    table = Table("service", "endpoint", "pid")
    table.add_row("kafka (Apache Kafka, KRaft)", state.bootstrap_servers,
                  str(state.services["kafka"].pid))
    table.add_row("redis", state.redis_url, str(state.services["redis"].pid))
    table.add_row("s3 (moto)", state.s3_endpoint_url, str(state.services["s3"].pid))
    table.add_row("mlflow", state.mlflow_tracking_uri, str(state.services["mlflow"].pid))
    console.print(table)
    console.print(f"settings for these servers: {stack.env_file}")


def down() -> None:
    """Stop the local servers."""
    stopped = _stack().down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def status() -> None:
    """Show each local server, its port and its health."""
    report = _stack().status()
    if not report:
        console.print("local stack is not running (start it with `trend up`)")
        raise typer.Exit(1)
    table = Table("service", "port", "pid", "healthy", "log")
    for name, info in report.items():
        table.add_row(name, str(info["port"]), str(info["pid"]),
                      "yes" if info["healthy"] else "[red]no[/]", str(info["log"]))
    console.print(table)
    if not all(info["healthy"] for info in report.values()):
        raise typer.Exit(1)
