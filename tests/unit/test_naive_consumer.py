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
# Momentum (prior 10): (score + 10) / (score 20 s earlier + 10); windows 10 and 20 have no
# window 20 s earlier, window 30 compares with window 10. Previous ranks: one window (10 s)
# earlier, same scope. No score reaches the least score of the rising ranking (10).
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
