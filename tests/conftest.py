"""Shared fixtures: the real embedded local stack, started once per test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from localstack.stack import free_port, mlflow_healthy
from trend_tracker.processes import restore_interrupts
from trend_tracker.settings import Settings, settings_from_env


@pytest.fixture(autouse=True)
def _children_can_be_interrupted() -> Iterator[None]:
    """The commands the tests stop with SIGINT must be able to stop, however this run was
    started (:func:`trend_tracker.processes.restore_interrupts`)."""
    restore_interrupts()
    yield


if TYPE_CHECKING:
    from localstack import StackState

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth keeping (screenshots, reports)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Undo any change a test makes to ``os.environ``.

    Running a PyFlink job inside the test process leaves ``PYFLINK_GATEWAY_DISABLED`` set
    in it; every job started afterwards as a child process would inherit it and refuse to
    launch its own gateway.
    """
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """A real broker, Redis server, S3 endpoint and MLflow server for the whole session."""
    from localstack import LocalStack

    state_dir = tmp_path_factory.mktemp("stack")
    stack = LocalStack(state_dir)
    state = stack.up()
    try:
        yield state
    finally:
        stack.down()


@pytest.fixture
def make_settings(local_stack, tmp_path: Path) -> Callable[..., Settings]:
    """Settings pointing at the local stack, with fresh uuid-named topics and Redis db.

    Overrides are passed to ``Settings`` as keyword arguments.
    """
    suffix = uuid.uuid4().hex[:10]

    def build(**overrides) -> Settings:
        values = {
            "state_dir": tmp_path / "state",
            "topic_clicks": f"clicks-{suffix}",
            "topic_carts": f"carts-{suffix}",
            "topic_purchases": f"purchases-{suffix}",
            "topic_dead_letters": f"events-dlq-{suffix}",
            # A weights topic of its own: a streaming job reads its topic from the start, and
            # another test's weights there would score its windows.
            "topic_weights": f"weights-{suffix}",
            # A fresh consumer group too: streaming jobs start from the group's offsets.
            "consumer_group": f"trend-{suffix}",
            "parquet_root_uri": f"file://{tmp_path / 'parquet'}",
            "metrics_port": 0,
        }
        return settings_from_env(local_stack.settings_env(), **{**values, **overrides})

    return build


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration needs the local stack: mark it so."""
    for item in items:
        if "tests/integration" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def private_mlflow(tmp_path):
    """An MLflow server of this test alone, so it can be stopped mid-test."""
    port = free_port()
    data = tmp_path / "mlflow"
    data.mkdir()
    env = {**os.environ,
           "MLFLOW_SERVER_ALLOWED_HOSTS": f"127.0.0.1:{port},localhost:{port}"}
    with open(tmp_path / "mlflow.log", "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{data / 'mlflow.db'}",
             "--artifacts-destination", (data / "artifacts").as_uri()],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
            env=env, start_new_session=True)

    def stop() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    try:
        deadline = time.monotonic() + 120
        while not mlflow_healthy(port) and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mlflow_healthy(port) and process.poll() is None, \
            (tmp_path / "mlflow.log").read_text()[-2000:]
        process.uri = f"http://127.0.0.1:{port}"
        process.stop = stop
        yield process
    finally:
        stop()
