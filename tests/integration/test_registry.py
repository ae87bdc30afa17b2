"""The weights registry against real MLflow servers: the local stack's, and a private one
for the outage test (the shared server is never stopped)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from localstack.stack import free_port
from registry.cli import app
from registry.client import WeightsRegistry
from registry.errors import NoChampionError, RegistryUnavailableError, VersionNotFoundError
from registry.source import open_weights_source
from registry.weights import InvalidWeightsError, Weights

TREND = Path(sys.executable).parent / "trend"


def unique_model() -> str:
    return f"trend-weights-test-{uuid.uuid4().hex[:10]}"


def wait_until(condition, timeout_s: float = 30.0, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


@pytest.fixture
def cli(local_stack, tmp_path):
    """Run `trend weights ...` in-process against the stack with a fresh model name."""
    runner = CliRunner()
    model = unique_model()
    env = {"TREND_STATE_DIR": str(tmp_path / "state"),
           "TREND_MLFLOW_TRACKING_URI": local_stack.mlflow_tracking_uri,
           "TREND_WEIGHTS_MODEL_NAME": model}

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env)

    invoke.model = model
    invoke.env = env
    return invoke


def run_trend(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real console command, to see exactly what a user sees."""
    return subprocess.run([str(TREND), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0]


# --- set, promote, show, list -------------------------------------------------------------


def test_set_promote_show_list(cli, local_stack):
    first = cli("set", "click=1", "cart=3", "purchase=5", "--promote",
                "--description", "hand tuned")
    assert first.exit_code == 0, first.output
    assert f"registered {cli.model}/1 [champion]  click=1 cart=3 purchase=5  (manual)" \
        in first.output

    second = cli("set", "click=0.5", "cart=2", "purchase=8")
    assert second.exit_code == 0, second.output
    assert f"registered {cli.model}/2  click=0.5 cart=2 purchase=8  (manual)" in second.output

    shown = cli("show")
    assert shown.exit_code == 0
    assert shown.output.strip() == f"{cli.model}/1 [champion]  click=1 cart=3 purchase=5  (manual)"

    promoted = cli("promote", "2")
    assert promoted.exit_code == 0, promoted.output
    shown = json.loads(cli("show", "--json").output)
    assert shown["weights_version"] == f"{cli.model}/2"
    assert shown["weights"] == {"click": 0.5, "cart": 2.0, "purchase": 8.0}
    assert shown["aliases"] == ["champion"]
    assert shown["source"] == "manual"

    assert cli("promote", "1", "--alias", "challenger").exit_code == 0
    listed = json.loads(cli("list", "--json").output)
    assert [(v["weights_version"], v["aliases"], v["weights"]) for v in listed] == [
        (f"{cli.model}/2", ["champion"], {"click": 0.5, "cart": 2.0, "purchase": 8.0}),
        (f"{cli.model}/1", ["challenger"], {"click": 1.0, "cart": 3.0, "purchase": 5.0}),
    ]

    # The version holds its weights as data: tags on the version, params on its run.
    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, cli.model)
    version = registry.get(2)
    assert version.tags["weight_purchase"] == "8.0"
    run = registry.client.get_run(version.run_id)
    assert run.data.params == {"weight_click": "0.5", "weight_cart": "2.0",
                               "weight_purchase": "8.0"}
    assert run.data.tags["weights_version"] == f"{cli.model}/2"


def test_invalid_weights_and_unknown_versions_are_clear_errors(cli):
    bad = cli("set", "click=1", "cart=-3", "purchase=5")
    assert bad.exit_code == 2
    assert "weight cart=-3.0 is negative" in bad.output
    assert cli("set", "click=1", "cart=3", "purchase=5").exit_code == 0
    missing = cli("promote", "9")
    assert missing.exit_code == 2
    assert f"version 9 of '{cli.model}' does not exist" in missing.output


def test_no_champion_is_a_clear_error_that_names_the_fix(cli):
    result = run_trend("weights", "show", env=cli.env)
    assert_one_line_error(result, f"'{cli.model}' has no 'champion' version",
                          "trend weights set click=1 cart=3 purchase=5 --promote")
    with pytest.raises(NoChampionError, match="--promote"):
        open_weights_source(
            _settings(cli.env["TREND_MLFLOW_TRACKING_URI"], cli.model)).start()


def test_ensure_default_registers_version_1_once(cli):
    first = cli("ensure-default")
    assert first.exit_code == 0, first.output
    assert f"registered {cli.model}/1 [champion]  click=1 cart=3 purchase=5  (default)" \
        in first.output
    again = cli("ensure-default")
    assert f"champion exists: {cli.model}/1 [champion]" in again.output
    assert len(json.loads(cli("list", "--json").output)) == 1
    # What the MLflow UI shows (as Markdown) for the model and for the version.
    mlflow = MlflowClient(cli.env["TREND_MLFLOW_TRACKING_URI"])
    assert mlflow.get_registered_model(cli.model).description == (
        "Event-type weights of the trend score, over each window: "
        "`score = click * clicks + cart * carts + purchase * purchases`. "
        "Alias `champion` is what the running job uses. Weights live in each version's "
        "tags, in its run's params and in the artifact `weights/weights.json`. "
        "Manage with `trend weights ...`.")
    assert mlflow.get_model_version(cli.model, "1").description == (
        "Default weights of a fresh deployment (click=1, cart=3, purchase=5).")


