"""Learning weights from history: pure functions over per-window counts (no I/O).

The question the weights answer: how much does each event type seen in a window predict
purchases in the following window? So:

1. Examples: for every (window, product), the features are the window's ``clicks``,
   ``carts`` and ``purchases``; the target is the product's ``purchases`` in the next,
   non-overlapping window (the one whose ``window_start`` is this ``window_end``). A
   product missing from that next window counts 0 purchases there. Windows whose next
   window is not in the data give no example.
2. Hold-out: the latest windows (``holdout_fraction`` of the distinct window ends) are kept
   for evaluation. Training examples must have their *target* window end at or before the
   first held-out window starts, so no training label overlaps a held-out example.
3. Fit: ridge regression with non-negative coefficients (scikit-learn ``Ridge(positive=True)``)
   on features divided by their standard deviation (so the penalty treats event types
   alike), with an intercept (it does not change rankings and is dropped).
4. Scale: coefficients are divided by their sum, so the weights add up to 1 and each is the
   share of the score per event; rounded to 4 decimals. Rankings are unchanged by scaling.
5. Evaluate on the held-out windows: rank each window's products by predicted score
   (ties by ``product_id`` ascending, as the job does) and compare with realised
   next-window purchases: NDCG@K (gain = purchases) and precision@K (see
   :func:`precision_at_k`), averaged over windows with at least one realised purchase.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trend_tracker import output_row as output
from trend_tracker.settings import EVENT_TYPES

#: The features: the output row's count columns (:mod:`trend_tracker.output_row`).
FEATURES: tuple[str, ...] = output.COUNT_FIELDS
COUNT_COLUMNS = (*output.WINDOW_KEYS, "product_id", *FEATURES)
TARGET = "next_purchases"


class NotEnoughDataError(ValueError):
    """The history is too short or too empty to learn or evaluate weights."""


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of :func:`train_weights` (logged as run params)."""

    k: int = 10
    alpha: float = 1.0
    holdout_fraction: float = 0.25
    min_train_windows: int = 4
    min_holdout_windows: int = 1
    decimals: int = 4

    def as_params(self) -> dict[str, float | int]:
        return {"k": self.k, "alpha": self.alpha, "holdout_fraction": self.holdout_fraction,
                "min_train_windows": self.min_train_windows,
                "min_holdout_windows": self.min_holdout_windows}


@dataclass(frozen=True)
class Evaluation:
    """Ranking quality of one set of weights on held-out windows."""

    ndcg_at_k: float
    precision_at_k: float
    windows: int

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}ndcg_at_k": self.ndcg_at_k,
                f"{prefix}precision_at_k": self.precision_at_k,
                f"{prefix}eval_windows": float(self.windows)}


@dataclass(frozen=True)
class TrainingResult:
    """Learned weights with their evaluation and the data they came from."""

    weights: dict[str, float]
    raw_coefficients: dict[str, float]
    candidate: Evaluation
    champion: Evaluation | None
    data_start_ms: int
    data_end_ms: int
    holdout_start_ms: int
    train_examples: int
    holdout_examples: int
    train_windows: int
    holdout_windows: int
    config: TrainingConfig = field(default_factory=TrainingConfig)

    @property
    def beats_champion(self) -> bool:
        """Strictly better NDCG@K (precision@K breaks an NDCG tie) than the champion."""
        if self.champion is None:
            return True
        mine = (round(self.candidate.ndcg_at_k, 12), round(self.candidate.precision_at_k, 12))
        theirs = (round(self.champion.ndcg_at_k, 12), round(self.champion.precision_at_k, 12))
        return mine > theirs

    def metrics(self) -> dict[str, float]:
        """Metrics of the run: candidate, champion and their difference."""
        metrics = self.candidate.as_metrics("")
        if self.champion is not None:
            metrics.update(self.champion.as_metrics("champion_"))
            metrics["ndcg_at_k_gain"] = self.candidate.ndcg_at_k - self.champion.ndcg_at_k
        metrics.update(train_examples=float(self.train_examples),
                       holdout_examples=float(self.holdout_examples),
                       train_windows=float(self.train_windows))
        metrics.update({f"coef_{name}": value for name, value in self.raw_coefficients.items()})
        return metrics


# --- examples -----------------------------------------------------------------------------


