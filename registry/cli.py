"""`trend weights ...`: weight models in the MLflow registry, and the weights topic that
carries the champion to the running job (`publish`, `show-published`).

Heavy imports (mlflow, scikit-learn, pyarrow) stay inside the commands so `trend --help`
stays fast. Every expected failure ends with one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True,
                  help="Weight models in the MLflow registry and their publication to the job.")

ERROR_EXIT = 2


@app.callback()
def _options(
    ctx: typer.Context,
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking/registry URI (TREND_MLFLOW_TRACKING_URI)")] = None,
    model: Annotated[str | None, typer.Option(
        help="Registered model name (TREND_WEIGHTS_MODEL_NAME)")] = None,
) -> None:
    """Register, promote, list, learn and publish event-type weights."""
    ctx.obj = {"mlflow_tracking_uri": tracking_uri, "weights_model_name": model}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(ERROR_EXIT)


def _clear_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn the registry's expected failures into one line and a non-zero exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from pydantic import ValidationError

        from registry.errors import RegistryError
        from registry.publisher import WeightsTopicError
        from registry.train import NotEnoughDataError
        from registry.weights import InvalidWeightsError

        try:
            command(*args, **kwargs)
        except (RegistryError, InvalidWeightsError, NotEnoughDataError,
                WeightsTopicError) as exc:
            _fail(str(exc))
        except ValidationError as exc:
            _fail("invalid settings: " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        except OSError as exc:
            _fail(str(exc))

    return wrapper


def _settings(ctx: typer.Context):
    from trend_tracker.settings import load_settings

    return load_settings(**(ctx.obj or {}))


def _registry(ctx: typer.Context):
    from registry.client import WeightsRegistry

    settings = _settings(ctx)
    return settings, WeightsRegistry.from_settings(settings)


def _weights_text(weights) -> str:
    return " ".join(f"{name}={value:g}" for name, value in weights.as_dict().items())


def _describe(version) -> str:
    aliases = f" [{', '.join(version.aliases)}]" if version.aliases else ""
    origin = version.source
    if version.source == "trained" and "data_start" in version.tags:
        origin += f" on {version.tags['data_start']} .. {version.tags.get('data_end', '?')}"
    return f"{version.name}{aliases}  {_weights_text(version.weights)}  ({origin})"


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def _epoch_ms(text: str | None) -> int | None:
    """An ISO-8601 time (UTC unless it says otherwise) or epoch milliseconds."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time or epoch ms: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@app.command()
