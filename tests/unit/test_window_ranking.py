"""The Java window ranking (``udfs/java``): scores, ties, top-N cuts and the pinned weights.

Drives :class:`dev.trendtracker.scoring.WindowRanking` and ``Weights`` directly in a JVM
(PyFlink's gateway), without Flink jobs or servers. Expected values are worked out by hand.
"""

from __future__ import annotations

import pytest

from trend_tracker.jars import udf_jar


@pytest.fixture(scope="module")
def scoring():
    from pyflink.java_gateway import get_gateway
    from pyflink.util.java_utils import add_jars_to_context_class_loader

    add_jars_to_context_class_loader([udf_jar().as_uri()])
    return get_gateway().jvm.dev.trendtracker.scoring


def weights(scoring, version="v1", click=1.0, cart=3.0, purchase=5.0):
    return scoring.Weights(version, float(click), float(cart), float(purchase))


def result(ranking) -> tuple[list[tuple], str]:
    """(category, rank, product_id, score, clicks, carts, purchases) rows and the version."""
    row = ranking.result()
    columns = [list(row.getField(i)) for i in range(7)]
    return [tuple(values) for values in zip(*columns, strict=True)], row.getField(7)


def test_a_window_is_scored_with_its_weights_and_ranked_overall_and_per_category(scoring):
    ranking = scoring.WindowRanking(2)
    ranking.pin(weights(scoring))
    # click 1, cart 3, purchase 5
    ranking.add("p-1", "toys", 2, 1, 0)  # 2 + 3 = 5
    ranking.add("p-2", "toys", 0, 0, 1)  # 5: ties with p-1, p-1 first
    ranking.add("p-3", "books", 7, 0, 0)  # 7
    ranking.add("p-4", "books", 1, 0, 0)  # 1
    ranking.add("p-5", "toys", 0, 0, 0)  # 0: third in toys, cut
    rows, version = result(ranking)
    assert version == "v1"
    assert rows == [
        (None, 1, "p-3", 7.0, 7, 0, 0), (None, 2, "p-1", 5.0, 2, 1, 0),
        ("books", 1, "p-3", 7.0, 7, 0, 0), ("books", 2, "p-4", 1.0, 1, 0, 0),
        ("toys", 1, "p-1", 5.0, 2, 1, 0), ("toys", 2, "p-2", 5.0, 0, 0, 1),
    ]


def test_the_first_weights_pinned_stay_for_the_whole_window(scoring):
    ranking = scoring.WindowRanking(5)
    ranking.pin(weights(scoring, "v1", 1, 3, 5))
    ranking.add("p-1", "toys", 1, 1, 1)  # 1 + 3 + 5 = 9
    ranking.pin(weights(scoring, "v2", 10, 0, 0))  # the champion changed: ignored here
    ranking.add("p-2", "toys", 2, 0, 0)  # 2 with v1 (20 with v2)
    rows, version = result(ranking)
    assert version == "v1"
    assert [(r[0], r[2], r[3]) for r in rows] == [
        (None, "p-1", 9.0), (None, "p-2", 2.0), ("toys", "p-1", 9.0), ("toys", "p-2", 2.0)]


def test_top_n_keeps_the_best_through_many_cuts_with_ties_by_product_id(scoring):
    ranking = scoring.WindowRanking(3)
    ranking.pin(weights(scoring, "v1", 1, 0, 0))
    # 50 products p-00 .. p-49 with clicks = i % 10: the best score is 9, held by
    # p-09, p-19, p-29, p-39, p-49; the top 3 by product_id are p-09, p-19, p-29.
    for i in range(50):
        ranking.add(f"p-{i:02d}", "c", i % 10, 0, 0)
    rows, _ = result(ranking)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (None, 1, "p-09", 9.0), (None, 2, "p-19", 9.0), (None, 3, "p-29", 9.0),
        ("c", 1, "p-09", 9.0), ("c", 2, "p-19", 9.0), ("c", 3, "p-29", 9.0)]


def test_adding_before_the_weights_are_pinned_is_refused(scoring):
    from py4j.protocol import Py4JJavaError

    with pytest.raises(Py4JJavaError, match="pin the window's weights first"):
        scoring.WindowRanking(3).add("p-1", "c", 1, 0, 0)


