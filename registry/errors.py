"""The registry's errors, and the one place where MLflow's failures become them.

MLflow reports a failure as an ``MlflowException`` whose ``error_code`` says what went
wrong (``RESOURCE_DOES_NOT_EXIST``, ``RESOURCE_ALREADY_EXISTS``, ...). A ``RestException``
is the server's answer; any other ``MlflowException`` with a server-error code means the
request itself failed (connection refused, timed out). :func:`registry_error` maps them;
every message is one readable line.
"""

from __future__ import annotations

from trend_tracker.redaction import redact_url

#: Error codes of a registry resource that does not exist.
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
#: Error codes of a create call whose resource exists already.
ALREADY_EXISTS_CODES = frozenset({"RESOURCE_ALREADY_EXISTS"})
#: Error codes of a server that failed, or of a request that did not get an answer.
UNAVAILABLE_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE",
                               "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"})


class RegistryError(RuntimeError):
    """A registry operation failed; the message is one readable line."""


class RegistryUnavailableError(RegistryError):
    """The MLflow server cannot be reached or answered with a server error."""


class NoChampionError(RegistryError):
    """The registered model has no version under the production alias yet."""


class ModelNotFoundError(RegistryError):
    """The registered weights model does not exist (nothing was registered yet)."""


class VersionNotFoundError(RegistryError):
    """The requested version of the weights model does not exist."""


class AlreadyExistsError(RegistryError):
    """A create call found its resource there already (another process made it)."""


def unreachable(tracking_uri: str, what: str, reason: str) -> RegistryUnavailableError:
    """The error of a request to the registry that got no answer."""
    return RegistryUnavailableError(
        f"MLflow registry at {redact_url(tracking_uri)} is unreachable ({what}): {reason}")


def registry_error(exc: Exception, what: str, tracking_uri: str,
                   missing: type[Exception] = RegistryError) -> Exception:
    """The registry error for a failed MLflow call ``what`` (an ``MlflowException`` or an
    ``OSError``).

    ``missing`` is what a missing resource means for this call: :class:`ModelNotFoundError`
    when it read the model, :class:`VersionNotFoundError` when it read a version (any
    exception class that takes a message).
    """
    from mlflow.exceptions import MlflowException, RestException

    if not isinstance(exc, MlflowException):  # a socket error below MLflow's client
        return unreachable(tracking_uri, what, str(exc))
    code, reason = exc.error_code, first_line(exc.message)
    if code in NOT_FOUND_CODES:
        return missing(f"{what}: {reason}")
    if code in ALREADY_EXISTS_CODES:
        return AlreadyExistsError(f"{what}: {reason}")
    if code in UNAVAILABLE_CODES:
        if isinstance(exc, RestException):
            return RegistryUnavailableError(
                f"MLflow registry at {redact_url(tracking_uri)} failed ({what}): {reason}")
        return unreachable(tracking_uri, what, reason)
    return RegistryError(f"{what}: {reason}")


def first_line(text: str) -> str:
    """A short reason: the connection failure's cause, or the message's first line."""
    text = str(text).strip()
    lowered = text.lower()
    for needle, reason in (("connection refused", "connection refused"),
                           ("timed out", "request timed out"),
                           ("name or service not known", "unknown host"),
                           ("temporary failure in name resolution", "unknown host"),
                           ("remote end closed connection", "connection closed by server")):
        if needle in lowered:
            return reason
    return (text.splitlines()[0] if text else "")[:300]
