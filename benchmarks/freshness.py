"""Freshness: how long after a window ends it is visible through ``GET /trending``, and
after a burst for one product that product is in the top 10, live.

    python -m benchmarks.freshness [--rate 10000] [--windows 40] [--window-size-s 40]
        [--window-slide-s 2] [--products 1000] [--parallelism 2] [--bursts 5]
        [--profile-s 0]

On a private embedded stack (Apache Kafka, redis-server, S3 endpoint, MLflow), with the
job streaming (``python -m jobs.trending``, local Parquet files, Redis) and the API (one
uvicorn worker, default ranking cache ``api_cache_ttl_s``):

1. start the job and wait until every source task emits a watermark, start the API;
2. run the simulator on the live clock (event time = now) at ``--rate`` events/s for
   long enough to close ``--windows`` windows after a warm-up (``--warmup-s``);
3. meanwhile poll, every ``--poll-ms``, ``GET /trending?k=10`` and Redis's latest overall
   ranking (the document the API reads), and every ``--metrics-poll-ms`` (1 s) the
   job's Prometheus reporter (the least source watermark, the sink's write durations of
   the newest window);
4. per window that ended after the warm-up: the delay from its end (event time, which is
   wall time here) to its first sighting through the API, and the stages of that delay:

   - ``watermark``: window end -> the watermark passes the end (``window_end - 1``): the
     allowed out-of-orderness plus the source path (produce, fetch, watermark interval);
   - ``fire``: the watermark -> the window sink starts writing (the window fires, its
     counts are ranked in the JVM, the row reaches the Python worker). The start is the
     Parquet file's modification time less the sink's Parquet write duration;
   - ``parquet``: the sink's Parquet write (its ``write_latency_ms`` gauge);
   - ``redis``: Parquet file written -> the ranking readable in Redis (the Redis write and
     the poll interval);
   - ``api``: readable in Redis -> returned by the API (its ranking cache and the poll).

A window fired within one API cache period of the next is never the newest answer; it
counts as visible (superseded) when a window at least as new is first served, and in
Redis likewise (``served_as_newest`` says which windows were answers themselves).

Bursts (``--bursts``, 0 for none): at moments spread over the measured windows, the
benchmark produces a burst of events for one cold product (a product of the simulator's
catalog, among the least popular, absent from the newest top 10) through the simulator's
producer path (its encoder, librdkafka settings and keys), each event stamped with the live
clock. A burst holds ``--burst-share`` times the clicks, carts and purchases of the newest
answer's 10th item, so with non-negative weights its score beats that item's. Measured:
the wall time from the burst's first event to the first ``GET /trending?k=10`` answer whose
window contains the burst and whose top 10 holds the product (``burst_to_top_k_ms``), and
its two parts: waiting for the first window containing the burst to end, and that window's
own delay to the API. Baselines in the same run: the window-visibility delay above
(``ratio_burst_p50_to_window_p50``) and the goal bound (``ratio_burst_max_to_goal``).

Checks, not timed: every measured window was written to Parquet; for every one served
as the newest, the API's top 10 equal the Parquet overall ranking's first 10 rows (rank,
product, counts); and every product of that Parquet ranking
has the counts of an independent recount of the events read back from the topics
(``mismatched_counts`` should be 0); and for every burst, the burst product's counts in the
answer where it first appeared equal the recount of that window (the recount holds every
event of the burst: ``burst_counts_mismatched`` should be 0).

Baselines measured in the same run: the goal bound itself (``slide + allowed
out-of-orderness + 1 s``), to which p99 is compared (``ratio_p99_to_goal``), and a direct
Redis ``SET`` + ``GET`` round trip of a ranking document of the same size from this
process (``redis_round_trip_ms``), the floor of anything that goes through Redis.
With ``--profile-s``, the span from the first measured window is profiled
(:mod:`benchmarks.profile`). Results print as JSON, with the machine and the load average
before and after.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import statistics
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import SEED, benchmark_main, machine, percentiles, run_on_stack
from benchmarks.job_throughput import kill_group, progress, spawn
from benchmarks.live import (
    JOB_METRIC_PREFIX,
    child_env,
    dead_letter_reasons,
    interrupt_group,
    live_settings,
    metrics_url,
    parquet_dir,
    scrape,
    series,
    simulator_command,
    source_watermark,
    streaming_job,
    wait_job_running,
)
from benchmarks.profile import Profile
from trend_tracker.kafka_config import client_config
from trend_tracker.processes import free_port
from trend_tracker.settings import Settings

API_K = 10
SENT_METRIC = "trend_simulator_events_sent_total"
READ_METRIC = JOB_METRIC_PREFIX + "event_type_events_read"
#: How long the recount may read the topics back.
RECOUNT_TIMEOUT_S = 600


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.freshness",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10_000,
                        help="events per second, live (50000 for the high rate)")
    parser.add_argument("--windows", type=int, default=40, help="windows to measure")
    parser.add_argument("--window-size-s", type=int, default=40)
    parser.add_argument("--window-slide-s", type=int, default=2)
    parser.add_argument("--out-of-orderness-s", type=int, default=5)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--warmup-s", type=float, default=10,
                        help="windows ending this soon after the simulator starts are not "
                             "measured")
    parser.add_argument("--poll-ms", type=float, default=20)
    parser.add_argument("--metrics-poll-ms", type=float, default=1000,
                        help="how often to read the job's Prometheus reporter (the watermarks "
                             "and the sinks' gauges); each read renders every metric of the "
                             "job, so a short interval costs the job CPU (at 100 ms it took "
                             "a quarter of a core, and the measured p50 and p99 were 2.4x "
                             "and 1.7x those at 1 s)")
    parser.add_argument("--bursts", type=int, default=5,
                        help="bursts for one cold product each, spread over the measured "
                             "windows (0: none)")
    parser.add_argument("--burst-share", type=float, default=1.5,
                        help="a burst's counts over those of the newest answer's 10th item")
    parser.add_argument("--profile-s", type=float, default=0,
                        help="profile the job's JVM (Java Flight Recorder) and every "
                             "process of the benchmark for this many seconds from the first "
                             "measured window (0: no profile)")
    parser.add_argument("--state-dir", type=Path, default=None)
    return parser.parse_args(argv)


class Poller:
    """First sightings of each window through the API and in Redis, and samples of the
    job's metrics, from threads of this process (times are wall-clock epoch seconds)."""

    def __init__(self, settings: Settings, api_port: int, poll_s: float,
                 simulator_port: int, metrics_poll_s: float) -> None:
        self.settings = settings
        self.metrics_poll_s = metrics_poll_s
        self.simulator_port = simulator_port
        #: (time, events the simulator has sent, events the job has read) samples
        self.reads: list[tuple[float, float, float]] = []
        #: when the simulator's first events were sent (the sample before its counter
        #: left 0), epoch seconds
        self.stream_began: float | None = None
        self.api_port = api_port
        self.poll_s = poll_s
        self.api_seen: dict[int, float] = {}
        self.api_items: dict[int, list[dict[str, Any]]] = {}
        self.redis_seen: dict[int, float] = {}
        #: (time, least source watermark) samples
        self.watermarks: list[tuple[float, float]] = []
        #: window_end -> the sink's write durations sampled while it was the newest window
        self.sink_ms: dict[int, dict[str, float]] = {}
        #: product -> burst start (epoch ms) of the bursts being watched for
        self.watched: dict[str, int] = {}
        #: product -> (first seen, window_end, its item) in an answer whose window
        #: contains the burst
        self.burst_seen: dict[str, tuple[float, int, dict[str, Any]]] = {}
        #: (window_end, items) of the newest answer
        self.newest: tuple[int, list[dict[str, Any]]] = (0, [])
        self.api_errors = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._poll_outputs, daemon=True),
                        threading.Thread(target=self._poll_metrics, daemon=True)]

    def __enter__(self) -> Poller:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _poll_outputs(self) -> None:
        import redis

        from trend_tracker.redis_layout import latest_key

        client = redis.Redis.from_url(self.settings.redis_url)
        connection = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=5)
        key = latest_key(None)
        while not self.stop.is_set():
            began = time.monotonic()
            stored = client.get(key)
            now = time.time()
            if stored is not None:
                end = json.loads(stored)["window_end"]
                self.redis_seen.setdefault(end, now)
            try:
                connection.request("GET", f"/trending?k={API_K}")
                response = connection.getresponse()
                body = response.read()
                now = time.time()
                if response.status == 200:
                    answer = json.loads(body)
                    end = answer["window_end"]
                    self.newest = (end, answer["items"])
                    if end not in self.api_seen:
                        self.api_seen[end] = now
                        self.api_items[end] = answer["items"]
                        self._spot_bursts(now, end, answer["items"])
            except (OSError, http.client.HTTPException):
                self.api_errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=5)
            self.stop.wait(max(0.0, self.poll_s - (time.monotonic() - began)))
        connection.close()
        client.close()

    def _spot_bursts(self, now: float, end: int, items: list[dict[str, Any]]) -> None:
        for item in items:
            began = self.watched.get(item["product_id"])
            if began is not None and end > began and item["product_id"] not in self.burst_seen:
                self.burst_seen[item["product_id"]] = (now, end, item)

    def _poll_metrics(self) -> None:
        url = metrics_url(self.settings)
        while not self.stop.is_set():
            began = time.monotonic()
            text = scrape(url)
            now = time.time()
            if text is not None:
                watermark = source_watermark(text)
                if watermark is not None:
                    self.watermarks.append((now, watermark))
                sent_text = scrape(f"http://127.0.0.1:{self.simulator_port}/metrics", 1)
                if sent_text is not None:
                    sent = sum(series(sent_text, SENT_METRIC))
                    if sent > 0 and self.stream_began is None:
                        self.stream_began = self.reads[-1][0] if self.reads else now
                    self.reads.append((now, sent, sum(series(text, READ_METRIC))))
                newest = [1000 * end for end in series(
                    text, JOB_METRIC_PREFIX + "last_window_end_seconds")]
                if newest and max(newest) > 0:
                    latency = {
                        sink: max(series(text, JOB_METRIC_PREFIX + "sink_write_latency_ms",
                                         f'sink="{sink}"'), default=math.nan)
                        for sink in ("parquet", "redis")}
                    # The newest sample of each window wins: Parquet's gauge is set
                    # before the window counts as written, Redis's just before.
                    self.sink_ms[int(max(newest))] = latency
            self.stop.wait(max(0.0, self.metrics_poll_s - (time.monotonic() - began)))


