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
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from trend_tracker.settings import ID_RE


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
}
#: One entry of a product's history (``trend:product:...``).
_ENTRY_CHECKS = {
    "window_start": _is_time,
    "window_end": _is_time,
    **{name: check for name, check in _ITEM_CHECKS.items() if name != "product_id"},
    "weights_version": _HEAD_CHECKS["weights_version"],
}


def _checked_head(document: Any) -> dict[str, Any]:
    """The four head fields of a stored ranking, checked, in the writer's order."""
    if not isinstance(document, dict):
        raise StoredDataError("ranking: not a JSON object")
    _check(document, _HEAD_CHECKS, "ranking")
    return {name: document[name] for name in _HEAD_CHECKS}


def as_of(window_end: int, now_ms: int, stale_after_s: float) -> dict[str, Any]:
    """Staleness of a window seen at ``now_ms``: when, how old (s), and whether too old."""
    age_s = round((now_ms - window_end) / 1000, 3)
    return {"generated_at": now_ms, "age_s": age_s, "stale": age_s > stale_after_s}


def trending_body(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes:
    """The ``/trending`` JSON body: a stored ranking cut to its top ``k``, with ``as_of``."""
    return prepare_ranking(stored).body(k, now_ms, stale_after_s)


_ITEMS = b',"items":['
_END = b"]}"
_AS_OF = b',"as_of":'


class PreparedRanking:
    """A stored ranking read once, ready to answer any ``k`` without parsing again.

    ``head`` is the JSON object of window_start, window_end, category and
    weights_version without its closing brace; ``items`` the items array's content, so
    the top ``k`` is one slice of it. Where the k-th item ends is found once per ``k``.
    """

    __slots__ = ("_count", "_cuts", "head", "items", "window_end")

    def __init__(self, window_end: int, head: bytes, items: bytes,
                 item_ends: list[int] | None = None) -> None:
        """``item_ends``: where each item ends in ``items``; None when the items are flat
        objects (no brace inside), so the k-th ``}`` ends the k-th item."""
        self.window_end = window_end
        self.head = head
        self.items = items
        if item_ends is None:
            self._count = items.count(b"},{") + 1 if items else 0
            self._cuts: dict[int, int] = {}
        else:
            self._count = len(item_ends)
            self._cuts = dict(enumerate(item_ends, start=1))

    def _cut(self, k: int) -> int:
        k = min(k, self._count)
        if k <= 0:
            return 0
        cut = self._cuts.get(k)
        if cut is None:
            cut = -1
            for _ in range(k):
                cut = self.items.find(b"}", cut + 1)
            cut += 1
            self._cuts[k] = cut  # at most top_n entries
        return cut

    def body(self, k: int, now_ms: int, stale_after_s: float) -> bytes:
        """The ``/trending`` body for the top ``k`` (k >= 1), with ``as_of`` at ``now_ms``."""
        return b"".join((self.head, _AS_OF,
                         orjson.dumps(as_of(self.window_end, now_ms, stale_after_s)),
                         _ITEMS, self.items[:self._cut(k)], _END))


def prepare_ranking(stored: bytes) -> PreparedRanking:
    """Read a stored ranking document once, for :meth:`PreparedRanking.body`.

    The job's writer stores ``items`` last, as flat objects. Then only the short head is
    parsed and the items stay the stored bytes, several times cheaper than parsing all
    top_n items (see benchmarks/api_latency.py). Any other document is parsed in full.
    """
    return _prepare_stored(stored) or _prepare_parsed(stored)


# The writer's items, byte for byte: flat objects, keys in its order, ids matching the id
# pattern, counts as integers and scores as finite, non-negative JSON numbers: orjson's
# shortest form of any score the job can compute has at most 17 significant digits and a
# positive exponent of at most two digits (see registry.weights.MAX_WEIGHT), and no number
# of this form is infinite. A match needs no parsing.
_COUNT = rb"(?:0|[1-9][0-9]{0,18})"
_SCORE = rb"(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,20})?(?:[eE](?:-[0-9]{1,3}|\+?[0-9]{1,2}))?"
_ITEM = (rb'\{"rank":[1-9][0-9]{0,18},"product_id":"[A-Za-z0-9._:-]{1,64}","score":' + _SCORE
         + rb',"clicks":' + _COUNT + rb',"carts":' + _COUNT + rb',"purchases":' + _COUNT
         + rb"\}")
_STORED_ITEMS = re.compile(_ITEM + rb"(?:," + _ITEM + rb")*")


def _prepare_stored(stored: bytes) -> PreparedRanking | None:
    at = stored.find(_ITEMS)
    # Items must be the last member, exactly as the writer stores them.
    if at < 0 or not stored.endswith(_END):
        return None
    items = stored[at + len(_ITEMS):len(stored) - len(_END)]
    if items and _STORED_ITEMS.fullmatch(items) is None:
        return None
    try:
        head = orjson.loads(stored[:at] + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict):
        return None
    head = _checked_head(head)
    return PreparedRanking(head["window_end"], orjson.dumps(head)[:-1], items)


def _prepare_parsed(stored: bytes) -> PreparedRanking:
    try:
        ranking = orjson.loads(stored)
    except orjson.JSONDecodeError:
        raise StoredDataError("ranking: not JSON") from None
    head = _checked_head(ranking)
    if not isinstance(ranking.get("items"), list):
        raise StoredDataError("ranking: missing or invalid items")
    for position, item in enumerate(ranking["items"], start=1):
        if not isinstance(item, dict):
            raise StoredDataError(f"ranking item {position}: not a JSON object")
        _check(item, _ITEM_CHECKS, f"ranking item {position}")
    items = [orjson.dumps(item) for item in ranking["items"]]
    ends, length = [], -1
    for item in items:
        length += len(item) + 1  # the item and the comma before it (none before the first)
        ends.append(length)
    return PreparedRanking(head["window_end"], orjson.dumps(head)[:-1],
                           b",".join(items), ends)


def _cut_stored(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes | None:
    prepared = _prepare_stored(stored)
    return None if prepared is None else prepared.body(k, now_ms, stale_after_s)


def _cut_parsed(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes:
    return _prepare_parsed(stored).body(k, now_ms, stale_after_s)


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
