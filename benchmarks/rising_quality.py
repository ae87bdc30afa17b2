"""Detection quality of the Rising view against trends of known start and growth.

    python -m benchmarks.rising_quality [--rates 500 5000] [--episodes 3]
        [--window-size-s 120 --window-slide-s 10] [--products 500] [--top-k 10]
        [--z-min 4] [--recent-slides 2] [--dispersion 1.7]

For each rate (by default the demo's, 500 events/s, and ten times it), on a private
embedded stack (or the running one ``TREND_*`` names):

1. produce the simulator's ordinary traffic (``simulator.traffic``: the demo's catalog and
   Zipf popularity, sessions, the funnel), seeded, on a simulated clock, with:

   - **history**: two windows without any change, so that every window measured has a
     complete previous window to compare with;
   - **a trend-free stretch** of one window, where false discoveries are counted;
   - **episodes**, two window sizes apart, each starting trends of known growth together
     (``TRENDS_PER_EPISODE``: 1.5x, 3x, 3x, 10x, 10x on products of different popularity
     ranks, a different set in each episode); a product's popularity is multiplied by its
     growth from its start to the end of the run;
   - **a bot**: one user clicking one product ``BOT_CLICKS_PER_S`` times a second from the
     end of the history on;
   - **duplicates**: from the same moment, every event of one product is sent
     ``DUPLICATE_COPIES`` more times (same ``event_id`` and ``ts``: a producer retrying),
     and every ``RETRIED_BATCH_EVERY``-th chunk of traffic sends its first
     ``RETRIED_BATCH_SIZE`` events twice more (a retried batch);

2. run the trending job, bounded, over those topics (its real code and sinks, the demo's
   windows, ``top_n`` = every product, so Parquet also holds every product's score), in a
   process of its own; its event-time output does not depend on how busy the machine is;

3. read the overall Rising ranking of every window from Parquet and measure, over the
   windows whose previous window is complete and whose own data is complete:

   - **recall**: the share of trends (of 3x or more; 1.5x reported apart) in the Rising
     top k in one of the two windows ending one and two slides after their start;
   - **time to detect**: slides from the start to the first window with the trend in the
     top k (within two window sizes, ``null`` if never);
   - **stay**: how many of the windows in the two window sizes after the start (while
     its growth stands out against the previous window) hold it in the top k;
   - **false discoveries**: top-k places held by products whose true rate did not change
     between the window and the one it is compared with, i.e. neither an injected trend
     within two window sizes of its start nor the bot's or duplicates' product; per window
     in the trend-free stretch (the goal: at most 1), and over every window measured;
   - **bot and duplicate places**: top-k places held by the bot's product or the
     duplicated product in any window measured (goal: 0), and the duplicates the job
     turned away (its dead letters, which should be exactly the copies sent).

The statistic measured first is the job's own, "recent slides": the newest
``rising_recent_slides`` slides against the window just before them, products of score at
least ``rising_min_score`` entering if z >= ``rising_min_z`` (the variance of the base's
weighted counts times ``rising_dispersion``), ranked by ``(recent / scale + rising_prior) /
(base + rising_prior)``, scale the slides' share of a window; recent: the window's counts
less those of its older part (the window but the newest slides), each capped per user.
The job runs with the settings' defaults of these, unless ``--z-min``, ``--recent-slides``
or ``--dispersion`` set them (each sets the job's setting and the candidates' parameter
alike). The report checks that a recount of the statistic from the job's window counts
gives the job's whole rising ranking in every window, the bot's product aside (the
recent scores are derived from the window scores, exact for a product whose counts the
per-user cap does not bind; the bot's are capped, and its places are measured apart).
Beside it, computed the same way on the same run's window counts (so their figures differ
only by the statistic), three candidates:

- ``previous_ratio``: the formula before, the window against the previous one, ``(score +
  rising_prior) / (previous + rising_prior)``, score >= ``rising_min_score``;
- ``window_z``: the window against the previous one, (score - previous) / sqrt(var +
  previous var + 1), Poisson variances of the weighted counts, z >= ``--z-min``;
- ``slice_z``: the newest ``--recent-slides`` slides against the rate of the window just
  before them, with the variance at that rate times ``--dispersion``, z >= ``--z-min``,
  ranked by z (the job's statistic ranks the same products by momentum).

Figures print as JSON, with the machine and the load average before and after.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import SEED, START_MS, benchmark_main, machine, run_on_stack
from trend_tracker.demo import DEMO_PRODUCTS, DEMO_RATE, DEMO_WINDOW_SIZE_S, DEMO_WINDOW_SLIDE_S
from trend_tracker.settings import Settings, settings_from_env

#: Growths started together in each episode, one product each.
TRENDS_PER_EPISODE = (1.5, 3.0, 3.0, 10.0, 10.0)
#: Popularity ranks (1 = most popular) of the trend products, taken in order, episode after
#: episode: spread from the head to the tail of the catalog, so every growth meets
#: products of several sizes.
TREND_RANKS = (8, 20, 40, 80, 160, 12, 30, 60, 120, 240, 15, 25, 50, 100, 200,
               10, 35, 70, 140, 280, 18, 45, 90, 180, 360)
#: Popularity rank of the duplicated product. The bot's is the least popular product: its
#: own traffic alone never ranks it, so any place it takes is the bot's.
DUPLICATED_RANK = 110
BOT_CLICKS_PER_S = 20
#: The bot's user id (``u-<n>``): beyond the simulated users.
BOT_USER = 999_999_999
#: Extra copies of every event of the duplicated product.
DUPLICATE_COPIES = 4
#: Every this many chunks of traffic, the first events of the chunk are sent again.
RETRIED_BATCH_EVERY, RETRIED_BATCH_SIZE, RETRIED_BATCH_COPIES = 4, 300, 2
#: Recall is asked of trends of at least this growth.
RECALL_MIN_GROWTH = 3.0
#: A trend must be in the top k within this many slides of its start.
DETECT_WITHIN_SLIDES = 2


@dataclass(frozen=True)
class InjectedTrend:
    product_id: str
    growth: float
    popularity_rank: int
    start_ms: int


@dataclass(frozen=True)
class Plan:
    """What one rate's traffic carries, and when (event time, epoch ms)."""

    trends: tuple[InjectedTrend, ...]
    bot_product: str
    duplicated_product: str
    attacks_from_ms: int  # the bot and the duplicates, from here to the end
    measured_from_ms: int  # first window end with a complete previous window
    trend_free_until_ms: int  # last window end of the trend-free stretch
    end_ms: int  # events stop before this


