"""The settings the job graph carries to the Python workers: everything but the secrets.

The workers read the Redis password and the S3 keys from their secrets file or their
environment (``udfs.settings_transport``); the job graph never holds them.
"""

from __future__ import annotations

import json
import stat

import pytest

from trend_tracker.settings import Settings
from udfs.settings_transport import (
    SecretsError,
    redact_url,
    settings_from_json,
    settings_to_json,
    write_secrets_file,
)

PASSWORD = "pw-7f3a%23%24x"  # percent-encoded in the URL, as redis-py reads it
REDIS_URL = f"redis://:{PASSWORD}@redis.internal:6379/2"
SECRET_KEY = "secret-4d2b#$'\" \\x ${HOME}"  # what a dotenv file must keep as it is
WORKER_ENV = {"TREND_REDIS_URL": REDIS_URL, "TREND_S3_ACCESS_KEY": "access-9c1e",
              "TREND_S3_SECRET_KEY": SECRET_KEY}


def client_settings(**overrides) -> Settings:
    values = {"redis_url": REDIS_URL, "s3_access_key": "access-9c1e",
              "s3_secret_key": SECRET_KEY, "top_n": 7}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_the_plan_holds_no_secret():
    plan = settings_to_json(client_settings())
    for secret in (PASSWORD, "access-9c1e", SECRET_KEY, "secret-4d2b"):
        assert secret not in plan
    values = json.loads(plan)
    assert values["redis_url"] == "redis://:***@redis.internal:6379/2"
    assert values["s3_access_key"] is None and values["s3_secret_key"] is None
    assert values["top_n"] == 7


