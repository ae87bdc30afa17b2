"""A naive baseline for the trending job: the same backfill in one plain Python process.

    python -m benchmarks.naive_consumer [--<settings-field> value ...] [--no-write]

What the job does, written the straightforward way, so that the job's throughput can be
read against what a single Python consumer achieves on the same events:

- one confluent-kafka consumer, partitions assigned (no group join), read from offset 0 up
  to each partition's end offset at start (:func:`jobs.offsets.end_offsets`;
  the local broker under-reports the end after batched writes);
- each value parsed with ``json.loads`` and checked against the event contract: the checks
  of :func:`trend_tracker.events.classify`, inlined for the common case (a plain valid
  event); whatever the inline check does not accept is handed to ``classify`` itself, so
  every record gets exactly ``classify``'s verdict;
- event time is the event's ``ts``; the watermark is the minimum over the partitions still
  being read of (the largest valid ``ts`` seen in the partition - ``out_of_orderness_s``),
  so a partition that has given no valid event yet holds it back, and one read to its end
  stops counting. It is recomputed after each fetched batch; a valid event whose ``ts`` is
  behind the watermark on arrival is late and not counted;
- a copy of an event counted before (same ``event_id``, product and event type, ``ts``
  less than ``dedup_horizon_s`` away) is a duplicate and not counted; the ids are dropped
  once the watermark is ``dedup_horizon_s`` past them (no copy within the horizon can be
  on time then);
- a dict of counts per HOP window (``window_size_s`` sliding by ``window_slide_s``): each
  event increments every window that contains it (``size / slide`` of them), unless its
  user's events of that type on that product already count ``max_events_per_user`` times
  in the window (per-user counts per slice, summed for a window only for a user whose
  events in the open windows' slices exceed the cap); and, in the same loop, each window's
  *recent counts*: its counts less those of its *older part* (the window but its newest
  ``r`` slides, ``r`` = ``rising_recent_slides``, at most the window's slides), each capped
  within itself, so a user already at the cap in the older part adds nothing recent.
  Below the cap everywhere (the common case) that is the event counted in the recent
  spans (the newest ``r`` slides) of the windows containing it; a user at the cap in a
  window adds nothing to it or its recent counts, and an event in a window's older part
  that the window's cap turns away but the older part's does not takes one from its
  recent counts (see :meth:`HopTopN.windows_of`). Nothing more when ``r`` slides are the
  whole window;
- whenever the watermark advances, each window whose last millisecond it has reached
  (``window_end - 1 <= watermark``, Flink's rule) is scored with the weights the job uses
  (``w_click*clicks + w_cart*carts + w_purchase*purchases``), ranked with ``heapq``
  (top-N by score descending, ties by product_id ascending, overall and per category, at
  most ``max_categories`` categories: the highest window scores, ties by name), and the
  same by momentum (the rising ranking: momentum descending, ties by product_id), each item
  with its rank in the window one slide earlier, and written to Parquet with the job's own
  writer (:mod:`udfs.parquet_sink`: same file per window, same columns, same row order).
  The momentum compares the recent counts with the *base*, the window that ends where the
  recent span starts (``end - r * slide``), with ``scale = r * slide / size``: ``(recent_score /
  scale + rising_prior) / (base_score + rising_prior)``; a product enters the rising
  ranking if its window score is at least ``rising_min_score`` and, unless
  ``rising_min_z`` is unset, ``z = (recent_score - scale * base_score) /
  sqrt(rising_dispersion * (scale + scale**2) * base_var + 1) >= rising_min_z``, where
  ``base_var`` is the base's ``w_click**2*clicks + w_cart**2*carts +
  w_purchase**2*purchases``. Every row carries its momentum. At the end of the input every
  remaining window fires, as in the job's bounded mode.

Settings come from ``TREND_*`` variables and flags, as for the job. Prints one JSON line:
counts, timings (``seconds`` from the first fetch to the last window written) and the
watermark facts a caller needs (largest ``ts``, final watermark, per-partition maxima).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from trend_tracker.events import (
    EVENT_TYPES,
    ID_RE,
    MAX_JSON_DEPTH,
    MAX_OPAQUE_ID_LEN,
    MAX_PRICE,
    MAX_TS_MS,
    MIN_TS_MS,
    classify,
)
from trend_tracker.kafka_config import client_config
from trend_tracker.settings import (
    Settings,
    add_settings_options,
    settings_overrides,
)

#: Event type -> position of its count in a window's ``[clicks, carts, purchases]``.
TYPE_INDEX: dict[str, int] = {name: i for i, name in enumerate(EVENT_TYPES)}
#: A partition of a topic: (topic, partition).
PartitionKey = tuple[str, int]
#: Records fetched per ``consume`` call.
BATCH = 10_000
#: Give up when no record arrives for this long before every partition's end.
STALL_TIMEOUT_S = 60


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


#: ``json.loads`` with NaN and Infinity rejected, as the contract reads a value; built once.
#: (A byte-order mark fails it too: it is not JSON whitespace.)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_fast(raw: Any) -> Any:
    """The value's JSON for the inline check, or None when the check should not try it:
    not UTF-8, not JSON, or perhaps nested deeper than the contract allows (more opening
    brackets than ``MAX_JSON_DEPTH``, counted in strings too: ``classify`` decides those)."""
    try:
        text = raw.decode("utf-8")
        if text.count("{") + text.count("[") > MAX_JSON_DEPTH:
            return None
        return _DECODER.decode(text)
    except (AttributeError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


# --- windows and rankings (pure, no Kafka) ---------------------------------------------------

#: The job's default rising settings (``rising_prior``, ``rising_min_score``,
#: ``rising_recent_slides``, ``rising_min_z``, ``rising_dispersion``).
RISING_PRIOR: float = Settings.model_fields["rising_prior"].default
RISING_MIN_SCORE: float = Settings.model_fields["rising_min_score"].default
RISING_RECENT_SLIDES: int = Settings.model_fields["rising_recent_slides"].default
RISING_MIN_Z: float | None = Settings.model_fields["rising_min_z"].default
RISING_DISPERSION: float = Settings.model_fields["rising_dispersion"].default


class HopTopN:
    """Counts per HOP window and (product, category); fired windows as the job's rows.

    ``weights`` has ``click``, ``cart``, ``purchase`` and ``version`` (a
    :class:`registry.weights.Weights`). Windows are ``[start, start + size)`` with starts on
    multiples of the slide, as Flink's HOP with no offset.

    The rising ranking compares each window's *recent counts* with the window just before
    its newest ``r`` slides (``r`` = ``rising_recent_slides``, at most the window's slides),
    the *base*, ending at ``end - r * slide``. The recent counts are the window's counts
    less those of its *older part* ``[end - size, end - r * slide)``, each capped within
    itself (a user's events of one type on one product count at most the cap times), so
    a user already at the cap in the older part adds nothing recent. Without a cap (as
    :meth:`add` counts) that is the count of the *recent span* ``[end - r * slide, end)``.
    They are kept per window end beside the windows and fire with the window. When ``r``
    slides are the whole window, the older part is empty and the window's counts are its
    recent counts.
    """

    def __init__(self, size_ms: int, slide_ms: int, top_n: int, weights: Any,
                 max_categories: int | None = None, rising_prior: float = RISING_PRIOR,
                 rising_min_score: float = RISING_MIN_SCORE,
                 rising_recent_slides: int = RISING_RECENT_SLIDES,
                 rising_min_z: float | None = RISING_MIN_Z,
                 rising_dispersion: float = RISING_DISPERSION):
        if size_ms <= 0 or slide_ms <= 0 or size_ms % slide_ms:
            raise ValueError("the window size must be a positive multiple of the slide")
        if rising_recent_slides < 1:
            raise ValueError("rising_recent_slides must be at least 1")
        self.size_ms = size_ms
        self.slide_ms = slide_ms
        self.top_n = top_n
        self.max_categories = max_categories
        self.weights = weights
        self.rising_prior = rising_prior
        self.rising_min_score = rising_min_score
        self.rising_min_z = rising_min_z
        self.rising_dispersion = rising_dispersion
        #: The recent span's length: r slides, r = min(rising_recent_slides, size / slide).
        self.recent_ms = min(rising_recent_slides, size_ms // slide_ms) * slide_ms
        #: Its share of a window (the rate of the base is scaled by it).
        self.scale = self.recent_ms / size_ms
        #: Fired windows still needed: window_end -> counts (the base of the window
        #: ``recent_ms`` later) and -> {(ranking, scope): {product_id: rank}} (previous ranks).
        self.fired_counts: dict[int, Mapping[tuple[str, str], Sequence[int]]] = {}
        self.fired_ranks: dict[int, dict[tuple[str, str | None], dict[str, int]]] = {}
        #: window_end -> {(product_id, category): [clicks, carts, purchases]}
        self.windows: dict[int, dict[tuple[str, str], list[int]]] = {}
        #: window_end -> the window's recent counts, the same way, when the recent span is
        #: shorter than a window (else the window's counts are its recent counts, and this
        #: stays empty). Made with the window, for the same events.
        self.recent: dict[int, dict[tuple[str, str], list[int]]] = {}
        #: Every window ending at or before this has fired (and takes no more events).
        self.fired_through: int | None = None
        self._base: int | None = None
        #: The count dicts an event of the current slice increments when its user is below
        #: the cap everywhere: the open windows containing it, then the recent counts of
        #: those among them whose recent span contains it.
        self._current: list[dict[tuple[str, str], list[int]]] = []
        #: Per open window containing the current slice, for a user who may be at the cap:
        #: (window counts, its slice ends, recent counts, the older part's slice ends).
        #: Recent counts: None when they are the window's; the older part's slice ends:
        #: None unless the slice is in the window's older part.
        self.current_windows: list[tuple[dict[tuple[str, str], list[int]], range,
                                         dict[tuple[str, str], list[int]] | None,
                                         range | None]] = []

    def windows_of(self, ts: int) -> list[dict[tuple[str, str], list[int]]]:
        """The count dicts an event at ``ts`` increments when its user is below the cap in
        every open window containing it: those windows' counts, and the recent counts of
        those whose recent span contains ``ts`` (created when missing). Also sets
        :attr:`current_windows`, for a user who may be at the cap; there, per window (with
        ``n`` the user's events of the type on the product in the window and ``o`` in its
        older part, before this event), the event adds 1 to the window if ``n < cap``, and
        to its recent counts ``[n < cap] - [o < cap]`` if ``ts`` is in the older part (so
        -1 when only the window's cap binds; ``o <= n``), else ``[n < cap]``: exactly
        ``min(cap, n) - min(cap, o)`` in the end, whatever order the events come in."""
        slide = self.slide_ms
        base = ts - ts % slide
        if base == self._base:
            return self._current
        size, recent_ms = self.size_ms, self.recent_ms
        windows, recent = self.windows, self.recent
        separate = recent_ms < size
        current, spans, per_window = [], [], []
        fired = self.fired_through
        for end in range(base + slide, base + size + 1, slide):
            if fired is not None and end <= fired:
                continue  # that window has fired: the event is late for it
            counts = windows.get(end)
            if counts is None:
                counts = windows[end] = {}
            current.append(counts)
            slices = range(end - size + slide, end + 1, slide)
            if not separate:
                per_window.append((counts, slices, None, None))
                continue
            recent_counts = recent.get(end)
            if recent_counts is None:
                recent_counts = recent[end] = {}
            if end - recent_ms <= base:  # ts in the recent span
                spans.append(recent_counts)
                per_window.append((counts, slices, recent_counts, None))
            else:  # ts in the older part
                per_window.append((counts, slices, recent_counts,
                                   range(end - size + slide, end - recent_ms + 1, slide)))
        current += spans
        self._base, self._current, self.current_windows = base, current, per_window
        return current

    def add(self, ts: int, type_index: int, product_id: str, category: str) -> None:
        """Count one valid, on-time event, without a cap, in every window containing
        ``ts`` and the recent counts of those whose recent span contains it."""
        key = (product_id, category)
        for counts in self.windows_of(ts):
            entry = counts.get(key)
            if entry is None:
                counts[key] = entry = [0, 0, 0]
            entry[type_index] += 1

    def fire(self, watermark: float) -> list[tuple[int, list[dict[str, Any]]]]:
        """Rank and remove every window the watermark has passed (``end - 1 <= watermark``),
        oldest first: ``[(window_end_ms, rows), ...]``."""
        due = sorted(end for end in self.windows if end - 1 <= watermark)
        if not due:
            return []
        fired = []
        recent_ms = self.recent_ms
        for end in due:
            counts = self.windows.pop(end)
            recent = self.recent.pop(end, {}) if self.recent_ms < self.size_ms else counts
            fired.append((end, self.rank(end, counts, recent)))
            self.fired_counts[end] = counts
            for old in [e for e in self.fired_counts if e <= end - recent_ms]:
                del self.fired_counts[old]
            for old in [e for e in self.fired_ranks if e < end]:
                del self.fired_ranks[old]
        if self.fired_through is None or due[-1] > self.fired_through:
            self.fired_through = due[-1]
        self._base, self._current, self.current_windows = None, [], []
        return fired

    def fire_all(self) -> list[tuple[int, list[dict[str, Any]]]]:
        """The end of the input: every remaining window fires."""
        return self.fire(math.inf)

    def rank(self, end: int, counts: Mapping[tuple[str, str], Sequence[int]],
             recent: Mapping[tuple[str, str], Sequence[int]] | None = None
             ) -> list[dict[str, Any]]:
        """The rows of one window: the overall top-N (category None), then each
        category's top-N in category order; score descending, ties by product_id. At most
        ``max_categories`` categories: those whose summed counts score highest, ties by
        name. Then the same by momentum (the rising ranking, see :meth:`momentum_of`);
        ``recent``: the window's recent counts (default: the window's)."""
        weights = self.weights
        w_click, w_cart, w_purchase = weights.click, weights.cart, weights.purchase
        # (-score, product_id, category, counts): the natural tuple order is the rank order.
        scored = [(-(w_click * c[0] + w_cart * c[1] + w_purchase * c[2]), product, category, c)
                  for (product, category), c in counts.items()]
        by_category: dict[str, list[tuple]] = {}
        for item in scored:
            members = by_category.get(item[2])
            if members is None:
                by_category[item[2]] = members = []
            members.append(item)
        start, version, top_n = end - self.size_ms, weights.version, self.top_n
        rows: list[dict[str, Any]] = []
        categories = sorted(by_category)
        if self.max_categories is not None and len(categories) > self.max_categories:
            def window_score(category: str) -> float:
                totals = [sum(item[3][k] for item in by_category[category]) for k in range(3)]
                return w_click * totals[0] + w_cart * totals[1] + w_purchase * totals[2]
            categories = sorted(sorted(categories, key=lambda c: (-window_score(c), c))
                                [:self.max_categories])
        scopes = [(None, scored)] + [(category, by_category[category])
                                     for category in categories]
        momentum, rising = self.momentum_of(end, scored, counts if recent is None else recent)
        # Previous ranks from one slide earlier.
        previous = self.fired_ranks.get(end - self.slide_ms, {})
        ranks: dict[tuple[str, str | None], dict[str, int]] = {}
        for kind in ("popular", "rising"):
            for scope, members in scopes:
                if kind == "popular":
                    ranked = heapq.nsmallest(top_n, members)
                else:
                    ranked = heapq.nsmallest(
                        top_n, (m for m in members if (m[1], m[2]) in rising),
                        key=lambda m: (-momentum[m[1], m[2]], m[1]))
                before = previous.get((kind, scope), {})
                ranks[kind, scope] = {}
                for rank, (negative, product, category, c) in enumerate(ranked, start=1):
                    ranks[kind, scope][product] = rank
                    rows.append({
                        "window_start": start, "window_end": end, "ranking": kind,
                        "category": scope, "rank": rank, "product_id": product,
                        "score": -negative, "clicks": c[0], "carts": c[1], "purchases": c[2],
                        "previous_rank": before.get(product),
                        "momentum": momentum[product, category], "weights_version": version,
                    })
        self.fired_ranks[end] = ranks
        return rows

    def momentum_of(self, end: int, scored: Sequence[tuple],
                    recent: Mapping[tuple[str, str], Sequence[int]]
                    ) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
        """Each scored product's momentum, and those that may enter the rising ranking.

        ``scored``: (-score, product, category, counts) of the window ending at ``end``;
        ``recent``: its recent counts. The base is the fired window ending at
        ``end - recent_ms``. With ``scale`` the span's share of a window::

            momentum = (recent_score / scale + prior) / (base_score + prior)
            z = (recent_score - scale * base_score)
                / sqrt(dispersion * (scale + scale**2) * base_var + 1)

        ``base_var`` = ``w_click**2 * clicks + w_cart**2 * carts + w_purchase**2 *
        purchases`` of the base. A product enters if its score is at least
        ``rising_min_score`` and (without a ``rising_min_z``, always) z >= ``rising_min_z``.
        """
        weights = self.weights
        w_click, w_cart, w_purchase = weights.click, weights.cart, weights.purchase
        base = self.fired_counts.get(end - self.recent_ms, {})
        prior, scale, min_score = self.rising_prior, self.scale, self.rising_min_score
        min_z = self.rising_min_z
        spread = self.rising_dispersion * (scale + scale * scale)
        momentum: dict[tuple[str, str], float] = {}
        rising: set[tuple[str, str]] = set()
        for negative, product, category, _c in scored:
            key = (product, category)
            r = recent.get(key)
            recent_score = (0.0 if r is None
                            else w_click * r[0] + w_cart * r[1] + w_purchase * r[2])
            b = base.get(key)
            base_score = 0.0 if b is None else w_click * b[0] + w_cart * b[1] + w_purchase * b[2]
            momentum[key] = (recent_score / scale + prior) / (base_score + prior)
            if -negative < min_score:
                continue
            if min_z is not None:
                base_var = (0.0 if b is None else w_click * w_click * b[0]
                            + w_cart * w_cart * b[1] + w_purchase * w_purchase * b[2])
                z = (recent_score - scale * base_score) / math.sqrt(spread * base_var + 1)
                if z < min_z:
                    continue
            rising.add(key)
        return momentum, rising


class PartitionWatermarks:
    """The watermark over several partitions: the minimum, over the partitions still being
    read, of their largest valid ``ts`` minus the out-of-orderness.

    ``None`` while any partition still being read has given no valid event (as a Flink
    source holds its watermark until each split has one); a finished partition stops
    counting. Never moves back; once every partition is read it stays (the end of the
    input fires the remaining windows).
    """

    def __init__(self, partitions: Iterable[PartitionKey], lateness_ms: int):
        self.lateness_ms = lateness_ms
        #: Largest valid ts per partition (None before the first); updated by the reader.
        self.max_ts: dict[PartitionKey, int | None] = {key: None for key in partitions}
        self.active: set[PartitionKey] = set(self.max_ts)
        self.value: int | None = None

    def finish(self, key: PartitionKey) -> None:
        self.active.discard(key)

    def advance(self) -> int | None:
        """Recompute from the partitions' maxima; returns the (monotone) watermark."""
        maxima = [self.max_ts[key] for key in self.active]
        if not maxima or None in maxima:
            return self.value  # every partition read (the end fires the rest), or one unknown
        candidate = min(maxima) - self.lateness_ms  # type: ignore[type-var]
        if self.value is None or candidate > self.value:
            self.value = candidate
        return self.value


# --- validation --------------------------------------------------------------------------


def is_valid_fast(event: Any, topic_type: str, future_limit_ms: int) -> bool:
    """The checks of ``classify`` on a value from :func:`decode_fast`, inlined for the
    common case: True only if ``classify`` accepts it, with ``ts`` an int. A False is not a
    rejection: the caller asks ``classify`` (which also accepts, say, ``"ts": 1.7e12``)."""
    if type(event) is not dict:
        return False
    get = event.get
    ts = get("ts")
    event_id, product_id, category, user_id = (get("event_id"), get("product_id"),
                                               get("category"), get("user_id"))
    if not (type(ts) is int and MIN_TS_MS <= ts <= MAX_TS_MS and ts <= future_limit_ms
            and get("event_type") == topic_type
            and type(event_id) is str and type(product_id) is str
            and type(category) is str and type(user_id) is str
            and 0 < len(event_id) <= MAX_OPAQUE_ID_LEN
            and 0 < len(user_id) <= MAX_OPAQUE_ID_LEN
            and ID_RE.fullmatch(product_id) and ID_RE.fullmatch(category)):
        return False
    price = get("price")
    return price is None or (type(price) in (int, float) and 0 <= price <= MAX_PRICE)


# --- the consumer ------------------------------------------------------------------------


class Backfill:
    """The consumer's logic over fetched batches, without Kafka: validation, watermarks,
    windows, firing. ``ends`` is topic -> partition -> end offset (reading starts at 0);
    each fired window goes to ``write(window_end_ms, rows)``.

    A message is anything with confluent-kafka's ``error()``, ``topic()``, ``partition()``,
    ``offset()`` and ``value()``.
    """

    def __init__(self, settings: Settings, weights: Any, ends: Mapping[str, Mapping[int, int]],
                 write: Callable[[int, list[dict[str, Any]]], Any] | None = None):
        self.topic_type = {topic: t for t, topic in settings.event_topics.items()}
        #: Partitions not yet read to their end -> end offset.
        self.remaining: dict[PartitionKey, int] = {
            (topic, partition): end for topic, parts in ends.items()
            for partition, end in parts.items() if end > 0}
        self.hop = HopTopN(settings.window_size_s * 1000, settings.window_slide_s * 1000,
                           settings.top_n, weights, settings.max_categories,
                           settings.rising_prior, settings.rising_min_score,
                           settings.rising_recent_slides, settings.rising_min_z,
                           settings.rising_dispersion)
        self.marks = PartitionWatermarks(self.remaining, settings.out_of_orderness_s * 1000)
        self.skew_ms = settings.max_future_skew_s * 1000
        self.weights = weights
        self.write = write
        self.rejected: dict[str, int] = {}
        self.read = self.valid = self.late = self.duplicates = self.windows = self.rows = 0
        self.horizon_ms = settings.dedup_horizon_s * 1000
        #: (product_id, event_type, event_id) -> ts of each counted copy; and the ids by
        #: when they may be dropped (``(ts + horizon) // slide``).
        self.ids: dict[tuple[str, str, str], list[int]] = {}
        self.ids_by_expiry: dict[int, list[tuple[tuple[str, str, str], int]]] = {}
        self.cap = settings.max_events_per_user
        #: slice end -> {(product_id, type index, user_id): events}, for the open windows'
        #: slices; and each key's events over them.
        self.user_slices: dict[int, dict[tuple[str, int, str], int]] = {}
        self.user_totals: dict[tuple[str, int, str], int] = {}

    @property
    def done(self) -> bool:
        return not self.remaining

    def process(self, messages: Iterable[Any], now_ms: int) -> None:
        """One fetched batch; then the watermark advances and due windows fire.

        The watermark a record is judged late against is the one before its batch (as a
        Flink source emits its watermark periodically, not per record).
        """
        remaining, topic_type, max_ts = self.remaining, self.topic_type, self.marks.max_ts
        skew_ms = self.skew_ms
        future_limit = now_ms + skew_ms
        watermark = self.marks.value
        on_time_from = -math.inf if watermark is None else watermark
        slide = self.hop.slide_ms
        windows_of = self.hop.windows_of
        base = None
        current: list[dict[tuple[str, str], list[int]]] = []
        finished = []
        read = valid = late = duplicates = 0
        horizon, ids, ids_by_expiry = self.horizon_ms, self.ids, self.ids_by_expiry
        cap, user_slices, user_totals = self.cap, self.user_slices, self.user_totals
        hop = self.hop
        for message in messages:
            if message.error() is not None:
                continue
            topic = message.topic()
            key = (topic, message.partition())
            end = remaining.get(key)
            if end is None:
                continue
            offset = message.offset()
            if offset + 1 >= end:
                del remaining[key]
                finished.append(key)
                if offset >= end:
                    continue  # written after the start: not part of this backfill
            read += 1
            raw = message.value()
            event_type = topic_type[topic]
            event = decode_fast(raw)
            if is_valid_fast(event, event_type, future_limit):
                ts = event["ts"]
            else:
                verdict = classify(raw, event_type, now_ms, skew_ms)
                if not verdict.valid:
                    reason = verdict.reason.value  # type: ignore[union-attr]
                    self.rejected[reason] = self.rejected.get(reason, 0) + 1
                    continue
                event, ts = verdict.event, verdict.ts
            valid += 1
            known = max_ts[key]
            if known is None or ts > known:
                max_ts[key] = ts
            if ts < on_time_from:
                late += 1
                continue
            product = event["product_id"]  # type: ignore[index]
            if horizon:
                id_key = (product, event_type, event["event_id"])  # type: ignore[index]
                seen = ids.get(id_key)
                if seen is None:
                    ids[id_key] = [ts]
                elif any(abs(ts - other) < horizon for other in seen):
                    duplicates += 1
                    continue
                else:
                    seen.append(ts)
                expiry = (ts + horizon) // slide
                due = ids_by_expiry.get(expiry)
                if due is None:
                    ids_by_expiry[expiry] = due = []
                due.append((id_key, ts))
            # Every window containing ts, and the recent counts of those whose recent span
            # holds it (the list is reused while ts stays in one slide).
            slide_base = ts - ts % slide
            if slide_base != base:
                base, current = slide_base, windows_of(ts)
            product_key = (product, event["category"])  # type: ignore[index]
            index = TYPE_INDEX[event_type]
            counted_in = current
            if cap:
                user_key = (product, index, event["user_id"])  # type: ignore[index]
                total = user_totals.get(user_key, 0)
                if total >= cap:
                    # The user may be at the cap somewhere: per window (HopTopN.windows_of),
                    # count it where the user is below the window's cap, in the window and,
                    # if ts is in its recent span, its recent counts; where the window's cap
                    # binds and ts is in its older part, below the older part's cap, take
                    # one from its recent counts (the older part's capped count grows, the
                    # window's does not).
                    counted_in = []
                    for counts, slices, recent, older in hop.current_windows:
                        if sum(user_slices.get(s_end, {}).get(user_key, 0)
                               for s_end in slices) < cap:
                            counted_in.append(counts)
                            if recent is not None and older is None:
                                counted_in.append(recent)
                        elif older is not None and sum(
                                user_slices.get(s_end, {}).get(user_key, 0)
                                for s_end in older) < cap:
                            # The user's recent share, cap - older, is at least 1: the entry
                            # is there.
                            recent[product_key][index] -= 1  # type: ignore[index]
                slice_counts = user_slices.get(slide_base + slide)
                if slice_counts is None:
                    user_slices[slide_base + slide] = slice_counts = {}
                slice_counts[user_key] = slice_counts.get(user_key, 0) + 1
                user_totals[user_key] = total + 1
            for counts in counted_in:
                entry = counts.get(product_key)
                if entry is None:
                    counts[product_key] = entry = [0, 0, 0]
                entry[index] += 1
        self.read += read
        self.valid += valid
        self.late += late
        self.duplicates += duplicates
        for key in finished:
            self.marks.finish(key)
        new_watermark = self.marks.advance()
        if new_watermark is not None and new_watermark != watermark:
            self._emit(self.hop.fire(new_watermark))
            self._drop_state(new_watermark)

    def _drop_state(self, watermark: int) -> None:
        """Drops the ids no on-time copy can match (``ts + horizon <= watermark``), and the
        per-user counts of slices no open window holds."""
        slide = self.hop.slide_ms
        for expiry in [e for e in self.ids_by_expiry if (e + 1) * slide <= watermark]:
            for id_key, ts in self.ids_by_expiry.pop(expiry):
                seen = self.ids[id_key]
                seen.remove(ts)
                if not seen:
                    del self.ids[id_key]
        fired = self.hop.fired_through
        if fired is None:
            return
        for slice_end in [s for s in self.user_slices
                          if s + self.hop.size_ms - slide <= fired]:
            for user_key, n in self.user_slices.pop(slice_end).items():
                left = self.user_totals[user_key] - n
                if left:
                    self.user_totals[user_key] = left
                else:
                    del self.user_totals[user_key]

    def finish(self) -> None:
        """The end of the input: every remaining window fires."""
        self._emit(self.hop.fire_all())

    def _emit(self, fired: list[tuple[int, list[dict[str, Any]]]]) -> None:
        for end, rows in fired:
            self.windows += 1
            self.rows += len(rows)
            if self.write is not None and rows:
                self.write(end, rows)

    def summary(self) -> dict[str, Any]:
        valid_ts = [ts for ts in self.marks.max_ts.values() if ts is not None]
        return {
            "events": self.read,
            "valid": self.valid,
            "late": self.late,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "windows": self.windows,
            "rows": self.rows,
            "max_ts": max(valid_ts) if valid_ts else None,
            # What a stream over the same partitions ends with: the slowest partition's
            # largest ts, less the out-of-orderness.
            "final_watermark": (min(valid_ts) - self.marks.lateness_ms) if valid_ts else None,
            "partition_max_ts": {f"{t}[{p}]": ts
                                 for (t, p), ts in sorted(self.marks.max_ts.items())},
            "weights_version": self.weights.version,
        }


def run(settings: Settings, weights: Any, ends: Mapping[str, Mapping[int, int]],
        write: Callable[[int, list[dict[str, Any]]], Any] | None) -> dict[str, Any]:
    """Read every partition of ``ends`` (topic -> partition -> end offset) from offset 0 to
    its end with one consumer and run :class:`Backfill` over it; its summary and timings.

    ``seconds`` runs from the first fetch to the last window handed to ``write``.
    """
    from confluent_kafka import Consumer, TopicPartition

    backfill = Backfill(settings, weights, ends, write)
    consumer = Consumer({
        **client_config(settings),
        # Never joins the group (assign only), never commits.
        "group.id": f"naive-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 20,
        "isolation.level": "read_uncommitted",
    })
    started = time.perf_counter()
    try:
        consumer.assign([TopicPartition(t, p, 0) for t, p in backfill.remaining])
        last_progress = time.monotonic()
        while not backfill.done:
            messages = consumer.consume(num_messages=BATCH, timeout=1.0)
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
                missing = ", ".join(f"{t}[{p}]" for t, p in sorted(backfill.remaining))
                raise RuntimeError(f"no records for {STALL_TIMEOUT_S} s before the end of "
                                   f"{missing}")
            backfill.process(messages, int(time.time() * 1000))
        backfill.finish()
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    report = backfill.summary()
    report["seconds"] = round(seconds, 3)
    report["events_per_s"] = round(backfill.read / seconds) if seconds > 0 else None
    return report


def load_weights(settings: Settings) -> Any:
    """The weights the job starts with (the registry's champion, or the weights file)."""
    try:
        from registry.publisher import load_weights_for_start
    except ImportError:
        from registry.source import load_current_weights as load_weights_for_start
    return load_weights_for_start(settings)


def parse_args(argv: Sequence[str] | None) -> tuple[bool, dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.naive_consumer",
        description="The trending job's bounded backfill as one plain Python consumer: "
                    "reads the event topics to their true end offsets, fires HOP windows "
                    "as the watermark advances, writes each window's top-N (overall and "
                    "per category) to Parquet like the job, prints a JSON summary.")
    parser.add_argument("--no-write", action="store_true",
                        help="rank the windows but write no Parquet")
    add_settings_options(parser)
    args = vars(parser.parse_args(argv))
    return bool(args["no_write"]), settings_overrides(args)


def main(argv: Sequence[str] | None = None) -> int:
    no_write, overrides = parse_args(argv)
    from jobs.offsets import end_offsets
    from trend_tracker.settings import load_settings
    from udfs.parquet_sink import ParquetWindowWriter

    settings = load_settings(**overrides)
    weights = load_weights(settings)
    ends = end_offsets(settings, list(settings.event_topics.values()), timeout_s=30)
    writer = None
    if not no_write:
        writer = ParquetWindowWriter(settings.parquet_root, settings.s3_storage_options)
    report = run(settings, weights, ends, writer.write_window if writer else None)
    report["end_offsets"] = {topic: {str(p): end for p, end in parts.items()}
                             for topic, parts in ends.items()}
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
