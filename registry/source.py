"""Where the running job gets its weights: the registry's champion, polled in the background.

``current()`` never touches the network: it returns the last good weights, which a daemon
thread refreshes every ``settings.weights_poll_interval_s``. When MLflow is down, or the
champion's weights are invalid, the last good weights stay in use; the failure is logged
(once per outage, not once per poll) and exposed in :attr:`WeightsSource.status` so the job
can publish it as a metric (``registry_up``, ``last_success_ts``).

The fetch function is injected, so the polling and fallback logic is plain Python that
unit tests drive directly with :meth:`WeightsSource.poll_once`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from registry.weights import Weights, load_weights_file
from trend_tracker.redaction import redact_url

if TYPE_CHECKING:
    from trend_tracker.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WeightsStatus:
    """A snapshot of the source's health, cheap to read from any thread."""

    weights_version: str | None
    registry_up: bool
    last_success_ts: float | None
    last_error: str | None
    switches: int
    polls: int
    failures: int


class WeightsSource:
    """The current weights, refreshed by a background poller; thread-safe.

    ``fetch`` returns the weights to use now or raises; with ``poll_interval_s=None`` the
    source is static (fetched once at :meth:`start`).
    """

    def __init__(
        self,
        fetch: Callable[[], Weights],
        poll_interval_s: float | None,
        *,
        description: str = "weights",
        clock: Callable[[], float] = time.time,
        on_change: Callable[[Weights | None, Weights], None] | None = None,
    ) -> None:
        if poll_interval_s is not None and poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        self._fetch = fetch
        self.poll_interval_s = poll_interval_s
        self.description = description
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._weights: Weights | None = None
        self._registry_up = False
        self._last_success_ts: float | None = None
        self._last_error: str | None = None
        self._switches = 0
        self._polls = 0
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Fetch the weights once (errors propagate: no weights, no start), then poll."""
        with self._lock:
            if self._weights is not None:
                return self
        weights = self._fetch()
        self._accept(weights)
        log.info("using weights %s from %s: %s", weights.version, self.description,
                 weights.as_dict())
        if self.poll_interval_s is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="weights-poller",
                                            daemon=True)
            self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop polling (the last weights stay readable)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            self.poll_once()

    # --- polling -----------------------------------------------------------------------

    def poll_once(self) -> bool:
        """Fetch once; on success switch to the fetched weights, on failure keep the old.

        Returns whether the fetch succeeded. Never raises.
        """
        try:
            weights = self._fetch()
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good weights
            self._fail(exc)
            return False
        self._accept(weights)
        return True

    def _accept(self, weights: Weights) -> None:
        with self._lock:
            previous = self._weights
            recovered = not self._registry_up and previous is not None
            self._weights = weights
            self._registry_up = True
            self._last_success_ts = self._clock()
            self._last_error = None
            self._polls += 1
            changed = previous is not None and previous != weights
            if changed:
                self._switches += 1
        if recovered:
            log.warning("%s reachable again; weights %s", self.description, weights.version)
        if changed:
            log.info("weights switched from %s to %s: %s", previous.version, weights.version,
                     weights.as_dict())
        if (changed or previous is None) and self._on_change is not None:
            self._on_change(previous, weights)

    def _fail(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        with self._lock:
            first_failure = self._registry_up
            self._registry_up = False
            self._last_error = message
            self._polls += 1
            self._failures += 1
            version = self._weights.version if self._weights else None
        if first_failure:
            log.warning("%s unavailable, keeping weights %s: %s", self.description, version,
                        message)

    # --- reading -----------------------------------------------------------------------

    def current(self) -> Weights:
        """The weights to score with now (no I/O; a reference read)."""
        weights = self._weights
        if weights is None:
            raise RuntimeError("WeightsSource.current() before start()")
        return weights

    @property
    def healthy(self) -> bool:
        """Whether the last poll got valid weights."""
        return self._registry_up

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def status(self) -> WeightsStatus:
        with self._lock:
            return WeightsStatus(
                weights_version=self._weights.version if self._weights else None,
                registry_up=self._registry_up,
                last_success_ts=self._last_success_ts,
                last_error=self._last_error,
                switches=self._switches,
                polls=self._polls,
                failures=self._failures,
            )


def open_weights_source(settings: Settings, **kwargs) -> WeightsSource:
    """The job's weights source, not yet started (construction does no I/O).

    With ``settings.weights_file`` set the file is served as-is (offline runs; its version
    comes from the file). Otherwise the registry's ``settings.weights_alias`` version is
    polled every ``settings.weights_poll_interval_s``. Call :meth:`WeightsSource.start`,
    which raises :class:`registry.errors.NoChampionError` (naming the fix) when there is no
    champion and :class:`registry.errors.RegistryUnavailableError` when MLflow is down.
    """
    if settings.weights_file is not None:
        path = settings.weights_file
        return WeightsSource(lambda: load_weights_file(path), None,
                             description=f"weights file {path}", **kwargs)
    from registry.client import WeightsRegistry

    registry = WeightsRegistry.from_settings(settings)
    return WeightsSource(
        registry.champion_weights, settings.weights_poll_interval_s,
        description=(f"MLflow registry {redact_url(settings.mlflow_tracking_uri)} "
                     f"({settings.weights_model_name}@{settings.weights_alias})"),
        **kwargs,
    )


def load_current_weights(settings: Settings) -> Weights:
    """The weights the job would start with, fetched once (a pre-flight check).

    Run it before submitting the job, so a missing champion or an unreachable registry
    stops the submission with the registry's one-line error instead of failing inside a
    Flink worker.
    """
    source = open_weights_source(settings)
    try:
        return source.start().current()
    finally:
        source.close()
