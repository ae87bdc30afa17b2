"""Rankings waiting for Redis during an outage: which are kept (pure logic, no Redis)."""

from __future__ import annotations

import pytest

from udfs.redis_sink import RankedItem, Ranking
from udfs.redis_view import PendingRankings

W = 1_704_067_200_000
SLIDE = 10_000


def ranking(window_end: int, category: str | None) -> Ranking:
    return Ranking(window_end - 60_000, window_end, category, "v1",
                   (RankedItem(1, "p-1", 1.0, 1, 0, 0),))


def window(n: int, *categories: str) -> list[Ranking]:
    end = W + n * SLIDE
    return [ranking(end, None), *(ranking(end, c) for c in categories)]


def kept(pending: PendingRankings) -> list[tuple[int, list[str | None]]]:
    """(window number, scopes) of each pending batch, oldest first."""
    return [((end - W) // SLIDE, [r.category for r in rankings])
            for end, rankings in pending.windows()]


def test_the_newest_windows_are_kept_whole_and_older_ones_only_for_their_newest_scopes():
    pending = PendingRankings(max_windows=2, max_scopes=10)
    pending.add(window(1, "a", "b"))
    pending.add(window(2, "b"))
    pending.add(window(3, "c"))
    # Window 1 is past the two newest: only its "a" ranking, the newest of that scope, stays.
    assert kept(pending) == [(1, ["a"]), (2, [None, "b"]), (3, [None, "c"])]
    pending.add(window(4, "c"))
    # Window 2 keeps "b" (its newest); "c" of window 3 is superseded by window 4's.
    assert kept(pending) == [(1, ["a"]), (2, ["b"]), (3, [None, "c"]), (4, [None, "c"])]
    pending.add(window(5, "a"))
    assert kept(pending) == [(2, ["b"]), (4, [None, "c"]), (5, [None, "a"])]
    assert len(pending) == 3


def test_the_scopes_kept_beyond_the_newest_windows_are_capped_newest_first_then_by_name():
    pending = PendingRankings(max_windows=1, max_scopes=3)
    pending.add(window(1, "e", "f"))
    pending.add(window(2, "c", "d"))
    pending.add(window(3))
    # Scopes all, c, d, e, f; at most 3 scopes: all (window 3), then c and d (window 2).
    assert kept(pending) == [(2, ["c", "d"]), (3, [None])]


def test_a_window_written_is_discarded_and_a_rewrite_replaces_its_rankings():
    pending = PendingRankings(max_windows=3, max_scopes=10)
    pending.add(window(1, "a"))
    pending.add(window(2, "a"))
    pending.add(window(2, "b"))  # the same window again (a replay): replaces it
    assert kept(pending) == [(1, [None, "a"]), (2, [None, "b"])]
    pending.discard(W + 1 * SLIDE)
    assert kept(pending) == [(2, [None, "b"])]
    pending.discard(W + 2 * SLIDE)
    assert kept(pending) == [] and len(pending) == 0


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        PendingRankings(max_windows=0, max_scopes=1)
