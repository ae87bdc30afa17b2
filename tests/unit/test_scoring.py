"""Scoring window aggregates: the linear score and one weights version per window."""

from __future__ import annotations

import json

from registry.weights import Weights
from trend_tracker.settings import Settings
from udfs.scoring import WindowWeightsPin, open_weights, score_counts

V1 = Weights(click=1.0, cart=3.0, purchase=5.0, version="1")
V2 = Weights(click=2.0, cart=0.5, purchase=10.0, version="2")


def test_score_is_the_weighted_sum_of_the_window_counts():
    assert score_counts(V1, 4, 2, 1) == 4 * 1.0 + 2 * 3.0 + 1 * 5.0 == 15.0
    assert score_counts(V2, 4, 2, 1) == 8.0 + 1.0 + 10.0
    assert score_counts(V1, 0, 0, 0) == 0.0
    assert isinstance(score_counts(V1, 1, 0, 0), float)


def test_a_window_keeps_the_weights_it_was_first_scored_with():
    current = [V1]
    pin = WindowWeightsPin(lambda: current[0])
    assert pin.weights_for(10_000) is V1
    current[0] = V2  # the champion changes while window 10 000 is being scored
    assert pin.weights_for(10_000) is V1
    assert pin.weights_for(20_000) is V2
    assert pin.last_used is V2
    assert pin.weights_for(10_000) is V1


def test_the_pin_forgets_the_oldest_windows_beyond_its_capacity():
    calls = []

    def current():
        calls.append(1)
        return V1

    pin = WindowWeightsPin(current, capacity=2)
    for end in (10, 20, 30):
        pin.weights_for(end)
    assert len(calls) == 3
    pin.weights_for(30)
    assert len(calls) == 3
    pin.weights_for(10)  # forgotten: asks the source again
    assert len(calls) == 4


def test_open_weights_serves_the_weights_file(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"click": 2, "cart": 4, "purchase": 8, "version": "file-3"}))
    settings = Settings(_env_file=None, weights_file=path)
    weights = open_weights(settings).current()
    assert (weights.click, weights.cart, weights.purchase, weights.version) == (
        2.0, 4.0, 8.0, "file-3")
