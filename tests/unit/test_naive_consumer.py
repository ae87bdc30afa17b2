"""The naive baseline consumer's windows, watermark and rankings on a hand-computed example
(no servers: fetched batches are fed to its logic directly)."""

from __future__ import annotations

import json
import math
import time

import pytest

from benchmarks.naive_consumer import Backfill, HopTopN, PartitionWatermarks
from registry.weights import Weights
from tests.contract.event_corpus import CASES
from tests.contract.event_corpus import SKEW_MS as CORPUS_SKEW_MS
from trend_tracker.settings import Settings

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a multiple of every slide below
S = 1000
WEIGHTS = Weights(click=1.0, cart=3.0, purchase=5.0, version="w-7")
CATEGORY = {"p-a": "shoes", "p-b": "shoes", "p-c": "books"}
NOW_MS = T0 + 3600 * S


class Message:
    """What the consumer reads of a confluent-kafka message."""

    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None):
        self._topic, self._partition, self._offset, self._value = topic, partition, offset, value

    def error(self):
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value


def settings(**changes) -> Settings:
    values = {"window_size_s": 20, "window_slide_s": 10, "top_n": 2,
              "out_of_orderness_s": 5, "max_future_skew_s": 60, "topic_clicks": "clicks",
              "topic_carts": "carts", "topic_purchases": "purchases", "metrics_port": 0}
    values.update(changes)
    return Settings(_env_file=None, **values)


def event(n: int, seconds: float, kind: str, product: str, **changes) -> bytes:
    """An event's JSON; ``changes`` replace fields (``None`` writes a JSON null)."""
    body = {"event_id": f"e-{n}", "event_type": kind, "product_id": product,
            "category": CATEGORY[product], "user_id": f"u-{n}", "ts": T0 + int(seconds * S)}
    body.update(changes)
    return json.dumps(body).encode()


def row(end_s: int, category, rank, product, score, clicks, carts, purchases,
        previous_rank, momentum) -> dict:
    return {"window_start": T0 + (end_s - 20) * S, "window_end": T0 + end_s * S,
            "ranking": "popular", "category": category, "rank": rank, "product_id": product,
            "score": score, "clicks": clicks, "carts": carts, "purchases": purchases,
            "previous_rank": previous_rank, "momentum": momentum, "weights_version": "w-7"}


# The six events of the example, (seconds after T0, type, product):
#   1 click p-a, 2 click p-b, 3 cart p-c, 12 purchase p-a, 13 click p-c, 14 click p-b
# HOP 20 s sliding by 10 s: each event is in two windows. Scores (click 1, cart 3, purchase 5):
#   window [-10, 10): p-a 1 (1 click), p-b 1 (1 click), p-c 3 (1 cart)
#   window [0, 20):   p-a 6 (click + purchase), p-b 2 (2 clicks), p-c 4 (cart + click)
#   window [10, 30):  p-a 5 (purchase), p-b 1 (click), p-c 1 (click)
# Top 2, score descending, ties by product_id ascending.
# Momentum (prior 10): the recent span is the newest 2 slides, here the whole window
# (scale 1), against the window that ends where it starts, 20 s earlier: (score + 10) /
# (score 20 s earlier + 10); windows 10 and 20 have no window 20 s earlier, window 30
# compares with window 10. Previous ranks: one window (10 s) earlier, same scope. No score
# reaches the least score of the rising ranking (10).
EXPECTED = {
    10: [row(10, None, 1, "p-c", 3.0, 0, 1, 0, None, 1.3),
         row(10, None, 2, "p-a", 1.0, 1, 0, 0, None, 1.1),
         row(10, "books", 1, "p-c", 3.0, 0, 1, 0, None, 1.3),
         row(10, "shoes", 1, "p-a", 1.0, 1, 0, 0, None, 1.1),
         row(10, "shoes", 2, "p-b", 1.0, 1, 0, 0, None, 1.1)],
    20: [row(20, None, 1, "p-a", 6.0, 1, 0, 1, 2, 1.6),
         row(20, None, 2, "p-c", 4.0, 1, 1, 0, 1, 1.4),
         row(20, "books", 1, "p-c", 4.0, 1, 1, 0, 1, 1.4),
         row(20, "shoes", 1, "p-a", 6.0, 1, 0, 1, 1, 1.6),
         row(20, "shoes", 2, "p-b", 2.0, 2, 0, 0, 2, 1.2)],
    30: [row(30, None, 1, "p-a", 5.0, 0, 0, 1, 1, 15 / 11),
         row(30, None, 2, "p-b", 1.0, 1, 0, 0, None, 1.0),
         row(30, "books", 1, "p-c", 1.0, 1, 0, 0, 1, 11 / 13),
         row(30, "shoes", 1, "p-a", 5.0, 0, 0, 1, 1, 15 / 11),
         row(30, "shoes", 2, "p-b", 1.0, 1, 0, 0, 2, 1.0)],
}
EVENTS = [(1, "click", "p-a"), (2, "click", "p-b"), (3, "cart", "p-c"),
          (12, "purchase", "p-a"), (13, "click", "p-c"), (14, "click", "p-b")]