def test_weights_records_are_validated_as_data(scoring):
    from py4j.java_gateway import get_field
    from py4j.protocol import Py4JJavaError

    parsed = scoring.Weights.parse(
        '{"weights_version": "7", "click": 1, "cart": 2.5, "purchase": 0, "published_ms": 1}')
    assert [get_field(parsed, name) for name in ("version", "click", "cart", "purchase")] == [
        "7", 1.0, 2.5, 0.0]
    for bad, message in [
        ('{"click": 1, "cart": 1, "purchase": 1}', "no weights_version"),
        ('{"weights_version": "x", "click": -1, "cart": 1, "purchase": 1}', "click=-1.0"),
        ('{"weights_version": "x", "click": "1", "cart": 1, "purchase": 1}', "not a number"),
        ('{"weights_version": "x", "click": 0, "cart": 0, "purchase": 0}', "positive"),
        ('{"weights_version": "x", "click": 1e999, "cart": 0, "purchase": 0}', "finite"),
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
    ]:
        with pytest.raises(Py4JJavaError, match=message):
            scoring.Weights.parse(bad)


def test_window_counts_add_events_merge_slices_and_rank(scoring):
    click, cart, purchase = 0, 1, 2
    first, second = scoring.WindowCounts(), scoring.WindowCounts()
    for product, category, event in [("p-1", "toys", click), ("p-1", "toys", cart),
                                     ("p-2", "toys", purchase), ("p-1", "books", click)]:
        first.add(product, category, event)
    for product, category, event in [("p-2", "toys", click), ("p-1", "toys", click)]:
        second.add(product, category, event)
    first.addAll(second)
    # p-1/toys: 2 clicks + 1 cart = 2 + 3 = 5; p-2/toys: 1 click + 1 purchase = 1 + 5 = 6;
    # p-1/books: 1 click = 1. Overall the product p-1 appears once per category.
    rows, version = result(first.rank(weights(scoring), 10))
    assert version == "v1"
    assert rows == [
        (None, 1, "p-2", 6.0, 1, 0, 1), (None, 2, "p-1", 5.0, 2, 1, 0),
        (None, 3, "p-1", 1.0, 1, 0, 0),
        ("books", 1, "p-1", 1.0, 1, 0, 0),
        ("toys", 1, "p-2", 6.0, 1, 0, 1), ("toys", 2, "p-1", 5.0, 2, 1, 0),
    ]
    # The merged slice is unchanged.
    assert result(second.rank(weights(scoring), 10))[0][:2] == [
        (None, 1, "p-1", 1.0, 1, 0, 0), (None, 2, "p-2", 1.0, 1, 0, 0)]


def test_window_counts_survive_flinks_serializer(scoring):
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    counts = scoring.WindowCounts()
    counts.add("p-1", "toys", 0)
    counts.add("p-1", "toys", 2)
    counts.add("p-\u00e9", "b\u00fccher", 1)
    serializer = scoring.WindowCountsSerializer.INSTANCE
    out = jvm.org.apache.flink.core.memory.DataOutputSerializer(64)
    serializer.serialize(counts, out)
    again = serializer.deserialize(
        jvm.org.apache.flink.core.memory.DataInputDeserializer(out.getCopyOfBuffer()))
    rows, _ = result(again.rank(weights(scoring), 5))
    assert rows == [(None, 1, "p-1", 6.0, 1, 0, 1), (None, 2, "p-\u00e9", 3.0, 0, 1, 0),
                    ("b\u00fccher", 1, "p-\u00e9", 3.0, 0, 1, 0),
                    ("toys", 1, "p-1", 6.0, 1, 0, 1)]


def test_at_most_max_categories_are_ranked_chosen_by_the_categorys_window_score(scoring):
    ranking = scoring.WindowRanking(2, 2)
    ranking.pin(weights(scoring))
    # click 1, cart 3, purchase 5; a category's window score is the score of its summed
    # counts, every product of the category included (not only its top-N).
    ranking.add("p-1", "toys", 2, 1, 0)  # 5
    ranking.add("p-2", "toys", 0, 0, 1)  # 5 -> toys 10
    for product in ("p-3", "p-4", "p-5", "p-6"):
        ranking.add(product, "games", 2, 0, 0)  # 2 each -> games 8 (its top-2 only 4)
    ranking.add("p-7", "books", 7, 0, 0)  # books 7: the best product, third category
    ranking.add("p-8", "art", 0, 1, 0)  # art 3
    rows, _ = result(ranking)
    # The overall ranking still covers every product; categories in name order.
    assert rows == [
        (None, 1, "p-7", 7.0, 7, 0, 0), (None, 2, "p-1", 5.0, 2, 1, 0),
        ("games", 1, "p-3", 2.0, 2, 0, 0), ("games", 2, "p-4", 2.0, 2, 0, 0),
        ("toys", 1, "p-1", 5.0, 2, 1, 0), ("toys", 2, "p-2", 5.0, 0, 0, 1),
    ]


