"""Reaching the MLflow server: short HTTP timeouts and a reachability probe.

MLflow's HTTP client retries for minutes by default. :func:`connect` shortens that and
probes the server before the first call, so an unreachable registry is reported in
seconds (and before mlflow, which takes seconds to import, is imported at all).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from registry.errors import RegistryUnavailableError, first_line
from trend_tracker.redaction import redact_url

if TYPE_CHECKING:  # mlflow is imported lazily: it takes seconds to import
    from mlflow import MlflowClient

#: MLflow client HTTP behaviour unless the operator sets these variables: no retries
#: instead of MLflow's default of minutes of them (the job's poller simply polls again
#: later, and its log gets one line per outage, not one per retry); a busy server gets
#: 15 s per request.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
}
#: How long the reachability probe waits for ``/health`` before reporting the registry
#: unreachable.
PROBE_TIMEOUT_S = 5.0


def configure_http() -> None:
    """Set short MLflow HTTP timeouts/retries unless the environment already sets them."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # The run URL is printed by the registry's callers where it helps, not on every run end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def probe_server(tracking_uri: str) -> None:
    """Raise :class:`registry.errors.RegistryUnavailableError` if an http(s) tracking
    server does not answer.

    Any HTTP answer counts as reachable (auth and paths are MLflow's business); only
    connection failures and timeouts do not. Other URI schemes are not probed.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryUnavailableError(
            f"MLflow registry at {redact_url(tracking_uri)} is unreachable: "
            f"{first_line(str(reason))}"
        ) from None


def connect(tracking_uri: str) -> MlflowClient:
    """An MLflow client of the tracking server and model registry at ``tracking_uri``,
    once the server has answered the probe."""
    configure_http()
    probe_server(tracking_uri)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
