"""Static checks of deploy/grafana: provisioning files and the dashboard JSON.

Every panel's PromQL is parsed by promtool (as recording rules), so a typo in a query
fails here rather than as an empty panel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "trend-tracker.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def query_panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_datasource_is_provisioned_with_the_uid_the_dashboard_uses(dashboard):
    provisioning = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioning["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    for panel in query_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]


def test_dashboard_provider_points_where_compose_mounts_the_json():
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/trend-tracker.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in compose["volumes"]
    home = compose["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/{DASHBOARD.name}"


def test_every_panel_has_a_query(dashboard):
    assert dashboard["uid"] == "trend-tracker"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in query_panels(dashboard):
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_panels_do_not_overlap(dashboard):
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_shows_what_operators_need(dashboard):
    titles = {p["title"] for p in query_panels(dashboard)}
    assert titles >= {
        "Throughput by event type", "Dead-letter and late rates", "Watermark lag",
        "Checkpoint duration", "Top-K freshness and windows emitted",
        "API latency percentiles",
    }
    latency = next(p for p in query_panels(dashboard) if p["title"] == "API latency percentiles")
    quantiles = [t["expr"].split("(")[1].split(",")[0] for t in latency["targets"]]
    assert quantiles == ["0.50", "0.95", "0.99"]


def test_every_query_is_valid_promql(dashboard, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make system-tools` (Debian package prometheus)"
    rules = [{"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": t["expr"]}
             for p in query_panels(dashboard) for t in p["targets"]]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_traces_data_source_is_the_jaeger_of_the_profile_tracing():
    provisioning = yaml.safe_load((GRAFANA / "provisioning/datasources/jaeger.yml").read_text())
    (source,) = provisioning["datasources"]
    assert (source["type"], source["url"], source["uid"]) == (
        "jaeger", "http://jaeger:16686", "trend-jaeger")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["jaeger"]["profiles"] == ["tracing"]