INDEX = {"click": 0, "cart": 1, "purchase": 2}


def test_hop_windows_rank_by_score_then_product_id():
    hop = HopTopN(20 * S, 10 * S, 2, WEIGHTS)
    for seconds, event_type, product in EVENTS:
        hop.add(T0 + seconds * S, INDEX[event_type], product, CATEGORY[product])
    assert sorted(hop.windows) == [T0 + 10 * S, T0 + 20 * S, T0 + 30 * S]
    # A window fires once the watermark reaches its last millisecond, oldest first.
    assert hop.fire(T0 + 10 * S - 2) == []
    assert hop.fire(T0 + 10 * S - 1) == [(T0 + 10 * S, EXPECTED[10])]
    assert hop.fire(math.inf) == [(T0 + 20 * S, EXPECTED[20]), (T0 + 30 * S, EXPECTED[30])]
    assert hop.windows == {}


def test_the_recent_span_is_at_most_the_window():
    assert HopTopN(20 * S, 10 * S, 2, WEIGHTS, rising_recent_slides=5).recent_ms == 20 * S
    hop = HopTopN(40 * S, 10 * S, 2, WEIGHTS, rising_recent_slides=3)
    assert (hop.recent_ms, hop.scale) == (30 * S, 0.75)


# The rising example: HOP 40 s sliding by 10 s (4 slices), the newest 2 slides against the
# window before them (scale 2 / 4 = 0.5), prior 10, least score 10, z >= 4, dispersion 1.7.
# Events per slice (slice k is [10k s, 10k + 10 s)), all clicks but one cart:
#   p-a (shoes): 4 clicks in each of slices 0-5 (steady)
#   p-b (shoes): 1 click in each of slices 0-3 and a cart in slice 0, 15 clicks in slices 4, 5
#   p-c (books): 3 clicks in each of slices 0-3, 5 in slices 4, 5
RISING_SLICES = {"p-a": [4, 4, 4, 4, 4, 4], "p-b": [1, 1, 1, 1, 15, 15],
                 "p-c": [3, 3, 3, 3, 5, 5]}


def rising_example(**rising) -> HopTopN:
    hop = HopTopN(40 * S, 10 * S, 3, WEIGHTS, rising_recent_slides=2, rising_prior=10.0,
                  rising_min_score=10.0, rising_dispersion=1.7, **rising)
    for product, per_slice in RISING_SLICES.items():
        for k, clicks in enumerate(per_slice):
            for i in range(clicks):
                hop.add(T0 + (10 * k + 1) * S + i, 0, product, CATEGORY[product])
    hop.add(T0 + 5 * S, 1, "p-b", "shoes")
    return hop