#: The settings' defaults of the job's rising statistic: the flags' defaults.
DEFAULT_MIN_Z: float | None = Settings.model_fields["rising_min_z"].default
DEFAULT_RECENT_SLIDES: int = Settings.model_fields["rising_recent_slides"].default
DEFAULT_DISPERSION: float = Settings.model_fields["rising_dispersion"].default


def z_min_arg(text: str) -> float | None:
    """``--z-min``: a number, or ``none`` (no significance test)."""
    return None if text.strip().lower() in ("none", "null") else float(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rising_quality",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+",
                        default=[float(DEMO_RATE), 10.0 * DEMO_RATE],
                        help="events per second of event time, one run each")
    parser.add_argument("--episodes", type=int, default=3,
                        help=f"episodes of {len(TRENDS_PER_EPISODE)} trends each")
    parser.add_argument("--products", type=int, default=DEMO_PRODUCTS)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--window-size-s", type=int, default=DEMO_WINDOW_SIZE_S)
    parser.add_argument("--window-slide-s", type=int, default=DEMO_WINDOW_SLIDE_S)
    parser.add_argument("--top-k", type=int, default=10, help="the Rising places measured")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--z-min", type=z_min_arg, default=DEFAULT_MIN_Z,
                        help="the least z to enter the ranking, of the job (its "
                             "rising_min_z; 'none': no test) and of the candidates "
                             f"(default {DEFAULT_MIN_Z})")
    parser.add_argument("--dispersion", type=float, default=DEFAULT_DISPERSION,
                        help="the variance over the Poisson one of the base's weighted "
                             "counts, in the job (its rising_dispersion) and slice_z "
                             f"(default {DEFAULT_DISPERSION:g})")
    parser.add_argument("--recent-slides", type=int, default=DEFAULT_RECENT_SLIDES,
                        help="slides compared with the window before them, by the job (its "
                             "rising_recent_slides) and slice_z "
                             f"(default {DEFAULT_RECENT_SLIDES})")
    parser.add_argument("--phase-timeout-s", type=float, default=3600,
                        help="longest one job run may take before it is stopped")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the private stack and outputs live (default: a temp dir)")
    args = parser.parse_args(argv)
    args.conf = []  # the job runs with its own configuration (job_throughput's phase runner)
    if args.episodes * len(TRENDS_PER_EPISODE) > len(TREND_RANKS):
        parser.error(f"at most {len(TREND_RANKS) // len(TRENDS_PER_EPISODE)} episodes")
    needed = max((*TREND_RANKS[:args.episodes * len(TRENDS_PER_EPISODE)], DUPLICATED_RANK))
    if needed > args.products:
        parser.error(f"the plan needs at least {needed} products")
    return args


