"""The weights registry: weight models as registered-model versions in MLflow.

A version holds weights as data, never code:

- the JSON artifact ``weights/weights.json`` of its run (validated against
  :data:`registry.weights.WEIGHTS_SCHEMA`; this is what loading reads),
- run params ``weight_click``, ``weight_cart``, ``weight_purchase`` (immutable, shown in
  the run page),
- version tags with the same weights plus its source, where its weights came from
  (``weights_source`` = ``manual``/``default``/``trained``, ``data_start``/``data_end`` of
  a trained version), so the model page of the MLflow UI shows them without a click.

The alias ``champion`` (``settings.weights_alias``) marks the weights in production and
``challenger`` can mark a candidate. A version is named ``"<model name>/<version>"``,
e.g. ``trend-weights/3``: that string is the ``weights_version`` of every output row.

This module holds the registry's read and write calls; reaching the server is
:mod:`registry.connection`, and MLflow's failures become the errors of
:mod:`registry.errors` in one place.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.connection import connect
from registry.errors import (
    AlreadyExistsError,
    ModelNotFoundError,
    NoChampionError,
    RegistryError,
    VersionNotFoundError,
    registry_error,
)
from registry.weights import DEFAULT_WEIGHTS, InvalidWeightsError, Weights, parse_weights_json
from trend_tracker.redaction import redact_url

if TYPE_CHECKING:  # mlflow is imported lazily: it takes seconds to import
    from mlflow import MlflowClient

    from trend_tracker.settings import Settings

WEIGHTS_ARTIFACT_DIR = "weights"
WEIGHTS_ARTIFACT = "weights.json"
CHALLENGER_ALIAS = "challenger"
#: The version tag that holds a version's source: where its weights came from.
SOURCE_TAG = "weights_source"
SOURCES = ("default", "manual", "trained")

#: The registered model's description. The MLflow UI renders it as Markdown: the formula is
#: a code span, since a bare "*" pair would turn the text between them into italics.
MODEL_DESCRIPTION = (
    "Event-type weights of the trend score, over each window: "
    "`score = click * clicks + cart * carts + purchase * purchases`. "
    "Alias `champion` is what the running job uses. Weights live in each version's tags, "
    "in its run's params and in the artifact `weights/weights.json`. "
    "Manage with `trend weights ...`."
)


def weights_version_name(model_name: str, version: int | str) -> str:
    """The ``weights_version`` string of a registered version: ``trend-weights/3``."""
    return f"{model_name}/{version}"


def weights_tags(weights: Weights) -> dict[str, str]:
    """Version/run tags that show the weights in the MLflow UI: ``weight_click`` ..."""
    return {f"weight_{name}": repr(value) for name, value in weights.as_dict().items()}


@dataclass(frozen=True)
class WeightsVersion:
    """One registered version: its weights, aliases and source (``default``, ``manual``
    or ``trained``: where its weights came from)."""

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

    @property
    def client(self) -> MlflowClient:
        with self._lock:
            if self._client is None:
                self._client = connect(self.tracking_uri)
            return self._client

    def _call(self, what: str, func, *args,
              missing: type[Exception] = RegistryError, **kwargs):
        """Run one MLflow call; its failure becomes a one-line registry error, ``missing``
        when the resource it asks for does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return func(*args, **kwargs)
        except (MlflowException, OSError) as exc:
            raise registry_error(exc, what, self.tracking_uri, missing) from None

    # --- reading -----------------------------------------------------------------------

    def champion(self, alias: str | None = None) -> WeightsVersion:
        """The version under ``alias`` (default: the production alias) with its weights."""
        return self.get(self._aliased(alias or self.alias))

    def champion_weights(self) -> Weights:
        """The production weights: one small request (the model's aliases), plus the
        version and its ``weights.json`` when the champion changed."""
        number = self._aliased(self.alias)
        cached = self._weights_cache.get(number)
        return cached if cached is not None else self.get(number).weights

    def _aliased(self, alias: str) -> int:
        number = self.aliases().get(alias)
        if number is None:
            raise NoChampionError(
                f"registered model {self.model_name!r} has no '{alias}' version at "
                f"{redact_url(self.tracking_uri)}; set one with `trend weights set click=1 cart=3 "
                f"purchase=5 --promote` (or `trend weights ensure-default`)")
        return number

    def get(self, version: int | str) -> WeightsVersion:
        """One version by number (or ``NAME/NUMBER``)."""
        number = _version_number(version, self.model_name)
        try:
            model_version = self._call(f"read version {number}",
                                       self.client.get_model_version, self.model_name,
                                       str(number), missing=VersionNotFoundError)
        except VersionNotFoundError:
            raise VersionNotFoundError(
                f"version {number} of {self.model_name!r} does not exist at "
                f"{redact_url(self.tracking_uri)}; see `trend weights list`") from None
        return self._version(model_version)

    def aliases(self) -> dict[str, int]:
        """Alias -> version number of the registered model (empty if it does not exist)."""
        try:
            model = self._call("read model", self.client.get_registered_model,
                               self.model_name, missing=ModelNotFoundError)
        except ModelNotFoundError:
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

    def _version(self, model_version, aliases: tuple[str, ...] | None = None) -> WeightsVersion:
        version = int(model_version.version)
        tags = dict(model_version.tags or {})
        return WeightsVersion(
            # MLflow calls the URI of a version's artifacts the version's "source".
            weights=self._load_weights(version, model_version.source),
            model_name=self.model_name,
            version=version,
            aliases=tuple(aliases if aliases is not None else model_version.aliases or ()),
            source=tags.get(SOURCE_TAG, "unknown"),
            run_id=model_version.run_id,
            tags=tags,
            created_ms=model_version.creation_timestamp,
        )

    def _load_weights(self, version: int, artifacts_uri: str) -> Weights:
        """The weights of a version, downloaded once from its artifacts (``.../weights``)."""
        cached = self._weights_cache.get(version)
        if cached is not None:
            return cached
        name = weights_version_name(self.model_name, version)
        uri = f"{artifacts_uri.rstrip('/')}/{WEIGHTS_ARTIFACT}"
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="trend-weights-") as tmp:
            # The directory (trailing "/"), not the file: MLflow's artifact proxy answers a
            # missing file like a failed request, and a missing directory with nothing.
            try:
                local = Path(self._call(
                    f"download weights of {name}", mlflow.artifacts.download_artifacts,
                    artifact_uri=f"{artifacts_uri.rstrip('/')}/", dst_path=tmp,
                    tracking_uri=self.tracking_uri, missing=InvalidWeightsError))
            except InvalidWeightsError:  # a local artifact store: no such directory
                local = Path(tmp)
            if not (local / WEIGHTS_ARTIFACT).is_file():
                raise InvalidWeightsError(f"{name} has no weights artifact at {uri}")
            weights = parse_weights_json((local / WEIGHTS_ARTIFACT).read_text(), name)
        self._weights_cache[version] = weights
        return weights

    # --- writing -----------------------------------------------------------------------

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

        ``source`` says where the weights came from (one of :data:`SOURCES`).
        ``artifacts`` maps extra file names to text content logged beside the run (e.g. a
        training report). Nothing is promoted here; see :meth:`promote`.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        clean = Weights.from_mapping(weights, version="unregistered")
        version_tags = {SOURCE_TAG: source, **weights_tags(clean), **dict(tags or {})}
        run_tags = dict(version_tags)
        if description:
            run_tags["mlflow.note.content"] = description
        # The run is FINISHED only once its version is registered.
        with self._run(run_name or f"{source}-weights", run_tags) as run:
            run_id = run.info.run_id
            self._log_weights(run_id, clean, params, metrics, artifacts)
            self._ensure_model()
            model_version = self._call(
                "register version", self.client.create_model_version, self.model_name,
                source=f"{run.info.artifact_uri}/{WEIGHTS_ARTIFACT_DIR}", run_id=run_id,
                tags=version_tags, description=description, await_creation_for=0)
        number = int(model_version.version)
        name = weights_version_name(self.model_name, number)
        self._call("tag run", self.client.set_tag, run_id, "weights_version", name)
        self._weights_cache[number] = Weights.from_mapping(clean.as_dict(), name)
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
        ui = redact_url(self.tracking_uri).rstrip("/")
        return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"

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

    @contextmanager
    def _run(self, run_name: str, tags: Mapping[str, str]) -> Iterator[Any]:
        """A new run in the model's experiment, ended FINISHED if the block completes and
        FAILED if it raises (whose error then wins over a failure to end the run)."""
        run = self._call("create run", self.client.create_run, self._experiment_id(),
                         run_name=run_name, tags=dict(tags))
        status = "FAILED"
        try:
            yield run
            status = "FINISHED"
        finally:
            try:
                self._call("end run", self.client.set_terminated, run.info.run_id, status)
            except RegistryError:
                if status == "FINISHED":
                    raise

    def _log_weights(self, run_id: str, weights: Weights, params: Mapping[str, Any] | None,
                     metrics: Mapping[str, float] | None,
                     artifacts: Mapping[str, str] | None) -> None:
        """The run's params (the weights first), metrics, ``weights/weights.json`` and any
        extra text artifacts."""
        from mlflow.entities import Metric, Param

        all_params = {f"weight_{n}": v for n, v in weights.as_dict().items()}
        all_params.update(params or {})
        self._call("log params", self.client.log_batch, run_id,
                   params=[Param(k, str(v)) for k, v in all_params.items()],
                   metrics=[Metric(k, float(v), 0, 0) for k, v in (metrics or {}).items()])
        with tempfile.TemporaryDirectory(prefix="trend-weights-") as tmp:
            weights_dir = Path(tmp) / WEIGHTS_ARTIFACT_DIR
            weights_dir.mkdir()
            (weights_dir / WEIGHTS_ARTIFACT).write_text(
                json.dumps(weights.as_dict(), indent=2, sort_keys=True) + "\n")
            self._call("upload weights.json", self.client.log_artifacts, run_id,
                       str(weights_dir), WEIGHTS_ARTIFACT_DIR)
            for file_name, text in (artifacts or {}).items():
                extra = Path(tmp) / file_name
                extra.write_text(text)
                self._call(f"upload {file_name}", self.client.log_artifact, run_id, str(extra))

    def _experiment_id(self) -> str:
        """Runs of the weights model live in an experiment of the same name."""
        experiment = self._call("read experiment", self.client.get_experiment_by_name,
                                self.model_name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self._call("create experiment", self.client.create_experiment,
                              self.model_name)
        except AlreadyExistsError:  # another process created it since our read
            return self._call("read experiment", self.client.get_experiment_by_name,
                              self.model_name).experiment_id

    def _ensure_model(self) -> None:
        try:
            self._call("read model", self.client.get_registered_model, self.model_name,
                       missing=ModelNotFoundError)
        except ModelNotFoundError:
            # Another process may have created it since our read.
            with contextlib.suppress(AlreadyExistsError):
                self._call("create model", self.client.create_registered_model,
                           self.model_name, description=MODEL_DESCRIPTION)


def ensure_default_weights(settings: Settings) -> tuple[WeightsVersion, bool]:
    """:meth:`WeightsRegistry.ensure_default` for the registry named by ``settings``."""
    return WeightsRegistry.from_settings(settings).ensure_default()


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