def redis_round_trip(settings: Settings, document: bytes, rounds: int = 2000
                     ) -> dict[str, float]:
    """Baseline: ``SET`` then ``GET`` of a ranking-sized document, one client, one at a
    time; milliseconds per round trip pair."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    key = f"bench:freshness:{os.getpid()}"
    times = []
    try:
        for _ in range(rounds):
            began = time.perf_counter()
            client.set(key, document)
            if client.get(key) != document:
                raise RuntimeError("Redis returned another document")
            times.append((time.perf_counter() - began) * 1000)
        client.delete(key)
    finally:
        client.close()
    return {"rounds": rounds, "document_bytes": len(document), **percentiles(times, 3)}


class BurstInjector:
    """Bursts of events for cold products, produced the way the simulator produces: its
    catalog (same products, seed, categories and prices), its encoder's events, its
    librdkafka settings, keyed by product."""

    def __init__(self, settings: Settings, products: int, share: float) -> None:
        import numpy as np

        from simulator.encoding import EventEncoder
        from simulator.options import SimulationOptions
        from simulator.traffic import build_catalog

        options = SimulationOptions(products=products, seed=SEED)
        self.settings = settings
        self.share = share
        # The generator builds its catalog first from a generator seeded like this.
        self.catalog = build_catalog(options.products, options.categories, options.zipf_s,
                                     np.random.default_rng(SEED))
        self.encoder = EventEncoder(self.catalog, f"burst-{os.getpid()}")
        self.used: set[str] = set()
        self.seq = 0

    def cold_product(self, newest: list[dict[str, Any]]) -> int:
        """The least popular product not yet burst and absent from the newest answer."""
        shown = {item["product_id"] for item in newest}
        for index in reversed(self.catalog.by_popularity.tolist()):
            product_id = self.catalog.product_ids[index]
            if product_id not in shown and product_id not in self.used:
                return int(index)
        raise RuntimeError("no cold product left for a burst")

    def burst_counts(self, newest: list[dict[str, Any]], filled: float) -> dict[str, int]:
        """``share`` times the counts of the newest answer's K-th item, scaled up to a full
        window when the stream had filled only ``filled`` of that window (at least 1
        click): the score is linear in the counts, so with non-negative weights the burst
        alone outranks that item."""
        kth = newest[API_K - 1] if len(newest) >= API_K else {}
        counts = {kind: math.ceil(self.share * kth.get(f"{kind}s", 0) / filled)
                  for kind in ("click", "cart", "purchase")}
        counts["click"] = max(1, counts["click"])
        return counts

    def inject(self, poller: Poller, stream_began_ms: int, size_ms: int) -> dict[str, Any]:
        """One burst, watched for by ``poller``; what was sent. The stream began at
        ``stream_began_ms``: a window ending sooner than ``size_ms`` after holds less than a
        window's worth of events."""
        import orjson

        from simulator.kafka_io import DeliveryTracker, make_producer, produce
        from simulator.traffic import CART, CLICK, PURCHASE

        newest_end, newest = poller.newest
        index = self.cold_product(newest)
        product_id = self.catalog.product_ids[index]
        filled = min(1.0, max(0.05, (newest_end - stream_began_ms) / size_ms))
        counts = self.burst_counts(newest, filled)
        self.used.add(product_id)
        tracker = DeliveryTracker()
        producer = make_producer(self.settings, tracker)
        key = product_id.encode()
        codes = {"click": CLICK, "cart": CART, "purchase": PURCHASE}
        began_ms = int(time.time() * 1000)
        poller.watched[product_id] = began_ms
        for kind, n in counts.items():
            topic = self.settings.event_topics[kind]
            for _ in range(n):
                self.seq += 1
                event = self.encoder.event_dict(self.seq, int(time.time() * 1000),
                                                codes[kind], index, self.seq % 50_000,
                                                self.seq)
                produce(producer, topic, orjson.dumps(event), key)
        sent_ms = int(time.time() * 1000)
        undelivered = producer.flush(30)
        if undelivered or tracker.failed:
            raise RuntimeError(f"burst for {product_id}: {tracker.failed} failed, "
                               f"{undelivered} undelivered ({tracker.last_error})")
        return {"product_id": product_id, "began_ms": began_ms, "ended_ms": sent_ms,
                "produce_ms": sent_ms - began_ms, "events": sum(counts.values()),
                "counts": counts, "in_top_k_before": False,
                "sized_from": {"window_end": newest_end, "window_filled": round(filled, 3),
                               "kth_item": {k: newest[API_K - 1][k]
                                            for k in ("clicks", "carts", "purchases")}
                               if len(newest) >= API_K else None}}