@_clear_errors
def show(
    ctx: typer.Context,
    alias: Annotated[str | None, typer.Option(help="Alias to show (default: champion)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The champion: its version, weights and where it came from."""
    _, registry = _registry(ctx)
    version = registry.champion(alias)
    if as_json:
        typer.echo(json.dumps(version.as_dict(), indent=2, sort_keys=True))
        return
    typer.echo(_describe(version))


@app.command("list")
@_clear_errors
def list_versions(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """All versions, newest first, with their weights and aliases."""
    _, registry = _registry(ctx)
    versions = registry.versions()
    if as_json:
        typer.echo(json.dumps([v.as_dict() for v in versions], indent=2, sort_keys=True))
        return
    if not versions:
        typer.echo(f"no versions of {registry.model_name!r} yet; register one with "
                   "`trend weights set click=1 cart=3 purchase=5 --promote`")
        return
    for version in versions:
        typer.echo(_describe(version))


@app.command("set")
@_clear_errors
def set_weights(
    ctx: typer.Context,
    assignments: Annotated[list[str], typer.Argument(
        help="Weights as EVENT_TYPE=NUMBER, e.g. click=1 cart=3 purchase=5")],
    promote: Annotated[bool, typer.Option(help="Make the new version the champion")] = False,
    description: Annotated[str | None, typer.Option(help="Why these weights")] = None,
) -> None:
    """Register a hand-made weights version (and promote it with --promote)."""
    from registry.weights import parse_assignments

    weights = parse_assignments(assignments)
    _, registry = _registry(ctx)
    version = registry.register(weights, source="manual", run_name="manual-weights",
                                description=description)
    if promote:
        version = registry.promote(version.version)
    typer.echo(f"registered {_describe(version)}")
    if version.run_id:
        typer.echo(f"run: {registry.run_url(version.run_id)}")


@app.command()
@_clear_errors
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version number, or NAME/NUMBER")],
    alias: Annotated[str | None, typer.Option(help="Alias to move (default: champion)")] = None,
) -> None:
    """Point the champion (or another alias) at a version."""
    _, registry = _registry(ctx)
    promoted = registry.promote(version, alias)
    typer.echo(f"{alias or registry.alias} -> {_describe(promoted)}")


@app.command("ensure-default")
@_clear_errors
def ensure_default(ctx: typer.Context) -> None:
    """Register the default weights as champion unless a champion exists."""
    _, registry = _registry(ctx)
    version, created = registry.ensure_default()
    typer.echo(f"{'registered' if created else 'champion exists:'} {_describe(version)}")


@app.command()
@_clear_errors
def train(
    ctx: typer.Context,
    promote: Annotated[bool, typer.Option(
        help="Make the new version champion if it beats the champion on held-out data")] = False,
    force: Annotated[bool, typer.Option(
        help="With --promote: promote even if it does not beat the champion")] = False,
    since: Annotated[str | None, typer.Option(
        help="First window_start to use (ISO time or epoch ms)")] = None,
    until: Annotated[str | None, typer.Option(
        help="Last window_end to use (ISO time or epoch ms)")] = None,
    parquet_root: Annotated[str | None, typer.Option(
        help="Snapshots root (default: TREND_PARQUET_ROOT_URI)")] = None,
    k: Annotated[int, typer.Option(help="K of NDCG@K and precision@K", min=1)] = 10,
    alpha: Annotated[float, typer.Option(help="Ridge penalty", min=0.0)] = 1.0,
    holdout: Annotated[float, typer.Option(
        help="Share of the latest windows held out for evaluation", min=0.01, max=0.9)] = 0.25,
    dry_run: Annotated[bool, typer.Option(
        help="Train and evaluate, but register nothing")] = False,
) -> None:
    """Learn weights from the job's Parquet snapshots; register (and maybe promote) them."""
    from registry.errors import NoChampionError
    from registry.history import read_snapshot_counts
    from registry.train import TrainingConfig, train_weights

    settings, registry = _registry(ctx)
    root = parquet_root or settings.parquet_root
    counts = read_snapshot_counts(settings, _epoch_ms(since), _epoch_ms(until), root)
    try:
        champion = registry.champion()
    except NoChampionError:
        champion = None
    config = TrainingConfig(k=k, alpha=alpha, holdout_fraction=holdout)
    result = train_weights(counts, champion.weights.as_dict() if champion else None, config)
    typer.echo(report_text(result, champion.name if champion else None, root))
    if dry_run:
        return
    version = register_training(registry, result, champion.name if champion else None, root)
    typer.echo(f"registered {_describe(version)}")
    if version.run_id:
        typer.echo(f"run: {registry.run_url(version.run_id)}")
    if promote and (result.beats_champion or force):
        promoted = registry.promote(version.version)
        typer.echo(f"promoted: {registry.alias} -> {promoted.name}")
    else:
        from registry.client import CHALLENGER_ALIAS

        registry.promote(version.version, CHALLENGER_ALIAS)
        reason = ("--promote not given" if not promote
                  else "it does not beat the champion on held-out data (use --force)")
        typer.echo(f"not promoted ({reason}); alias {CHALLENGER_ALIAS} -> {version.name}")


@app.command()
@_clear_errors
def publish(
    ctx: typer.Context,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep polling the registry (every TREND_WEIGHTS_POLL_INTERVAL_S) and "
                         "publish every change of the champion, until SIGTERM or Ctrl-C")] = False,
    force: Annotated[bool, typer.Option(
        "--force",
        help="Publish even if the topic's newest record already holds these weights")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        help="With --follow: serve Prometheus metrics on this port (0: none)",
        min=0, max=65535)] = None,
) -> None:
    """Publish the champion to the weights topic (TREND_TOPIC_WEIGHTS) the job reads."""
    settings = _settings(ctx)
    if follow:
        _follow(settings, metrics_port)
        return
    from registry.publisher import ensure_published, publish_weights, weights_key
    from registry.source import load_current_weights

    weights = load_current_weights(settings)
    if force:
        publish_weights(settings, weights)
        written = True
    else:
        written = ensure_published(settings, weights)
    typer.echo(f"{'published' if written else 'already published:'} {weights.version}  "
               f"{_weights_text(weights)}  (topic {settings.topic_weights}, "
               f"key {weights_key(settings)})")


