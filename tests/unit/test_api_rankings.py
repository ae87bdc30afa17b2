"""Pure logic of the API: turning stored rankings into answers (no servers)."""

from __future__ import annotations

import orjson
import pytest

from api.errors import describe_validation_errors
from api.metrics import UNMATCHED_ROUTE, route_label
from api.rankings import (
    as_of,
    categories_body,
    prepare_ranking,
    product_trend_body,
    window_end_of,
)

ITEMS = [
    {"rank": 1, "product_id": "p-7", "score": 12.5, "clicks": 5, "carts": 2, "purchases": 1,
     "previous_rank": 2, "momentum": 1.5},
    {"rank": 2, "product_id": "p-3", "score": 7.0, "clicks": 7, "carts": 0, "purchases": 0,
     "previous_rank": None, "momentum": 3.0},
    {"rank": 3, "product_id": "p-1", "score": 1.0, "clicks": 1, "carts": 0, "purchases": 0,
     "previous_rank": 1, "momentum": 0.25},
]
STORED = orjson.dumps({"window_start": 1_000, "window_end": 601_000, "ranking": "popular",
                       "category": "books", "weights_version": "v3", "items": ITEMS})


def trending_body(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes:
    """The ``/trending`` body of a stored ranking, as the route builds it."""
    return prepare_ranking(stored).body(k, now_ms, stale_after_s)


def cut(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> dict:
    """The expected answer, computed without the code under test: the stored document
    with its items cut to ``k`` and ``as_of`` before them."""
    document = orjson.loads(stored)
    head = {name: document[name]
            for name in ("window_start", "window_end", "ranking", "category",
                         "weights_version")}
    age_s = round((now_ms - document["window_end"]) / 1000, 3)
    return {**head, "as_of": {"generated_at": now_ms, "age_s": age_s,
                              "stale": age_s > stale_after_s},
            "items": document["items"][:k]}


def test_as_of_reports_age_in_seconds_and_staleness():
    assert as_of(601_000, 661_500, stale_after_s=120) == {
        "generated_at": 661_500, "age_s": 60.5, "stale": False}
    assert as_of(601_000, 721_001, stale_after_s=120) == {
        "generated_at": 721_001, "age_s": 120.001, "stale": True}
    # Exactly at the limit is still fresh.
    assert as_of(601_000, 721_000, stale_after_s=120)["stale"] is False


def test_trending_body_cuts_to_k_and_adds_as_of():
    body = orjson.loads(trending_body(STORED, k=2, now_ms=611_000, stale_after_s=120))
    assert body == {
        "window_start": 1_000, "window_end": 601_000, "ranking": "popular",
        "category": "books", "weights_version": "v3",
        "as_of": {"generated_at": 611_000, "age_s": 10.0, "stale": False},
        "items": ITEMS[:2],
    }


def test_trending_body_with_k_above_the_ranking_length_returns_every_item():
    body = orjson.loads(trending_body(STORED, k=50, now_ms=611_000, stale_after_s=120))
    assert body["items"] == ITEMS


def test_trending_body_keeps_field_order_clients_read():
    body = trending_body(STORED, k=1, now_ms=611_000, stale_after_s=120)
    assert list(orjson.loads(body)) == [
        "window_start", "window_end", "ranking", "category", "weights_version", "as_of",
        "items"]


def test_window_end_of():
    assert window_end_of(STORED) == 601_000


def test_product_trend_body_lists_windows_oldest_first():
    entries = [orjson.dumps({"window_end": end, "window_start": end - 600_000, "rank": rank,
                             "score": score, "clicks": 1, "carts": 0, "purchases": 0,
                             "weights_version": "v1"})
               for end, rank, score in [(630_000, 4, 2.0), (600_000, 1, 9.0), (660_000, 2, 5.0)]]
    body = product_trend_body("p-1", entries)
    assert body["product_id"] == "p-1"
    assert [(w["window_end"], w["rank"], w["score"]) for w in body["windows"]] == [
        (600_000, 1, 9.0), (630_000, 4, 2.0), (660_000, 2, 5.0)]


def test_categories_body_sorts_by_name_and_decodes():
    members = [(b"toys", 660_000.0), (b"books", 600_000.0), ("garden", 630_000.0)]
    assert categories_body(members) == {"categories": [
        {"category": "books", "window_end": 600_000},
        {"category": "garden", "window_end": 630_000},
        {"category": "toys", "window_end": 660_000},
    ]}
    assert categories_body([]) == {"categories": []}


def test_validation_errors_name_the_parameter_without_echoing_input():
    errors = [{"loc": ("query", "k"), "msg": "Input should be greater than or equal to 1",
               "input": "-5"},
              {"loc": ("path", "product_id"), "msg": "String should match pattern"}]
    assert describe_validation_errors(errors) == (
        "k: Input should be greater than or equal to 1; product_id: String should match pattern")
    assert describe_validation_errors([]) == "invalid request"


def test_a_parameter_with_a_fixed_message_is_described_by_it_once():
    errors = [{"loc": ("query", "k"), "msg": "Input should be a valid integer"},
              {"loc": ("query", "k"), "msg": "Input should be less than or equal to 10000"},
              {"loc": ("query", "category"), "msg": "String should match pattern"}]
    assert describe_validation_errors(errors, {"k": "k: from 1 to 5"}) == (
        "k: from 1 to 5; category: String should match pattern")


@pytest.mark.parametrize("scope, label", [
    ({"route": type("R", (), {"path": "/products/{product_id}/trend"})()},
     "/products/{product_id}/trend"),
    ({}, UNMATCHED_ROUTE),
])
def test_route_label_is_the_template(scope, label):
    assert route_label(scope) == label


def job_document(n_items: int) -> bytes:
    """A ranking stored exactly as the job's Redis sink stores it."""
    from udfs.redis_sink import RankedItem, Ranking

    items = tuple(RankedItem(rank=r, product_id=f"p-{r}", score=100.0 / r, clicks=r,
                             carts=r % 3, purchases=r % 2) for r in range(1, n_items + 1))
    return orjson.dumps(Ranking(0, 600_000, "toys", "v2", items).document())


@pytest.mark.parametrize("n_items, k", [(5, 1), (5, 4), (5, 5), (5, 50), (0, 10), (100, 10)])
def test_the_body_of_a_job_document_is_the_document_cut_to_k(n_items, k):
    stored = job_document(n_items)
    body = orjson.loads(trending_body(stored, k, 612_345, 120))
    assert body == cut(stored, k, 612_345, 120)
    assert len(body["items"]) == min(k, n_items)


def item(rank: int, product_id: str, **extra) -> dict:
    """A complete, valid item, with ``extra`` keys after the writer's."""
    return {"rank": rank, "product_id": product_id, "score": 10.0 - rank, "clicks": rank,
            "carts": 0, "purchases": 0, "previous_rank": None, "momentum": 1.0, **extra}


@pytest.mark.parametrize("document", [
    # items not last
    {"window_start": 0, "window_end": 9, "items": [item(1, "a")], "ranking": "rising",
     "category": None,
     "weights_version": "v"},
    # a later member holding an array
    {"window_start": 0, "window_end": 9, "ranking": "popular", "category": None,
     "weights_version": "v",
     "items": [item(1, "a"), item(2, "b")], "x": [1]},
    # a brace inside a string of an item
    {"window_start": 0, "window_end": 9, "ranking": "popular", "category": None,
     "weights_version": "v",
     "items": [item(1, "a", note="}{"), item(2, "b", note="z")]},
    # the writer's keys in another order
    {"window_start": 0, "window_end": 9, "ranking": "popular", "category": None,
     "weights_version": "v",
     "items": [dict(reversed(item(1, "a").items()))]},
])
def test_other_documents_are_parsed_in_full(document):
    stored = orjson.dumps(document)
    body = orjson.loads(trending_body(stored, 1, 10_000, 120))
    assert body["items"] == document["items"][:1]
    assert body["as_of"] == {"generated_at": 10_000, "age_s": 9.991, "stale": False}


def test_one_prepared_ranking_answers_every_k_in_any_order():
    """The prepared ranking keeps each k's rendered items; asking again gives the same."""
    stored = job_document(12)
    prepared = prepare_ranking(stored)
    for k in (10, 3, 12, 1, 10, 3, 40, 12):
        body = orjson.loads(prepared.body(k, 612_345, 120))
        assert body == cut(stored, k, 612_345, 120)
        assert [item["rank"] for item in body["items"]] == list(range(1, min(k, 12) + 1))


def test_items_holding_nested_objects_are_parsed_in_full():
    document = {"window_start": 0, "window_end": 9, "ranking": "popular", "category": None,
     "weights_version": "v",
                "items": [item(1, "a", extra={"a": 1}), item(2, "b", extra={"b": 2})]}
    stored = orjson.dumps(document)
    assert orjson.loads(trending_body(stored, 1, 10_000, 120))["items"] == document["items"][:1]


@pytest.mark.parametrize("change", [
    {"score": None}, {"score": "1.0"}, {"score": -1.0}, {"score": True}, {"rank": 0},
    {"clicks": -1}, {"carts": 1.5}, {"purchases": None}, {"product_id": "a b"},
    {"product_id": 7}, {"previous_rank": 0}, {"previous_rank": "1"}, {"momentum": None},
    {"momentum": -0.5}, {"momentum": float("inf")},
])
def test_an_invalid_item_is_refused_whichever_way_it_is_stored(change):
    """Items last (as the writer stores them) or first, the document is refused."""
    from api.rankings import StoredDataError

    document = {"window_start": 0, "window_end": 9, "ranking": "popular", "category": None,
     "weights_version": "v",
                "items": [item(1, "a"), {**item(2, "b"), **change}]}
    items_first = {"items": document["items"], **document}
    for stored in (orjson.dumps(document), orjson.dumps(items_first)):
        with pytest.raises(StoredDataError, match="ranking item 2: missing or invalid"):
            prepare_ranking(stored)


def test_every_score_the_job_can_write_is_served_exactly():
    """Scores up to 3 * MAX_WEIGHT * 2**63 (and counts up to a Java long) pass the checks
    and come back unchanged."""
    from registry.weights import MAX_WEIGHT
    from udfs.redis_sink import RankedItem, Ranking

    largest = 3 * MAX_WEIGHT * 2.0**63
    scores = [0.0, 1e-300, 0.1 + 0.2, 5.0, 123456789012345.6, 1e16, 2.0**53 + 2, largest]
    items = tuple(RankedItem(rank=r, product_id=f"p-{r}", score=s, clicks=2**63 - 1,
                             carts=0, purchases=r) for r, s in enumerate(scores, start=1))
    stored = orjson.dumps(Ranking(0, 600_000, None, "v2", items).document())
    body = orjson.loads(prepare_ranking(stored).body(10, 612_345, 120))
    assert [i["score"] for i in body["items"]] == scores


@pytest.mark.parametrize("entry, message", [
    (b"nope", "not JSON"),
    (b"[1]", "not a JSON object"),
    (orjson.dumps({"window_start": 0, "window_end": 1, "rank": 1, "score": None, "clicks": 0,
                   "carts": 0, "purchases": 0, "weights_version": "v"}), "invalid score"),
])
def test_an_invalid_history_entry_is_refused(entry, message):
    from api.rankings import StoredDataError

    with pytest.raises(StoredDataError, match=message):
        product_trend_body("p-1", [entry])


@pytest.mark.parametrize("members", [
    [(b"\xff", 1.0)], [(b"a b", 1.0)], [(b"books", float("inf"))], [(b"books", float("nan"))],
])
def test_an_invalid_category_is_refused(members):
    from api.rankings import StoredDataError

    with pytest.raises(StoredDataError, match="category"):
        categories_body(members)


@pytest.mark.parametrize("ranking", [None, "Popular", "falling", 1])
def test_a_ranking_of_an_unknown_kind_is_refused(ranking):
    from api.rankings import StoredDataError

    document = {"window_start": 0, "window_end": 9, "ranking": ranking, "category": None,
                "weights_version": "v", "items": [item(1, "a")]}
    with pytest.raises(StoredDataError, match="missing or invalid ranking"):
        prepare_ranking(orjson.dumps(document))
