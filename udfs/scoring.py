"""Scoring window aggregates with the current weights, one weights version per window.

``trend_score = w_click*clicks + w_cart*carts + w_purchase*purchases`` is linear in the
window's counts, so the job counts events per (window, product, category) in SQL and calls
:class:`ScoreWindowCounts` once per aggregate row, never per event. The function reads the
weights at run time, so a new champion in the registry takes effect without a restart; it
pins the version it first used for a ``window_end`` so all rows of that window in this worker
are scored alike and carry the same ``weights_version``.

At parallelism > 1 each scoring subtask reads the registry on its own, so around a weights
change one window can be scored with two versions by two subtasks. Every row still carries
the version that scored it; the window sink keeps such a window in Parquet and leaves the
mixed ranking out of Redis (metric ``rankings_mixed_weights``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from registry.weights import DEFAULT_WEIGHTS, Weights, load_weights_file
from trend_tracker.settings import Settings

#: The version string of the built-in default weights.
DEFAULT_WEIGHTS_VERSION = "default"


class WeightsSource(Protocol):
    def current(self) -> Weights: ...


class StaticWeights:
    """A weights source that never changes (a file or the built-in defaults)."""

    def __init__(self, weights: Weights):
        self._weights = weights

    def current(self) -> Weights:
        return self._weights


def open_weights(settings: Settings) -> WeightsSource:
    """The job's weights source, started: the registry's champion (polled in the
    background, last good weights kept on an outage), or ``settings.weights_file``."""
    try:
        from registry.source import open_weights_source
    except ImportError:  # a deployment without the registry package
        if settings.weights_file is not None:
            return StaticWeights(load_weights_file(settings.weights_file))
        return StaticWeights(Weights.from_mapping(DEFAULT_WEIGHTS, DEFAULT_WEIGHTS_VERSION))
    return open_weights_source(settings).start()


class WindowWeightsPin:
    """Remembers which weights scored each ``window_end``, so a window uses one version.

    ``current`` is called only the first time a window_end is seen. The newest
    ``capacity`` windows are remembered (a window is scored within a moment of its end).
    """

    def __init__(self, current: Callable[[], Weights], capacity: int = 256):
        self._current = current
        self._capacity = capacity
        self._pinned: OrderedDict[int, Weights] = OrderedDict()
        self.last_used: Weights | None = None

    def weights_for(self, window_end_ms: int) -> Weights:
        weights = self._pinned.get(window_end_ms)
        if weights is None:
            weights = self._current()
            self._pinned[window_end_ms] = weights
            while len(self._pinned) > self._capacity:
                self._pinned.popitem(last=False)
        self.last_used = weights
        return weights


def score_counts(weights: Weights, clicks: int, carts: int, purchases: int) -> float:
    """The trend score of one (window, product) from its event counts."""
    return float(weights.score(int(clicks), int(carts), int(purchases)))


def make_score_function(settings_json: str) -> Any:
    """The PyFlink scalar function ``score(window_end, clicks, carts, purchases)``.

    Returns ``ROW<score DOUBLE, weights_version STRING>``. Built lazily so that importing
    this module needs no PyFlink (the unit tests of the pure parts run without it).
    """
    from pyflink.common import Row
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    from udfs.redis_sink import epoch_ms
    from udfs.settings_transport import settings_from_json

    class ScoreWindowCounts(ScalarFunction):
        def open(self, function_context):
            settings = settings_from_json(settings_json)
            source = open_weights(settings)
            self.pin = WindowWeightsPin(source.current)
            group = function_context.get_metric_group().add_group("trend")
            self.scored = group.counter("aggregates_scored")
            self.version_gauges: set[str] = set()
            self.group = group

        def _track_version(self, version: str) -> None:
            # One gauge per version seen: 1 while it is the version in use, else 0.
            if version not in self.version_gauges:
                self.version_gauges.add(version)
                self.group.add_group("weights_version", version).gauge(
                    "weights_in_use",
                    lambda v=version: int(self.pin.last_used is not None
                                          and self.pin.last_used.version == v))

        def eval(self, window_end, clicks, carts, purchases):
            weights = self.pin.weights_for(epoch_ms(window_end))
            self._track_version(weights.version)
            self.scored.inc()
            return Row(score_counts(weights, clicks, carts, purchases), weights.version)

    result_type = DataTypes.ROW([DataTypes.FIELD("score", DataTypes.DOUBLE()),
                                 DataTypes.FIELD("weights_version", DataTypes.STRING())])
    return udf(ScoreWindowCounts(), result_type=result_type)