def next_window_examples(counts: pd.DataFrame) -> pd.DataFrame:
    """Pair every (window, product) with the product's purchases in the next window.

    ``counts`` has :data:`COUNT_COLUMNS`; one row per (window, product) (duplicates, e.g.
    from a rewritten snapshot, are collapsed). Returns those columns plus ``next_purchases``.
    """
    missing = [c for c in COUNT_COLUMNS if c not in counts.columns]
    if missing:
        raise ValueError(f"counts lack columns: {', '.join(missing)}")
    frame = (counts.loc[:, list(COUNT_COLUMNS)]
             .drop_duplicates(subset=["window_start", "window_end", "product_id"], keep="last")
             .astype({"window_start": "int64", "window_end": "int64", "clicks": "float64",
                      "carts": "float64", "purchases": "float64"}))
    starts = set(frame["window_start"].tolist())
    frame = frame[frame["window_end"].isin(starts)]
    nxt = (counts.loc[:, ["window_start", "product_id", "purchases"]]
           .drop_duplicates(subset=["window_start", "product_id"], keep="last")
           .astype({"window_start": "int64", "purchases": "float64"})
           .rename(columns={"window_start": "window_end", "purchases": TARGET}))
    examples = frame.merge(nxt, on=["window_end", "product_id"], how="left")
    examples[TARGET] = examples[TARGET].fillna(0.0).astype("float64")
    return examples.sort_values(["window_end", "product_id"], kind="stable").reset_index(
        drop=True)


