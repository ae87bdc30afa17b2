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
    """The ``/trending`` JSON body: a stored ranking cut to its top ``k``, with ``as_of``.

    The job's writer stores ``items`` last, as flat objects. Then the ranking is cut as
    bytes: only the short head is parsed, several times cheaper than parsing all top_n
    items (see benchmarks/api_latency.py). Any other document is parsed in full.
    """
    return _cut_stored(stored, k, now_ms, stale_after_s) or _cut_parsed(
        stored, k, now_ms, stale_after_s)


_ITEMS = b',"items":['
_END = b"]}"


def _cut_stored(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes | None:
    at = stored.find(_ITEMS)
    last = len(stored) - len(_END)  # where the items array closes
    start = at + len(_ITEMS)
    # Items must be the last member and hold flat objects: no other array after them.
    if at < 0 or not stored.endswith(_END) or stored.find(b"]", start, last) != -1:
        return None
    cut = start
    for _ in range(k):
        close = stored.find(b"}", cut, last)
        if close < 0:
            cut = last
            break
        cut = close + 1
    if cut != last and not stored.startswith(b",{", cut):
        return None
    try:
        head = orjson.loads(stored[:at] + b"}")
    except orjson.JSONDecodeError:
        return None
    head["as_of"] = as_of(head["window_end"], now_ms, stale_after_s)
    return orjson.dumps(head)[:-1] + _ITEMS + stored[start:cut] + _END


def _cut_parsed(stored: bytes, k: int, now_ms: int, stale_after_s: float) -> bytes:
    ranking = orjson.loads(stored)
    return orjson.dumps({
        "window_start": ranking["window_start"],
        "window_end": ranking["window_end"],
        "category": ranking["category"],
        "weights_version": ranking["weights_version"],
        "as_of": as_of(ranking["window_end"], now_ms, stale_after_s),
        "items": ranking["items"][:k],
    })


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