def burst_times(ends: Sequence[int], slide_ms: int, bursts: int) -> list[float]:
    """Epoch seconds of the bursts: spread evenly (so at different points of the slide)
    over the span whose first window ends among the measured ones."""
    low, high = (ends[0] - slide_ms) / 1000, (ends[-1] - slide_ms) / 1000
    return [low + (high - low) * (i + 0.5) / bursts for i in range(bursts)]


def burst_report(bursts: list[dict[str, Any]], poller: Poller, slide_ms: int
                 ) -> list[dict[str, Any]]:
    """Each burst with its delay to the top K and its parts."""
    for burst in bursts:
        seen = poller.burst_seen.get(burst["product_id"])
        began = burst["began_ms"]
        first_end = (began // slide_ms + 1) * slide_ms
        burst["first_window_end"] = first_end
        burst["seen"] = seen is not None
        if seen is None:
            # What the product would have had to beat: the 10th item of the first window
            # served that holds the burst.
            later = sorted(end for end in poller.api_items if end > began)
            items = poller.api_items[later[0]] if later else []
            burst["first_answer_after"] = {
                "window_end": later[0] if later else None,
                "kth_item": {k: items[API_K - 1][k] for k in ("clicks", "carts", "purchases")}
                if len(items) >= API_K else None}
            continue
        at, end, item = seen
        burst.update({
            "top_k_window_end": end, "top_k_rank": item["rank"],
            "top_k_counts": {"click": item["clicks"], "cart": item["carts"],
                             "purchase": item["purchases"]},
            "delay_ms": round(at * 1000 - began),
            # The burst cannot show before a window holding it ends and is closed.
            "wait_for_window_end_ms": first_end - began,
            "after_window_end_ms": round(at * 1000 - first_end),
        })
    return bursts


def whole_ms(value: float) -> int | None:
    """Milliseconds as an int, None for a missing (NaN) figure."""
    return None if math.isnan(value) else round(value)


def first_at_or_after(seen: dict[int, float], end: int) -> float | None:
    """When a window ending at ``end`` or later was first seen."""
    return min((at for window_end, at in seen.items() if window_end >= end), default=None)


def watermark_passed(samples: Sequence[tuple[float, float]], end_ms: int) -> float | None:
    """When the watermark reached the window's last millisecond: the midpoint between the
    last sample before and the first sample after (the samples are ~100 ms apart)."""
    before = None
    for at, watermark in samples:
        if watermark >= end_ms - 1:
            return at if before is None else (before + at) / 2
        before = at
    return None


def sample_spacing_ms(samples: Sequence[tuple[float, float]]) -> float | None:
    """Median time between two metric samples (the resolution of the watermark stage)."""
    gaps = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(samples)]
    return round(statistics.median(gaps)) if gaps else None