def make_plan(catalog: Any, args: argparse.Namespace) -> Plan:
    """The trends, the bot and the duplicates on ``catalog``, and the measured stretches."""
    size_ms, start = args.window_size_s * 1000, START_MS
    measured_from = start + 2 * size_ms
    trend_free_until = measured_from + size_ms
    trends = []
    for episode in range(args.episodes):
        episode_start = trend_free_until + episode * 2 * size_ms
        for slot, growth in enumerate(TRENDS_PER_EPISODE):
            rank = TREND_RANKS[episode * len(TRENDS_PER_EPISODE) + slot]
            trends.append(InjectedTrend(product_at_rank(catalog, rank), growth, rank,
                                        episode_start))
    return Plan(trends=tuple(trends),
                bot_product=product_at_rank(catalog, args.products),
                duplicated_product=product_at_rank(catalog, DUPLICATED_RANK),
                attacks_from_ms=measured_from, measured_from_ms=measured_from,
                trend_free_until_ms=trend_free_until,
                end_ms=trend_free_until + args.episodes * 2 * size_ms)


def product_at_rank(catalog: Any, rank: int) -> str:
    return catalog.product_ids[int(catalog.by_popularity[rank - 1])]


# --- traffic -------------------------------------------------------------------------------


def produce(settings: Settings, args: argparse.Namespace, rate: float
            ) -> tuple[Plan, dict[str, Any], dict[str, dict[int, int]], dict[int, int]]:
    """Produce one rate's traffic (see the module docstring); returns the plan, the counts
    sent, the bot's and the duplicated product's own events per slice start, and the
    bot's clicks per slice start.

    Every record goes out in ``ts`` order (the bot's clicks and the copies merged into the
    simulator's chunks), so no partition is out of order beyond the watermark's bound.
    """
    from simulator.encoding import EventEncoder
    from simulator.kafka_io import DeliveryTracker, ensure_topics, make_producer
    from simulator.traffic import CLICK, EventBatch, EventGenerator, TrafficConfig, Trend
    from trend_tracker.events import EVENT_TYPES

    config = TrafficConfig(start_ms=START_MS, rate=rate, products=args.products,
                           categories=args.categories, seed=SEED, trends=())
    plan = make_plan(EventGenerator(config).catalog, args)
    config = TrafficConfig(
        start_ms=START_MS, rate=rate, products=args.products, categories=args.categories,
        seed=SEED, trends=tuple(Trend(t.product_id, t.growth, (t.start_ms - START_MS) / 1000)
                                for t in plan.trends))
    generator = EventGenerator(config)
    catalog = generator.catalog
    encoder = EventEncoder(catalog, config.stream_id())
    bot_encoder = EventEncoder(catalog, f"{config.stream_id()}-bot")
    bot_index = catalog.index_of(plan.bot_product)
    duplicated_index = catalog.index_of(plan.duplicated_product)
    ensure_topics(settings)
    names = [settings.event_topics[name] for name in EVENT_TYPES]
    tracker = DeliveryTracker()
    producer = make_producer(settings, tracker)
    counts = {"ordinary": 0, "bot_clicks": 0, "duplicates": 0}
    slide_ms = args.window_slide_s * 1000
    # The bot's and the duplicated product's own events, and the bot's clicks, per slice.
    own_events: dict[str, dict[int, int]] = {plan.bot_product: {},
                                             plan.duplicated_product: {}}
    bot_clicks: dict[int, int] = {}
    bot_interval_ms = 1000 / BOT_CLICKS_PER_S
    next_bot = 0  # the bot's clicks so far
    started = time.perf_counter()
    duration_s = (plan.end_ms - START_MS) / 1000
    for chunk, batch in enumerate(generator.bounded(duration_s=duration_s)):
        encoded = encoder.encode(batch)
        topics, keys, values = list(encoded.topic), list(encoded.keys), list(encoded.values)
        ts = encoded.ts.tolist()
        counts["ordinary"] += len(ts)
        for product, per_slice in own_events.items():
            mine = batch.ts[batch.product == catalog.index_of(product)]
            for start, n in zip(*np.unique(mine - mine % slide_ms, return_counts=True),
                                strict=True):
                per_slice[int(start)] = per_slice.get(int(start), 0) + int(n)
        attacked = batch.ts >= plan.attacks_from_ms
        copies = np.flatnonzero(attacked & (batch.product == duplicated_index)).tolist()
        copies = copies * DUPLICATE_COPIES
        if chunk % RETRIED_BATCH_EVERY == 0 and attacked.all():
            copies += list(range(min(RETRIED_BATCH_SIZE, len(ts)))) * RETRIED_BATCH_COPIES
        for i in copies:
            topics.append(topics[i])
            keys.append(keys[i])
            values.append(values[i])
            ts.append(ts[i])
        counts["duplicates"] += len(copies)
        last_ts = int(batch.ts[-1])
        bot_ts = []
        while (t := plan.attacks_from_ms + int(next_bot * bot_interval_ms)) <= last_ts:
            bot_ts.append(t)
            next_bot += 1
        if bot_ts:
            n = len(bot_ts)
            first = counts["bot_clicks"]
            bot = bot_encoder.encode(EventBatch(
                seq=np.arange(first, first + n, dtype=np.int64),
                ts=np.asarray(bot_ts, dtype=np.int64),
                event_type=np.full(n, CLICK, np.int64),
                product=np.full(n, bot_index, np.int64),
                user=np.full(n, BOT_USER, np.int64), session=np.full(n, BOT_USER, np.int64)))
            topics += bot.topic
            keys += bot.keys
            values += bot.values
            ts += bot_ts
            counts["bot_clicks"] += n
            for t in bot_ts:
                bot_clicks[t - t % slide_ms] = bot_clicks.get(t - t % slide_ms, 0) + 1
        for i in np.argsort(np.asarray(ts), kind="stable").tolist():
            while True:
                try:
                    producer.produce(names[topics[i]], values[i], keys[i])
                    break
                except BufferError:
                    producer.poll(0.005)
        producer.poll(0)
    undelivered = producer.flush(60)
    if tracker.failed or undelivered:
        raise RuntimeError(f"{tracker.failed + undelivered} records not delivered "
                           f"({tracker.last_error})")
    counts["seconds"] = round(time.perf_counter() - started, 3)
    counts["events"] = counts["ordinary"] + counts["bot_clicks"] + counts["duplicates"]
    return plan, counts, own_events, bot_clicks


