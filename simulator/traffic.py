"""The traffic model: a catalog, Zipf-like popularity, sessions, a funnel and trends.

Everything here is pure (no clock, no I/O): given the same options and start time, the
generator yields the same events, so tests can check its distributions with fixed seeds
and a backfill can be replayed exactly.

The model, per click:

- the product is drawn from a Zipf-like popularity (weight of the k-th most popular
  product is ``k ** -zipf_s``); injected trends multiply one product's weight by a
  factor from a given moment on, so the total rate stays what was asked for;
- the click belongs to one of a pool of concurrent sessions, each of one user;
  sessions end and new ones start as traffic flows;
- the click leads to a cart with probability ``cart_rate``, a few seconds later, by the
  same user in the same session; the cart leads to a purchase with probability
  ``purchase_rate``, later again.

Clicks are evenly spaced in event time so that clicks, carts and purchases together
average ``rate`` events per second. Events come out in non-decreasing ``ts`` order.
Work is done in chunks of clicks with numpy, so the cost per event is small.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from trend_tracker.events import EVENT_TYPES, ID_RE, MAX_TS_MS, MIN_TS_MS

#: Event type codes used in the arrays: index into EVENT_TYPES.
CLICK, CART, PURCHASE = 0, 1, 2

CATEGORY_NAMES = (
    "electronics", "books", "fashion", "home", "garden", "toys", "sports", "beauty",
    "grocery", "automotive", "music", "movies", "health", "pets", "office", "baby",
    "jewelry", "shoes", "tools", "games",
)
#: Up to a million products: the catalog benchmark's largest key space.
MAX_PRODUCTS = 1_000_000
#: Clicks generated per chunk: large enough to amortise numpy calls, small enough
#: that a chunk at a low rate is not expensive to hold.
CLICKS_PER_CHUNK = 8192
#: Concurrent sessions, and the mean number of clicks in one session.
SESSION_POOL = 2048
CLICKS_PER_SESSION = 8
#: Delay from a click to its cart, and from a cart to its purchase (ms, uniform).
CART_DELAY_MS = (1_000, 8_000)
PURCHASE_DELAY_MS = (2_000, 20_000)
#: The funnel runs this long before the start, so that the stream begins in its steady
#: state (otherwise the first seconds would hold clicks only, below the asked rate).
WARMUP_MS = CART_DELAY_MS[1] + PURCHASE_DELAY_MS[1]
WARMUP_CHUNK = 32 * CLICKS_PER_CHUNK


@dataclass(frozen=True, slots=True)
class Trend:
    """From ``at_s`` seconds after the start, ``product_id`` is ``factor`` times as popular."""

    product_id: str
    factor: float
    at_s: float

    def __post_init__(self) -> None:
        if not ID_RE.fullmatch(self.product_id):
            raise ValueError(f"invalid product id {self.product_id!r}")
        if not (self.factor > 0 and math.isfinite(self.factor)):
            raise ValueError(f"trend factor must be a positive number, got {self.factor}")
        if not (self.at_s >= 0 and math.isfinite(self.at_s)):
            raise ValueError(f"trend start must be >= 0 s, got {self.at_s}")


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_offset_s(text: str) -> float:
    """``90``, ``90s``, ``1.5m``, ``2h``, ``500ms`` -> seconds."""
    match = _DURATION_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90, 90s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_trend(text: str) -> Trend:
    """Parse ``PRODUCT:FACTOR:AT``, e.g. ``p-00042:10:60s`` (AT is after the start).

    Product ids may contain ``:``, so the string is split from the right.
    """
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise ValueError(f"trend must be PRODUCT:FACTOR:AT, got {text!r}")
    product_id, factor, at = parts
    try:
        factor_value = float(factor)
    except ValueError:
        raise ValueError(f"trend factor is not a number: {factor!r}") from None
    return Trend(product_id, factor_value, parse_offset_s(at))


def product_id_for(index: int, products: int) -> str:
    """The id of the product at catalog position ``index`` (0-based)."""
    return f"p-{index + 1:0{max(5, len(str(products)))}d}"


def category_name(index: int) -> str:
    if index < len(CATEGORY_NAMES):
        return CATEGORY_NAMES[index]
    return f"category-{index + 1:03d}"


def zipf_weights(n: int, s: float) -> np.ndarray:
    """Unnormalised Zipf weights ``k ** -s`` for popularity ranks k = 1..n."""
    return np.arange(1, n + 1, dtype=np.float64) ** -s


@dataclass(frozen=True)
class Catalog:
    """Products, their categories and prices, and their popularity."""

    product_ids: tuple[str, ...]
    categories: tuple[str, ...]
    product_category: np.ndarray  # product index -> category index
    prices: np.ndarray  # product index -> price (2 decimals)
    #: Product indices from most to least popular.
    by_popularity: np.ndarray
    #: Base popularity weight of each product index (before trends).
    weights: np.ndarray

    def category_of(self, product_index: int) -> str:
        return self.categories[int(self.product_category[product_index])]

    def index_of(self, product_id: str) -> int:
        try:
            return self.product_ids.index(product_id)
        except ValueError:
            raise ValueError(f"unknown product {product_id!r} (catalog has "
                             f"{self.product_ids[0]} .. {self.product_ids[-1]})") from None


def build_catalog(products: int, categories: int, zipf_s: float,
                  rng: np.random.Generator) -> Catalog:
    """A catalog with a seeded popularity order, category assignment and prices."""
    by_popularity = rng.permutation(products)
    weights = np.empty(products, dtype=np.float64)
    weights[by_popularity] = zipf_weights(products, zipf_s)
    # Every category gets at least one product when there are enough products.
    assignment = rng.integers(0, categories, products)
    assignment[: min(products, categories)] = np.arange(min(products, categories))
    prices = np.round(rng.lognormal(mean=3.0, sigma=1.0, size=products), 2) + 0.99
    return Catalog(
        product_ids=tuple(product_id_for(i, products) for i in range(products)),
        categories=tuple(category_name(j) for j in range(categories)),
        product_category=assignment,
        prices=np.round(prices, 2),
        by_popularity=by_popularity,
        weights=weights,
    )


def default_trend(catalog: Catalog) -> Trend:
    """A mid-popular product that becomes 20 times as popular after 60 s.

    From the 50th rank it climbs near the top, which makes the trend easy to see.
    """
    rank = min(49, len(catalog.product_ids) // 2)
    return Trend(catalog.product_ids[int(catalog.by_popularity[rank])], 20.0, 60.0)


@dataclass(frozen=True)
class TrafficConfig:
    """What the generator needs: the traffic shape, the seed and the clock start."""

    start_ms: int
    rate: float = 1000.0
    products: int = 1000
    categories: int = 20
    users: int = 50_000
    seed: int = 0
    cart_rate: float = 0.10
    purchase_rate: float = 0.30
    zipf_s: float = 1.1
    #: None: one default trend (see :func:`default_trend`); () for none.
    trends: tuple[Trend, ...] | None = None

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be > 0 events/s, got {self.rate}")
        if not 1 <= self.products <= MAX_PRODUCTS:
            raise ValueError(f"products must be in 1..{MAX_PRODUCTS}, got {self.products}")
        if not 1 <= self.categories <= 10_000:
            raise ValueError(f"categories must be in 1..10000, got {self.categories}")
        if self.users < 1:
            raise ValueError(f"users must be >= 1, got {self.users}")
        for name in ("cart_rate", "purchase_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.zipf_s < 0:
            raise ValueError("zipf_s must be >= 0")
        # Events are stamped from start_ms on: a start the contract refuses (before 2000,
        # or a time in seconds) would make every event wrong_type.
        if not MIN_TS_MS <= self.start_ms <= MAX_TS_MS:
            raise ValueError(f"start_ms out of range {MIN_TS_MS}..{MAX_TS_MS} "
                             f"(2000-01-01 to 9999-12-31, epoch ms): {self.start_ms}")

    @property
    def events_per_click(self) -> float:
        """Mean events per click: the click, its cart, and the cart's purchase."""
        return 1.0 + self.cart_rate + self.cart_rate * self.purchase_rate

    @property
    def click_interval_ms(self) -> float:
        return 1000.0 * self.events_per_click / self.rate

    def stream_id(self) -> str:
        """A short id of this stream, the prefix of its event ids.

        Runs with the same options and start produce the same ids (a replay); a live run
        starts at a new millisecond, so its ids are new.
        """
        text = repr((self.start_ms, self.rate, self.products, self.categories, self.users,
                     self.seed, self.cart_rate, self.purchase_rate, self.zipf_s, self.trends))
        return hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