def recount(settings: Settings, slide_ms: int, from_ms: int, to_ms: int
            ) -> tuple[dict[tuple[int, str], list[int]], int]:
    """Independent count of the events in the topics: (slice start, product) ->
    [clicks, carts, purchases], by ``json.loads`` of every record read back whose event
    time is in [from_ms, to_ms). Records produced (Kafka timestamp) more than a minute
    outside that range are skipped unparsed."""
    from confluent_kafka import Consumer, TopicPartition

    from jobs.offsets import end_offsets

    topics = list(settings.event_topics.values())
    ends = end_offsets(settings, topics, timeout_s=60)
    index = {"click": 0, "cart": 1, "purchase": 2}
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    consumer = Consumer({**client_config(settings),
                         "group.id": "bench-recount", "enable.auto.commit": False})
    remaining = {(t, p): end for t, parts in ends.items() for p, end in parts.items() if end}
    consumer.assign([TopicPartition(t, p, 0) for t, p in remaining])
    events = 0
    deadline = time.monotonic() + RECOUNT_TIMEOUT_S
    try:
        while remaining:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the recount did not reach the end of {sorted(remaining)} "
                                   f"in {RECOUNT_TIMEOUT_S} s")
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                if message.error():
                    continue
                key = (message.topic(), message.partition())
                if key not in remaining:
                    continue
                if message.offset() + 1 >= remaining[key]:
                    del remaining[key]
                produced_ms = message.timestamp()[1]
                if not from_ms - 60_000 <= produced_ms < to_ms + 60_000:
                    continue
                event = json.loads(message.value())
                ts = event["ts"]
                if from_ms <= ts < to_ms:
                    slice_ = (ts - ts % slide_ms, event["product_id"])
                    counts[slice_][index[event["event_type"]]] += 1
                    events += 1
    finally:
        consumer.close()
    return counts, events