def split_holdout(examples: pd.DataFrame, config: TrainingConfig
                  ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(train, holdout, holdout_start_ms): the latest windows are held out.

    A training example's target window (``window_end`` to ``2*window_end - window_start``)
    must end at or before ``holdout_start_ms``.
    """
    ends = sorted(set(examples["window_end"].tolist()))
    holdout_count = max(config.min_holdout_windows,
                        math.ceil(len(ends) * config.holdout_fraction))
    if len(ends) < holdout_count + config.min_train_windows:
        raise NotEnoughDataError(
            f"too little history to train: {len(ends)} windows with a following window, "
            f"need at least {holdout_count + config.min_train_windows} "
            f"({config.min_train_windows} to train, {holdout_count} to evaluate); "
            "let the job run longer or widen the data range")
    holdout_ends = ends[-holdout_count:]
    holdout = examples[examples["window_end"].isin(holdout_ends)]
    holdout_start = int(holdout["window_start"].min())
    target_end = 2 * examples["window_end"] - examples["window_start"]
    train = examples[target_end <= holdout_start]
    train_windows = train["window_end"].nunique()
    if train_windows < config.min_train_windows:
        raise NotEnoughDataError(
            f"too little history to train: {train_windows} training windows end before the "
            f"held-out period starts, need {config.min_train_windows}")
    return train.reset_index(drop=True), holdout.reset_index(drop=True), holdout_start


# --- fitting ------------------------------------------------------------------------------


def fit_coefficients(train: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Non-negative ridge coefficients per event type (in events, not standardised units)."""
    from sklearn.linear_model import Ridge

    if train.empty or float(train[TARGET].sum()) == 0.0:
        raise NotEnoughDataError(
            "too little history to train: no purchases follow any training window")
    x = train.loc[:, list(FEATURES)].to_numpy(dtype="float64")
    y = train[TARGET].to_numpy(dtype="float64")
    scale = x.std(axis=0)
    # A constant column (e.g. no carts at all) carries no information: keep it at 0.
    usable = scale > 0
    if not usable.any():
        raise NotEnoughDataError("too little history to train: every count is constant")
    model = Ridge(alpha=alpha, positive=True, fit_intercept=True)
    model.fit(x[:, usable] / scale[usable], y)
    coefficients = np.zeros(len(FEATURES))
    coefficients[usable] = model.coef_ / scale[usable]
    return {event: float(c) for event, c in zip(EVENT_TYPES, coefficients, strict=True)}


def scale_weights(coefficients: Mapping[str, float], decimals: int = 4) -> dict[str, float]:
    """Coefficients divided by their sum (weights add up to 1), rounded."""
    total = sum(coefficients[name] for name in EVENT_TYPES)
    if not total > 0:
        raise NotEnoughDataError(
            "training found no event type that predicts next-window purchases")
    return {name: round(coefficients[name] / total, decimals) for name in EVENT_TYPES}


# --- evaluation ---------------------------------------------------------------------------


def rank_products(product_ids: Sequence[str], scores: Sequence[float]) -> list[int]:
    """Indices by score descending, ties by product_id ascending (the job's order)."""
    return sorted(range(len(product_ids)), key=lambda i: (-scores[i], product_ids[i]))


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: sum of gain_i / log2(i + 1), i from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(product_ids: Sequence[str], scores: Sequence[float],
              realised: Sequence[float], k: int) -> float | None:
    """NDCG@K of ranking by ``scores`` against ``realised`` purchases; None if all zero."""
    ideal = dcg(sorted(realised, reverse=True)[:k])
    if ideal == 0:
        return None
    order = rank_products(product_ids, scores)[:k]
    return dcg([realised[i] for i in order]) / ideal


def precision_at_k(product_ids: Sequence[str], scores: Sequence[float],
                   realised: Sequence[float], k: int) -> float | None:
    """Share of the predicted top-K among the realised top-K; None if nothing was bought.

    The realised top-K is every product with a positive purchase count at least the K-th
    largest count (ties included, so it does not depend on a tie-break). The denominator is
    ``min(K, number of products)``.
    """
    positive = sorted((r for r in realised if r > 0), reverse=True)
    if not positive:
        return None
    threshold = positive[min(k, len(positive)) - 1]
    relevant = {i for i, r in enumerate(realised) if r > 0 and r >= threshold}
    top = rank_products(product_ids, scores)[:k]
    return sum(1 for i in top if i in relevant) / min(k, len(product_ids))


def evaluate(examples: pd.DataFrame, weights: Mapping[str, float], k: int) -> Evaluation:
    """Mean NDCG@K and precision@K over windows with at least one realised purchase."""
    ndcgs: list[float] = []
    precisions: list[float] = []
    w = np.array([weights[name] for name in EVENT_TYPES], dtype="float64")
    for _, window in examples.groupby("window_end", sort=True):
        ids = window["product_id"].astype(str).tolist()
        scores = (window.loc[:, list(FEATURES)].to_numpy(dtype="float64") @ w).tolist()
        realised = window[TARGET].tolist()
        n = ndcg_at_k(ids, scores, realised, k)
        if n is None:
            continue
        ndcgs.append(n)
        precisions.append(precision_at_k(ids, scores, realised, k))  # type: ignore[arg-type]
    if not ndcgs:
        raise NotEnoughDataError(
            "too little history to evaluate: no purchases in any held-out next window")
    return Evaluation(ndcg_at_k=float(np.mean(ndcgs)),
                      precision_at_k=float(np.mean(precisions)), windows=len(ndcgs))


# --- the whole step -----------------------------------------------------------------------


def train_weights(counts: pd.DataFrame, champion: Mapping[str, float] | None = None,
                  config: TrainingConfig | None = None) -> TrainingResult:
    """Learn weights from per-window counts and evaluate them (and the champion) on hold-out."""
    config = config or TrainingConfig()
    if counts.empty:
        raise NotEnoughDataError("too little history to train: no window counts found")
    examples = next_window_examples(counts)
    if examples.empty:
        raise NotEnoughDataError(
            "too little history to train: no window is followed by another window")
    train, holdout, holdout_start = split_holdout(examples, config)
    coefficients = fit_coefficients(train, config.alpha)
    weights = scale_weights(coefficients, config.decimals)
    return TrainingResult(
        weights=weights,
        raw_coefficients=coefficients,
        candidate=evaluate(holdout, weights, config.k),
        champion=evaluate(holdout, champion, config.k) if champion is not None else None,
        data_start_ms=int(counts["window_start"].min()),
        data_end_ms=int(counts["window_end"].max()),
        holdout_start_ms=holdout_start,
        train_examples=len(train),
        holdout_examples=len(holdout),
        train_windows=int(train["window_end"].nunique()),
        holdout_windows=int(holdout["window_end"].nunique()),
        config=config,
    )


def window_counts_from_events(events: pd.DataFrame, window_size_ms: int,
                              window_slide_ms: int | None = None) -> pd.DataFrame:
    """Per-(window, product) counts from raw events (``event_type``, ``product_id``, ``ts``).

    Windows are hopping (``window_slide_ms`` defaults to the size: tumbling), aligned to
    the epoch like Flink's; an event belongs to every window that contains its ``ts``.
    """
    slide = window_slide_ms or window_size_ms
    if window_size_ms % slide:
        raise ValueError("window size must be a multiple of the slide")
    columns = list(COUNT_COLUMNS)
    if events.empty:
        return pd.DataFrame(columns=columns)
    ts = events["ts"].astype("int64")
    last_start = ts - ts % slide
    frames = []
    for hop in range(window_size_ms // slide):
        start = last_start - hop * slide
        frames.append(pd.DataFrame({"window_start": start,
                                    "product_id": events["product_id"].astype(str),
                                    "event_type": events["event_type"]}))
    exploded = pd.concat(frames, ignore_index=True)
    table = (exploded.groupby(["window_start", "product_id", "event_type"]).size()
             .unstack("event_type", fill_value=0))
    for event in EVENT_TYPES:
        if event not in table.columns:
            table[event] = 0
    table = table.reset_index().rename(columns={"click": "clicks", "cart": "carts",
                                                "purchase": "purchases"})
    table["window_end"] = table["window_start"] + window_size_ms
    return table.loc[:, columns].sort_values(["window_start", "product_id"]).reset_index(
        drop=True)
