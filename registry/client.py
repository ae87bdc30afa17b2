"""The weights registry: weight models as registered-model versions in MLflow.

A version holds weights as data, never code:

- the JSON artifact ``weights/weights.json`` of its run (validated against
  :data:`registry.weights.WEIGHTS_SCHEMA`; this is what loading reads),
- run params ``weight_click``, ``weight_cart``, ``weight_purchase`` (immutable, shown in
  the run page),
- version tags with the same weights plus where the version came from
  (``weights_source`` = ``manual``/``default``/``trained``, ``data_start``/``data_end`` of a
  trained version), so the model page of the MLflow UI shows them without a click.

The alias ``champion`` (``settings.weights_alias``) marks the weights in production and
``challenger`` can mark a candidate. A version is named ``"<model name>/<version>"``,
e.g. ``trend-weights/3``: that string is the ``weights_version`` of every output row.

MLflow's HTTP client retries for minutes by default; :func:`configure_http` shortens that
so an unreachable registry is reported in seconds.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from registry.weights import (
    DEFAULT_WEIGHTS,
    WEIGHTS_SCHEMA,
    InvalidWeightsError,
    Weights,
    validate_weights,
)

if TYPE_CHECKING:  # mlflow is imported lazily: it takes seconds to import
    from mlflow import MlflowClient

    from trend_tracker.settings import Settings

WEIGHTS_ARTIFACT_DIR = "weights"
WEIGHTS_ARTIFACT = "weights.json"
CHALLENGER_ALIAS = "challenger"
SOURCE_TAG = "weights_source"
SOURCES = ("default", "manual", "trained")

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

MODEL_DESCRIPTION = (
    "Event-type weights of the trend score: trend_score = click*clicks + cart*carts + "
    "purchase*purchases over each window. Alias 'champion' is what the running job uses. "
    "Weights live in each version's tags, in its run's params and in the artifact "
    "weights/weights.json. Manage with `trend weights ...`."
)


class RegistryError(RuntimeError):
    """A registry operation failed; the message is one readable line."""


class RegistryUnavailableError(RegistryError):
    """The MLflow server cannot be reached or answered with a server error."""


class NoChampionError(RegistryError):
    """The registered model has no version under the production alias yet."""


class VersionNotFoundError(RegistryError):
    """The requested version of the weights model does not exist."""


def configure_http(overrides: Mapping[str, str] | None = None) -> None:
    """Set short MLflow HTTP timeouts/retries unless the environment already sets them."""
    for name, value in {**HTTP_DEFAULTS, **(overrides or {})}.items():
        os.environ.setdefault(name, value)
    # The run URL is printed by this module's callers where it helps, not on every run end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def probe_server(tracking_uri: str, timeout_s: float | None = None) -> None:
    """Raise :class:`RegistryUnavailableError` if an http(s) tracking server does not answer.

    Any HTTP answer counts as reachable (auth and paths are MLflow's business); only
    connection failures and timeouts do not. Other URI schemes are not probed.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    timeout = timeout_s or PROBE_TIMEOUT_S
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryUnavailableError(
            f"MLflow registry at {tracking_uri} is unreachable: {_first_line(str(reason))}"
        ) from None


def weights_version_name(model_name: str, version: int | str) -> str:
    """The ``weights_version`` string of a registered version: ``trend-weights/3``."""
    return f"{model_name}/{version}"


def parse_weights_json(text: str, version: str) -> Weights:
    """Validate a ``weights.json`` document (schema, then finiteness) into :class:`Weights`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidWeightsError(f"{version}: weights.json is not JSON: {exc}") from None
    try:
        jsonschema.validate(document, WEIGHTS_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise InvalidWeightsError(f"{version}: weights.json is invalid: {exc.message}") from None
    return Weights.from_mapping(document, version)


def weights_tags(weights: Weights) -> dict[str, str]:
    """Version/run tags that show the weights in the MLflow UI: ``weight_click`` ..."""
    return {f"weight_{name}": repr(value) for name, value in weights.as_dict().items()}


@dataclass(frozen=True)
class WeightsVersion:
    """One registered version: its weights, aliases and where it came from."""

    weights: Weights
    model_name: str
    version: int
    aliases: tuple[str, ...] = ()
    source: str = "unknown"
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_ms: int | None = None

    @property
    def name(self) -> str:
        return weights_version_name(self.model_name, self.version)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (used by ``--json`` output)."""
        return {
            "weights_version": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "weights": self.weights.as_dict(),
            "source": self.source,
            "run_id": self.run_id,
            "tags": dict(self.tags),
            "created_ms": self.created_ms,
        }


class WeightsRegistry:
    """Read and write weights versions of one registered model.

    Construction is cheap (no network, no mlflow import); the MLflow client is created on
    first use. Safe to share between threads: versions are immutable, so their weights are
    cached per version.
    """

    def __init__(self, tracking_uri: str, model_name: str, alias: str = "champion") -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()
        self._weights_cache: dict[int, Weights] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WeightsRegistry:
        return cls(settings.mlflow_tracking_uri, settings.weights_model_name,
                   settings.weights_alias)

    # --- plumbing ----------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        with self._lock:
            if self._client is None:
                configure_http()
                # Importing mlflow takes seconds; learn that the server is down before that.
                probe_server(self.tracking_uri)
                from mlflow import MlflowClient

                self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                            registry_uri=self.tracking_uri)
            return self._client

    def _call(self, what: str, func, *args, **kwargs):
        """Run one MLflow call, turning its failures into one-line registry errors."""
        from mlflow.exceptions import MlflowException, RestException

        try:
            return func(*args, **kwargs)
        except RestException as exc:
            raise _rest_error(exc, what, self) from None
        except MlflowException as exc:
            raise RegistryUnavailableError(
                f"MLflow registry at {self.tracking_uri} is unreachable ({what}): "
                f"{_first_line(exc.message)}"
            ) from None
        except OSError as exc:
            raise RegistryUnavailableError(
                f"MLflow registry at {self.tracking_uri} is unreachable ({what}): {exc}"
            ) from None

    def _load_weights(self, version: int, source: str) -> Weights:
        cached = self._weights_cache.get(version)
        if cached is not None:
            return cached
        name = weights_version_name(self.model_name, version)
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory(prefix="trend-weights-") as tmp:
            uri = f"{source.rstrip('/')}/{WEIGHTS_ARTIFACT}"
            try:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self.tracking_uri)
            except MlflowException as exc:
                if "RESOURCE_DOES_NOT_EXIST" in exc.message or "404" in exc.message:
                    raise InvalidWeightsError(f"{name} has no weights artifact at {uri}") from None
                raise RegistryUnavailableError(
                    f"MLflow registry at {self.tracking_uri} is unreachable (download weights "
                    f"of {name}): {_first_line(exc.message)}") from None
            except OSError as exc:
                raise RegistryUnavailableError(
                    f"MLflow registry at {self.tracking_uri} is unreachable (download weights "
                    f"of {name}): {exc}") from None
            weights = parse_weights_json(Path(path).read_text(), name)
        self._weights_cache[version] = weights
        return weights

    def _version(self, model_version, aliases: tuple[str, ...] | None = None) -> WeightsVersion:
        version = int(model_version.version)
        tags = dict(model_version.tags or {})
        return WeightsVersion(
            weights=self._load_weights(version, model_version.source),
            model_name=self.model_name,
            version=version,
            aliases=tuple(aliases if aliases is not None else model_version.aliases or ()),
            source=tags.get(SOURCE_TAG, "unknown"),
            run_id=model_version.run_id,
            tags=tags,
            created_ms=model_version.creation_timestamp,
        )

    # --- reading -----------------------------------------------------------------------

    def champion(self, alias: str | None = None) -> WeightsVersion:
        """The version under ``alias`` (default: the production alias) with its weights."""
        alias = alias or self.alias
        try:
            model_version = self._call(f"read alias {alias}",
                                       self.client.get_model_version_by_alias,
                                       self.model_name, alias)
        except VersionNotFoundError:
            raise NoChampionError(
                f"registered model {self.model_name!r} has no '{alias}' version at "
                f"{self.tracking_uri}; set one with `trend weights set click=1 cart=3 "
                f"purchase=5 --promote` (or `trend weights ensure-default`)"
            ) from None
        return self._version(model_version)

    def champion_weights(self) -> Weights:
        """The production weights: one small request, plus one download when it changed."""
        return self.champion().weights

    def get(self, version: int | str) -> WeightsVersion:
        """One version by number."""
        number = _version_number(version, self.model_name)
        try:
            model_version = self._call(f"read version {number}",
                                       self.client.get_model_version, self.model_name,
                                       str(number))
        except VersionNotFoundError:
            raise VersionNotFoundError(
                f"version {number} of {self.model_name!r} does not exist at "
                f"{self.tracking_uri}; see `trend weights list`") from None
        return self._version(model_version)

    def aliases(self) -> dict[str, int]:
        """Alias -> version number of the registered model (empty if it does not exist)."""
        try:
            model = self._call("read model", self.client.get_registered_model, self.model_name)
        except VersionNotFoundError:
            return {}
        return {alias: int(version) for alias, version in (model.aliases or {}).items()}

    def versions(self) -> list[WeightsVersion]:
        """All versions, newest first, with their weights and aliases."""
        by_version: dict[int, list[str]] = {}
        for alias, number in self.aliases().items():
            by_version.setdefault(number, []).append(alias)
        found = self._call("list versions", self.client.search_model_versions,
                           f"name = '{self.model_name}'")
        versions = [self._version(mv, tuple(sorted(by_version.get(int(mv.version), []))))
                    for mv in found]
        return sorted(versions, key=lambda v: v.version, reverse=True)

    # --- writing -----------------------------------------------------------------------

    def _experiment_id(self) -> str:
        """Runs of the weights model live in an experiment of the same name."""
        client = self.client
        experiment = self._call("read experiment", client.get_experiment_by_name,
                                self.model_name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self._call("create experiment", client.create_experiment, self.model_name)
        except RegistryError:
            # Another process created it between our read and create.
            experiment = self._call("read experiment", client.get_experiment_by_name,
                                    self.model_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _ensure_model(self) -> None:
        client = self.client
        try:
            self._call("read model", client.get_registered_model, self.model_name)
        except VersionNotFoundError:
            try:
                self._call("create model", client.create_registered_model, self.model_name,
                           description=MODEL_DESCRIPTION)
            except RegistryError as exc:
                if "already exists" not in str(exc).lower():
                    raise

    def register(
        self,
        weights: Mapping[str, Any],
        *,
        source: str,
        run_name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        artifacts: Mapping[str, str] | None = None,
    ) -> WeightsVersion:
        """Log weights (and any training params/metrics) to a run and register a version.

        ``artifacts`` maps extra file names to text content logged beside the run (e.g. a
        training report). Nothing is promoted here; see :meth:`promote`.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        clean = Weights.from_mapping(weights, version="unregistered")
        client = self.client
        experiment_id = self._experiment_id()
        all_tags = {SOURCE_TAG: source, **weights_tags(clean), **dict(tags or {})}
        if description:
            all_tags["mlflow.note.content"] = description
        run = self._call("create run", client.create_run, experiment_id,
                         run_name=run_name or f"{source}-weights", tags=all_tags)
        run_id = run.info.run_id
        status = "FAILED"
        try:
            all_params = {f"weight_{n}": v for n, v in clean.as_dict().items()}
            all_params.update(params or {})
            from mlflow.entities import Metric, Param

            self._call("log params", client.log_batch, run_id,
                       params=[Param(k, str(v)) for k, v in all_params.items()],
                       metrics=[Metric(k, float(v), 0, 0) for k, v in (metrics or {}).items()])
            with tempfile.TemporaryDirectory(prefix="trend-weights-") as tmp:
                weights_dir = Path(tmp) / WEIGHTS_ARTIFACT_DIR
                weights_dir.mkdir()
                (weights_dir / WEIGHTS_ARTIFACT).write_text(
                    json.dumps(clean.as_dict(), indent=2, sort_keys=True) + "\n")
                self._call("upload weights.json", client.log_artifacts, run_id,
                           str(weights_dir), WEIGHTS_ARTIFACT_DIR)
                for file_name, text in (artifacts or {}).items():
                    extra = Path(tmp) / file_name
                    extra.write_text(text)
                    self._call(f"upload {file_name}", client.log_artifact, run_id, str(extra))
            self._ensure_model()
            version_tags = {k: v for k, v in all_tags.items() if not k.startswith("mlflow.")}
            model_version = self._call(
                "register version", client.create_model_version, self.model_name,
                source=f"{run.info.artifact_uri}/{WEIGHTS_ARTIFACT_DIR}", run_id=run_id,
                tags=version_tags, description=description, await_creation_for=0,
            )
            status = "FINISHED"
        finally:
            try:
                self._call("end run", client.set_terminated, run_id, status)
            except RegistryError:
                if status == "FINISHED":
                    raise
        number = int(model_version.version)
        self._call("tag run", client.set_tag, run_id, "weights_version",
                   weights_version_name(self.model_name, number))
        self._weights_cache[number] = Weights.from_mapping(
            clean.as_dict(), weights_version_name(self.model_name, number))
        return self._version(model_version, aliases=())

    def promote(self, version: int | str, alias: str | None = None) -> WeightsVersion:
        """Point ``alias`` (default: the production alias) at ``version``."""
        alias = alias or self.alias
        target = self.get(version)
        self._call(f"set alias {alias}", self.client.set_registered_model_alias,
                   self.model_name, alias, str(target.version))
        return self.get(target.version)

    def run_url(self, run_id: str) -> str:
        """Where a data scientist finds a version's run in the MLflow UI."""
        experiment_id = self._call("read run", self.client.get_run, run_id).info.experiment_id
        return f"{self.tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def ensure_default(self) -> tuple[WeightsVersion, bool]:
        """Make sure a champion exists: register :data:`DEFAULT_WEIGHTS` and promote it if not.

        Returns the champion and whether it was created now.
        """
        try:
            return self.champion(), False
        except NoChampionError:
            pass
        created = self.register(
            DEFAULT_WEIGHTS, source="default", run_name="default-weights",
            description="Default weights of a fresh deployment (click=1, cart=3, purchase=5).",
        )
        return self.promote(created.version), True


def ensure_default_weights(settings: Settings) -> tuple[WeightsVersion, bool]:
    """:meth:`WeightsRegistry.ensure_default` for the registry named by ``settings``."""
    return WeightsRegistry.from_settings(settings).ensure_default()


def parse_assignments(assignments: list[str]) -> dict[str, float]:
    """``["click=1", "cart=3", "purchase=5"]`` -> validated weights."""
    values: dict[str, Any] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidWeightsError(f"expected EVENT_TYPE=NUMBER, got {item!r}")
        if name in values:
            raise InvalidWeightsError(f"weight {name} given twice")
        try:
            values[name] = float(raw)
        except ValueError:
            raise InvalidWeightsError(f"weight {name}={raw!r} is not a number") from None
    return validate_weights(values)


def _version_number(version: int | str, model_name: str) -> int:
    text = str(version)
    if "/" in text:
        prefix, _, text = text.rpartition("/")
        if prefix != model_name:
            raise VersionNotFoundError(f"{version} is not a version of {model_name!r}")
    try:
        number = int(text)
    except ValueError:
        raise VersionNotFoundError(f"version must be a number, got {version!r}") from None
    if number < 1:
        raise VersionNotFoundError(f"version must be >= 1, got {number}")
    return number


def _first_line(text: str) -> str:
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


def _rest_error(exc, what: str, registry: WeightsRegistry) -> RegistryError:
    code = getattr(exc, "error_code", "")
    message = _first_line(exc.message)
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in message.lower()
    ):
        return VersionNotFoundError(f"{what}: {message}")
    if code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"):
        return RegistryUnavailableError(
            f"MLflow registry at {registry.tracking_uri} failed ({what}): {message}")
    return RegistryError(f"{what}: {message}")
