"""How `trend demo` starts its children, checked without starting them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import typer

from trend_tracker.cli import app
from trend_tracker.demo import (
    DEMO_BAD_FRACTION,
    demo_processes,
    post_example,
    simulator_command,
    write_demo_api_key,
)
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


def test_the_demo_makes_its_own_api_key_readable_by_its_user_only(tmp_path):
    from api.ingest_auth import key_digest, keys_from_file_text

    path = write_demo_api_key(tmp_path)
    assert path == tmp_path / "ingest-api-keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    name, key = path.read_text().removesuffix("\n").split(":")
    assert name == "demo" and len(key) == 43  # 32 random bytes, URL-safe base64
    assert [(k.name, k.digest) for k in keys_from_file_text(path.read_text(), "demo")] == [
        ("demo", key_digest(key))]
    # Each demo start makes a new one in its place.
    again = write_demo_api_key(tmp_path)
    assert again == path and again.read_text().split(":")[1] != f"{key}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ingest-api-keys"]


def test_the_printed_curl_line_sends_the_key_from_the_file_and_one_valid_event(tmp_path):
    """The line runs in a shell as printed; a stand-in curl records what it was given."""
    from trend_tracker.events import classify

    keys_file = write_demo_api_key(tmp_path)
    key = keys_file.read_text().strip().split(":")[1]
    command = post_example("http://127.0.0.1:18001", keys_file)
    assert key not in command
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "curl"
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    fake.chmod(0o755)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            check=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    args = result.stdout.splitlines()
    assert args[:6] == ["-s", "-X", "POST", "http://127.0.0.1:18001/events", "-H",
                        "Content-Type: application/json"]
    assert args[6:8] == ["-H", f"Authorization: Bearer {key}"]
    assert args[8] == "-d"
    body = args[9].encode()
    verdict = classify(body, None, json.loads(body)["ts"], 60_000)
    assert verdict.reason is None
    assert verdict.event["product_id"] == "p-00042"