# --- reading and measuring -----------------------------------------------------------------


@dataclass
class WindowRows:
    """One window's overall rankings as the job wrote them."""

    rising: list[str]  # the Rising ranking's products, in rank order
    #: product -> (score, clicks, carts, purchases): every product counted in the window
    #: (the popular ranking holds them all: ``top_n`` = products).
    counts: dict[str, tuple[float, int, int, int]]


def read_windows(parquet_root: Path) -> dict[int, WindowRows]:
    """window_end (ms) -> its overall rankings, for every window the job wrote."""
    import pyarrow.parquet as pq

    windows: dict[int, WindowRows] = {}
    for path in sorted(parquet_root.rglob("trends-*.parquet")):
        end = int(path.stem.rsplit("-", 1)[1])
        rows = pq.read_table(path, partitioning=None, columns=[
            "ranking", "category", "rank", "product_id", "score", "clicks", "carts",
            "purchases"]).to_pylist()
        overall = [r for r in rows if r["category"] is None]
        windows[end] = WindowRows(
            rising=[r["product_id"] for r in sorted(
                (r for r in overall if r["ranking"] == "rising"), key=lambda r: r["rank"])],
            counts={r["product_id"]: (r["score"], r["clicks"], r["carts"], r["purchases"])
                    for r in overall if r["ranking"] == "popular"})
    return windows


