"""Static checks of deploy/prometheus: promtool validates the scrape config and the alert
rules and runs the rules' unit tests; the scrape targets must be where the compose stack
serves metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run `make system-tools` (Debian package prometheus)"
    return path


def run(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], cwd=PROM_DIR, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_scrape_config(promtool):
    out = run(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out


def test_promtool_accepts_the_alert_rules(promtool):
    out = run(promtool, "check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_alert_rule_unit_tests_pass(promtool):
    out = run(promtool, "test", "rules", "tests/alerts.test.yml")
    assert "SUCCESS" in out


def test_the_unit_tests_cover_the_main_alerts():
    tests = yaml.safe_load((PROM_DIR / "tests" / "alerts.test.yml").read_text())["tests"]
    covered = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert covered >= {"TrendJobDown", "TrendCheckpointFailures", "TrendApiErrorRateHigh",
                       "TrendsStale", "TrendConsumerLagGrowing",
                       "TrendDeadLetterRateHigh"}


def test_the_required_alerts_exist():
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= {
        "TrendConsumerLagGrowing",  # consumer lag growing
        "TrendCheckpointFailures",  # checkpoint failures
        "TrendDeadLetterRateHigh",  # dead-letter rate above a threshold
        "TrendsStale",  # stale trends
        "TrendApiErrorRateHigh",  # API 5xx
        "TrendJobDown",  # job down
    }


def test_every_alert_has_a_severity_a_summary_and_a_runbook_entry():
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for rule in alert_rules():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert f"`{rule['alert']}`" in operations, f"{rule['alert']} missing in OPERATIONS.md"


def test_scrape_targets_are_where_the_compose_stack_serves_metrics():
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "flink-jobmanager", "flink-taskmanager", "trend-api",
                         "trend-ingest", "trend-simulator", "trend-weights-publisher"}

    def flink_reporter_port(service: str) -> int:
        props = compose[service]["environment"]["FLINK_PROPERTIES"]
        line = next(prop for prop in props.splitlines()
                    if prop.startswith("metrics.reporter.prom.port"))
        return int(line.split(":", 1)[1])

    command = compose["weights-publisher"]["command"]
    publisher_port = int(command[command.index("--metrics-port") + 1])
    expected = {
        "flink-jobmanager": ("jobmanager", flink_reporter_port("jobmanager")),
        "trend-api": ("api", int(compose["api"]["environment"]["TREND_API_PORT"])),
        "trend-ingest": ("ingest", int(compose["ingest"]["environment"]["TREND_INGEST_PORT"])),
        "trend-simulator": ("simulator",
                            int(compose["simulator"]["environment"]["TREND_METRICS_PORT"])),
        "trend-weights-publisher": ("weights-publisher", publisher_port),
    }
    for job, (service, port) in expected.items():
        targets = jobs[job]["static_configs"][0]["targets"]
        assert targets == [f"{service}:{port}"], job
    assert jobs["trend-api"]["metrics_path"] == "/metrics"
    assert jobs["trend-ingest"]["metrics_path"] == "/metrics"
    dns = jobs["flink-taskmanager"]["dns_sd_configs"][0]
    assert dns["names"] == ["taskmanager"]
    assert dns["port"] == flink_reporter_port("taskmanager")
    assert config["rule_files"] == ["alerts.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]


def test_promtool_accepts_the_local_config(promtool):
    out = run(promtool, "check", "config", "local.yml")
    assert "SUCCESS: 1 rule files found" in out


def test_local_config_scrapes_the_demo_ports():
    """The demo's defaults: API on api_port, ingest on ingest_port, simulator on
    metrics_port, and the job's reporter on the port after it (what `trend demo` gives
    TREND_FLINK_METRICS_PORT)."""
    from trend_tracker.settings import Settings

    defaults = Settings(_env_file=None)
    config = yaml.safe_load((PROM_DIR / "local.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"]
               for job in config["scrape_configs"]}
    assert targets == {
        "trend-api": [f"127.0.0.1:{defaults.api_port}"],
        "trend-ingest": [f"127.0.0.1:{defaults.ingest_port}"],
        "trend-simulator": [f"127.0.0.1:{defaults.metrics_port}"],
        "trend-job": [f"127.0.0.1:{defaults.metrics_port + 1}"],
    }
