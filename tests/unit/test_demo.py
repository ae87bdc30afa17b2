"""How `trend demo` starts its children, checked without starting them."""

from __future__ import annotations

import sys

import typer

from trend_tracker.cli import app
from trend_tracker.demo import DEMO_BAD_FRACTION, simulator_command


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
