"""Hand the job's settings to the Python functions that run in Flink's workers, without
their secrets.

The functions are serialised into the job graph with their parameters, and the job graph is
what a client submits, what the JobManager and its HA storage keep, and what its REST API
hands out. So the settings travel as JSON *without* the secret ones: the S3 keys, and the
credentials of every URL (a password or a credential query parameter, replaced by ``***``).
Each worker reads the S3 keys and the Redis URL itself when it opens, from

1. the file named by ``secrets_file``, when set (``TREND_<FIELD>=value`` lines, dotenv
   syntax): a mounted Kubernetes or Docker secret, or the private file an embedded run
   writes for its own workers (:func:`write_secrets_file`);
2. otherwise, or for a secret that file does not hold, its own environment: the ``TREND_*``
   variables the TaskManager was started with (docker-compose and Kubernetes give them
   from the stack's secrets).

A worker takes the Redis credentials from its ``TREND_REDIS_URL`` only when that URL names
the job's Redis (the same URL but for user and password); the client that submits the job
needs no password at all. Every other setting comes from the plan, so a worker never
depends on its own ``.env`` files.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from trend_tracker.redaction import has_credentials, redact_url, url_without_credentials
from trend_tracker.settings import Settings

#: The secret settings and the variables a worker reads them from.
SECRET_VARIABLES: dict[str, str] = {
    "redis_url": "TREND_REDIS_URL",
    "s3_access_key": "TREND_S3_ACCESS_KEY",
    "s3_secret_key": "TREND_S3_SECRET_KEY",
}
class SecretsError(RuntimeError):
    """A worker cannot get the secrets the job needs from its secrets file or environment."""


def settings_to_json(settings: Settings) -> str:
    """The settings for the job graph: every field, the secrets left out, and every URL
    without its credentials (user information or query parameters, see
    :mod:`trend_tracker.redaction`)."""
    values = settings.model_dump(mode="json", exclude={"s3_access_key", "s3_secret_key",
                                                       "kafka_sasl_password"})
    for name, value in values.items():
        if isinstance(value, str) and "://" in value:
            values[name] = redact_url(value)
    # The workers write to Redis and S3 only: they need no Kafka password.
    values.update(s3_access_key=None, s3_secret_key=None, kafka_sasl_password=None)
    return json.dumps(values)


def read_secrets(secrets_file: str | Path | None,
                 environ: Mapping[str, str]) -> dict[str, str | None]:
    """The secret variables a worker sees: from ``secrets_file`` when it holds them, else
    from ``environ``. An empty value means "not set"."""
    from_file: dict[str, str | None] = {}
    if secrets_file is not None:
        from dotenv import dotenv_values

        path = Path(secrets_file)
        if not path.is_file():
            raise SecretsError(f"secrets file {path} not found")
        from_file = dotenv_values(path, interpolate=False)
    secrets = {}
    for variable in SECRET_VARIABLES.values():
        value = from_file[variable] if variable in from_file else environ.get(variable)
        secrets[variable] = value or None
    return secrets


def _redis_url(plan_url: str, worker_url: str | None) -> str:
    """The URL a worker connects with: the job's Redis, with the worker's credentials."""
    if worker_url is None:
        if has_credentials(plan_url):
            raise SecretsError(
                f"the job's redis_url {plan_url} has a password, but this worker has no "
                f"TREND_REDIS_URL (in its environment or secrets file)")
        return plan_url
    if url_without_credentials(worker_url) != url_without_credentials(plan_url):
        raise SecretsError(
            f"this worker's TREND_REDIS_URL ({redact_url(worker_url)}) names another Redis "
            f"than the job's redis_url ({plan_url})")
    return worker_url


def settings_from_json(text: str, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of a worker: the plan's, with the secrets this worker reads itself.

    ``environ`` defaults to the worker's environment. Raises :class:`SecretsError` when
    the job's Redis needs a password the worker does not have, or the worker's
    ``TREND_REDIS_URL`` names another Redis.
    """
    values = json.loads(text)
    secrets = read_secrets(values.get("secrets_file"),
                           os.environ if environ is None else environ)
    values["redis_url"] = _redis_url(values["redis_url"], secrets["TREND_REDIS_URL"])
    values["s3_access_key"] = secrets["TREND_S3_ACCESS_KEY"]
    values["s3_secret_key"] = secrets["TREND_S3_SECRET_KEY"]
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _dotenv_value(value: str | None) -> str:
    if not value:
        return ""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def write_secrets_file(settings: Settings) -> Path:
    """Write the secrets of ``settings`` to a new private file for this process's workers.

    For an embedded run, whose workers run on this machine: a file readable by this user
    only (0600) in ``<state_dir>/secrets`` (0700), removed when this process exits. Every
    secret is written, an unset one as empty, so a worker never takes one from elsewhere.
    """
    directory = settings.state_dir.resolve() / "secrets"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    secret_key = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    values = {"TREND_REDIS_URL": settings.redis_url,
              "TREND_S3_ACCESS_KEY": settings.s3_access_key,
              "TREND_S3_SECRET_KEY": secret_key}
    descriptor, name = tempfile.mkstemp(prefix="job-", suffix=".env", dir=directory)
    path = Path(name)
    atexit.register(_remove, path)
    with os.fdopen(descriptor, "w") as file:
        for variable, value in values.items():
            file.write(f"{variable}={_dotenv_value(value)}\n")
    return path