def measure_detection(tops: dict[int, list[str]], plan: Plan, size_ms: int,
                      slide_ms: int, attacked: dict[str, set[int]]) -> dict[str, Any]:
    """The detection figures of one statistic (see the module docstring) from its top k
    per window. Windows measured: ends from ``plan.measured_from_ms`` to ``plan.end_ms``
    (complete previous window, complete own data). ``attacked``: bot / duplicates -> the
    windows where their events counted beyond the product's own traffic."""
    measured = sorted(end for end in tops if plan.measured_from_ms <= end <= plan.end_ms)
    attackers = {plan.bot_product: "bot", plan.duplicated_product: "duplicates"}

    def changed(product: str, end: int) -> bool:
        """Whether the product's true rate differs between window ``end`` and its previous
        one: an injected trend started in the two window sizes before ``end``."""
        return any(t.product_id == product and t.start_ms < end <= t.start_ms + 2 * size_ms
                   for t in plan.trends)

    false_per_window: dict[int, int] = {}
    attacker_places = {"bot": 0, "duplicates": 0}
    for end in measured:
        false_per_window[end] = 0
        for product in tops[end]:
            attacker = attackers.get(product)
            if attacker is not None and end in attacked[attacker]:
                attacker_places[attacker] += 1
            elif not changed(product, end):
                false_per_window[end] += 1
    trend_free = [n for end, n in false_per_window.items() if end <= plan.trend_free_until_ms]

    trends = []
    for trend in plan.trends:
        horizon = [end for end in measured
                   if trend.start_ms < end <= trend.start_ms + 2 * size_ms]
        in_top = [end for end in horizon if trend.product_id in tops[end]]
        first = min(in_top, default=None)
        trends.append({
            "product_id": trend.product_id, "growth": trend.growth,
            "popularity_rank": trend.popularity_rank, "start_ms": trend.start_ms,
            "slides_to_detect": None if first is None else (first - trend.start_ms) // slide_ms,
            "windows_in_top": len(in_top), "windows_after_start": len(horizon),
        })

    def recall(selected: list[dict[str, Any]]) -> float | None:
        if not selected:
            return None
        found = sum(1 for t in selected if t["slides_to_detect"] is not None
                    and t["slides_to_detect"] <= DETECT_WITHIN_SLIDES)
        return round(found / len(selected), 3)

    by_growth = {}
    for growth in sorted({t["growth"] for t in trends}):
        selected = [t for t in trends if t["growth"] == growth]
        delays = [t["slides_to_detect"] for t in selected if t["slides_to_detect"] is not None]
        by_growth[f"{growth:g}x"] = {
            "trends": len(selected),
            "recall_within_2_slides": recall(selected),
            "detected_ever": len(delays),
            "slides_to_detect_median": statistics.median(delays) if delays else None,
            "stay_share": round(sum(t["windows_in_top"] for t in selected)
                                / max(1, sum(t["windows_after_start"] for t in selected)), 3),
        }
    return {
        "windows_measured": len(measured),
        "windows_trend_free": len(trend_free),
        "recall_within_2_slides": recall([t for t in trends
                                          if t["growth"] >= RECALL_MIN_GROWTH]),
        "false_discoveries_per_window_trend_free": (
            round(statistics.fmean(trend_free), 2) if trend_free else None),
        "false_discoveries_max_trend_free": max(trend_free, default=None),
        "false_discoveries_per_window_all": (
            round(statistics.fmean(false_per_window.values()), 2) if measured else None),
        "bot_places": attacker_places["bot"],
        "duplicate_places": attacker_places["duplicates"],
        "by_growth": by_growth,
        "trends": trends,
    }


def attacked_windows(windows: dict[int, WindowRows], plan: Plan,
                     own_events: dict[str, dict[int, int]], bot_clicks: dict[int, int],
                     size_ms: int, slide_ms: int) -> tuple[dict[str, set[int]], dict]:
    """Where the bot and the duplicates counted, from the job's counts against the
    products' own traffic (``own_events``: product -> slice start -> events, without the
    bot's clicks and the copies). Returns bot / duplicates -> window ends, and a check:
    the most events the job counted beyond the product's own in one window (the
    duplicates' should be at most 0, the bot's at most ``max_events_per_user``)."""
    def in_window(per_slice: dict[int, int], end: int) -> int:
        return sum(n for start, n in per_slice.items() if end - size_ms <= start < end)

    attacked: dict[str, set[int]] = {"bot": set(), "duplicates": set()}
    extra = {"bot": 0, "duplicates": 0}
    for name, product in (("bot", plan.bot_product), ("duplicates", plan.duplicated_product)):
        for end, rows in windows.items():
            counted = sum(rows.counts.get(product, (0.0, 0, 0, 0))[1:])
            beyond = counted - in_window(own_events[product], end)
            extra[name] = max(extra[name], beyond)
            if beyond > 0 or (name == "bot" and in_window(bot_clicks, end) > 0):
                attacked[name].add(end)
    return attacked, {"bot_most_counted_beyond_own": extra["bot"],
                      "duplicates_most_counted_beyond_own": extra["duplicates"]}


# --- the statistics compared, on the job's own window counts -------------------------------

#: Weights of the default weights document: a score's variance, for counts that are
#: Poisson, is the sum of weight**2 * count.
def score_variance(counts: tuple[float, int, int, int]) -> float:
    from registry.weights import DEFAULT_WEIGHTS

    _, clicks, carts, purchases = counts
    return (DEFAULT_WEIGHTS["click"] ** 2 * clicks + DEFAULT_WEIGHTS["cart"] ** 2 * carts
            + DEFAULT_WEIGHTS["purchase"] ** 2 * purchases)


NONE = (0.0, 0, 0, 0)


def rank_by(windows: dict[int, WindowRows], statistic: Any, top_k: int | None
            ) -> dict[int, list[str]]:
    """window_end -> the ``top_k`` (None: all) products by ``statistic(end, product)``
    descending (ties by product id), among those it returns a number for (None: not
    eligible)."""
    tops = {}
    for end, rows in windows.items():
        scored = [(value, product) for product in rows.counts
                  if (value := statistic(end, product)) is not None]
        scored.sort(key=lambda item: (-item[0], item[1]))
        tops[end] = [product for _, product in scored[:top_k]]
    return tops


