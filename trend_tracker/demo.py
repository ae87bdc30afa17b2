"""`trend demo`: the whole system on the embedded local stack.

Starts the local servers, creates the topics, registers default weights, then runs the
trending job (Flink MiniCluster), the API, the ingest service and the simulator as child
processes, prints where to look, and stops everything on Ctrl-C (or after ``--duration``
seconds).

The ingest service takes events only from clients with an API key: the demo makes a new
one on each start, in a file of the state directory only its user can read, and prints
how to post with it (the key read from the file, never shown).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from localstack.stack import LocalStack, StackError
from trend_tracker.processes import http_ok, signal_group
from trend_tracker.settings import Settings, load_settings, settings_from_env

console = Console()

#: Demo windows: 2 minutes sliding every 10 s, so a ranking appears every 10 s. The rising
#: ranking compares each window with the 2 minutes before it: once that history exists
#: (about 2 minutes in), the simulator's trend (a product 20 times as popular from 60 s on)
#: stands out in it for a few minutes, until its new level is the norm. (Production
#: defaults are 10 minutes sliding every 30 s.)
DEMO_WINDOW_SIZE_S = 120
DEMO_WINDOW_SLIDE_S = 10
#: Demo traffic: simulated events per second and products.
DEMO_RATE = 500
DEMO_PRODUCTS = 500
#: Share of the simulated events malformed on purpose, so the dead-letter topic has
#: records to show (`trend tail dlq`); below the 1% that fires TrendDeadLetterRateHigh.
DEMO_BAD_FRACTION = 0.005
#: The ingest service's keys file in the state directory, and the name of the demo's key.
DEMO_KEYS_FILE = "ingest-api-keys"
DEMO_CLIENT_NAME = "demo"


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path


def _trend(*args: str) -> list[str]:
    return [sys.executable, "-m", "trend_tracker.cli", *args]


def simulator_command(rate: int, products: int, bad_fraction: float) -> list[str]:
    """The demo's `trend simulate` command line (live clock, paced at ``rate``)."""
    return _trend("simulate", "--rate", str(rate), "--products", str(products),
                  "--bad-fraction", str(bad_fraction), "--no-progress")


@dataclass(frozen=True)
class DemoProcess:
    """One of the demo's child processes: its command line and, for a server, the URL that
    answers once it is up (the next one starts after that)."""

    name: str
    argv: list[str]
    health_url: str | None = None


def demo_processes(settings: Settings, rate: int, products: int,
                   bad_fraction: float) -> list[DemoProcess]:
    """What the demo runs, in order: the job, the API, the ingest service, the simulator."""
    # The embedded broker keeps its topics in memory, so each demo starts on new topics:
    # state retained by an earlier demo belongs to records that are gone.
    return [
        DemoProcess("job", _trend("job", "run", "--from-scratch")),
        DemoProcess("api", _trend("api"),
                    f"http://{settings.api_host}:{settings.api_port}/health"),
        DemoProcess("ingest", _trend("ingest"),
                    f"http://{settings.ingest_host}:{settings.ingest_port}/health"),
        DemoProcess("simulator", simulator_command(rate, products, bad_fraction)),
    ]


def write_demo_api_key(state_dir: Path) -> Path:
    """A new API key for the demo's ingest service, as the keys file ``name:key``, readable
    by this user only (mode 0600 from its creation); returns the file."""
    path = state_dir / DEMO_KEYS_FILE
    scratch = path.with_name(path.name + ".new")
    scratch.unlink(missing_ok=True)
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{DEMO_CLIENT_NAME}:{secrets.token_urlsafe(32)}\n")
    os.replace(scratch, path)  # a running service never reads half a file
    return path


def post_example(ingest_url: str, keys_file: Path) -> str:
    """A curl command posting one event with the demo's key, read from its file."""
    return (f"curl -s -X POST {ingest_url}/events -H 'Content-Type: application/json' \\\n"
            f"  -H \"Authorization: Bearer $(cut -d: -f2 {keys_file})\" \\\n"
            """  -d '{"event_id": "e-1", "event_type": "click", "product_id": "p-00042", """
            """"category": "books", "user_id": "u-1", "ts": '"$(date +%s%3N)"'}'""")


def _run_step(description: str, argv: list[str], env: dict[str, str]) -> None:
    console.print(f"[cyan]-[/] {description}")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        console.print(result.stdout[-2000:], result.stderr[-2000:])
        raise typer.Exit(result.returncode)