def _follow(settings, metrics_port: int | None) -> None:
    """Run the publisher until SIGTERM or SIGINT."""
    import logging
    import signal
    import threading

    from registry.publisher import run_publisher
    from trend_tracker.logs import start_logging

    start_logging(settings, "trend.weights.publisher")
    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        logging.getLogger(__name__).info("%s received: stopping",
                                         signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_publisher(settings, stop, metrics_port=metrics_port)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("show-published")
@_clear_errors
def show_published(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The newest weights record on the weights topic: what a (re)started job scores with."""
    from registry.publisher import latest_published_record, weights_key

    settings = _settings(ctx)
    record = latest_published_record(settings)
    key = weights_key(settings)
    if record is None:
        if as_json:
            typer.echo("null")
        else:
            typer.echo(f"nothing published for {key!r} on topic {settings.topic_weights}; "
                       "publish the champion with `trend weights publish`")
        return
    where = f"{settings.topic_weights}[{record.partition}]@{record.offset}"
    if as_json:
        typer.echo(json.dumps({
            "weights_version": record.weights.version,
            "weights": record.weights.as_dict(),
            "published_ms": record.published_ms,
            "published": _iso(record.published_ms),
            "key": key,
            "topic": settings.topic_weights,
            "partition": record.partition,
            "offset": record.offset,
        }, indent=2, sort_keys=True))
        return
    typer.echo(f"{record.weights.version}  {_weights_text(record.weights)}  "
               f"(published {_iso(record.published_ms)}, {where})")


def report_text(result, champion_name: str | None, root: str) -> str:
    """The evaluation of a training run, as printed by ``trend weights train``."""
    lines = [
        (f"data: {root}  {_iso(result.data_start_ms)} .. {_iso(result.data_end_ms)}  "
         f"({result.train_windows} training windows / {result.train_examples} examples, "
         f"{result.holdout_windows} held-out windows / {result.holdout_examples} examples "
         f"from {_iso(result.holdout_start_ms)})"),
        "learned: " + " ".join(f"{n}={v:g}" for n, v in result.weights.items()),
        (f"candidate: NDCG@{result.config.k}={result.candidate.ndcg_at_k:.4f} "
         f"precision@{result.config.k}={result.candidate.precision_at_k:.4f} "
         f"over {result.candidate.windows} windows"),
    ]
    if result.champion is not None:
        lines.append(
            f"champion {champion_name}: NDCG@{result.config.k}={result.champion.ndcg_at_k:.4f} "
            f"precision@{result.config.k}={result.champion.precision_at_k:.4f}")
        lines.append("candidate beats champion" if result.beats_champion
                     else "candidate does not beat champion")
    return "\n".join(lines)


def register_training(registry, result, champion_name: str | None, root: str):
    """Register a training result as a ``trained`` version with its params and metrics."""
    tags = {
        "data_start": _iso(result.data_start_ms),
        "data_end": _iso(result.data_end_ms),
        "holdout_start": _iso(result.holdout_start_ms),
        "data_source": root,
        "compared_with": champion_name or "none",
        "beats_champion": str(result.beats_champion).lower(),
    }
    params = {**result.config.as_params(), "data_start_ms": result.data_start_ms,
              "data_end_ms": result.data_end_ms, "holdout_start_ms": result.holdout_start_ms,
              "method": "ridge(positive=True) on next-window purchases, weights sum to 1"}
    return registry.register(
        result.weights, source="trained", run_name="trained-weights", tags=tags,
        params=params, metrics=result.metrics(),
        description=(f"Trained on {tags['data_start']} .. {tags['data_end']}; held-out "
                     f"NDCG@{result.config.k} {result.candidate.ndcg_at_k:.4f}"
                     + (f" vs champion {champion_name} {result.champion.ndcg_at_k:.4f}"
                        if result.champion is not None else "")),
        artifacts={"training_report.txt": report_text(result, champion_name, root) + "\n"},
    )
