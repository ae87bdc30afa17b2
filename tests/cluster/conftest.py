"""A real standalone Flink cluster (JobManager + 2 TaskManagers from the wheel's bin/),
started once for the session's cluster tests and stopped at the end. It reaches the local
stack's S3 endpoint, so a job's checkpoints and savepoints can live there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localstack.flink_cluster import S3Access, StandaloneCluster
from localstack.stack import S3_ACCESS_KEY, S3_SECRET_KEY


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory,
                  local_stack) -> Iterator[StandaloneCluster]:
    """The running cluster; ``.jobmanager`` is what ``trend job submit --jobmanager`` takes."""
    s3 = S3Access(local_stack.s3_endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    cluster = StandaloneCluster(tmp_path_factory.mktemp("flink-cluster"), taskmanagers=2, s3=s3)
    cluster.start(timeout_s=240)
    try:
        yield cluster
    finally:
        cluster.stop()