def _spawn(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Child:
    log = logs / f"demo-{name}.log"
    handle = open(log, "wb")  # noqa: SIM115 - lives as long as the child
    process = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    return Child(name, process, log)


def _wait_http(url: str, timeout_s: float, children: list[Child]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http_ok(url):
            return True
        for child in children:
            if child.process.poll() is not None:
                return False
        time.sleep(0.25)
    return False


def _stop(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            signal_group(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            signal_group(child.process.pid, signal.SIGKILL)
            child.process.wait()


def _shut_down(children: list[Child], stack: LocalStack) -> None:
    """Stop the children, then the local stack. Ctrl-C and SIGTERM are ignored meanwhile:
    a second, impatient Ctrl-C would otherwise end this process halfway and leave servers
    running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    console.print("\nstopping...")
    _stop(children)
    stack.down()


def _interrupt(signum, frame) -> None:
    """Treat SIGTERM like Ctrl-C so the children are stopped cleanly."""
    raise KeyboardInterrupt


def _print_where_to_look(settings: Settings, stack_state, logs: Path,
                         keys_file: Path) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    table = Table("what", "where", title="Trend Tracker demo is running")
    table.add_row("trends page", f"{api}/")
    table.add_row("trending API", f"{api}/trending?k=10")
    table.add_row("API docs (OpenAPI)", f"{api}/docs")
    table.add_row("API metrics", f"{api}/metrics")
    table.add_row("ingest service (POST events)", f"{ingest}/events")
    table.add_row("ingest API key (name:key)", str(keys_file))
    table.add_row("ingest docs and metrics", f"{ingest}/docs, {ingest}/metrics")
    table.add_row("MLflow UI (weights)", f"{stack_state.mlflow_tracking_uri}/#/models/"
                  f"{settings.weights_model_name}")
    table.add_row("Kafka broker", stack_state.bootstrap_servers)
    table.add_row("Redis", stack_state.redis_url)
    table.add_row("S3 endpoint (Parquet)", f"{stack_state.s3_endpoint_url}/{settings.s3_bucket}")
    table.add_row("Parquet snapshots", settings.parquet_root)
    table.add_row("simulator metrics", f"http://127.0.0.1:{settings.metrics_port}/metrics")
    table.add_row("job metrics (Flink)", f"http://127.0.0.1:{settings.flink_metrics_port}/metrics")
    table.add_row("logs", str(logs))
    console.print(table)
    console.print("Post an event to the ingest service with the demo's API key:")
    console.print(post_example(ingest, keys_file), markup=False, highlight=False,
                  soft_wrap=True)
    console.print("Rankings appear once the first window closes (about every "
                  f"{settings.window_slide_s} s). Press Ctrl-C to stop everything.")


def demo(
    rate: int = typer.Option(DEMO_RATE, help="Simulated events per second."),
    duration: float = typer.Option(0, help="Stop after this many seconds (0: until Ctrl-C)."),
    api_port: int = typer.Option(8000, help="Port of the API and the trends page."),
    ingest_port: int = typer.Option(8001, help="Port of the ingest service (POST /events)."),
    products: int = typer.Option(DEMO_PRODUCTS, help="Number of simulated products."),
    bad_fraction: float = typer.Option(
        DEMO_BAD_FRACTION, min=0.0, max=1.0,
        help="Fraction of simulated events malformed on purpose (the job dead-letters them)."),
) -> None:
    """Start the local stack, the job, the API, the ingest service and the simulator;
    Ctrl-C stops it all."""
    base = load_settings()
    stack = LocalStack(base.state_dir, bucket=base.s3_bucket)
    console.print(f"[bold]Starting the local stack[/] under {stack.state_dir}")
    try:
        stack_state = stack.up()
    except StackError as exc:
        console.print(f"[red]local stack failed:[/] {exc}")
        raise typer.Exit(1) from exc

    keys_file = write_demo_api_key(stack.state_dir)
    env = dict(os.environ)
    env.update(stack_state.settings_env())
    env.update({
        "TREND_INGEST_API_KEYS_FILE": str(keys_file),
        "TREND_WINDOW_SIZE_S": str(DEMO_WINDOW_SIZE_S),
        "TREND_WINDOW_SLIDE_S": str(DEMO_WINDOW_SLIDE_S),
        "TREND_TOP_N": str(base.top_n),
        "TREND_API_PORT": str(api_port),
        "TREND_INGEST_PORT": str(ingest_port),
        "TREND_PARQUET_ROOT_URI": f"s3://{stack_state.bucket}/trends",
        "TREND_WEIGHTS_POLL_INTERVAL_S": "10",
        # The simulator serves its metrics on metrics_port, the job's Flink reporter on
        # flink_metrics_port: two processes, two ports.
        "TREND_METRICS_PORT": str(base.metrics_port),
        "TREND_FLINK_METRICS_PORT": str(base.flink_metrics_port or base.metrics_port + 1),
    })
    settings = settings_from_env(env)
    logs = stack.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The job's JVM (its MiniCluster, where the scoring runs) logs beside the demo's other
    # processes, in TREND_LOG_FORMAT too.
    env.setdefault("FLINK_LOG_DIR", str(logs))

    _run_step("creating topics", _trend("topics", "create"), env)
    _run_step("registering default weights (if no champion yet)",
              _trend("weights", "ensure-default"), env)

    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for process in demo_processes(settings, rate, products, bad_fraction):
            child = _spawn(process.name, process.argv, env, logs)
            children.append(child)
            if process.health_url and not _wait_http(process.health_url, 60, children):
                raise RuntimeError(f"{process.name} did not start; see {child.log}")
        _print_where_to_look(settings, stack_state, logs, keys_file)
        started = time.monotonic()
        while duration <= 0 or time.monotonic() - started < duration:
            for child in children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} stopped (exit {child.process.returncode});"
                                       f" see {child.log}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        _shut_down(children, stack)
    except RuntimeError as exc:
        _shut_down(children, stack)
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    else:
        _shut_down(children, stack)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    console.print("demo stopped; the local stack is down.")