def test_categories_with_equal_window_scores_are_chosen_by_name(scoring):
    ranking = scoring.WindowRanking(1, 2)
    ranking.pin(weights(scoring))
    ranking.add("p-1", "c-b", 3, 0, 0)  # 3
    ranking.add("p-2", "c-d", 0, 1, 0)  # 3
    ranking.add("p-3", "c-a", 1, 0, 0)  # 1 + 2 = 3
    ranking.add("p-4", "c-a", 2, 0, 0)
    ranking.add("p-5", "c-c", 2, 0, 0)  # 2
    rows, _ = result(ranking)
    assert [(r[0], r[2]) for r in rows] == [(None, "p-1"), ("c-a", "p-4"), ("c-b", "p-1")]


def test_window_counts_rank_at_most_max_categories_of_many(scoring):
    """500 categories, cap 200: the reference picks by summed counts, then name."""
    w = {"click": 1.0, "cart": 3.0, "purchase": 5.0}
    counts = scoring.WindowCounts()
    events: dict[tuple[str, str], list[int]] = {}
    for i in range(1500):
        product, category = f"p-{i:04d}", f"c-{(i * 7) % 500:03d}"
        event_type = (i * i) % 3
        for _ in range(1 + i % 4):
            counts.add(product, category, event_type)
            events.setdefault((product, category), [0, 0, 0])[event_type] += 1
    totals: dict[str, list[int]] = {}
    for (_, category), c in events.items():
        total = totals.setdefault(category, [0, 0, 0])
        for k in range(3):
            total[k] += c[k]
    def score(c):
        return w["click"] * c[0] + w["cart"] * c[1] + w["purchase"] * c[2]
    chosen = sorted(totals, key=lambda cat: (-score(totals[cat]), cat))[:200]
    expected = []
    scored = [(-score(c), product, category, c) for (product, category), c in events.items()]
    for scope in [None, *sorted(chosen)]:
        members = sorted(s for s in scored if scope is None or s[2] == scope)[:3]
        expected += [(scope, rank, product, -neg, *c)
                     for rank, (neg, product, _, c) in enumerate(members, start=1)]
    # Ties at the cut: several categories share the 200th category's window score.
    cut = score(totals[chosen[-1]])
    assert sum(1 for cat in totals if score(totals[cat]) == cut) > 1
    rows, _ = result(counts.rank(weights(scoring), 3, 200))
    assert len({r[0] for r in rows if r[0] is not None}) == 200
    assert rows == expected


# --- both rankings of a window: popular and rising (WindowRankings) ------------------------

def counts(scoring, events: dict[tuple[str, str], tuple[int, int, int]]):
    """WindowCounts from {(product_id, category): (clicks, carts, purchases)}."""
    window = scoring.WindowCounts()
    for (product_id, category), by_type in events.items():
        for code, n in enumerate(by_type):
            for _ in range(n):
                window.add(product_id, category, code)
    return window


ROW_FIELDS = ("ranking", "category", "rank", "product_id", "score", "clicks", "carts",
              "purchases", "previous_rank", "momentum")


def rows_of(rankings, previous=None) -> tuple[list[dict], str]:
    row = rankings.result(previous)
    columns = [list(row.getField(i)) for i in range(len(ROW_FIELDS))]
    return ([dict(zip(ROW_FIELDS, values, strict=True)) for values in zip(*columns, strict=True)],
            row.getField(len(ROW_FIELDS)))


def rank_both(scoring, current, base, top_n=3, prior=2.0, min_score=3.0, max_categories=200):
    return scoring.WindowRankings.rank(current, base, weights(scoring), top_n, max_categories,
                                       prior, min_score)


def test_rising_ranks_by_momentum_with_the_prior_and_the_least_score(scoring):
    # click 1, cart 3, purchase 5; prior 2, least score 3.
    base = counts(scoring, {("p-flat", "toys"): (6, 0, 0),      # 6
                            ("p-fall", "toys"): (20, 0, 0),     # 20
                            ("p-up", "books"): (1, 0, 0)})      # 1
    current = counts(scoring, {("p-flat", "toys"): (6, 0, 0),   # 6: (6+2)/(6+2) = 1
                               ("p-fall", "toys"): (4, 0, 0),   # 4: (4+2)/(20+2) = 6/22
                               ("p-up", "books"): (2, 1, 0),    # 5: (5+2)/(1+2) = 7/3
                               ("p-new", "books"): (0, 0, 1),   # 5 from nothing: 7/2
                               ("p-one", "books"): (2, 0, 0)})  # 2 < 3: not rising
    rows, version = rows_of(rank_both(scoring, current, base))
    assert version == "v1"
    rising = [(r["category"], r["rank"], r["product_id"], r["momentum"]) for r in rows
              if r["ranking"] == "rising"]
    assert rising == [
        (None, 1, "p-new", 3.5), (None, 2, "p-up", 7 / 3), (None, 3, "p-flat", 1.0),
        ("books", 1, "p-new", 3.5), ("books", 2, "p-up", 7 / 3),
        ("toys", 1, "p-flat", 1.0), ("toys", 2, "p-fall", 6 / 22)]
    popular = [(r["category"], r["rank"], r["product_id"], r["score"], r["momentum"])
               for r in rows if r["ranking"] == "popular"]
    # Popular: score descending, ties by product_id; every item carries its momentum.
    assert popular == [
        (None, 1, "p-flat", 6.0, 1.0), (None, 2, "p-new", 5.0, 3.5),
        (None, 3, "p-up", 5.0, 7 / 3),
        ("books", 1, "p-new", 5.0, 3.5), ("books", 2, "p-up", 5.0, 7 / 3),
        ("books", 3, "p-one", 2.0, 4 / 2),
        ("toys", 1, "p-flat", 6.0, 1.0), ("toys", 2, "p-fall", 4.0, 6 / 22)]
    # Without a previous window every previous_rank is null; counts ride along.
    assert {r["previous_rank"] for r in rows} == {None}
    assert [(r["clicks"], r["carts"], r["purchases"]) for r in rows[:2]] == [(6, 0, 0),
                                                                              (0, 0, 1)]


