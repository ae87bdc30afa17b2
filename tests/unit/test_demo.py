"""How `trend demo` starts its children, checked without starting them."""

from __future__ import annotations

import sys

import typer

from trend_tracker.cli import app
from trend_tracker.demo import DEMO_BAD_FRACTION, demo_processes, simulator_command
from trend_tracker.settings import Settings


def test_the_demo_simulator_sends_half_a_percent_of_malformed_events():
    assert DEMO_BAD_FRACTION == 0.005
    assert simulator_command(500, 500, DEMO_BAD_FRACTION) == [
        sys.executable, "-m", "trend_tracker.cli", "simulate", "--rate", "500",
        "--products", "500", "--bad-fraction", "0.005", "--no-progress"]


def test_trend_simulate_parses_the_demo_command_line():
    """The command line is one `trend simulate` accepts, with the fraction it names."""
    trend = typer.main.get_command(app)
    name, *args = simulator_command(500, 500, DEMO_BAD_FRACTION)[3:]
    with trend.make_context("trend", [name]) as context:
        simulate = trend.get_command(context, name)
        params = simulate.make_context(name, args, parent=context).params
    assert (params["bad_fraction"], params["rate"], params["products"], params["progress"]) == (
        0.005, 500.0, 500, False)


def test_the_demo_runs_the_job_the_api_the_ingest_service_and_the_simulator():
    """In that order; the API and the ingest service are waited for on their /health, at the
    ports the demo gives them, before the next process starts."""
    settings = Settings(_env_file=None, api_port=18000, ingest_port=18001)
    processes = demo_processes(settings, 500, 500, DEMO_BAD_FRACTION)
    trend = [sys.executable, "-m", "trend_tracker.cli"]
    assert [(p.name, p.argv, p.health_url) for p in processes] == [
        ("job", [*trend, "job", "run", "--from-scratch"], None),
        ("api", [*trend, "api"], "http://127.0.0.1:18000/health"),
        ("ingest", [*trend, "ingest"], "http://127.0.0.1:18001/health"),
        ("simulator", simulator_command(500, 500, DEMO_BAD_FRACTION), None),
    ]
    # Each is a command `trend` has.
    cli = typer.main.get_command(app)
    with cli.make_context("trend", ["demo"]) as context:
        for process in processes:
            assert cli.get_command(context, process.argv[3]) is not None, process.name
