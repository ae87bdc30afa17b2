"""The standalone cluster's JVMs with TREND_LOG_FORMAT=json: every line of the JobManager's
and the TaskManager's log files is one JSON object of the project's log format."""

from __future__ import annotations

import pytest

from localstack.flink_cluster import StandaloneCluster
from tests.integration.test_json_logs import json_lines

pytestmark = pytest.mark.cluster


def test_the_daemons_log_json_lines(tmp_path):
    cluster = StandaloneCluster(tmp_path / "cluster", taskmanagers=1, log_format="json")
    cluster.start(timeout_s=240)
    cluster.stop()
    logs = {path.name: path.read_text() for path in sorted(cluster.log_dir.glob("*.log"))}
    daemons = {name for name in logs if "-standalonesession-" in name or "-taskexecutor-" in name}
    assert len(daemons) == 2, sorted(logs)
    for name in daemons:
        lines = json_lines(logs[name])
        loggers = {line["logger"] for line in lines}
        expected = ("org.apache.flink.runtime.entrypoint.ClusterEntrypoint"
                    if "-standalonesession-" in name
                    else "org.apache.flink.runtime.taskexecutor.TaskManagerRunner")
        assert expected in loggers, (name, sorted(loggers)[:20])
