"""`trend redis rebuild`: fill Redis, the API's view, from the Parquet record.

Redis is a rebuildable, expiring view; Parquet holds every window the job wrote. After Redis
lost its data (a restart without persistence, a flush, windows the job kept pending during
an outage and lost in a restart of its own), this reads the windows from ``--since`` on
(default: those still within ``redis_ttl_s`` of now), or only the newest ``--windows N``,
oldest first, and writes each window's rankings with the job's own writer
(:class:`udfs.redis_sink.RedisRankingWriter`), one transaction per window. So Redis gets
the keys and documents the job writes, and the command is safe to run while the job runs:
both overwrite by window, and a latest copy only moves forward. Rebuilt keys expire one
``redis_ttl_s`` after the rebuild.

Settings as for the job: ``TREND_*`` variables, ``.env``, or ``--field-name value``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import typer

from trend_tracker.settings import (
    Settings,
    add_settings_options,
    load_settings,
    settings_overrides,
)


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild wrote."""

    windows: int
    rankings: int
    first_window_end: int | None
    last_window_end: int | None


def parse_time(text: str) -> int:
    """Epoch ms from epoch milliseconds or an ISO-8601 time (without a zone: UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not epoch milliseconds or an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def rebuild(settings: Settings, since_ms: int | None = None, windows: int | None = None,
            now_ms: int | None = None) -> RebuildReport:
    """Write the windows from ``since_ms`` on (default: within the TTL of ``now_ms``), or the
    newest ``windows`` of them, from Parquet to Redis, oldest first."""
    import redis

    from trend_tracker.redis_layout import RedisLayout
    from udfs.parquet_sink import ParquetWindowReader
    from udfs.redis_sink import RedisRankingWriter, rankings_from_rows

    if since_ms is None:
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        since_ms = now_ms - settings.redis_ttl_s * 1000
    reader = ParquetWindowReader(settings.parquet_root, settings.s3_storage_options)
    ends = reader.window_ends(since_ms)
    if windows is not None:
        ends = ends[-windows:] if windows > 0 else []
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.redis_write_timeout_s)
    try:
        writer = RedisRankingWriter(client, settings.redis_ttl_s, settings.max_categories,
                                    RedisLayout(settings.redis_namespace))
        rankings = 0
        for end in ends:
            window_rankings = rankings_from_rows(reader.read_window(end))
            writer.write(window_rankings)
            rankings += len(window_rankings)
    finally:
        client.close()
    return RebuildReport(len(ends), rankings, ends[0] if ends else None,
                         ends[-1] if ends else None)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


app = typer.Typer(no_args_is_help=True)


@app.command(
    "rebuild",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def rebuild_command(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since",
        help="First window_end to rebuild: epoch ms or ISO-8601 (default: now - redis_ttl_s)"),
    windows: int | None = typer.Option(
        None, "--windows", min=1, help="Only the newest N windows (from --since on)"),
) -> None:
    """Fill Redis from the Parquet windows still within the TTL; settings as --field value."""
    parser = argparse.ArgumentParser(prog="trend redis rebuild")
    add_settings_options(parser)
    settings = load_settings(**settings_overrides(vars(parser.parse_args(list(ctx.args)))))
    try:
        since_ms = parse_time(since) if since is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    report = rebuild(settings, since_ms=since_ms, windows=windows)
    if report.windows == 0:
        typer.echo("no window to rebuild")
        return
    typer.echo(f"rebuilt {report.windows} windows ({report.rankings} rankings), window_end "
               f"{_iso(report.first_window_end)} to {_iso(report.last_window_end)}")