@pytest.mark.parametrize("url, redacted", [
    ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
    ("redis://user:pw@h:6379/0", "redis://user:***@h:6379/0"),
    ("rediss://:p%40ss@h/1", "rediss://:***@h/1"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("redis://:p#a/s@s@h:6379/0", "redis://:***@h:6379/0"),  # never taken for the host
    ("unix://:pw@/run/redis.sock?db=3", "unix://:***@/run/redis.sock?db=3"),
    ("redis://h:6379/0?password=pw", "redis://h:6379/0?password=***"),
    ("redis://h/0?client_name=a@b&Password=p@w&db=1",
     "redis://h/0?client_name=a@b&Password=***&db=1"),  # an "@" in the query is the query's
    ("redis://u@h/0?username=u&password=pw", "redis://u@h/0?username=u&password=***"),
    ("redis://:p?x@h/0", "redis://:***@h/0"),  # a "?" in the password: no query follows
    ("http://ds:pw@mlflow:5000", "http://ds:***@mlflow:5000"),
    ("https://mlflow/?token=t0&x=1", "https://mlflow/?token=***&x=1"),
    ("s3://b/k?X-Amz-Signature=s1&X-Amz-Credential=c1",
     "s3://b/k?X-Amz-Signature=***&X-Amz-Credential=***"),
    ("http://mlflow:5000", "http://mlflow:5000"),
])
def test_redact_url_hides_only_the_credentials(url, redacted):
    assert redact_url(url) == redacted


def test_no_url_credential_of_any_form_reaches_the_plan():
    settings = client_settings(redis_url="redis://redis.internal:6379/2?password=q-pw-1",
                               mlflow_tracking_uri="http://ds:m-pw-2@mlflow:5000",
                               s3_endpoint_url="http://minio:9000/?X-Amz-Signature=sig-3")
    plan = settings_to_json(settings)
    for secret in ("q-pw-1", "m-pw-2", "sig-3"):
        assert secret not in plan
    values = json.loads(plan)
    assert (values["redis_url"], values["mlflow_tracking_uri"], values["s3_endpoint_url"]) == (
        "redis://redis.internal:6379/2?password=***", "http://ds:***@mlflow:5000",
        "http://minio:9000/?X-Amz-Signature=***")


def test_a_worker_takes_a_redis_password_given_as_a_query_parameter():
    url = "redis://redis.internal:6379/2?password=q-pw-1"
    plan = settings_to_json(client_settings(redis_url=url))
    assert settings_from_json(plan, environ={**WORKER_ENV, "TREND_REDIS_URL": url}
                              ).redis_url == url
    with pytest.raises(SecretsError, match="has a password, but this worker has no"):
        settings_from_json(plan, environ={})


def test_a_worker_takes_its_secrets_from_its_environment():
    settings = settings_from_json(settings_to_json(client_settings()), environ=WORKER_ENV)
    assert settings == client_settings()
    assert settings.s3_secret_key.get_secret_value() == SECRET_KEY
    assert settings.s3_storage_options["secret_key"] == SECRET_KEY


def test_a_secrets_file_wins_over_the_environment(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("# mounted from the Secret\n"
                    "TREND_S3_SECRET_KEY=secret-from-file\n"
                    f"TREND_REDIS_URL='{REDIS_URL.replace(PASSWORD, 'file-pw')}'\n")
    plan = settings_to_json(client_settings(secrets_file=path))
    settings = settings_from_json(plan, environ=WORKER_ENV)
    assert settings.s3_secret_key.get_secret_value() == "secret-from-file"
    assert settings.redis_url == "redis://:file-pw@redis.internal:6379/2"
    assert settings.s3_access_key == "access-9c1e"  # not in the file: the environment


def test_a_missing_secrets_file_is_a_clear_error(tmp_path):
    plan = settings_to_json(client_settings(secrets_file=tmp_path / "missing.env"))
    with pytest.raises(SecretsError, match=r"secrets file .*missing\.env not found"):
        settings_from_json(plan, environ=WORKER_ENV)


def test_a_worker_without_the_redis_password_fails_clearly():
    plan = settings_to_json(client_settings())
    with pytest.raises(SecretsError) as raised:
        settings_from_json(plan, environ={})
    assert str(raised.value) == (
        "the job's redis_url redis://:***@redis.internal:6379/2 has a password, but this "
        "worker has no TREND_REDIS_URL (in its environment or secrets file)")


def test_a_worker_whose_redis_is_another_server_fails_clearly():
    plan = settings_to_json(client_settings())
    with pytest.raises(SecretsError) as raised:
        settings_from_json(plan, environ={
            "TREND_REDIS_URL": f"redis://:{PASSWORD}@other:6379/2"})
    assert str(raised.value) == (
        "this worker's TREND_REDIS_URL (redis://:***@other:6379/2) names another Redis than "
        "the job's redis_url (redis://:***@redis.internal:6379/2)")


def test_the_submitting_client_needs_no_secret():
    """A client without the password submits; the TaskManagers hold it."""
    plan = settings_to_json(client_settings(redis_url="redis://redis.internal:6379/2",
                                            s3_access_key=None, s3_secret_key=None))
    settings = settings_from_json(plan, environ=WORKER_ENV)
    assert settings.redis_url == REDIS_URL
    assert settings.s3_access_key == "access-9c1e"


def test_without_any_secret_the_plan_is_enough():
    plan = settings_to_json(Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0"))
    settings = settings_from_json(plan, environ={})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.s3_access_key is None and settings.s3_secret_key is None


def test_the_embedded_secrets_file_is_private_and_round_trips(tmp_path):
    settings = client_settings(state_dir=tmp_path / "state")
    path = write_secrets_file(settings)
    assert path.parent.parent == (tmp_path / "state").resolve()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    plan = settings_to_json(settings.model_copy(update={"secrets_file": path}))
    # The file alone is enough: nothing from the environment is needed or used.
    again = settings_from_json(plan, environ={"TREND_S3_SECRET_KEY": "not-this-one"})
    assert again.redis_url == REDIS_URL
    assert again.s3_access_key == "access-9c1e"
    assert again.s3_secret_key.get_secret_value() == SECRET_KEY


def test_the_embedded_secrets_file_says_so_when_a_secret_is_unset(tmp_path):
    settings = client_settings(state_dir=tmp_path, s3_secret_key=None)
    path = write_secrets_file(settings)
    plan = settings_to_json(settings.model_copy(update={"secrets_file": path}))
    again = settings_from_json(plan, environ=WORKER_ENV)
    assert again.s3_secret_key is None  # unset in the client: not taken from elsewhere
