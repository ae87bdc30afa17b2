"""The settings object: defaults, environment, overrides and fail-fast validation."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from trend_tracker.settings import Settings, load_settings, settings_from_env


def test_defaults_describe_a_laptop(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("TREND_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    assert settings.event_topics == {"click": "clicks", "cart": "carts", "purchase": "purchases"}
    assert settings.topic_dead_letters == "events-dlq"
    assert settings.all_topics == ["clicks", "carts", "purchases", "events-dlq"]
    assert (settings.window_size_s, settings.window_slide_s) == (600, 30)
    assert settings.out_of_orderness_s == 5
    assert settings.max_future_skew_s == 60
    assert settings.top_n == 100


def test_environment_is_read_with_prefix(monkeypatch):
    monkeypatch.setenv("TREND_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("TREND_TOP_N", "25")
    monkeypatch.setenv("TREND_API_CORS_ORIGINS", '["https://shop.example"]')
    settings = Settings(_env_file=None)
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.top_n == 25
    assert settings.api_cors_origins == ["https://shop.example"]


def test_cli_overrides_beat_environment_and_none_is_ignored(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TREND_TOP_N", "25")
    settings = load_settings(top_n=7, redis_url=None)
    assert settings.top_n == 7
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_stack_env_file_beats_dot_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("TREND_"):
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text("TREND_REDIS_URL=redis://old:1/0\nTREND_TOP_N=9\n")
    (tmp_path / ".trend").mkdir()
    (tmp_path / ".trend" / "stack.env").write_text("TREND_REDIS_URL=redis://127.0.0.1:4242/0\n")
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:4242/0"
    assert settings.top_n == 9


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("parquet_root_uri", "hdfs://x", "file:// or s3://"),
        ("redis_url", "http://x", "redis_url"),
        ("topic_clicks", "bad topic", "invalid Kafka topic"),
        ("top_n", 0, "greater than or equal to 1"),
        ("rising_prior", 1e-320, "greater than or equal to 0.000001"),
        ("rising_prior", 0, "greater than or equal to 0.000001"),
        ("rising_recent_slides", 0, "greater than or equal to 1"),
        ("rising_dispersion", 0.5, "greater than or equal to 1"),
        ("rising_min_z", "high", "valid number"),
    ],
)
def test_invalid_values_fail_fast_with_a_clear_message(field, value, message):
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **{field: value})


def test_the_least_rising_prior_keeps_every_momentum_finite():
    """The largest score (every weight 1e6, three event types counted 2**63 - 1 times)
    over the least prior, as the job computes it in doubles."""
    largest_score = 3 * 1e6 * float(2**63 - 1)
    least = Settings(_env_file=None, rising_prior=1e-6, rising_min_score=0).rising_prior
    greatest = Settings(_env_file=None, rising_prior=1e12).rising_prior
    for prior in (least, greatest):
        assert math.isfinite((largest_score + prior) / (0.0 + prior))
        # A recent span of one slide of a day's window sliding by a second.
        assert math.isfinite((largest_score / (1 / 86_400) + prior) / (0.0 + prior))
    # The control: below the bound it was not.
    assert math.isinf((10.0 + 1e-320) / (0.0 + 1e-320))


@pytest.mark.parametrize(("value", "expected"), [("none", None), ("", None), ("2.5", 2.5)])
def test_the_significance_test_is_turned_off_with_none(monkeypatch, value, expected):
    monkeypatch.setenv("TREND_RISING_MIN_Z", value)
    assert Settings(_env_file=None).rising_min_z == expected


def test_window_size_must_be_a_multiple_of_the_slide():
    with pytest.raises(ValidationError, match="multiple of"):
        Settings(_env_file=None, window_size_s=60, window_slide_s=7)


def test_duplicates_and_the_per_user_cap_have_defaults_off_switches_and_bounds(monkeypatch):
    settings = Settings(_env_file=None)
    assert (settings.dedup_horizon_s, settings.max_events_per_user) == (300, 5)
    monkeypatch.setenv("TREND_DEDUP_HORIZON_S", "0")
    monkeypatch.setenv("TREND_MAX_EVENTS_PER_USER", "0")
    assert (Settings(_env_file=None).dedup_horizon_s,
            Settings(_env_file=None).max_events_per_user) == (0, 0)
    for field in ("dedup_horizon_s", "max_events_per_user"):
        with pytest.raises(ValidationError, match=rf"{field}\n.*greater than or equal to 0"):
            Settings(_env_file=None, **{field: -1})
    with pytest.raises(ValidationError, match=r"dedup_horizon_s\n.*less than or equal to 86400"):
        Settings(_env_file=None, dedup_horizon_s=86_401)


def test_relative_parquet_root_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, parquet_root_uri="file://out/parquet")
    assert settings.parquet_root == f"file://{tmp_path.resolve()}/out/parquet"


def test_s3_options_split_the_endpoint():
    settings = Settings(_env_file=None, s3_endpoint_url="http://127.0.0.1:9000",
                        s3_access_key="k", s3_secret_key="s")
    assert settings.s3_storage_options == {
        "region": "us-east-1", "access_key": "k", "secret_key": "s",
        "endpoint_override": "127.0.0.1:9000", "scheme": "http",
    }


def test_secrets_are_not_shown_in_repr():
    settings = Settings(_env_file=None, s3_secret_key="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)


def test_settings_from_an_environment_mapping_round_trip_as_env(monkeypatch):
    monkeypatch.setenv("TREND_TOP_N", "25")  # the process environment loses to the mapping
    env = {"TREND_TOP_N": "7", "TREND_REDIS_URL": "redis://r:1/0", "PATH": "/bin"}
    settings = settings_from_env(env, redis_url="redis://override:2/0")
    assert (settings.top_n, settings.redis_url) == (7, "redis://override:2/0")
    original = Settings(_env_file=None, top_n=12, api_cors_origins=["https://shop.example"],
                        s3_secret_key="hunter2-secret")
    assert settings_from_env(original.as_env()) == original


def test_a_renamed_variable_is_refused_with_its_new_name(monkeypatch, tmp_path):
    from trend_tracker.settings import RenamedSettingError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TREND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TREND_TOPIC_DLQ", "my-dead-letters")
    with pytest.raises(RenamedSettingError) as error:
        load_settings()
    assert str(error.value) == ("TREND_TOPIC_DLQ was renamed TREND_TOPIC_DEAD_LETTERS: set that "
                                "instead (the old name is not read)")


def test_a_renamed_variable_in_a_dotenv_file_is_refused_too(monkeypatch, tmp_path):
    from trend_tracker.settings import RenamedSettingError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TREND_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / ".env").write_text("# comment\nexport TREND_DLQ_PAYLOAD_PREFIX_BYTES=100\n")
    with pytest.raises(RenamedSettingError, match="TREND_DEAD_LETTER_PAYLOAD_PREFIX_BYTES"):
        load_settings()


def test_unknown_trend_variables_are_named_in_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TREND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TREND_TOPN", "5")
    monkeypatch.setenv("TREND_WINDOW_SIZE", "60")
    monkeypatch.setenv("TREND_TOP_N", "7")
    with caplog.at_level("WARNING", logger="trend_tracker.settings"):
        settings = load_settings()
    assert settings.top_n == 7
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring TREND_TOPN, TREND_WINDOW_SIZE: no such setting (see .env.example)"]


def test_every_variable_the_deployments_set_is_a_setting():
    from trend_tracker.settings import _env_file_names, unknown_variables

    root = Path(__file__).resolve().parents[2]
    assert unknown_variables(_env_file_names(root / ".env.example")) == []
    texts = [root.joinpath("docker-compose.yml").read_text()]
    texts += [p.read_text() for p in (root / "deploy").rglob("*")
              if p.is_file() and p.suffix in (".sh", ".yaml", ".yml", ".env")]
    names = sorted(set(re.findall(r"\bTREND_[A-Z0-9_]+", "".join(texts))))
    assert names, "no TREND_ variable found in the deployments"
    assert unknown_variables(names) == []


@pytest.mark.parametrize("variable, value, message", [
    ("TREND_TOPIC_DLQ", "x", "error: invalid settings: TREND_TOPIC_DLQ was renamed "
                             "TREND_TOPIC_DEAD_LETTERS: set that instead (the old name is not "
                             "read)\n"),
    ("TREND_TOP_N", "abc", "error: invalid settings: 1 validation error for Settings\ntop_n\n"),
])
def test_the_command_line_says_which_setting_is_wrong_without_a_traceback(
        tmp_path, variable, value, message):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TREND_")}
    env.update({variable: value, "TREND_STATE_DIR": str(tmp_path)})
    result = subprocess.run([sys.executable, "-m", "trend_tracker.cli", "redis", "rebuild"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("interval_s", "expected_s"), [(30, 330), (5, 305), (600, 900)])
def test_dead_letter_transactions_outlive_a_checkpoint_and_a_restart(interval_s, expected_s):
    """By default the timeout is the checkpoint interval plus 5 minutes, at most the
    broker's default maximum of 15 minutes."""
    settings = Settings(_env_file=None, checkpoint_interval_s=interval_s)
    assert settings.dead_letter_transaction_timeout == expected_s


@pytest.mark.parametrize(("values", "timeout_s"), [
    ({"checkpoint_interval_s": 900}, 900),
    ({"checkpoint_interval_s": 30, "dead_letter_transaction_timeout_s": 60}, 60),
])
def test_a_transaction_timeout_shorter_than_a_checkpoint_is_refused(values, timeout_s):
    with pytest.raises(ValidationError, match=re.escape(
            f"the dead-letter transaction timeout ({timeout_s} s")):
        Settings(_env_file=None, **values)
