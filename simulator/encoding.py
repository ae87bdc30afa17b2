"""Turn generated events into Kafka records (topic, key, value), good and bad.

Good events are rendered from per-(event type, product) byte templates built once with
orjson, then filled with ``bytes %`` formatting: far cheaper per event than building a
dict and serialising it. Bad events (``--bad-fraction``) are a few by design, so they are
built as dicts and mutated one by one.

Which events are bad is fixed by their position in the stream: with a fraction ``f``
(kept as parts per million, so the arithmetic is exact), exactly
``floor(n * ppm / 1e6)`` of the first ``n`` events are bad, evenly spread, and the b-th
bad event (0-based) is of kind ``BAD_KINDS[b % len(BAD_KINDS)]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simulator.traffic import CART, CLICK, PURCHASE, Catalog, EventBatch
from trend_tracker.events import EVENT_TYPES

PPM = 1_000_000

#: Kinds of malformed events, in the order they are handed out. Each kind is named after
#: the dead-letter reason (``trend_tracker.events.Reason``) it triggers.
BAD_KINDS: tuple[str, ...] = (
    "not_json",  # the value is not a JSON object
    "missing_field",  # a required field is absent
    "wrong_type",  # e.g. ts as a quoted string
    "unknown_event_type",  # event_type not click|cart|purchase
    "future_ts",  # ts far ahead of any processing time
    "bad_id",  # an id longer than the contract allows
    "topic_mismatch",  # a valid event on another event type's topic
)
#: How far ahead a ``future_ts`` event is stamped: 100 years, so that it is in the
#: future of the processing time even for a backfill on a simulated clock.
FUTURE_OFFSET_MS = 100 * 365 * 24 * 3600 * 1000
NO_KIND = -1


def bad_fraction_ppm(fraction: float) -> int:
    """The bad fraction as parts per million (exact integer arithmetic from here on)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"bad fraction must be in [0, 1], got {fraction}")
    return round(fraction * PPM)


def bad_count(n: int, ppm: int) -> int:
    """How many of the first ``n`` events of a stream are bad."""
    return n * ppm // PPM


def bad_kinds_for(seq: np.ndarray, ppm: int) -> np.ndarray:
    """Per stream position: the index into BAD_KINDS of a bad event, or NO_KIND."""
    before = seq * ppm // PPM
    after = (seq + 1) * ppm // PPM
    return np.where(after > before, before % len(BAD_KINDS), NO_KIND)