def window_at(windows: dict[int, WindowRows], end: int, product: str
              ) -> tuple[float, int, int, int]:
    """The product's (score, clicks, carts, purchases) in the window ending at ``end``
    (nothing, if the window or the product is not there)."""
    rows = windows.get(end)
    return rows.counts.get(product, NONE) if rows else NONE


def slice_scores(windows: dict[int, WindowRows], size_ms: int, slide_ms: int
                 ) -> dict[tuple[int, str], float]:
    """(slice end, product) -> the product's score in the slice ending there, from the
    window scores: a window minus the one a slide earlier is its newest slice minus the
    slice it dropped, the window's size earlier. Exact where the per-user cap does not
    bind (a capped user's events count in a window as a whole, not slice by slice)."""
    ends = sorted(windows)
    products = {p for rows in windows.values() for p in rows.counts}
    scores: dict[tuple[int, str], float] = {}
    for end in range(ends[0], ends[-1] + slide_ms, slide_ms):
        for product in products:
            scores[(end, product)] = (window_at(windows, end, product)[0]
                                      - window_at(windows, end - slide_ms, product)[0]
                                      + scores.get((end - size_ms, product), 0.0))
    return scores


def recent_slides_statistic(windows: dict[int, WindowRows], size_ms: int, slide_ms: int,
                            recent_slides: int, prior: float, min_score: float,
                            min_z: float | None, dispersion: float) -> Any:
    """The job's rising statistic, recounted from the window counts.

    The recent span is the newest ``r`` slides (``r`` = ``recent_slides``, at most a
    window's), the base the window just before them (ending ``r`` slides earlier), ``scale``
    = ``r`` slides over the window size. A product of score >= ``min_score`` enters when
    (``min_z`` None: always) z = (recent - scale * base) / sqrt(``dispersion`` * (scale +
    scale**2) * base variance + 1) >= ``min_z``; its value is the job's momentum, (recent /
    scale + ``prior``) / (base + ``prior``).

    The job's recent score is the window's score less its older part's (the window but its
    newest ``r`` slides), each counted with the per-user cap. Here the older part's score
    is the sum of its slices' scores (:func:`slice_scores`), and since the slice scores of
    a window sum to its score, window - older = the sum of the newest ``r`` slice scores,
    which is what is summed (``r`` terms, not ``size / slide - r``). Both equal the job's
    for a product whose counts the cap does not bind; for a capped one (the bot's) the
    derived slice scores are not its slices' and the recent score is not the job's. When
    the ``r`` slides are the whole window, the older part is empty: recent = the window."""
    r = min(recent_slides, size_ms // slide_ms)
    recent_ms = r * slide_ms
    scale = recent_ms / size_ms
    spread = dispersion * (scale + scale * scale)
    slices = slice_scores(windows, size_ms, slide_ms) if recent_ms < size_ms else {}

    def momentum(end: int, product: str) -> float | None:
        score = windows[end].counts[product][0]
        if score < min_score:
            return None
        if recent_ms < size_ms:
            recent_score = sum(slices.get((end - i * slide_ms, product), 0.0)
                               for i in range(r))
        else:
            recent_score = score
        base = window_at(windows, end - recent_ms, product)
        base_score = base[0]
        if min_z is not None:
            z = ((recent_score - scale * base_score)
                 / math.sqrt(spread * score_variance(base) + 1))
            if z < min_z:
                return None
        return (recent_score / scale + prior) / (base_score + prior)
    return momentum


def windows_equal_aside(windows: dict[int, WindowRows], tops: dict[int, list[str]],
                        aside: str) -> int:
    """How many windows' whole rising ranking as the job wrote it equals ``tops``' (a
    ranking per window end), both without the product ``aside``."""
    def without(products: list[str]) -> list[str]:
        return [p for p in products if p != aside]
    return sum(1 for end, rows in windows.items()
               if without(tops.get(end, [])) == without(rows.rising))


def ratio_statistic(windows: dict[int, WindowRows], size_ms: int, prior: float,
                    min_score: float) -> Any:
    """The formula before the job's statistic, from the scores: the window against the
    previous one, (score + prior) / (previous + prior), score >= ``min_score``."""
    def momentum(end: int, product: str) -> float | None:
        score = windows[end].counts[product][0]
        if score < min_score:
            return None
        return (score + prior) / (window_at(windows, end - size_ms, product)[0] + prior)
    return momentum


def window_z_statistic(windows: dict[int, WindowRows], size_ms: int, z_min: float | None,
                       min_score: float) -> Any:
    """A significance test of the window against the previous one: (score - previous) /
    sqrt(var + previous var + 1), Poisson variances of the weighted counts; only products
    with z >= ``z_min`` (None: any z) and score >= ``min_score`` enter."""
    def z_score(end: int, product: str) -> float | None:
        now = windows[end].counts[product]
        if now[0] < min_score:
            return None
        before = window_at(windows, end - size_ms, product)
        z = (now[0] - before[0]) / math.sqrt(score_variance(now) + score_variance(before) + 1)
        return z if z_min is None or z >= z_min else None
    return z_score


def slice_z_statistic(windows: dict[int, WindowRows], size_ms: int, slide_ms: int,
                      recent_slides: int, z_min: float | None, min_score: float,
                      dispersion: float = 1.0) -> Any:
    """The newest ``recent_slides`` slides against the rate of the window just before them:
    (recent - expected) / sqrt(var + 1), expected = that window's score scaled to the
    recent span, var = the variance of the recent score at that rate plus the expected's.
    Slice scores come from the window scores (:func:`slice_scores`), which is exact where
    the per-user cap does not bind. ``dispersion`` multiplies the variance: events that
    come together (a click, its cart and its purchase) make a score vary more than
    independent events would. Only z >= ``z_min`` (None: any z) enters: with the same
    parameters, the products the job's statistic admits, ranked by z, not momentum."""
    slide_score = slice_scores(windows, size_ms, slide_ms)
    scale = recent_slides / (size_ms // slide_ms)

    def z_score(end: int, product: str) -> float | None:
        if windows[end].counts[product][0] < min_score:
            return None
        recent_score = sum(slide_score.get((end - i * slide_ms, product), 0.0)
                           for i in range(recent_slides))
        base = window_at(windows, end - recent_slides * slide_ms, product)
        base_score, base_var = base[0], score_variance(base)
        # The variance under the baseline rate (a score test): the recent span's own
        # variance would shrink the evidence of exactly the products that grew.
        z = ((recent_score - scale * base_score)
             / math.sqrt(dispersion * (scale + scale * scale) * base_var + 1))
        return z if z_min is None or z >= z_min else None
    return z_score


# --- one rate, the whole run ---------------------------------------------------------------


def rate_settings(stack_env: dict[str, str], work_dir: Path, args: argparse.Namespace,
                  rate: float) -> Settings:
    """Settings on the stack for one rate's run: fresh topics, state and Parquet root, the
    benchmark's windows, every product in the popular ranking, and the rising statistic's
    ``--z-min``, ``--recent-slides`` and ``--dispersion`` (the settings' defaults unless
    given)."""
    suffix = f"{int(rate)}-{uuid.uuid4().hex[:8]}"
    run_dir = work_dir / f"rising-{suffix}"
    return settings_from_env(
        stack_env,
        state_dir=run_dir / "state",
        topic_clicks=f"clicks-{suffix}", topic_carts=f"carts-{suffix}",
        topic_purchases=f"purchases-{suffix}", topic_dead_letters=f"events-dlq-{suffix}",
        topic_weights=f"weights-{suffix}", consumer_group=f"bench-{suffix}",
        parquet_root_uri=f"file://{run_dir / 'parquet'}",
        metrics_port=0, parallelism=args.parallelism,
        window_size_s=args.window_size_s, window_slide_s=args.window_slide_s,
        top_n=args.products, checkpoint_interval_s=600,
        rising_min_z=args.z_min, rising_recent_slides=args.recent_slides,
        rising_dispersion=args.dispersion,
    )


def run_rate(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path,
             rate: float) -> dict[str, Any]:
    from benchmarks.job_throughput import progress, run_phase
    from registry.client import ensure_default_weights
    from simulator.kafka_io import count_records

    settings = rate_settings(stack_env, work_dir, args, rate)
    ensure_default_weights(settings)
    progress(f"rate {rate:g}: producing")
    plan, produced, own_events, bot_clicks = produce(settings, args, rate)
    progress(f"rate {rate:g}: the trending job, bounded, over {produced['events']} events")
    job = run_phase("job", settings, args)
    size_ms, slide_ms = args.window_size_s * 1000, args.window_slide_s * 1000
    windows = read_windows(Path(settings.parquet_root[len("file://"):]))
    attacked, attack_check = attacked_windows(windows, plan, own_events, bot_clicks,
                                              size_ms, slide_ms)
    job_tops = {end: rows.rising[:args.top_k] for end, rows in windows.items()}
    prior, min_score = settings.rising_prior, settings.rising_min_score
    # The job ranks at most top_n products: with top_n = every product its rising rows are
    # the whole ranking, which the recount is compared with.
    if settings.top_n < args.products:
        raise RuntimeError(f"top_n {settings.top_n} < {args.products} products: the job's "
                           "rising rows would not be its whole ranking")
    recount = rank_by(windows, recent_slides_statistic(
        windows, size_ms, slide_ms, settings.rising_recent_slides, prior, min_score,
        settings.rising_min_z, settings.rising_dispersion), None)
    candidates = {
        "previous_ratio": rank_by(windows, ratio_statistic(windows, size_ms, prior, min_score),
                                  args.top_k),
        "window_z": rank_by(windows, window_z_statistic(
            windows, size_ms, args.z_min, min_score), args.top_k),
        "slice_z": rank_by(windows, slice_z_statistic(
            windows, size_ms, slide_ms, args.recent_slides, args.z_min, min_score,
            args.dispersion), args.top_k),
    }
    dead_letters = count_records(settings, settings.topic_dead_letters)
    z_test = "" if args.z_min is None else f" >= {args.z_min:g}"
    return {
        "rate": rate,
        "produced": produced,
        "job_seconds": job.get("seconds"),
        "windows_written": len(windows),
        "bot_product": plan.bot_product,
        "duplicated_product": plan.duplicated_product,
        "dead_letters": dead_letters,
        "duplicates_turned_away": dead_letters == produced["duplicates"],
        **attack_check,
        # The job's statistic recounted from its window counts gives the job's whole
        # rising ranking (every product it admits, in its order), so the candidates below,
        # computed the same way on the same counts, differ from it only by the statistic.
        # The bot's product is set aside in both: its counts are capped, so a recount from
        # window scores cannot reproduce its recent score (nor whether it enters or where);
        # its places are measured by bot_places. Every other product's is exact while no
        # ordinary user reaches the cap on it (the bot is the one meant to).
        "recount_windows_equal_to_job_bot_aside": windows_equal_aside(
            windows, recount, plan.bot_product),
        "statistics": {
            "recent slides (the job's rising ranking)": {
                "formula": "(recent / scale + rising_prior) / (base + rising_prior), "
                           "score >= rising_min_score and (recent - scale * base) / "
                           "sqrt(rising_dispersion * (scale + scale**2) * base var + 1) >= "
                           "rising_min_z; recent: the newest rising_recent_slides slides, "
                           "base: the window before them, scale: the slides' share of a "
                           "window",
                "rising_recent_slides": settings.rising_recent_slides,
                "rising_min_z": settings.rising_min_z,
                "rising_dispersion": settings.rising_dispersion,
                "rising_prior": prior,
                "rising_min_score": min_score,
                **measure_detection(job_tops, plan, size_ms, slide_ms, attacked)},
            "previous_ratio (the formula before)": {
                "formula": "(score + rising_prior) / (previous_score + rising_prior), "
                           "score >= rising_min_score",
                "rising_prior": prior,
                "rising_min_score": min_score,
                **measure_detection(candidates["previous_ratio"], plan, size_ms, slide_ms,
                                    attacked)},
            "window_z": {
                "formula": f"(score - previous_score) / sqrt(var + previous var + 1){z_test}",
                **measure_detection(candidates["window_z"], plan, size_ms, slide_ms,
                                    attacked)},
            "slice_z": {
                "formula": f"newest {args.recent_slides} slides against the window before "
                           f"them, scaled: (recent - expected) / sqrt({args.dispersion:g} "
                           f"var + 1){z_test}",
                **measure_detection(candidates["slice_z"], plan, size_ms, slide_ms,
                                    attacked)},
        },
    }


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "rising_quality",
        "command": getattr(args, "command", "python -m benchmarks.rising_quality"),
        "machine": machine(),
        "load_avg_before": [round(v, 2) for v in os.getloadavg()],
        "shape": {"window_size_s": args.window_size_s, "window_slide_s": args.window_slide_s,
                  "top_k": args.top_k, "products": args.products,
                  "categories": args.categories, "episodes": args.episodes,
                  "trends_per_episode": list(TRENDS_PER_EPISODE),
                  "bot_clicks_per_s": BOT_CLICKS_PER_S,
                  "duplicate_copies": DUPLICATE_COPIES, "z_min": args.z_min,
                  "recent_slides": args.recent_slides, "dispersion": args.dispersion},
        "goals": {"recall_within_2_slides": ">= 0.95 (trends of 3x or more)",
                  "false_discoveries_per_window_trend_free": "<= 1",
                  "bot_places": 0, "duplicate_places": 0},
        "runs": [run_rate(args, stack_env, work_dir, rate) for rate in args.rates],
    }
    report["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    return report


def run_benchmark(args: argparse.Namespace,
                  stack_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The whole measurement on a private stack, or on the one ``stack_env`` names."""
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.rising_quality", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    sys.exit(main())