@dataclass
class EventBatch:
    """Events in ts order, as parallel arrays (one row per event)."""

    seq: np.ndarray  # position in the stream, 0-based
    ts: np.ndarray  # epoch ms
    event_type: np.ndarray  # CLICK | CART | PURCHASE
    product: np.ndarray  # catalog index
    user: np.ndarray
    session: np.ndarray

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, index: np.ndarray | slice) -> EventBatch:
        return EventBatch(self.seq[index], self.ts[index], self.event_type[index],
                          self.product[index], self.user[index], self.session[index])


_FIELDS = ("ts", "event_type", "product", "user", "session")


@dataclass
class _FollowUps:
    """Carts and purchases generated but not yet due (ts beyond the current chunk)."""

    columns: dict[str, np.ndarray] = field(
        default_factory=lambda: {name: np.empty(0, dtype=np.int64) for name in _FIELDS})

    def extend(self, *parts: dict[str, np.ndarray]) -> None:
        self.columns = {name: np.concatenate([self.columns[name]] + [p[name] for p in parts])
                        for name in _FIELDS}

    def pop_due(self, before_ts: int) -> dict[str, np.ndarray]:
        due = self.columns["ts"] < before_ts
        out = {name: col[due] for name, col in self.columns.items()}
        keep = ~due
        self.columns = {name: col[keep] for name, col in self.columns.items()}
        return out