def overall_parquet_rows(root: Path, end_ms: int) -> list[dict[str, Any]]:
    """The overall popular ranking of one window from its Parquet file, by rank (what
    ``GET /trending`` serves by default)."""
    import pyarrow.parquet as pq

    from trend_tracker.output_row import POPULAR

    paths = list(root.rglob(f"trends-{end_ms}.parquet"))
    if not paths:
        return []
    rows = pq.read_table(paths[0], partitioning=None).to_pylist()
    return sorted((r for r in rows if r["category"] is None and r["ranking"] == POPULAR),
                  key=lambda r: r["rank"])


def check_windows(settings: Settings, poller: Poller, ends: Sequence[int], size_ms: int,
                  slide_ms: int, bursts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The API's answers against Parquet, Parquet's counts against a recount, and each
    burst product's counts where it first appeared against the recount."""
    root = parquet_dir(settings)
    last = max([*ends, *(b["top_k_window_end"] for b in bursts if b["seen"])])
    counts, events = recount(settings, slide_ms, min(ends) - size_ms, last)

    def window_counts(product_id: str, end: int) -> list[int]:
        total = [0, 0, 0]
        for start in range(end - size_ms, end, slide_ms):
            for i, n in enumerate(counts.get((start, product_id), (0, 0, 0))):
                total[i] += n
        return total

    burst_mismatches = 0
    for burst in bursts:
        if not burst["seen"]:
            # Why not: the windows holding the burst whose Parquet top 10 has the product,
            # and the windows of that span the API served as the newest.
            span = range(burst["first_window_end"], burst["first_window_end"] + size_ms,
                         slide_ms)
            burst["parquet_top_k_window_ends"] = [
                end for end in span if burst["product_id"] in
                {row["product_id"] for row in overall_parquet_rows(root, end)[:API_K]}]
            burst["api_served_window_ends"] = [end for end in span if end in poller.api_seen]
            continue
        kinds = ("click", "cart", "purchase")
        recounted = window_counts(burst["product_id"], burst["top_k_window_end"])
        burst["recount"] = dict(zip(kinds, recounted, strict=True))
        # Every event of the burst was read back from the topics (the burst may straddle
        # two slices, so the first window showing the product may hold only part of it)...
        span = [0, 0, 0]
        for start in range(burst["began_ms"] - burst["began_ms"] % slide_ms,
                           burst["ended_ms"] + 1, slide_ms):
            for i, n in enumerate(counts.get((start, burst["product_id"]), (0, 0, 0))):
                span[i] += n
        burst["read_back"] = all(span[i] >= burst["counts"][k] for i, k in enumerate(kinds))
        # ...and the API served the recount of the window where the product showed.
        burst["counts_match"] = burst["recount"] == burst["top_k_counts"]
        burst_mismatches += not (burst["counts_match"] and burst["read_back"])
    api_mismatches = count_mismatches = checked = 0
    examples: list[dict[str, Any]] = []
    fields = ("rank", "product_id", "clicks", "carts", "purchases")
    for end in ends:
        rows = overall_parquet_rows(root, end)
        expected = [tuple(row[f] for f in fields) for row in rows[:API_K]]
        if not rows:
            api_mismatches += 1  # a measured window the job never wrote
        if end in poller.api_items:
            got = [tuple(item[f] for f in fields) for item in poller.api_items[end]]
            api_mismatches += expected != got
        for row in rows:
            recounted = window_counts(row["product_id"], end)
            checked += 1
            if recounted != [row["clicks"], row["carts"], row["purchases"]]:
                count_mismatches += 1
                if len(examples) < 5:
                    examples.append({"window_end": end, "product_id": row["product_id"],
                                     "parquet": [row["clicks"], row["carts"], row["purchases"]],
                                     "recount": recounted})
    return {"events_recounted": events, "windows": len(ends),
            "api_windows_differing_from_parquet": api_mismatches,
            "ranked_rows_recounted": checked, "mismatched_counts": count_mismatches,
            "bursts_checked": sum(1 for b in bursts if b["seen"]),
            "burst_counts_mismatched": burst_mismatches, "examples": examples}


def measure(args: argparse.Namespace, stack_env: dict[str, str], work_dir: Path
            ) -> dict[str, Any]:
    from localstack.servers import ApiServer
    from registry.client import ensure_default_weights
    from simulator.kafka_io import count_records, ensure_topics

    load_before = [round(v, 2) for v in os.getloadavg()]
    settings = live_settings(
        stack_env, work_dir, parallelism=args.parallelism, window_size_s=args.window_size_s,
        window_slide_s=args.window_slide_s, out_of_orderness_s=args.out_of_orderness_s,
        top_n=args.top_n)
    slide_ms, size_ms = args.window_slide_s * 1000, args.window_size_s * 1000
    lateness_ms = args.out_of_orderness_s * 1000
    ensure_default_weights(settings)
    ensure_topics(settings)
    logs = Path(settings.state_dir).parent
    logs.mkdir(parents=True, exist_ok=True)
    progress("starting the streaming job")
    job_log = logs / "job.log"
    with streaming_job(settings, job_log) as job:
        job_start_s = wait_job_running(job, settings, job_log)
        progress(f"job running after {job_start_s:.1f} s; starting the API")
        with ApiServer(settings.as_env(), log_path=logs / "api.log") as api:
            simulator_port = free_port()
            poller = Poller(settings, api.port, args.poll_ms / 1000, simulator_port,
                            args.metrics_poll_ms / 1000)
            injector = BurstInjector(settings, args.products, args.burst_share)
            bursts: list[dict[str, Any]] = []
            with poller:
                progress(f"simulating {args.rate:g} events/s on the live clock")
                sim_started = time.time()
                simulator = spawn(simulator_command(args.rate, args.products, SEED),
                                  child_env(settings.model_copy(
                                      update={"metrics_port": simulator_port})),
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                try:
                    # Warm-up: the job's last tasks (the Python worker) may start well
                    # after its sources; windows are measured from once the first window
                    # has been served, plus --warmup-s.
                    first_seen = wait_for(lambda: min(poller.api_seen.values(), default=None),
                                          job, simulator, 300, "no window served", job_log)
                    first_end = (math.floor((first_seen + args.warmup_s) * 1000 / slide_ms)
                                 + 1) * slide_ms
                    ends = [first_end + i * slide_ms for i in range(args.windows)]
                    # Events up to lateness past the last window close it.
                    stop_at = (ends[-1] + lateness_ms + slide_ms) / 1000 + 1
                    progress(f"first window served {first_seen - sim_started:.1f} s after the "
                             f"simulator started; measuring until {args.windows} more close")
                    profile = Profile(job, logs, args.profile_s) if args.profile_s else None
                    # Moments of the run, in time order: bursts, the profile's start and
                    # end (from the first measured window), the end.
                    moments = [(at, "burst") for at in
                               burst_times(ends, slide_ms, args.bursts)]
                    if profile:
                        profile_at = (ends[0] - slide_ms) / 1000
                        moments += [(profile_at, "profile"),
                                    (profile_at + args.profile_s, "profile end")]
                    moments.append((stop_at, "stop"))
                    for at, what in sorted(moments):
                        wait_for(lambda at=at: time.time() >= at or None, job, simulator,
                                 at - time.time() + 60, "the simulator stopped early", job_log)
                        if what == "burst":
                            began = poller.stream_began or sim_started
                            bursts.append(injector.inject(poller, int(began * 1000), size_ms))
                            progress(f"burst of {bursts[-1]['events']} events for "
                                     f"{bursts[-1]['product_id']}")
                        elif what == "profile":
                            profile.start()
                        elif what == "profile end":
                            profile.stop()
                    sim_stopped = time.time()
                    interrupt_group(simulator)
                    out, err = simulator.communicate(timeout=60)
                finally:
                    kill_group(simulator)
                if not out.strip():
                    raise RuntimeError(f"the simulator failed:\n{err[-3000:]}")
                simulated = json.loads(out.strip().splitlines()[-1])
                # Wait for the last measured window to show (or give up).
                deadline = time.monotonic() + 60
                while (ends[-1] not in poller.api_seen
                       or any(b["product_id"] not in poller.burst_seen for b in bursts)) \
                        and time.monotonic() < deadline:
                    if job.poll() is not None:
                        raise RuntimeError(f"the job exited; see {job_log}")
                    time.sleep(0.2)
            if not redis_latest(settings):
                raise RuntimeError("no ranking in Redis")
            baseline = redis_round_trip(settings, redis_latest(settings))
        topic = settings.topic_dead_letters
        dead_letters = count_records(settings, topic)
    reasons = dead_letter_reasons(settings) if dead_letters else {}
    progress("checking the windows against Parquet and a recount of the events")
    bursts = burst_report(bursts, poller, slide_ms)
    check = check_windows(settings, poller, ends, size_ms, slide_ms, bursts)
    windows = []
    root = parquet_dir(settings)
    for end in ends:
        # A window fired in the same API cache period as the next one is never the newest
        # answer: it is visible (superseded) once a window at least as new is served.
        api_at = first_at_or_after(poller.api_seen, end)
        if api_at is None:
            windows.append({"window_end": end, "seen": False})
            continue
        paths = list(root.rglob(f"trends-{end}.parquet"))
        parquet_at = paths[0].stat().st_mtime_ns / 1e9 if paths else math.nan
        sink = poller.sink_ms.get(end, {"parquet": math.nan, "redis": math.nan})
        wm_at = watermark_passed(poller.watermarks, end)
        redis_at = first_at_or_after(poller.redis_seen, end) or math.nan
        sink_start = parquet_at - sink["parquet"] / 1000
        # A stage whose sample is missing (a window written in a burst between two metric
        # samples has no gauge reading of its own) is None.
        windows.append({
            "window_end": end, "seen": True, "served_as_newest": end in poller.api_seen,
            "total_ms": round(api_at * 1000 - end),
            "watermark_ms": whole_ms(wm_at * 1000 - end) if wm_at else None,
            "fire_ms": whole_ms((sink_start - wm_at) * 1000) if wm_at else None,
            "parquet_ms": whole_ms(sink["parquet"]), "redis_write_ms": whole_ms(sink["redis"]),
            "redis_ms": whole_ms((redis_at - parquet_at) * 1000),
            "api_ms": whole_ms((api_at - redis_at) * 1000),
        })
    seen = [w for w in windows if w["seen"]]
    if not seen:
        raise RuntimeError(f"no measured window was seen through the API; see {job_log}")
    goal_ms = (args.window_slide_s + args.out_of_orderness_s + 1) * 1000
    totals = percentiles([w["total_ms"] for w in seen])
    stages = {name: percentiles([w[name] for w in seen if w[name] is not None])
              if any(w[name] is not None for w in seen) else None
              for name in ("watermark_ms", "fire_ms", "parquet_ms", "redis_write_ms",
                           "redis_ms", "api_ms")}
    # How far the watermark trails the wall clock beyond the allowed out-of-orderness:
    # the source path (producing, fetching, the periodic watermark).
    steady = [at * 1000 - wm - lateness_ms for at, wm in poller.watermarks
              if ends[0] / 1000 - args.window_slide_s <= at <= sim_stopped]
    # How far the job's reading trails the simulator's sending (events), in the same span.
    lag = [sent - read for at, sent, read in poller.reads
           if ends[0] / 1000 - args.window_slide_s <= at <= sim_stopped]
    burst_delays = [b["delay_ms"] for b in bursts if b["seen"]]
    burst_figures = percentiles(burst_delays) if burst_delays else None
    return {
        "benchmark": "freshness",
        "command": args.command,
        "machine": machine(),
        "load_avg_before": load_before,
        "shape": {"rate": args.rate, "window_size_s": args.window_size_s,
                  "window_slide_s": args.window_slide_s,
                  "out_of_orderness_s": args.out_of_orderness_s, "products": args.products,
                  "top_n": args.top_n, "parallelism": args.parallelism,
                  "api_cache_ttl_s": settings.api_cache_ttl_s, "poll_ms": args.poll_ms,
                  "metrics_interval_ms": args.metrics_poll_ms,
                  "metrics_samples_apart_ms": sample_spacing_ms(poller.watermarks)},
        "simulator": {"sent": simulated["sent"], "failed": simulated["failed"],
                      "rate": round(simulated["rate"]), "elapsed_s": round(
                          simulated["elapsed_s"], 1)},
        "job_start_s": round(job_start_s, 1),
        "windows_measured": len(ends),
        "windows_seen": len(seen),
        "windows_served_as_newest": sum(1 for w in seen if w["served_as_newest"]),
        "freshness_ms": totals,
        "goal_ms": goal_ms,
        "goal_met": totals["p99"] <= goal_ms and len(seen) == len(ends),
        "ratio_p99_to_goal": round(totals["p99"] / goal_ms, 3),
        "stages_ms": stages,
        "watermark_behind_wall_beyond_lateness_ms": percentiles(steady) if steady else None,
        "job_read_lag_events": percentiles(lag) if lag else None,
        "job_read_lag_s_at_rate": round(statistics.median(lag) / simulated["rate"], 1)
        if lag else None,
        "bursts_injected": len(bursts),
        "bursts_seen": len(burst_delays),
        "burst_to_top_k_ms": burst_figures,
        "burst_wait_for_window_end_ms": percentiles(
            [b["wait_for_window_end_ms"] for b in bursts if b["seen"]]) if burst_delays
        else None,
        "burst_after_window_end_ms": percentiles(
            [b["after_window_end_ms"] for b in bursts if b["seen"]]) if burst_delays
        else None,
        "ratio_burst_p50_to_window_p50": round(burst_figures["p50"] / totals["p50"], 3)
        if burst_figures else None,
        "ratio_burst_max_to_goal": round(burst_figures["max"] / goal_ms, 3)
        if burst_figures else None,
        "bursts": bursts,
        "profile": profile.summary() if profile else None,
        "redis_round_trip_ms": baseline,
        "ratio_p50_to_redis_round_trip": round(totals["p50"] / baseline["p50"], 1),
        "api_errors": poller.api_errors,
        "dead_letters": dead_letters,
        "dead_letter_reasons": reasons,
        "check": check,
        "windows": windows,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def redis_latest(settings: Settings) -> bytes | None:
    import redis

    from trend_tracker.redis_layout import latest_key

    client = redis.Redis.from_url(settings.redis_url)
    try:
        return client.get(latest_key(None))
    finally:
        client.close()


def wait_for(check: Callable[[], Any], job: subprocess.Popen, simulator: subprocess.Popen,
             timeout_s: float, what: str, job_log: Path) -> Any:
    """Poll ``check`` until it returns something other than None, while the job and the
    simulator run."""
    deadline = time.monotonic() + timeout_s
    while (value := check()) is None:
        if job.poll() is not None:
            raise RuntimeError(f"the job exited ({job.returncode}); see {job_log}")
        if simulator.poll() is not None:
            raise RuntimeError(f"{what}: the simulator exited ({simulator.returncode}):\n"
                               f"{simulator.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} after {timeout_s:.0f} s; see {job_log}")
        time.sleep(0.05)
    return value


def run_benchmark(args: argparse.Namespace, stack_env: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The whole measurement on a private stack, or on the running one ``stack_env`` names."""
    args.command = getattr(args, "command", "python -m benchmarks.freshness")
    return run_on_stack(measure, args, stack_env)


def main(argv: Sequence[str] | None = None) -> int:
    return benchmark_main("benchmarks.freshness", parse_args, run_benchmark, argv)


if __name__ == "__main__":
    raise SystemExit(main())