def hand_made_version(registry: WeightsRegistry, weights_json: str | None) -> int:
    """A version registered with MLflow's own client, its run holding ``weights_json`` (or
    no weights artifact at all), as a version made outside this package could be."""
    client = registry.client
    experiment = client.create_experiment(f"{registry.model_name}-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment)
    if weights_json is not None:
        client.log_text(run.info.run_id, weights_json, "weights/weights.json")
    client.set_terminated(run.info.run_id)
    return int(client.create_model_version(registry.model_name,
                                           source=f"{run.info.artifact_uri}/weights",
                                           run_id=run.info.run_id).version)


def test_a_version_without_valid_weights_is_refused(local_stack):
    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, unique_model())
    registry.client.create_registered_model(registry.model_name)
    missing = hand_made_version(registry, None)
    with pytest.raises(InvalidWeightsError,
                       match=f"{registry.model_name}/{missing} has no weights artifact at "
                             r".*/weights/weights\.json$"):
        registry.get(missing)
    invalid = hand_made_version(registry, '{"click": 1, "cart": "3", "purchase": 5}')
    with pytest.raises(InvalidWeightsError, match=r"weights\.json is invalid"):
        registry.get(invalid)
    valid = hand_made_version(registry, '{"click": 1, "cart": 3, "purchase": 5}')
    assert registry.get(valid).weights == Weights(1.0, 3.0, 5.0, f"{registry.model_name}/{valid}")


def test_a_model_that_does_not_exist_has_no_versions(local_stack):
    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, unique_model())
    assert registry.aliases() == {}
    assert registry.versions() == []
    with pytest.raises(VersionNotFoundError, match=r"version 1 of .* does not exist"):
        registry.get(1)
    with pytest.raises(NoChampionError):
        registry.champion()


# --- unreachable registry -----------------------------------------------------------------


def test_unreachable_registry_is_a_clear_error_fast(tmp_path):
    closed_port = free_port()  # nothing listens there any more
    env = {"TREND_STATE_DIR": str(tmp_path), "TREND_WEIGHTS_MODEL_NAME": "trend-weights",
           "TREND_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port}"}
    result = run_trend("weights", "show", env=env)
    assert_one_line_error(result, f"MLflow registry at http://127.0.0.1:{closed_port} is "
                                  "unreachable", "connection refused")
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="connection refused"):
        WeightsRegistry(f"http://127.0.0.1:{closed_port}", "trend-weights").champion()
    # MLflow's own default retries for minutes; ours gives up at once.
    assert time.monotonic() - started < 10


