"""Simulator commands: `trend topics`, `trend simulate`, `trend tail`."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

log = logging.getLogger("trend.simulator")

topics_app = typer.Typer(no_args_is_help=True)

BOOTSTRAP_HELP = "Kafka bootstrap servers (TREND_BOOTSTRAP_SERVERS)"


def _settings(**overrides):
    from trend_tracker.settings import load_settings

    return load_settings(**overrides)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@topics_app.command("create")
def topics_create(
    partitions: int | None = typer.Option(
        None, min=1, help="Partitions of new topics (TREND_TOPIC_PARTITIONS)"),
    bootstrap_servers: str | None = typer.Option(None, help=BOOTSTRAP_HELP),
) -> None:
    """Create the clicks, carts, purchases, dead-letter and weights topics with their
    settings stated (existing topics are kept as they are)."""
    from registry.publisher import WEIGHTS_TOPIC_CONFIG
    from simulator.kafka_io import ensure_topics, topic_config

    settings = _settings(bootstrap_servers=bootstrap_servers)
    config = ", ".join(f"{k}={v}" for k, v in topic_config(settings).items())
    for topic, count in ensure_topics(settings, partitions).items():
        typer.echo(f"{topic}: {count} partition(s), {config}")
    weights = ", ".join(f"{k}={v}" for k, v in dict(WEIGHTS_TOPIC_CONFIG).items())
    typer.echo(f"{settings.topic_weights}: 1 partition, {weights}")


@topics_app.command("list")
def topics_list(bootstrap_servers: str | None = typer.Option(None, help=BOOTSTRAP_HELP)
                ) -> None:
    """Show the configured topics and their partition counts."""
    from simulator.kafka_io import topic_partitions

    settings = _settings(bootstrap_servers=bootstrap_servers)
    found = topic_partitions(settings, settings.all_topics)
    for topic in settings.all_topics:
        typer.echo(f"{topic}: {found.get(topic, 'missing')}")


def simulate(
    rate: float = typer.Option(1000.0, min=0.001, help="Events per second (of event time)"),
    count: int | None = typer.Option(None, min=0, help="Stop after this many events"),
    duration: str | None = typer.Option(
        None, help="Stop after this much event time: 90, 90s, 5m, 1h"),
    products: int = typer.Option(1000, min=1, help="Products in the catalog"),
    categories: int = typer.Option(20, min=1, help="Product categories"),
    users: int = typer.Option(50_000, min=1, help="Distinct users"),
    seed: int | None = typer.Option(None, help="Seed: same seed and options, same events"),
    start: str | None = typer.Option(
        None, help="Simulated clock from this ISO time or epoch ms (a backfill); "
                   "default: live clock"),
    throttle: bool | None = typer.Option(
        None, "--throttle/--no-throttle",
        help="Pace sends to --rate (default: yes on the live clock, no with --start)"),
    bad_fraction: float = typer.Option(0.0, min=0.0, max=1.0,
                                       help="Fraction of malformed events"),
    trend: Annotated[list[str] | None, typer.Option(
        help="PRODUCT:FACTOR:AT, e.g. p-00042:10:60s (repeatable). "
             "Default: one mid-popular product x20 after 60 s")] = None,
    no_trends: bool = typer.Option(False, "--no-trends", help="Inject no trend"),
    cart_rate: float = typer.Option(0.10, min=0.0, max=1.0, help="P(cart | click)"),
    purchase_rate: float = typer.Option(0.30, min=0.0, max=1.0, help="P(purchase | cart)"),
    partitions: int | None = typer.Option(None, min=1,
                                             help="Partitions of topics created on the way"),
    compression: str = typer.Option("none", help="Producer compression: none, lz4, zstd..."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    bootstrap_servers: str | None = typer.Option(None, help=BOOTSTRAP_HELP),
    metrics_port: int | None = typer.Option(
        None, min=0, max=65535, help="Prometheus port, 0 = off (TREND_METRICS_PORT)"),
) -> None:
    """Produce realistic e-commerce events (clicks, carts, purchases) to Kafka."""
    from simulator.options import SimulationOptions, parse_start
    from simulator.runner import run_simulation
    from simulator.traffic import parse_offset_s, parse_trend
    from trend_tracker.logs import start_logging

    settings = _settings(bootstrap_servers=bootstrap_servers, metrics_port=metrics_port)
    start_logging(settings, "trend.simulator")
    # A log shipper reads JSON lines only: no progress bar, the summary as a log line.
    json_logs = settings.log_format == "json"
    try:
        trends = () if no_trends else (tuple(parse_trend(t) for t in trend or ()) or None)
        options = SimulationOptions(
            rate=rate, count=count,
            duration_s=parse_offset_s(duration) if duration is not None else None,
            products=products, categories=categories, users=users, seed=seed,
            start_ms=parse_start(start) if start is not None else None, throttle=throttle,
            bad_fraction=bad_fraction, trends=trends, cart_rate=cart_rate,
            purchase_rate=purchase_rate, partitions=partitions, compression=compression,
            progress=progress and not as_json and not json_logs)
        log.info("simulating %s events/s, %d products, to %s", f"{rate:g}", products,
                 settings.bootstrap_servers)
        summary = run_simulation(settings, options)
    except ValueError as exc:
        if json_logs:
            log.error("trend simulate: %s", exc)
            raise typer.Exit(2) from None
        raise _fail(f"trend simulate: {exc}") from None
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    elif json_logs:
        log.info("simulation summary: %s", json.dumps(summary.as_dict()))
    else:
        _print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "", title="simulation summary", show_header=False)
    table.add_row("sent", f"{summary.sent:,}")
    table.add_row("failed", f"{summary.failed:,}")
    table.add_row("rate achieved", f"{summary.rate:,.0f} events/s"
                  + (f" (target {summary.target_rate:,.0f})" if summary.throttled
                     else " (unthrottled)"))
    table.add_row("elapsed", f"{summary.elapsed_s:.2f} s")
    table.add_row("by type", ", ".join(f"{k} {v:,}" for k, v in summary.per_type.items()))
    if summary.bad:
        table.add_row("malformed", ", ".join(f"{k} {v:,}" for k, v in summary.bad.items()))
    table.add_row("trends", ", ".join(summary.trends) or "none")
    table.add_row("seed", str(summary.seed))
    if summary.stopped_early:
        table.add_row("stopped", "early (interrupted)")
    Console().print(table)


def tail(
    topic: str = typer.Argument(..., help="Topic name, or clicks|carts|purchases|dlq"),
    from_beginning: bool = typer.Option(
        False, "--from-beginning",
        help="Start at the first record and stop at the end of the topic"),
    follow: bool = typer.Option(
        False, "--follow", "-f",
        help="With --from-beginning: at the end, keep waiting for new records "
             "(without --from-beginning, tail always follows)"),
    max_records: int | None = typer.Option(None, "--max", min=1,
                                              help="Stop after N records"),
    idle_timeout: float | None = typer.Option(
        None, help="Stop after this many seconds without a record"),
    bootstrap_servers: str | None = typer.Option(None, help=BOOTSTRAP_HELP),
) -> None:
    """Print a topic's records, each checked against the event schema."""
    from simulator.kafka_io import TopicError
    from simulator.tail import resolve_topic, tail_lines

    settings = _settings(bootstrap_servers=bootstrap_servers)
    stop_at_end = from_beginning and not follow
    shown = 0
    try:
        for line in tail_lines(settings, topic, from_beginning=from_beginning,
                               max_records=max_records, idle_timeout_s=idle_timeout,
                               stop_at_end=stop_at_end):
            colour = typer.colors.GREEN if line.valid else typer.colors.YELLOW
            typer.echo(f"{line.partition}:{line.offset} key={line.key} "
                       + typer.style(f"[{line.status}]", fg=colour) + f" {line.detail}")
            shown += 1
    except TopicError as exc:
        raise _fail(f"trend tail: {exc}") from None
    except KeyboardInterrupt:
        return
    if max_records is not None and shown == max_records:
        return
    # It stopped by itself: at the end of the topic, or idle. Say so, on stderr (stdout
    # holds only records), and above all when there was nothing to show.
    name = resolve_topic(settings, topic)[0]
    if stop_at_end:
        what = "no records" if shown == 0 else f"{shown} record{'s' * (shown != 1)}"
        typer.echo(f"trend tail: {what} in {name}, end of topic", err=True)
    elif shown == 0:
        since = "since the start" if from_beginning else "since tail started"
        typer.echo(f"trend tail: no records in {name} {since} "
                   f"({idle_timeout:g} s without one)", err=True)


def register(app: typer.Typer) -> None:
    """Add the simulator's commands to the `trend` app."""
    app.add_typer(topics_app, name="topics", help="Create and list the Kafka topics.")
    app.command("simulate")(simulate)
    app.command("tail")(tail)
