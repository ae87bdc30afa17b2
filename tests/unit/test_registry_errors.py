"""MLflow's failures become the registry's errors by their error codes (no server needed)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException, RestException

from registry.errors import (
    AlreadyExistsError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
    VersionNotFoundError,
    registry_error,
)

URI = "http://mlflow:5000"


def answer(code: str, message: str) -> RestException:
    """The server's answer with an error code, as MLflow's REST client raises it."""
    return RestException({"error_code": code, "message": message})


@pytest.mark.parametrize("missing", [ModelNotFoundError, VersionNotFoundError])
def test_a_missing_resource_is_what_the_call_asked_for(missing):
    error = registry_error(answer("RESOURCE_DOES_NOT_EXIST", "Registered Model x not found"),
                           "read model", URI, missing)
    assert type(error) is missing
    assert str(error) == "read model: RESOURCE_DOES_NOT_EXIST: Registered Model x not found"


def test_a_model_that_does_not_exist_is_not_a_missing_version():
    error = registry_error(answer("RESOURCE_DOES_NOT_EXIST", "Registered Model x not found"),
                           "read model", URI, ModelNotFoundError)
    assert not isinstance(error, VersionNotFoundError)


def test_an_existing_resource_on_create():
    error = registry_error(answer("RESOURCE_ALREADY_EXISTS", "Registered Model x already exists."),
                           "create model", URI)
    assert type(error) is AlreadyExistsError


def test_a_server_error_means_the_registry_failed():
    error = registry_error(answer("INTERNAL_ERROR", "database is locked\ntrace"), "list versions",
                           URI)
    assert type(error) is RegistryUnavailableError
    assert str(error) == (f"MLflow registry at {URI} failed (list versions): "
                          "INTERNAL_ERROR: database is locked")


def test_a_request_without_an_answer_means_the_registry_is_unreachable():
    failed = MlflowException("API request to http://mlflow:5000/api failed with exception "
                             "NewConnectionError([Errno 111] Connection refused)",
                             error_code="INTERNAL_ERROR")
    error = registry_error(failed, "read model", URI)
    assert type(error) is RegistryUnavailableError
    assert str(error) == f"MLflow registry at {URI} is unreachable (read model): connection refused"
    socket_error = registry_error(TimeoutError("timed out"), "read model", URI)
    assert str(socket_error) == f"MLflow registry at {URI} is unreachable (read model): timed out"


def test_anything_else_is_a_registry_error_with_its_reason():
    error = registry_error(answer("INVALID_PARAMETER_VALUE", "Invalid alias name: 'a/b'."),
                           "set alias a/b", URI)
    assert type(error) is RegistryError
    assert str(error) == "set alias a/b: INVALID_PARAMETER_VALUE: Invalid alias name: 'a/b'."


def test_a_tracking_uri_with_credentials_is_named_without_them():
    uri = "http://ds:pw-3c9@mlflow:5000/?token=tk-81f"
    errors = [registry_error(OSError("connection refused"), "read model", uri),
              registry_error(answer("TEMPORARILY_UNAVAILABLE", "busy"), "read model", uri)]
    assert [str(error) for error in errors] == [
        "MLflow registry at http://ds:***@mlflow:5000/?token=*** is unreachable (read model): "
        "connection refused",
        "MLflow registry at http://ds:***@mlflow:5000/?token=*** failed (read model): "
        "TEMPORARILY_UNAVAILABLE: busy"]


def test_probing_a_tracking_uri_with_credentials_names_it_without_them():
    from registry.connection import probe_server
    from trend_tracker.processes import free_port

    with pytest.raises(RegistryUnavailableError) as raised:
        probe_server(f"http://ds:pw-3c9@127.0.0.1:{free_port()}")
    assert "pw-3c9" not in str(raised.value)
    assert str(raised.value).startswith("MLflow registry at http://ds:***@127.0.0.1:")
