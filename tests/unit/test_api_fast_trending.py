"""Which ``/trending`` queries the fast path answers itself (pure logic, no servers)."""

from __future__ import annotations

import pytest

from api.fast_trending import parse_trending_query


@pytest.mark.parametrize("query, expected", [
    (b"", (10, None)),
    (b"k=1", (1, None)),
    (b"k=10", (10, None)),
    (b"k=100", (100, None)),
    (b"category=books", (10, "books")),
    (b"k=5&category=books", (5, "books")),
    (b"category=a.b:c-D_9&k=7", (7, "a.b:c-D_9")),
    (b"category=" + b"c" * 64, (10, "c" * 64)),
])
def test_well_formed_queries_are_answered_by_the_fast_path(query, expected):
    assert parse_trending_query(query, top_n=100) == expected


@pytest.mark.parametrize("query", [
    b"k=0", b"k=010", b"k=101", b"k=1000000", b"k=-3", b"k=+5", b"k=1.5", b"k=abc", b"k=",
    b"k", b"k=1&k=2", b"category=", b"category=a%20b", b"category=a+b", b"category=a%2Fb",
    b"category=" + b"c" * 65, b"category=%0A", b"category=b&category=c", b"categroy=books",
    b"k=5&verbose=1", b"k=5&", b"&k=5", b"category=\xc3\xa9",
])
def test_anything_else_is_left_to_the_route(query):
    """None: the FastAPI route answers, with its validation and its JSON 422 errors."""
    assert parse_trending_query(query, top_n=100) is None


def test_the_default_k_above_a_small_top_n_is_left_to_the_route():
    assert parse_trending_query(b"", top_n=5) is None
    assert parse_trending_query(b"k=5", top_n=5) == (5, None)
