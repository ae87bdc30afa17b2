"""Turning what the job stored in Redis into API answers: pure functions, no I/O.

The stored documents are described in :mod:`trend_tracker.redis_layout`; the job's Redis
sink writes them. Keeping this apart from the routes lets it be tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


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


def _prepare_stored(stored: bytes) -> PreparedRanking | None:
    at = stored.find(_ITEMS)
    last = len(stored) - len(_END)  # where the items array closes
    start = at + len(_ITEMS)
    # Items must be the last member and hold flat objects: no other array after them.
    if at < 0 or not stored.endswith(_END) or stored.find(b"]", start, last) != -1:
        return None
    items = stored[start:last]
    # Flat objects only: one opening and one closing brace per item (counted in C).
    if items:
        count = items.count(b"},{") + 1
        if (items[:1] != b"{" or items[-1:] != b"}" or items.count(b"{") != count
                or items.count(b"}") != count):
            return None
    try:
        head = orjson.loads(stored[:at] + b"}")
    except orjson.JSONDecodeError:
        return None
    return PreparedRanking(int(head["window_end"]), orjson.dumps(head)[:-1], items)


def _prepare_parsed(stored: bytes) -> PreparedRanking:
    ranking = orjson.loads(stored)
    head = {key: ranking[key]
            for key in ("window_start", "window_end", "category", "weights_version")}
    items = [orjson.dumps(item) for item in ranking["items"]]
    ends, length = [], -1
    for item in items:
        length += len(item) + 1  # the item and the comma before it (none before the first)
        ends.append(length)
    return PreparedRanking(int(ranking["window_end"]), orjson.dumps(head)[:-1],
                           b",".join(items), ends)


def _cut_stored(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes | None:
    prepared = _prepare_stored(stored)
    return None if prepared is None else prepared.body(k, now_ms, stale_after_s)


def _cut_parsed(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes:
    return _prepare_parsed(stored).body(k, now_ms, stale_after_s)


def window_end_of(stored: bytes) -> int:
    """The window_end of a stored ranking document."""
    return int(orjson.loads(stored)["window_end"])


def product_trend_body(product_id: str, entries: Iterable[bytes]) -> dict[str, Any]:
    """The ``/products/{id}/trend`` answer from that product's history entries.

    Entries are the members of its sorted set (one JSON object per window); the answer
    lists them oldest first, whatever order they came in.
    """
    windows = sorted((orjson.loads(e) for e in entries), key=lambda w: w["window_end"])
    return {"product_id": product_id, "windows": windows}


def categories_body(members: Iterable[tuple[bytes | str, float]]) -> dict[str, Any]:
    """The ``/categories`` answer from ``(category, newest window_end)`` pairs, by name."""
    categories = [
        {"category": name.decode() if isinstance(name, bytes) else name,
         "window_end": int(window_end)}
        for name, window_end in members
    ]
    categories.sort(key=lambda c: c["category"])
    return {"categories": categories}