def ranked(rows: list[dict], ranking: str, category=None) -> list[tuple]:
    return [(r["product_id"], r["score"], r["previous_rank"], r["momentum"]) for r in rows
            if r["ranking"] == ranking and r["category"] == category]


def test_rising_compares_the_newest_slides_with_the_window_before_them():
    fired = dict(rising_example(rising_min_z=4.0).fire_all())
    rows = fired[T0 + 60 * S]  # the window [20 s, 60 s); recent span [40 s, 60 s)
    # Base: the window [0 s, 40 s).
    # p-a: recent 8, base 16: momentum (8 / 0.5 + 10) / (16 + 10) = 1; z = 0.
    # p-b: recent 30, base 4 clicks + a cart = 7 (variance 4 * 1 + 1 * 9 = 13): momentum
    #      (30 / 0.5 + 10) / (7 + 10) = 70 / 17; z = (30 - 3.5) / sqrt(1.7 * 0.75 * 13 + 1)
    #      = 26.5 / sqrt(17.575) = 6.32 >= 4: rising.
    # p-c: recent 10, base 12: momentum (20 + 10) / (12 + 10) = 15 / 11; z = (10 - 6) /
    #      sqrt(1.7 * 0.75 * 12 + 1) = 4 / sqrt(16.3) = 0.99 < 4.
    # Previous ranks from the window [10 s, 50 s): popular p-b 18, p-a 16, p-c 14; no rising
    # product there (p-b: recent 16 against the window [-10 s, 30 s), 6 with variance 12:
    # z = (16 - 3) / sqrt(16.3) = 3.22).
    assert ranked(rows, "popular") == [("p-b", 32.0, 1, 70 / 17), ("p-a", 16.0, 2, 1.0),
                                       ("p-c", 16.0, 3, 15 / 11)]
    assert ranked(rows, "popular", "books") == [("p-c", 16.0, 1, 15 / 11)]
    assert ranked(rows, "popular", "shoes") == [("p-b", 32.0, 1, 70 / 17),
                                                ("p-a", 16.0, 2, 1.0)]
    assert ranked(rows, "rising") == [("p-b", 32.0, None, 70 / 17)]
    assert ranked(rows, "rising", "books") == []
    assert ranked(rows, "rising", "shoes") == [("p-b", 32.0, None, 70 / 17)]
    assert [r["ranking"] for r in rows] == ["popular"] * 6 + ["rising"] * 2
    assert all(r["window_start"] == T0 + 20 * S for r in rows)


def test_without_a_least_z_every_product_of_the_least_score_is_rising():
    fired = dict(rising_example(rising_min_z=None).fire_all())
    # Window [0 s, 40 s), recent [20 s, 40 s), base [-20 s, 20 s): p-a 16 (recent 8, base 8:
    # 26 / 18), p-c 12 (recent 6, base 6: 22 / 16); p-b scores 7 < 10. The window [-10 s,
    # 30 s) before it held p-a alone (12; p-c 9, p-b 6).
    assert ranked(fired[T0 + 40 * S], "rising") == [("p-a", 16.0, 1, 26 / 18),
                                                    ("p-c", 12.0, None, 22 / 16)]
    # Window [10 s, 50 s), base [-10 s, 30 s): p-b (16 / 0.5 + 10) / (6 + 10) = 42 / 16,
    # p-c (16 + 10) / (9 + 10) = 26 / 19, p-a (16 + 10) / (12 + 10) = 26 / 22.
    assert ranked(fired[T0 + 50 * S], "rising") == [("p-b", 18.0, None, 42 / 16),
                                                    ("p-c", 14.0, 2, 26 / 19),
                                                    ("p-a", 16.0, 1, 26 / 22)]
    # Window [20 s, 60 s): as above, all three, by momentum.
    assert ranked(fired[T0 + 60 * S], "rising") == [("p-b", 32.0, 1, 70 / 17),
                                                    ("p-c", 16.0, 2, 15 / 11),
                                                    ("p-a", 16.0, 3, 1.0)]