class EventGenerator:
    """An endless, deterministic stream of :class:`EventBatch` for one config."""

    def __init__(self, config: TrafficConfig):
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.catalog = build_catalog(config.products, config.categories, config.zipf_s,
                                     self.rng)
        trends = config.trends
        self.trends: tuple[Trend, ...] = ((default_trend(self.catalog),) if trends is None
                                          else tuple(trends))
        self._change_ts, self._cdfs = self._popularity_segments()
        pool = min(SESSION_POOL, config.users)
        self._slot_user = self.rng.integers(0, config.users, pool)
        self._slot_session = np.arange(pool, dtype=np.int64)
        self._next_session = pool
        self._next_seq = 0
        self._pending = _FollowUps()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the funnel over whole chunks of clicks before the start; drop their output.

        Warm-up chunks end exactly at click 0 (ts = start_ms), so the follow-ups they
        leave pending are the ones a stream that had been running would have.
        """
        clicks = math.ceil(WARMUP_MS / self.config.click_interval_ms)
        self._next_click = -CLICKS_PER_CHUNK * math.ceil(clicks / CLICKS_PER_CHUNK)
        while self._next_click < 0:
            # Larger chunks here: nothing is emitted, so only the numpy work counts.
            self._next_chunk(min(-self._next_click, WARMUP_CHUNK), emit=False)

    def _popularity_segments(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Change times (ms) and, for each segment between them, the products' CDF."""
        weights = self.catalog.weights.copy()
        starts = sorted(self.trends, key=lambda t: t.at_s)
        change_ts = []
        cdfs = [_cdf(weights)]
        for trend in starts:
            weights[self.catalog.index_of(trend.product_id)] *= trend.factor
            change_ts.append(self.config.start_ms + round(trend.at_s * 1000))
            cdfs.append(_cdf(weights))
        return np.asarray(change_ts, dtype=np.int64), cdfs

    def popularity_at(self, ts: int) -> np.ndarray:
        """Each product's click probability at event time ``ts`` (for inspection)."""
        segment = int(np.searchsorted(self._change_ts, ts, side="right"))
        return np.diff(self._cdfs[segment], prepend=0.0)

    def _sample_products(self, ts: np.ndarray) -> np.ndarray:
        draws = self.rng.random(len(ts))
        segment = np.searchsorted(self._change_ts, ts, side="right")
        products = np.empty(len(ts), dtype=np.int64)
        for seg in np.unique(segment):
            mask = segment == seg
            products[mask] = np.searchsorted(self._cdfs[seg], draws[mask], side="right")
        # The CDF's last value can round below 1; keep indices in range.
        np.minimum(products, self.config.products - 1, out=products)
        return products

    def _chunk_boundary(self, click_index: int) -> int:
        return self.config.start_ms + math.floor(click_index * self.config.click_interval_ms)

    def _next_chunk(self, size: int = CLICKS_PER_CHUNK,
                    emit: bool = True) -> EventBatch | None:
        cfg, rng = self.config, self.rng
        first, last = self._next_click, self._next_click + size
        self._next_click = last
        index = np.arange(first, last, dtype=np.int64)
        click_ts = cfg.start_ms + np.floor(index * cfg.click_interval_ms).astype(np.int64)
        products = self._sample_products(click_ts)
        slots = rng.integers(0, len(self._slot_user), size)
        users = self._slot_user[slots]
        sessions = self._slot_session[slots]
        carted = rng.random(size) < cfg.cart_rate
        purchased = carted & (rng.random(size) < cfg.purchase_rate)
        cart_ts = click_ts + rng.integers(*CART_DELAY_MS, size)
        purchase_ts = cart_ts + rng.integers(*PURCHASE_DELAY_MS, size)
        self._turn_over_sessions(size)

        clicks = {"ts": click_ts, "event_type": np.full(size, CLICK, np.int64),
                      "product": products, "user": users, "session": sessions}
        self._pending.extend(
            _select(clicks, carted, ts=cart_ts, event_type=CART),
            _select(clicks, purchased, ts=purchase_ts, event_type=PURCHASE),
        )
        # Clicks of the next chunk start at this boundary: everything before it is final.
        due = self._pending.pop_due(self._chunk_boundary(last))
        if not emit:
            return None
        merged = {name: np.concatenate([clicks[name], due[name]]) for name in _FIELDS}
        order = np.argsort(merged["ts"], kind="stable")
        n = len(order)
        seq = np.arange(self._next_seq, self._next_seq + n, dtype=np.int64)
        self._next_seq += n
        return EventBatch(seq=seq, **{name: merged[name][order] for name in _FIELDS})

    def _turn_over_sessions(self, clicks: int) -> None:
        """End some sessions and start new ones in their slots (new user, new id)."""
        pool = len(self._slot_user)
        replace = min(pool, clicks // CLICKS_PER_SESSION)
        slots = self.rng.choice(pool, replace, replace=False)
        self._slot_user[slots] = self.rng.integers(0, self.config.users, replace)
        self._slot_session[slots] = np.arange(self._next_session, self._next_session + replace)
        self._next_session += replace

    def batches(self) -> Iterator[EventBatch]:
        """The endless stream, chunk by chunk."""
        while True:
            batch = self._next_chunk()
            assert batch is not None
            yield batch

    def bounded(self, count: int | None = None,
                duration_s: float | None = None) -> Iterator[EventBatch]:
        """The stream cut after ``count`` events and/or ``duration_s`` of event time."""
        if count is None and duration_s is None:
            yield from self.batches()
            return
        remaining = count
        end_ts = (None if duration_s is None
                  else self.config.start_ms + round(duration_s * 1000))
        for batch in self.batches():
            stop = False
            if end_ts is not None and batch.ts[-1] >= end_ts:
                batch = batch.take(slice(0, int(np.searchsorted(batch.ts, end_ts))))
                stop = True
            if remaining is not None:
                if len(batch) >= remaining:
                    batch = batch.take(slice(0, remaining))
                    stop = True
                remaining -= len(batch)
            if len(batch):
                yield batch
            if stop:
                return


def _cdf(weights: np.ndarray) -> np.ndarray:
    return np.cumsum(weights / weights.sum())


def _select(clicks: dict[str, np.ndarray], mask: np.ndarray, *, ts: np.ndarray,
            event_type: int) -> dict[str, np.ndarray]:
    """Follow-up events of the selected clicks: same product, user and session."""
    return {"ts": ts[mask], "event_type": np.full(int(mask.sum()), event_type, np.int64),
                "product": clicks["product"][mask], "user": clicks["user"][mask],
                "session": clicks["session"][mask]}


def event_type_name(code: int) -> str:
    return EVENT_TYPES[code]
