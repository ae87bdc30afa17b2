"""`trend api`: serve the trending API and the live page; `trend ingest`: the ingest
service."""

from __future__ import annotations

import logging

import typer

log = logging.getLogger("trend.api")


def serve(host: str | None = typer.Option(None, help="Listen address (TREND_API_HOST)"),
          port: int | None = typer.Option(None, help="Listen port (TREND_API_PORT)"),
          redis_url: str | None = typer.Option(None, help="Redis URL (TREND_REDIS_URL)"),
          access_log: bool = typer.Option(False, help="Log every request")) -> None:
    """Serve the API and the live trends page with uvicorn (one worker)."""
    import uvicorn

    from api.http_protocol import BatchedHttpToolsProtocol
    from api.main import create_app
    from api.tracing import TracingConfigError
    from trend_tracker.logs import start_logging, uvicorn_log_config
    from trend_tracker.settings import load_settings

    settings = load_settings(api_host=host, api_port=port, redis_url=redis_url)
    start_logging(settings, "trend.api")
    try:
        app = create_app(settings)
    except TracingConfigError as exc:
        log.error("trend api cannot start: %s", exc)
        raise typer.Exit(2) from None
    log.info("trend api: http://%s:%d/ (OpenAPI at /docs)", settings.api_host,
             settings.api_port)
    # uvloop is uvicorn's loop whenever it is installed (a dependency of the project).
    uvicorn.run(app, host=settings.api_host, port=settings.api_port,
                http=BatchedHttpToolsProtocol, access_log=access_log, log_level="info",
                log_config=uvicorn_log_config(settings.log_format))


def serve_ingest(
        host: str | None = typer.Option(None, help="Listen address (TREND_INGEST_HOST)"),
        port: int | None = typer.Option(None, help="Listen port (TREND_INGEST_PORT)"),
        bootstrap_servers: str | None = typer.Option(
            None, help="Kafka bootstrap servers (TREND_BOOTSTRAP_SERVERS)"),
        api_keys_file: str | None = typer.Option(
            None, help="The file of API keys clients send, name:key lines "
                       "(TREND_INGEST_API_KEYS_FILE)"),
        access_log: bool = typer.Option(False, help="Log every request")) -> None:
    """Serve the ingest service (POST /events -> the event topics) with uvicorn.

    Clients send an API key (Authorization: Bearer KEY) from TREND_INGEST_API_KEYS_FILE or
    TREND_INGEST_API_KEYS; without any key configured the service does not start.
    """
    import uvicorn

    from api.ingest import create_ingest_app
    from api.ingest_auth import ApiKeyError
    from api.tracing import TracingConfigError
    from trend_tracker.logs import start_logging, uvicorn_log_config
    from trend_tracker.settings import load_settings

    settings = load_settings(ingest_host=host, ingest_port=port,
                             bootstrap_servers=bootstrap_servers,
                             ingest_api_keys_file=api_keys_file)
    start_logging(settings, "trend.ingest")
    ingest_log = logging.getLogger("trend.ingest")
    try:
        app = create_ingest_app(settings)
    except (ApiKeyError, TracingConfigError) as exc:
        ingest_log.error("trend ingest cannot start: %s", exc)
        raise typer.Exit(2) from None
    ingest_log.info("trend ingest: http://%s:%d/events -> %s (OpenAPI at /docs; %d API keys)",
                    settings.ingest_host, settings.ingest_port, settings.bootstrap_servers,
                    len(app.state.api_keys.keys))
    uvicorn.run(app, host=settings.ingest_host,
                port=settings.ingest_port, access_log=access_log, log_level="info",
                log_config=uvicorn_log_config(settings.log_format))


def register(app: typer.Typer) -> None:
    """Add the API's commands to the `trend` app."""
    app.command("api")(serve)
