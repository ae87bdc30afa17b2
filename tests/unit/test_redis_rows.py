"""Grouping job output rows into rankings (pure logic, no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from udfs.redis_sink import RankedItem, Ranking, epoch_ms, rankings_from_rows

W0, W1 = 1_704_067_200_000, 1_704_067_260_000


def row(window_end, category, rank, product_id, score, version="trend-weights/1"):
    return {"window_start": window_end - 60_000, "window_end": window_end,
            "ranking": "popular", "category": category,
            "rank": rank, "product_id": product_id, "score": score, "clicks": rank,
            "carts": 0, "purchases": 1, "previous_rank": None, "momentum": 1.0,
            "weights_version": version}


def test_epoch_ms_accepts_ints_and_datetimes():
    assert epoch_ms(W0) == W0
    assert epoch_ms(datetime(2024, 1, 1, tzinfo=UTC)) == W0
    assert epoch_ms(datetime(2024, 1, 1)) == W0  # naive is UTC


def test_rows_are_grouped_per_window_and_category_and_sorted_by_rank():
    rows = [row(W1, None, 2, "b", 3.0), row(W0, "shoes", 1, "a", 9.0), row(W1, None, 1, "c", 4.0)]
    assert rankings_from_rows(rows) == [
        Ranking(W0 - 60_000, W0, "shoes", "trend-weights/1",
                (RankedItem(1, "a", 9.0, 1, 0, 1),)),
        Ranking(W1 - 60_000, W1, None, "trend-weights/1",
                (RankedItem(1, "c", 4.0, 1, 0, 1), RankedItem(2, "b", 3.0, 2, 0, 1))),
    ]


def test_a_ranking_mixing_weights_versions_is_rejected():
    with pytest.raises(ValueError, match="mixes weights versions"):
        rankings_from_rows([row(W0, None, 1, "a", 1.0, "v1"), row(W0, None, 2, "b", 1.0, "v2")])


def test_the_rankings_of_each_kind_are_apart_and_items_carry_previous_rank_and_momentum():
    rising = {**row(W0, None, 1, "b", 2.0), "ranking": "rising", "previous_rank": 3,
              "momentum": 4.5}
    rows = [rising, row(W0, None, 1, "a", 9.0)]
    assert rankings_from_rows(rows) == [
        Ranking(W0 - 60_000, W0, None, "trend-weights/1",
                (RankedItem(1, "a", 9.0, 1, 0, 1, None, 1.0),)),
        Ranking(W0 - 60_000, W0, None, "trend-weights/1",
                (RankedItem(1, "b", 2.0, 1, 0, 1, 3, 4.5),), "rising"),
    ]
