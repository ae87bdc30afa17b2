"""Learning weights from history: examples, hold-out, fit and ranking metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from registry.train import (
    NotEnoughDataError,
    TrainingConfig,
    evaluate,
    ndcg_at_k,
    next_window_examples,
    precision_at_k,
    rank_products,
    scale_weights,
    split_holdout,
    train_weights,
    window_counts_from_events,
)

COLUMNS = ["window_start", "window_end", "product_id", "clicks", "carts", "purchases"]


def frame(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


# --- metrics on hand-computed examples ----------------------------------------------------


def test_ranking_breaks_ties_by_product_id():
    assert rank_products(["c", "a", "b"], [1.0, 1.0, 1.0]) == [1, 2, 0]
    assert rank_products(["c", "a", "b"], [1.0, 0.0, 2.0]) == [2, 0, 1]


def test_ndcg_hand_computed():
    # Predicted order a, b, c; realised purchases a=0, b=1, c=2; K=2.
    # DCG = 0/log2(2) + 1/log2(3); ideal DCG = 2/log2(2) + 1/log2(3).
    expected = (1 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c"], [3, 2, 1], [0, 1, 2], k=2) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "c"], [1, 2, 3], [0, 1, 2], k=2) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "b", "c"], [1, 2, 3], [0, 0, 0], k=2) is None


def test_ndcg_uses_the_tie_break():
    # Equal scores: order by product_id, so "a" (0 purchases) comes before "b" (4).
    # DCG = 0 + 4/log2(3); ideal = 4.
    assert ndcg_at_k(["b", "a"], [1, 1], [4, 0], k=2) == pytest.approx(1 / math.log2(3))


def test_precision_hand_computed():
    # Realised top-2 = {b, c}; predicted top-2 = {a, b}: one of two.
    assert precision_at_k(["a", "b", "c"], [3, 2, 1], [0, 1, 2], k=2) == 0.5
    # Ties at the K-th realised count are all relevant.
    assert precision_at_k(["a", "b", "c", "d"], [0, 1, 2, 3], [3, 3, 3, 0], k=2) == 0.5
    assert precision_at_k(["a", "b", "c", "d"], [3, 2, 1, 0], [3, 3, 3, 0], k=2) == 1.0
    # Fewer products than K: the denominator is the number of products.
    assert precision_at_k(["a", "b"], [2, 1], [1, 0], k=10) == 0.5
    assert precision_at_k(["a", "b"], [2, 1], [0, 0], k=10) is None


def test_evaluate_averages_windows_with_purchases():
    examples = pd.DataFrame({
        "window_start": [0, 0, 10, 10, 20, 20],
        "window_end": [10, 10, 20, 20, 30, 30],
        "product_id": ["a", "b", "a", "b", "a", "b"],
        "clicks": [5, 1, 5, 1, 5, 1],
        "carts": [0, 2, 0, 2, 0, 2],
        "purchases": [0, 0, 0, 0, 0, 0],
        "next_purchases": [0, 3, 2, 0, 0, 0],
    })
    # click-only weights rank a first in every window: window 10 -> DCG 3/log2(3), ideal 3;
    # window 20 -> perfect; window 30 has no purchases and is skipped.
    result = evaluate(examples, {"click": 1.0, "cart": 0.0, "purchase": 0.0}, k=2)
    assert result.windows == 2
    assert result.ndcg_at_k == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert result.precision_at_k == pytest.approx((0.5 + 0.5) / 2)


# --- examples and hold-out ----------------------------------------------------------------


def test_examples_pair_each_window_with_the_next_one():
    counts = frame([
        (0, 10, "a", 3, 1, 0),
        (0, 10, "b", 1, 0, 1),
        (10, 20, "a", 2, 0, 2),
        (10, 20, "c", 0, 1, 1),
        (10, 20, "c", 0, 1, 1),  # a rewritten snapshot row: counted once
        (20, 30, "b", 0, 0, 4),
    ])
    examples = next_window_examples(counts)
    assert examples[["window_end", "product_id", "clicks", "carts", "purchases",
                     "next_purchases"]].values.tolist() == [
        [10, "a", 3.0, 1.0, 0.0, 2.0],
        [10, "b", 1.0, 0.0, 1.0, 0.0],  # absent from the next window: 0 purchases
        [20, "a", 2.0, 0.0, 2.0, 0.0],
        [20, "c", 0.0, 1.0, 1.0, 0.0],
    ]  # window 20-30 has no next window in the data: no example


def test_hopping_windows_pair_with_the_non_overlapping_next_window():
    counts = frame([
        (0, 20, "a", 1, 0, 0),
        (10, 30, "a", 1, 0, 5),   # overlaps 0-20: not its next window
        (20, 40, "a", 0, 0, 7),
    ])
    examples = next_window_examples(counts)
    assert examples[["window_start", "next_purchases"]].values.tolist() == [[0, 7.0]]


def test_holdout_keeps_training_labels_before_the_holdout():
    counts = frame([(s, s + 10, "a", 1, 1, 1) for s in range(0, 100, 10)])
    examples = next_window_examples(counts)  # window ends 10..90
    train, holdout, start = split_holdout(examples, TrainingConfig(holdout_fraction=0.25,
                                                                  min_train_windows=2))
    # 9 windows, ceil(9 * 0.25) = 3 held out: ends 70, 80, 90, starting at 60.
    assert start == 60
    assert sorted(holdout["window_end"]) == [70, 80, 90]
    # Training targets must end by 60: windows ending 10..50 (targets end 20..60).
    assert sorted(train["window_end"]) == [10, 20, 30, 40, 50]


def test_too_little_history_is_a_clear_error():
    counts = frame([(s, s + 10, "a", 1, 1, 1) for s in range(0, 40, 10)])
    with pytest.raises(NotEnoughDataError, match="too little history to train: 3 windows"):
        train_weights(counts)
    with pytest.raises(NotEnoughDataError, match="no window counts"):
        train_weights(frame([]))
    no_purchases = frame([(s, s + 10, p, 1 + i, i, 0)
                          for s in range(0, 200, 10) for i, p in enumerate("abc")])
    with pytest.raises(NotEnoughDataError, match="no purchases follow"):
        train_weights(no_purchases)


def test_scaled_weights_sum_to_one():
    assert scale_weights({"click": 0.1, "cart": 0.3, "purchase": 0.6}) == {
        "click": 0.1, "cart": 0.3, "purchase": 0.6}
    assert scale_weights({"click": 2.0, "cart": 6.0, "purchase": 0.0}) == {
        "click": 0.25, "cart": 0.75, "purchase": 0.0}
    with pytest.raises(NotEnoughDataError):
        scale_weights({"click": 0.0, "cart": 0.0, "purchase": 0.0})


# --- learning on synthetic history where the answer is known ------------------------------


def synthetic_history(windows=40, products=60, seed=7, click_effect=0.01, cart_effect=0.5):
    """Next-window purchases ~ Poisson(cart_effect * carts + click_effect * clicks)."""
    rng = np.random.default_rng(seed)
    browse = rng.gamma(2.0, 10.0, products)      # how much a product is looked at
    intent = rng.gamma(2.0, 1.5, products)       # how much it is put in carts
    rows = []
    purchases = rng.poisson(1.0, products)
    for w in range(windows):
        clicks = rng.poisson(browse)
        carts = rng.poisson(intent)
        rows += [(w * 60_000, (w + 1) * 60_000, f"p{i:03d}", clicks[i], carts[i], purchases[i])
                 for i in range(products)]
        purchases = rng.poisson(cart_effect * carts + click_effect * clicks)
    return frame(rows)


def test_purchases_that_follow_carts_give_carts_the_larger_weight():
    history = synthetic_history()
    result = train_weights(history, champion={"click": 1.0, "cart": 0.0, "purchase": 0.0})
    weights = result.weights
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert weights["cart"] > 5 * weights["click"]
    assert weights["cart"] > weights["purchase"]
    # Ranking by the learned weights beats ranking by clicks alone on held-out windows.
    assert result.beats_champion
    assert result.candidate.ndcg_at_k > result.champion.ndcg_at_k
    assert result.holdout_windows == math.ceil(39 * 0.25)
    assert result.data_start_ms == 0 and result.data_end_ms == 40 * 60_000


def test_a_champion_equal_to_the_candidate_is_not_beaten():
    history = synthetic_history(seed=11)
    first = train_weights(history)
    again = train_weights(history, champion=first.weights)
    assert again.candidate == again.champion
    assert not again.beats_champion


# --- raw events to window counts ----------------------------------------------------------


def test_window_counts_from_events_hopping():
    events = pd.DataFrame({
        "event_type": ["click", "cart", "purchase"],
        "product_id": ["p1", "p1", "p2"],
        "ts": [0, 5, 12],
    })
    counts = window_counts_from_events(events, window_size_ms=10, window_slide_ms=5)
    assert counts.values.tolist() == [
        [-5, 5, "p1", 1, 0, 0],
        [0, 10, "p1", 1, 1, 0],
        [5, 15, "p1", 0, 1, 0],
        [5, 15, "p2", 0, 0, 1],
        [10, 20, "p2", 0, 0, 1],
    ]