def test_silent_registry_times_out():
    """A server that accepts connections but never answers: the request timeout applies."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(RegistryUnavailableError, match="timed out"):
            WeightsRegistry(uri, "trend-weights").champion()
        # The reachability probe gives up after 5 s, not after minutes of retries.
        assert time.monotonic() - started < 30


# --- the job's weights source -------------------------------------------------------------


def _settings(tracking_uri: str, model: str, **overrides):
    from trend_tracker.settings import Settings

    return Settings(_env_file=None, mlflow_tracking_uri=tracking_uri,
                    weights_model_name=model, **overrides)


def test_source_switches_when_a_new_champion_is_promoted(local_stack):
    model = unique_model()
    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, model)
    v1 = registry.register({"click": 1, "cart": 3, "purchase": 5}, source="manual")
    registry.promote(v1.version)
    v2 = registry.register({"click": 2, "cart": 1, "purchase": 9}, source="manual")

    settings = _settings(local_stack.mlflow_tracking_uri, model, weights_poll_interval_s=0.2)
    with open_weights_source(settings) as source:
        assert source.current() == Weights(1.0, 3.0, 5.0, f"{model}/1")
        registry.promote(v2.version)
        assert wait_until(lambda: source.current().version == f"{model}/2")
        assert source.current() == Weights(2.0, 1.0, 9.0, f"{model}/2")
        assert source.status.switches == 1
        assert source.healthy


def test_source_keeps_the_last_good_weights_when_mlflow_goes_down(private_mlflow, caplog):
    model = unique_model()
    registry = WeightsRegistry(private_mlflow.uri, model)
    registry.promote(registry.register({"click": 1, "cart": 4, "purchase": 6},
                                       source="manual").version)
    settings = _settings(private_mlflow.uri, model, weights_poll_interval_s=0.1)
    expected = Weights(1.0, 4.0, 6.0, f"{model}/1")
    with caplog.at_level("WARNING", logger="registry.source"), \
            open_weights_source(settings) as source:
        assert source.current() == expected
        assert wait_until(lambda: source.status.polls >= 3)
        last_ok = source.status.last_success_ts
        assert source.healthy and last_ok is not None

        private_mlflow.stop()
        assert wait_until(lambda: not source.healthy)
        # Readers never block and keep scoring with the last good weights.
        readers_done = threading.Event()
        values = []

        def read():
            values.extend(source.current() for _ in range(1000))
            readers_done.set()

        threading.Thread(target=read).start()
        assert readers_done.wait(5)
        assert set(values) == {expected}
        assert wait_until(lambda: source.status.failures >= 3)
        status = source.status
        assert status.registry_up is False
        assert status.weights_version == f"{model}/1"
        assert status.last_success_ts >= last_ok
        assert "unreachable" in status.last_error
    warnings = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1 and f"keeping weights {model}/1" in warnings[0]


# --- train end to end ---------------------------------------------------------------------


def write_history(root: Path, windows: int, products: int = 10) -> list[dict]:
    """Snapshots written by the job's own Parquet writer (HOP 60 s / 30 s).

    Purchases in a window equal the carts of the window that ended when it started, so
    next-window purchases are exactly this window's carts. Category rows and rising rows
    carry noise that training must ignore (it reads the overall popular ranking only).
    """
    from udfs.parquet_sink import ParquetWindowWriter

    writer = ParquetWindowWriter(root.as_uri())
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    carts = {j: [(j * 5 + i * 2) % 7 for i in range(products)] for j in range(windows)}
    overall = []
    for j in range(windows):
        start = base + j * 30_000
        rows = []
        for i in range(products):
            row = {"window_start": start, "window_end": start + 60_000, "ranking": "popular",
                   "category": None,
                   "rank": i + 1, "product_id": f"p{i:02d}", "score": 0.0,
                   "clicks": (j * 7 + i * 3) % 11 + 1, "carts": carts[j][i],
                   "purchases": carts[j - 2][i] if j >= 2 else 0, "previous_rank": None,
                   "momentum": 1.0, "weights_version": "seed/1"}
            rows.append(row)
            overall.append(row)
            rows.append({**row, "category": "noise", "purchases": 1000 - i,
                         "clicks": 1000 * i})
            rows.append({**row, "ranking": "rising", "purchases": 2000 - i,
                         "clicks": 2000 * i})
        writer.write_window(start + 60_000, rows)
    return overall


def test_train_registers_and_promotes_a_better_version(cli, tmp_path, local_stack):
    write_history(tmp_path / "history", windows=40)
    assert cli("set", "click=1", "cart=0", "purchase=0", "--promote").exit_code == 0

    result = cli("train", "--parquet-root", (tmp_path / "history").as_uri(), "--k", "3",
                 "--promote")
    assert result.exit_code == 0, result.output
    assert "candidate: NDCG@3=1.0000 precision@3=1.0000" in result.output
    assert "candidate beats champion" in result.output
    assert f"promoted: champion -> {cli.model}/2" in result.output

    registry = WeightsRegistry(local_stack.mlflow_tracking_uri, cli.model)
    champion = registry.champion()
    assert champion.name == f"{cli.model}/2"
    assert champion.source == "trained"
    assert champion.weights.cart >= 0.9
    assert champion.weights.cart + champion.weights.click + champion.weights.purchase \
        == pytest.approx(1.0, abs=1e-3)
    assert champion.tags["data_start"] == "2026-01-01T00:00:00Z"
    assert champion.tags["data_end"] == "2026-01-01T00:20:30Z"  # window 39 ends 39*30+60 s
    assert champion.tags["compared_with"] == f"{cli.model}/1"
    run = registry.client.get_run(champion.run_id)
    assert run.data.metrics["ndcg_at_k"] == pytest.approx(1.0)
    assert run.data.metrics["precision_at_k"] == pytest.approx(1.0)
    assert run.data.metrics["champion_ndcg_at_k"] < 1.0
    assert run.data.params["k"] == "3"

    # Training again cannot beat an equal champion: registered as challenger only.
    again = cli("train", "--parquet-root", (tmp_path / "history").as_uri(), "--k", "3",
                "--promote")
    assert again.exit_code == 0, again.output
    assert "not promoted (it does not beat the champion" in again.output
    assert registry.aliases() == {"champion": 2, "challenger": 3}


def test_train_with_too_little_history_is_a_clear_error(cli, tmp_path):
    write_history(tmp_path / "history", windows=5)
    result = run_trend("weights", "train", "--parquet-root", (tmp_path / "history").as_uri(),
                       env=cli.env)
    assert_one_line_error(result, "too little history to train")
