"""`trend api`: serve the trending API and the live page; `trend ingest`: the ingest
service."""

from __future__ import annotations

import typer


def serve(host: str | None = typer.Option(None, help="Listen address (TREND_API_HOST)"),
          port: int | None = typer.Option(None, help="Listen port (TREND_API_PORT)"),
          redis_url: str | None = typer.Option(None, help="Redis URL (TREND_REDIS_URL)"),
          access_log: bool = typer.Option(False, help="Log every request")) -> None:
    """Serve the API and the live trends page with uvicorn (one worker)."""
    import uvicorn

    from api.http_protocol import BatchedHttpToolsProtocol
    from api.main import create_app
    from api.tracing import TracingConfigError
    from trend_tracker.settings import load_settings

    settings = load_settings(api_host=host, api_port=port, redis_url=redis_url)
    try:
        app = create_app(settings)
    except TracingConfigError as exc:
        typer.echo(f"error: trend api cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"trend api: http://{settings.api_host}:{settings.api_port}/ "
               "(OpenAPI at /docs)")
    # uvloop is uvicorn's loop whenever it is installed (a dependency of the project).
    uvicorn.run(app, host=settings.api_host, port=settings.api_port,
                http=BatchedHttpToolsProtocol, access_log=access_log, log_level="info")


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
    from trend_tracker.settings import load_settings

    settings = load_settings(ingest_host=host, ingest_port=port,
                             bootstrap_servers=bootstrap_servers,
                             ingest_api_keys_file=api_keys_file)
    try:
        app = create_ingest_app(settings)
    except (ApiKeyError, TracingConfigError) as exc:
        typer.echo(f"error: trend ingest cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"trend ingest: http://{settings.ingest_host}:{settings.ingest_port}/events "
               f"-> {settings.bootstrap_servers} (OpenAPI at /docs; "
               f"{len(app.state.api_keys.keys)} API keys)")
    uvicorn.run(app, host=settings.ingest_host,
                port=settings.ingest_port, access_log=access_log, log_level="info")


def register(app: typer.Typer) -> None:
    """Add the API's commands to the `trend` app."""
    app.command("api")(serve)