def test_an_event_counts_only_in_windows_that_have_not_fired():
    hop = HopTopN(20 * S, 10 * S, 2, WEIGHTS)
    hop.add(T0 + 1 * S, 0, "p-a", "shoes")
    assert [end for end, _ in hop.fire(T0 + 10 * S - 1)] == [T0 + 10 * S]
    # ts 9.999 s is not behind the watermark, but its first window has fired.
    hop.add(T0 + 10 * S - 1, 1, "p-b", "shoes")
    [(end, rows)] = hop.fire_all()
    assert end == T0 + 20 * S
    assert [(r["category"], r["rank"], r["product_id"], r["score"]) for r in rows] == [
        (None, 1, "p-b", 3.0), (None, 2, "p-a", 1.0),
        ("shoes", 1, "p-b", 3.0), ("shoes", 2, "p-a", 1.0)]


def test_at_most_max_categories_are_ranked_as_in_the_job():
    hop = HopTopN(10 * S, 10 * S, 1, WEIGHTS, max_categories=2)
    # click 1, cart 3, purchase 5. Window scores of the categories' summed counts:
    # games 2 + 2 = 4 (its best product only 2), toys 3, books 3, art 1.
    for event_type, product, category in [(0, "p-1", "games"), (0, "p-1", "games"),
                                          (0, "p-2", "games"), (0, "p-2", "games"),
                                          (1, "p-3", "toys"), (1, "p-4", "books"),
                                          (0, "p-5", "art")]:
        hop.add(T0 + 1 * S, event_type, product, category)
    [(_, rows)] = hop.fire_all()
    # toys and books tie at 3: books comes first by name.
    assert [(r["category"], r["rank"], r["product_id"], r["score"]) for r in rows] == [
        (None, 1, "p-3", 3.0), ("books", 1, "p-4", 3.0), ("games", 1, "p-1", 2.0)]


def test_watermark_is_the_slowest_open_partition_less_the_lateness():
    marks = PartitionWatermarks([("t", 0), ("t", 1)], lateness_ms=5 * S)
    marks.max_ts[("t", 0)] = T0 + 30 * S
    assert marks.advance() is None  # partition 1 has given no event yet
    marks.max_ts[("t", 1)] = T0 + 12 * S
    assert marks.advance() == T0 + 7 * S
    marks.finish(("t", 1))  # read to its end: it no longer holds the watermark back
    assert marks.advance() == T0 + 25 * S
    marks.max_ts[("t", 0)] = T0 + 20 * S  # never moves back
    assert marks.advance() == T0 + 25 * S


