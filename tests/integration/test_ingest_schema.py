"""Schemathesis, driven by the ingest service's OpenAPI spec, finds no failure in it.

The ingest service is the one service that takes a body from the network. A real
``trend ingest`` process writes to the real local broker's topics; every check schemathesis
has runs against every operation, with bodies generated from the spec and beyond it, but
one: ``negative_data_rejection`` expects a body that breaks the schema to be refused whole
(4xx). The service answers such a batch 202 with a result per event, each bad event
``rejected`` with its reason (docs/INGEST.md), so one bad event never costs the good ones
of its batch; ``test_ingest.py`` checks those per-event answers against ``classify``.

Schemathesis sends the service's API key, so the bodies reach the contract;
``ignored_auth``, one of its checks, sends requests without it and expects them refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localstack.servers import IngestServer
from simulator.kafka_io import ensure_topics


def test_schemathesis_finds_no_failure_in_the_ingest_service(make_settings, artifacts_dir,
                                                              tmp_path):
    key = "schemathesis-key-0123456789"
    settings = make_settings(ingest_max_batch=50, ingest_max_body_bytes=100_000,
                             ingest_api_keys=f"schemathesis:{key}")
    ensure_topics(settings)
    report = artifacts_dir / "schemathesis-ingest-junit.xml"
    with IngestServer(settings.as_env(), log_path=tmp_path / "ingest.log") as ingest:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "run", f"{ingest.url}/openapi.json",
             "--header", f"Authorization: Bearer {key}",
             "--checks", "all", "--exclude-checks", "negative_data_rejection",
             "--max-examples", "40", "--seed", "20240601",
             "--generation-database", "none", "--no-color",
             "--report", "junit", "--report-junit-path", str(report)],
            check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
    assert "Selected: 4/4" in result.stdout
