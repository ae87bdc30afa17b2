"""Turning what the job stored in Redis into API answers: pure functions, no I/O.

The stored documents are described in :mod:`trend_tracker.redis_layout`; the job's Redis
sink writes them. Keeping this apart from the routes lets it be tested without a server.

Nothing read from Redis is trusted: a document that is not what the writer stores (not
JSON, a null or non-finite score, a wrong type, a negative count, an id that does not
match the id pattern) raises :class:`StoredDataError`, which the API answers with
``503 corrupt_data``, never with a 500 or with the bad value passed on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from trend_tracker.events import ID_RE
from trend_tracker.output_row import HISTORY_FIELDS, RANKINGS


class StoredDataError(ValueError):
    """A value in Redis that is not what the job's writer stores."""


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0  # bool is not a count


def _is_time(value: Any) -> bool:
    return type(value) is int


def _is_score(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def _check(document: Mapping[str, Any], checks: Mapping[str, Any], what: str) -> None:
    for name, is_valid in checks.items():
        if name not in document or not is_valid(document[name]):
            raise StoredDataError(f"{what}: missing or invalid {name}")


#: A ranking's fields besides ``items``, and what each must be.
_HEAD_CHECKS = {
    "window_start": _is_time,
    "window_end": _is_time,
    "ranking": lambda value: value in RANKINGS,
    "category": lambda value: value is None or _is_id(value),
    "weights_version": lambda value: isinstance(value, str) and bool(value),
}
#: One item of a ranking.
_ITEM_CHECKS = {
    "rank": lambda value: _is_count(value) and value >= 1,
    "product_id": _is_id,
    "score": _is_score,
    "clicks": _is_count,
    "carts": _is_count,
    "purchases": _is_count,
    "previous_rank": lambda value: value is None or (_is_count(value) and value >= 1),
    "momentum": _is_score,
}
#: One entry of a product's history (``trend:product:...``).
_ENTRY_CHECKS = {name: _ITEM_CHECKS.get(name) or _HEAD_CHECKS[name] for name in HISTORY_FIELDS}


def _checked_head(document: Any) -> dict[str, Any]:
    """The head fields of a stored ranking, checked, in the writer's order."""
    if not isinstance(document, dict):
        raise StoredDataError("ranking: not a JSON object")
    _check(document, _HEAD_CHECKS, "ranking")
    return {name: document[name] for name in _HEAD_CHECKS}


def as_of(window_end: int, now_ms: int, stale_after_s: float) -> dict[str, Any]:
    """Staleness of a window seen at ``now_ms``: when, how old (s), and whether too old."""
    age_s = round((now_ms - window_end) / 1000, 3)
    return {"generated_at": now_ms, "age_s": age_s, "stale": age_s > stale_after_s}


_AS_OF = b',"as_of":'
_ITEMS = b',"items":'


class PreparedRanking:
    """A stored ranking, parsed and checked once, that renders its ``/trending`` bodies.

    The body of a request is the ranking's head (window_start, window_end, ranking,
    category, weights_version), ``as_of`` at the request's time, and the top ``k`` items. The head
    and each k's items are rendered once and kept with the ranking, so a request only
    renders ``as_of`` and joins three byte strings. The ranking cache keeps a prepared
    ranking for as long as Redis holds the same document.
    """

    __slots__ = ("_head", "_items", "_rendered_items", "building_history", "window_end",
                 "window_start")

    def __init__(self, window_start: int, window_end: int, head: bytes,
                 items: list[dict[str, Any]]) -> None:
        """``head``: the head fields as a JSON object without its closing brace."""
        self.window_start = window_start
        self.window_end = window_end
        #: A rising ranking whose momentum has no window to compare with
        #: (:class:`api.ranking_cache.LatestRankings` decides).
        self.building_history = False
        self._head = head + _AS_OF
        self._items = items
        self._rendered_items: dict[int, bytes] = {}  # k -> ',"items":[...]}', k <= len(items)

    def body(self, k: int, now_ms: int, stale_after_s: float) -> bytes:
        """The ``/trending`` body for the top ``k`` (k >= 1), with ``as_of`` at ``now_ms``."""
        k = min(k, len(self._items))
        items = self._rendered_items.get(k)
        if items is None:
            items = self._rendered_items[k] = (
                _ITEMS + orjson.dumps(self._items[:k]) + b"}")
        return b"".join((self._head,
                         orjson.dumps(as_of(self.window_end, now_ms, stale_after_s)), items))


def prepare_ranking(stored: bytes) -> PreparedRanking:
    """Parse and check a stored ranking document, for :meth:`PreparedRanking.body`.

    Raises :class:`StoredDataError` for a document the job's writer would never store.
    """
    try:
        ranking = orjson.loads(stored)
    except orjson.JSONDecodeError:
        raise StoredDataError("ranking: not JSON") from None
    head = _checked_head(ranking)
    items = ranking.get("items")
    if not isinstance(items, list):
        raise StoredDataError("ranking: missing or invalid items")
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise StoredDataError(f"ranking item {position}: not a JSON object")
        _check(item, _ITEM_CHECKS, f"ranking item {position}")
    return PreparedRanking(head["window_start"], head["window_end"], orjson.dumps(head)[:-1],
                           items)


def window_end_of(stored: bytes) -> int:
    """The window_end of a stored ranking document (checked whole, as ``/trending`` would)."""
    return prepare_ranking(stored).window_end


def _history_entry(stored: bytes) -> dict[str, Any]:
    try:
        entry = orjson.loads(stored)
    except orjson.JSONDecodeError:
        raise StoredDataError("history entry: not JSON") from None
    if not isinstance(entry, dict):
        raise StoredDataError("history entry: not a JSON object")
    _check(entry, _ENTRY_CHECKS, "history entry")
    return entry


def product_trend_body(product_id: str, entries: Iterable[bytes]) -> dict[str, Any]:
    """The ``/products/{id}/trend`` answer from that product's history entries.

    Entries are the members of its sorted set (one JSON object per window); the answer
    lists them oldest first, whatever order they came in.
    """
    windows = sorted((_history_entry(e) for e in entries), key=lambda w: w["window_end"])
    return {"product_id": product_id, "windows": windows}


def _category_name(name: bytes | str) -> str:
    if isinstance(name, bytes):
        try:
            name = name.decode("ascii")
        except UnicodeDecodeError:
            raise StoredDataError("category: not ASCII") from None
    if not _is_id(name):
        raise StoredDataError("category: not an id")
    return name


def categories_body(members: Iterable[tuple[bytes | str, float]]) -> dict[str, Any]:
    """The ``/categories`` answer from ``(category, newest window_end)`` pairs, by name."""
    categories = []
    for name, window_end in members:
        if not math.isfinite(window_end):
            raise StoredDataError("category: window_end is not finite")
        categories.append({"category": _category_name(name), "window_end": int(window_end)})
    categories.sort(key=lambda c: c["category"])
    return {"categories": categories}