def test_backfill_over_batches_fires_as_the_watermark_passes_and_flushes_at_the_end():
    written: list[tuple[int, list[dict]]] = []
    topics = {"click": "clicks", "cart": "carts", "purchase": "purchases"}
    # Every event on partition 0 of its topic; purchases[1] is empty and never counts.
    values: dict[str, list[bytes]] = {t: [] for t in topics.values()}
    for n, (seconds, event_type, product) in enumerate(EVENTS):
        values[topics[event_type]].append(event(n, seconds, event_type, product))
    # Invalid records, rejected with classify's reasons, never counted.
    values["clicks"] += [b"not json", event(90, 14, "cart", "p-a"),
                         event(91, 14, "click", "p-a", ts=str(T0 + 14 * S))]
    ends = {"clicks": {0: len(values["clicks"])}, "carts": {0: len(values["carts"])},
            "purchases": {0: len(values["purchases"]), 1: 0}}
    backfill = Backfill(settings(out_of_orderness_s=4), WEIGHTS, ends,
                        lambda end, rows: written.append((end, rows)))
    clicks, carts, purchases = (
        [Message(topic, 0, offset, value) for offset, value in enumerate(values[topic])]
        for topic in ("clicks", "carts", "purchases"))
    # Batch 1: clicks at 1 s and 2 s, the cart at 3 s. purchases[0] has given nothing yet,
    # so there is no watermark.
    backfill.process([*clicks[:2], *carts], NOW_MS)
    assert backfill.marks.value is None and written == []
    # Batch 2: the purchase at 12 s (purchases[0] and carts[0] are now read to their end),
    # clicks at 13 s and 14 s: clicks[0] alone holds the watermark, 14 - 4 = 10 s, which has
    # reached the last millisecond of window [-10 s, 10 s).
    backfill.process([*purchases, *clicks[2:4]], NOW_MS)
    assert backfill.marks.value == T0 + 10 * S
    assert written == [(T0 + 10 * S, EXPECTED[10])]
    # Batch 3: the invalid records; then the end of the input fires the other windows.
    backfill.process(clicks[4:], NOW_MS)
    assert backfill.done and len(written) == 1
    backfill.finish()
    assert written == [(T0 + end * S, EXPECTED[end]) for end in (10, 20, 30)]
    summary = backfill.summary()
    assert summary["events"] == 9 and summary["valid"] == 6 and summary["late"] == 0
    assert summary["rejected"] == {"not_json": 1, "topic_mismatch": 1, "wrong_type": 1}
    assert summary["windows"] == 3 and summary["rows"] == 15
    assert summary["max_ts"] == T0 + 14 * S
    # A stream over these partitions would end with the slowest one's: 3 s - 4 s.
    assert summary["final_watermark"] == T0 - 1 * S


def test_an_event_behind_the_watermark_on_arrival_is_late():
    written: list[tuple[int, list[dict]]] = []
    ends = {"clicks": {0: 3}, "carts": {}, "purchases": {}}
    backfill = Backfill(settings(), WEIGHTS, ends, lambda end, rows: written.append((end, rows)))
    backfill.process([Message("clicks", 0, 0, event(0, 25, "click", "p-a"))], NOW_MS)
    assert backfill.marks.value == T0 + 20 * S and written == []
    # 19.999 s is behind the watermark (20 s): late, not counted.
    backfill.process([Message("clicks", 0, 1, event(1, 19.999, "click", "p-b")),
                      Message("clicks", 0, 2, event(2, 20, "click", "p-c"))], NOW_MS)
    backfill.finish()
    assert backfill.late == 1
    counted = {(end, r["product_id"]) for end, rows in written for r in rows}
    assert counted == {(T0 + 30 * S, "p-a"), (T0 + 40 * S, "p-a"),
                       (T0 + 30 * S, "p-c"), (T0 + 40 * S, "p-c")}


