"""A real standalone Flink cluster (JobManager + 2 TaskManagers from the wheel's bin/),
started once for the session's cluster tests and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localstack.flink_cluster import StandaloneCluster


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """The running cluster; ``.jobmanager`` is what ``trend job submit --jobmanager`` takes."""
    cluster = StandaloneCluster(tmp_path_factory.mktemp("flink-cluster"), taskmanagers=2)
    cluster.start(timeout_s=240)
    try:
        yield cluster
    finally:
        cluster.stop()