def test_without_a_previous_non_overlapping_window_momentum_is_growth_from_nothing(scoring):
    current = counts(scoring, {("p-1", "c"): (8, 0, 0), ("p-2", "c"): (3, 0, 0)})
    rows, _ = rows_of(rank_both(scoring, current, None))
    assert [(r["ranking"], r["product_id"], r["momentum"]) for r in rows
            if r["category"] is None] == [
        ("popular", "p-1", 5.0), ("popular", "p-2", 2.5),
        ("rising", "p-1", 5.0), ("rising", "p-2", 2.5)]


def test_rising_ties_break_by_product_id_and_the_least_score_is_inclusive(scoring):
    # Equal momentum (3+2)/(0+2) = 2.5 for three products; top 2 by product_id.
    current = counts(scoring, {("p-c", "x"): (3, 0, 0), ("p-a", "x"): (3, 0, 0),
                               ("p-b", "x"): (0, 1, 0)})
    rows, _ = rows_of(rank_both(scoring, current, None, top_n=2))
    assert [(r["category"], r["product_id"], r["momentum"]) for r in rows
            if r["ranking"] == "rising"] == [
        (None, "p-a", 2.5), (None, "p-b", 2.5), ("x", "p-a", 2.5), ("x", "p-b", 2.5)]
    rows, _ = rows_of(rank_both(scoring, current, None, min_score=3.5))
    assert [r for r in rows if r["ranking"] == "rising"] == []


def test_previous_rank_is_the_rank_in_the_same_ranking_and_scope_of_the_previous_window(
        scoring):
    before = rank_both(scoring, counts(scoring, {("p-1", "a"): (9, 0, 0),
                                                 ("p-2", "b"): (4, 0, 0),
                                                 ("p-3", "a"): (3, 0, 0)}), None, top_n=2)
    now = rank_both(scoring, counts(scoring, {("p-1", "a"): (9, 0, 0),
                                              ("p-2", "b"): (12, 0, 0),
                                              ("p-3", "a"): (3, 0, 0)}), None, top_n=2)
    rows, _ = rows_of(now, before)
    # Before: popular overall p-1, p-2; a: p-1, p-3; b: p-2. Rising (growth from nothing,
    # (s+2)/2): overall p-1 (5.5), p-2 (3); a: p-1, p-3; b: p-2.
    assert [(r["ranking"], r["category"], r["product_id"], r["rank"], r["previous_rank"])
            for r in rows] == [
        ("popular", None, "p-2", 1, 2), ("popular", None, "p-1", 2, 1),
        ("popular", "a", "p-1", 1, 1), ("popular", "a", "p-3", 2, 2),
        ("popular", "b", "p-2", 1, 1),
        ("rising", None, "p-2", 1, 2), ("rising", None, "p-1", 2, 1),
        ("rising", "a", "p-1", 1, 1), ("rising", "a", "p-3", 2, 2),
        ("rising", "b", "p-2", 1, 1)]


def test_an_item_absent_from_the_previous_top_n_has_no_previous_rank(scoring):
    before = rank_both(scoring, counts(scoring, {("p-1", "a"): (9, 0, 0),
                                                 ("p-2", "a"): (8, 0, 0)}), None, top_n=1)
    now = rank_both(scoring, counts(scoring, {("p-2", "a"): (10, 0, 0)}), None, top_n=1)
    rows, _ = rows_of(now, before)
    assert [(r["ranking"], r["category"], r["product_id"], r["previous_rank"]) for r in rows] == [
        ("popular", None, "p-2", None), ("popular", "a", "p-2", None),
        ("rising", None, "p-2", None), ("rising", "a", "p-2", None)]