def bad_variant_for(seq: int, ppm: int) -> int:
    """Which variant of its kind the bad event at ``seq`` is (cycles per kind)."""
    return (seq * ppm // PPM) // len(BAD_KINDS)


@dataclass
class EncodedBatch:
    """Records ready to produce; ``topic`` holds event type codes (0 click, 1 cart, 2 purchase)."""

    topic: list[int]
    keys: list[bytes]
    values: list[bytes]
    ts: np.ndarray
    event_type: np.ndarray
    bad_kind: np.ndarray  # index into BAD_KINDS, or NO_KIND

    def __len__(self) -> int:
        return len(self.values)

    def good_counts(self) -> dict[str, int]:
        """Valid events per event type."""
        counts = np.bincount(self.event_type[self.bad_kind == NO_KIND], minlength=3)
        return {name: int(counts[i]) for i, name in enumerate(EVENT_TYPES)}

    def bad_counts(self) -> dict[str, int]:
        kinds = self.bad_kind[self.bad_kind != NO_KIND]
        counts = np.bincount(kinds, minlength=len(BAD_KINDS))
        return {name: int(counts[i]) for i, name in enumerate(BAD_KINDS) if counts[i]}


class EventEncoder:
    """Renders :class:`EventBatch` rows as JSON values keyed by product_id."""

    def __init__(self, catalog: Catalog, stream_id: str, bad_fraction: float = 0.0):
        self.catalog = catalog
        self.stream_id = stream_id
        self.ppm = bad_fraction_ppm(bad_fraction)
        self.n_products = len(catalog.product_ids)
        self.templates = [self._template(etype, p)
                          for etype in (CLICK, CART, PURCHASE) for p in range(self.n_products)]
        self.keys = [pid.encode() for pid in catalog.product_ids]

    def _template(self, event_type: int, product: int) -> bytes:
        """The event's JSON with ``%d`` holes for seq, user, session and ts.

        The constant parts are serialised by orjson, so they are escaped correctly; ids
        never contain ``%`` (they match the id pattern), so the holes are the only ``%``.
        """
        head = (b'{"event_id":"' + self.stream_id.encode() + b'-%d","event_type":'
                + orjson.dumps(EVENT_TYPES[event_type])
                + b',"product_id":' + orjson.dumps(self.catalog.product_ids[product])
                + b',"category":' + orjson.dumps(self.catalog.category_of(product))
                + b',"user_id":"u-%d","session_id":"s-%d","ts":%d')
        if event_type != CLICK:
            head += b',"price":' + orjson.dumps(float(self.catalog.prices[product]))
        return head + b"}"

    def event_dict(self, seq: int, ts: int, event_type: int, product: int, user: int,
                   session: int) -> dict[str, Any]:
        """The same event as a dict (what the template renders)."""
        event: dict[str, Any] = {
            "event_id": f"{self.stream_id}-{seq}",
            "event_type": EVENT_TYPES[event_type],
            "product_id": self.catalog.product_ids[product],
            "category": self.catalog.category_of(product),
            "user_id": f"u-{user}",
            "session_id": f"s-{session}",
            "ts": ts,
        }
        if event_type != CLICK:
            event["price"] = float(self.catalog.prices[product])
        return event

    def encode(self, batch: EventBatch) -> EncodedBatch:
        etype = batch.event_type
        template_index = (etype * self.n_products + batch.product).tolist()
        templates, keys = self.templates, self.keys
        seq, users, sessions, ts = (batch.seq.tolist(), batch.user.tolist(),
                                    batch.session.tolist(), batch.ts.tolist())
        values = [templates[t] % (s, u, ss, e)
                  for t, s, u, ss, e in zip(template_index, seq, users, sessions, ts, strict=True)]
        record_keys = [keys[p] for p in batch.product.tolist()]
        topics = etype.tolist()
        kinds = (bad_kinds_for(batch.seq, self.ppm) if self.ppm
                 else np.full(len(batch), NO_KIND, dtype=np.int64))
        if self.ppm:
            for i in np.flatnonzero(kinds != NO_KIND).tolist():
                event = self.event_dict(seq[i], ts[i], int(etype[i]), int(batch.product[i]),
                                        users[i], sessions[i])
                kind = BAD_KINDS[int(kinds[i])]
                topics[i], record_keys[i], values[i] = make_bad(
                    kind, event, bad_variant_for(seq[i], self.ppm))
        return EncodedBatch(topics, record_keys, values, batch.ts, etype, kinds)


# --- malformed events ------------------------------------------------------------------

BadRecord = tuple[int, bytes, bytes]


def _topic_code(event: dict[str, Any]) -> int:
    return EVENT_TYPES.index(event["event_type"])


def _record(event: dict[str, Any], topic: int | None = None) -> BadRecord:
    key = str(event.get("product_id", "")).encode()
    return (_topic_code(event) if topic is None else topic), key, orjson.dumps(event)


def _not_json(event: dict[str, Any], variant: int) -> BadRecord:
    topic, key, value = _record(event)
    broken = (
        value[: len(value) // 2],  # truncated
        value + b"}",  # trailing data
        value.replace(b'"ts":%d' % event["ts"], b'"ts":NaN'),  # not standard JSON
        b"[" + value + b"]",  # JSON, but not an object
        b"\xff\xfe" + value,  # not UTF-8
    )
    return topic, key, broken[variant % len(broken)]


def _missing_field(event: dict[str, Any], variant: int) -> BadRecord:
    names = ("event_id", "event_type", "product_id", "category", "user_id", "ts")
    topic = _topic_code(event)
    missing = dict(event)
    del missing[names[variant % len(names)]]
    return topic, event["product_id"].encode(), orjson.dumps(missing)


def _wrong_type(event: dict[str, Any], variant: int) -> BadRecord:
    wrong = dict(event)
    field_name = ("ts", "price", "user_id")[variant % 3]
    if field_name == "ts":
        wrong["ts"] = str(event["ts"])  # a quoted number
    elif field_name == "price":
        wrong["price"] = f"{event.get('price', 9.99):.2f}"
    else:
        wrong["user_id"] = int(event["user_id"][2:])
    return _record(wrong, _topic_code(event))


def _unknown_event_type(event: dict[str, Any], variant: int) -> BadRecord:
    topic = _topic_code(event)
    unknown = dict(event, event_type=("view", "wishlist", "CLICK")[variant % 3])
    return _record(unknown, topic)


def _future_ts(event: dict[str, Any], variant: int) -> BadRecord:
    return _record(dict(event, ts=event["ts"] + FUTURE_OFFSET_MS))


def _bad_id(event: dict[str, Any], variant: int) -> BadRecord:
    field_name = ("product_id", "category", "event_id", "user_id")[variant % 4]
    # Ids stay within the allowed characters: only their length breaks the contract.
    limit = 64 if field_name in ("product_id", "category") else 128
    value = event[field_name]
    oversized = dict(event, **{field_name: value + "x" * (limit + 1 - len(value))})
    return _record(oversized)


def _topic_mismatch(event: dict[str, Any], variant: int) -> BadRecord:
    # click -> carts, cart -> purchases, purchase -> clicks
    return _record(event, (_topic_code(event) + 1) % len(EVENT_TYPES))


_MAKERS: dict[str, Callable[[dict[str, Any], int], BadRecord]] = {
    "not_json": _not_json,
    "missing_field": _missing_field,
    "wrong_type": _wrong_type,
    "unknown_event_type": _unknown_event_type,
    "future_ts": _future_ts,
    "bad_id": _bad_id,
    "topic_mismatch": _topic_mismatch,
}


def make_bad(kind: str, event: dict[str, Any], variant: int = 0) -> BadRecord:
    """A malformed record of ``kind`` made from a valid ``event``: (topic code, key, value)."""
    return _MAKERS[kind](event, variant)