def overall_clicks(written: list[tuple[int, list[dict]]]) -> dict[tuple[int, str], int]:
    """(window end in s after T0, product) -> clicks, from the overall popular rows."""
    return {((end - T0) // S, r["product_id"]): r["clicks"] for end, rows in written
            for r in rows if r["ranking"] == "popular" and r["category"] is None}


def test_a_copy_of_an_event_within_the_dedup_horizon_counts_once():
    written: list[tuple[int, list[dict]]] = []
    values = [event(1, 1, "click", "p-a"), event(1, 1, "click", "p-a"),  # a retry
              event(1, 4, "click", "p-a"),  # 3 s away: a copy
              event(1, 7, "click", "p-a"),  # 6 s away: another event
              event(1, 1, "click", "p-b")]  # another product
    ends = {"clicks": {0: len(values)}, "carts": {}, "purchases": {}}
    backfill = Backfill(settings(dedup_horizon_s=5), WEIGHTS, ends,
                        lambda end, rows: written.append((end, rows)))
    backfill.process([Message("clicks", 0, i, v) for i, v in enumerate(values)], NOW_MS)
    backfill.finish()
    assert backfill.duplicates == 2 and backfill.summary()["duplicates"] == 2
    assert overall_clicks(written)[(10, "p-a")] == 2
    assert overall_clicks(written)[(10, "p-b")] == 1


def test_each_window_counts_a_users_events_of_a_type_at_most_the_cap_times():
    written: list[tuple[int, list[dict]]] = []
    # u-1 clicks p-a 3 times in [0 s, 10 s) and twice in [10 s, 20 s); u-2 once; cap 2.
    seconds = [(1, "u-1"), (2, "u-1"), (3, "u-1"), (4, "u-2"), (11, "u-1"), (12, "u-1")]
    values = [event(n, at, "click", "p-a", user_id=user) for n, (at, user) in enumerate(seconds)]
    ends = {"clicks": {0: len(values)}, "carts": {}, "purchases": {}}
    backfill = Backfill(settings(max_events_per_user=2), WEIGHTS, ends,
                        lambda end, rows: written.append((end, rows)))
    # One record per batch: the capped user's later events take the per-window path.
    for offset, value in enumerate(values):
        backfill.process([Message("clicks", 0, offset, value)], NOW_MS)
    backfill.finish()
    # [-10 s, 10 s): min(3, 2) + 1; [0 s, 20 s): min(5, 2) + 1; [10 s, 30 s): min(2, 2).
    assert overall_clicks(written) == {(10, "p-a"): 3, (20, "p-a"): 3, (30, "p-a"): 2}


def capped_backfill(written: list, values: list[bytes], **changes) -> Backfill:
    """A backfill of clicks on one partition, HOP 40 s / 10 s, cap 2, the newest 2 slides
    against the window before them (scale 0.5), prior 10, no least z."""
    values_settings = {"window_size_s": 40, "window_slide_s": 10, "max_events_per_user": 2,
                       "rising_recent_slides": 2, "rising_prior": 10, "rising_min_z": None}
    values_settings.update(changes)
    ends = {"clicks": {0: len(values)}, "carts": {}, "purchases": {}}
    return Backfill(settings(**values_settings), WEIGHTS, ends,
                    lambda end, rows: written.append((end, rows)))


def recent_clicks_by_window(backfill: Backfill) -> dict[int, int]:
    """Window end (s) -> the clicks of p-a in its recent counts, as handed to the momentum,
    recorded as the windows fire."""
    seen: dict[int, int] = {}
    momentum_of = backfill.hop.momentum_of

    def spy(end, scored, recent):
        seen[(end - T0) // S] = sum(c[0] for (product, _), c in recent.items()
                                    if product == "p-a")
        return momentum_of(end, scored, recent)
    backfill.hop.momentum_of = spy  # type: ignore[method-assign]
    return seen


def test_a_user_at_the_cap_in_the_older_part_adds_nothing_recent():
    written: list[tuple[int, list[dict]]] = []
    # u-1 clicks p-a at 1 s and 2 s, then at 21, 22 and 23 s; cap 2.
    seconds = [1, 2, 21, 22, 23]
    values = [event(n, at, "click", "p-a", user_id="u-1") for n, at in enumerate(seconds)]
    backfill = capped_backfill(written, values)
    recent = recent_clicks_by_window(backfill)
    for offset, value in enumerate(values):
        backfill.process([Message("clicks", 0, offset, value)], NOW_MS)
    backfill.finish()
    momentum = {(end - T0) // S: r["momentum"] for end, rows in written for r in rows
                if r["ranking"] == "popular" and r["category"] is None}
    # Every window counts 2 of the user's clicks (the cap).
    assert set(overall_clicks(written).values()) == {2}
    # Recent = the window's capped count less its older part's (the window but its newest
    # 20 s), capped within itself:
    #   window 10 s [-30 s, 10 s): 2, older [-30 s, -10 s) 0: recent 2; window 20 s alike.
    #   window 30 s [-10 s, 30 s): min(5, 2) = 2, older [-10 s, 10 s) min(2, 2) = 2: 0.
    #   window 40 s [0 s, 40 s): 2, older [0 s, 20 s) 2: 0.
    #   window 50 s [10 s, 50 s): min(3, 2), older [10 s, 30 s) min(3, 2): 0; window 60 s
    #   alike (older [20 s, 40 s)).
    assert recent == {10: 2, 20: 2, 30: 0, 40: 0, 50: 0, 60: 0}
    # Windows 10 s and 20 s: no base: (2 / 0.5 + 10) / 10. Later: base 2 (the window 20 s
    # earlier): (0 + 10) / (2 + 10). (Capped per span, windows 30 s and 40 s would have
    # counted 2 recent clicks at 21-23 s: a steady user at the cap looked like growth.)
    assert momentum == {10: 1.4, 20: 1.4, 30: 10 / 12, 40: 10 / 12, 50: 10 / 12, 60: 10 / 12}


# Clicks on p-a, cap 2 (seconds after T0, user):
#   u-1: 5 s                       (one click, in the older part of the window 40 s)
#   u-2: 1, 2, 3 s and 21, 22 s    (at the cap in the older part, 2 more in the recent span)
#   u-3: 25, 26, 27 s              (new in the recent span of the window 40 s)
#   u-4: 6 s and 31, 32, 33 s      (one below the cap in the older part)
CAPPED_CLICKS = [(5, "u-1"), (1, "u-2"), (2, "u-2"), (3, "u-2"), (21, "u-2"), (22, "u-2"),
                 (25, "u-3"), (26, "u-3"), (27, "u-3"), (6, "u-4"), (31, "u-4"), (32, "u-4"),
                 (33, "u-4")]


@pytest.mark.parametrize("arrival", ["in ts order, one record a batch",
                                     "newest first, one batch"])
def test_recent_counts_are_the_window_less_its_older_part_each_capped(arrival):
    clicks = sorted(CAPPED_CLICKS)
    if arrival == "newest first, one batch":
        clicks.reverse()
    written: list[tuple[int, list[dict]]] = []
    values = [event(n, at, "click", "p-a", user_id=user) for n, (at, user) in enumerate(clicks)]
    backfill = capped_backfill(written, values)
    recent = recent_clicks_by_window(backfill)
    messages = [Message("clicks", 0, offset, value) for offset, value in enumerate(values)]
    if arrival == "newest first, one batch":
        backfill.process(messages, NOW_MS)  # no watermark yet: none of them late
    else:
        for message in messages:
            backfill.process([message], NOW_MS)
    backfill.finish()
    # The window 40 s, [0 s, 40 s): older part [0 s, 20 s), recent span [20 s, 40 s).
    #   u-1: window 1, older 1: recent 0.
    #   u-2: window min(5, 2) = 2, older min(3, 2) = 2: recent 0.
    #   u-3: window 2, older 0: recent min(3, 2) = 2.
    #   u-4: window min(4, 2) = 2, older 1: recent 1.
    #   Window 1 + 2 + 2 + 2 = 7, recent 0 + 0 + 2 + 1 = 3.
    # The window 30 s, [-10 s, 30 s), older [-10 s, 10 s): u-1 1 - 1, u-2 2 - 2, u-3 2 - 0,
    #   u-4 1 - 1 (its clicks at 31-33 s are not in it): window 6, recent 2.
    # The window 50 s, [10 s, 50 s), older [10 s, 30 s): u-2 2 - 2, u-3 2 - 2, u-4 2 - 0:
    #   window 6, recent 2.
    # The window 60 s, [20 s, 60 s), older [20 s, 40 s): every click is in the older part:
    #   window 6, recent 0. The window 70 s, [30 s, 70 s): u-4's 2 of 3, all older: recent 0.
    # The windows 10 s and 20 s: older parts [-30 s, -10 s), [-20 s, 0 s) empty: recent =
    #   window = u-1 1 + u-2 2 + u-4 1 = 4.
    assert overall_clicks(written) == {(10, "p-a"): 4, (20, "p-a"): 4, (30, "p-a"): 6,
                                       (40, "p-a"): 7, (50, "p-a"): 6, (60, "p-a"): 6,
                                       (70, "p-a"): 2}
    assert recent == {10: 4, 20: 4, 30: 2, 40: 3, 50: 2, 60: 0, 70: 0}
    momentum = {(end - T0) // S: r["momentum"] for end, rows in written for r in rows
                if r["ranking"] == "popular" and r["category"] is None}
    # The window 40 s against the window 20 s (4): (3 / 0.5 + 10) / (4 + 10).
    assert momentum[40] == 16 / 14


@pytest.mark.parametrize("shuffled", [False, True])
def test_recent_counts_agree_with_their_definition_on_random_clicks(shuffled):
    """A cross-check of the incremental recent counts against the definition counted
    directly: min(cap, window) - min(cap, older part) per user, summed. Clicks come nearly
    in ts order (within the out-of-orderness, 7 a batch), or shuffled in one batch."""
    import random

    rng = random.Random(7)
    clicks = [(rng.randrange(0, 80_000), f"u-{rng.randrange(4)}") for _ in range(120)]
    if shuffled:
        arrival = rng.sample(clicks, len(clicks))
        batch = len(clicks)  # one batch: no watermark yet, none late
    else:
        arrival = sorted(clicks, key=lambda c: c[0] + rng.randrange(4_000))
        batch = 7
    written: list[tuple[int, list[dict]]] = []
    values = [event(n, ms / S, "click", "p-a", user_id=user)
              for n, (ms, user) in enumerate(arrival)]
    backfill = capped_backfill(written, values, max_events_per_user=3)
    recent = recent_clicks_by_window(backfill)
    for offset in range(0, len(values), batch):
        backfill.process([Message("clicks", 0, o, values[o])
                          for o in range(offset, min(offset + batch, len(values)))], NOW_MS)
    backfill.finish()
    assert backfill.late == 0

    def capped(start_s: int, end_s: int) -> int:
        users = {user for _, user in clicks}
        return sum(min(3, sum(1 for ms, u in clicks if u == user
                              and start_s * S <= ms < end_s * S)) for user in users)
    expected = {end: capped(end - 40, end) - capped(end - 40, end - 20)
                for end in range(10, 130, 10)}
    assert recent == {end: n for end, n in expected.items() if capped(end - 40, end)}
    assert len(recent) == 11  # windows ending 10 s to 110 s


CORPUS_SETTINGS = settings(max_future_skew_s=CORPUS_SKEW_MS // 1000)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_payload_of_the_contract_corpus_gets_its_verdict(case):
    """The consumer's own path (the inline check, else classify) on the contract's corpus:
    the same reason, and for a valid event the same ids and ts, counted in its windows."""
    written: list[tuple[int, list[dict]]] = []
    topic = {"click": "clicks", "cart": "carts", "purchase": "purchases"}[case.topic]
    ends = {"clicks": {}, "carts": {}, "purchases": {}}
    ends[topic] = {0: 1}
    backfill = Backfill(CORPUS_SETTINGS, WEIGHTS, ends,
                        lambda end, rows: written.append((end, rows)))
    backfill.process([Message(topic, 0, 0, case.value)], int(time.time() * 1000))
    backfill.finish()
    if case.expected is not None:
        assert (backfill.valid, backfill.rejected) == (0, {case.expected: 1})
        assert written == []
        return
    product_id, category, ts = case.fields
    assert (backfill.valid, backfill.rejected) == (1, {})
    seen_ts = backfill.marks.max_ts[(topic, 0)]
    assert seen_ts == ts and type(seen_ts) is int
    # In both windows containing ts (HOP 20 s / 10 s), overall and in its category.
    assert [end for end, _ in written] == [ts - ts % (10 * S) + 10 * S,
                                           ts - ts % (10 * S) + 20 * S]
    for _end, rows in written:
        assert [(r["category"], r["product_id"]) for r in rows] == [
            (None, product_id), (category, product_id)]
