"""A Redis outage: the window sink keeps windows pending and writes them when Redis is back.

Against a private redis-server that these tests stop and start again (the shared test
Redis is left alone). The job test runs the job streaming in its own process and checks
that Parquet carries on, the job never restarts, and the newest window reaches Redis.
"""

from __future__ import annotations

import json

import pytest
import redis

from localstack.servers import RedisServer
from trend_tracker import redis_layout as layout
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter
from udfs.redis_view import PendingRankings, RedisView

W = 1_704_067_200_000
SLIDE = 10_000


def window(n: int, *categories: str) -> list[Ranking]:
    end = W + n * SLIDE
    return [Ranking(end - 60_000, end, category, "v1",
                    (RankedItem(1, f"p-{n}", float(n), n, 0, 0),))
            for category in (None, *categories)]


@pytest.fixture
def server():
    with RedisServer() as server:
        yield server


def test_windows_wait_while_redis_is_down_and_the_newest_reach_it_when_it_is_back(server):
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=2)
    now = [0.0]
    view = RedisView(RedisRankingWriter(client, ttl_s=3600, max_categories=10),
                     PendingRankings(max_windows=2, max_scopes=11), retry_interval_s=5,
                     clock=lambda: now[0], backoff_s=0.01)
    assert view.write(window(1, "a", "b"))
    assert len(view.pending) == 0

    server.stop()
    assert not view.write(window(2, "a"))  # tried (with retries) and failed: pending
    assert not view.available and len(view.pending) == 1

    server.start()  # the same port, empty: nothing is persisted
    now[0] = 1.0
    # Redis is known down and the retry interval has not passed: not even tried.
    assert not view.write(window(3, "b"))
    assert client.dbsize() == 0

    now[0] = 6.0
    assert view.write(window(4, "c"))
    assert view.available and len(view.pending) == 0
    # Kept while down: windows 3 and 4 whole, and of window 2 only scope a's ranking (the
    # newest of that scope); window 2's overall ranking was superseded.
    assert sorted(k.decode() for k in client.keys("trend:r:*")) == sorted([
        layout.ranking_key("a", W + 2 * SLIDE), layout.ranking_key(None, W + 3 * SLIDE),
        layout.ranking_key("b", W + 3 * SLIDE), layout.ranking_key(None, W + 4 * SLIDE),
        layout.ranking_key("c", W + 4 * SLIDE)])
    latest = {scope: json.loads(client.get(layout.latest_key(scope)))["window_end"]
              for scope in (None, "a", "b", "c")}
    assert latest == {None: W + 4 * SLIDE, "a": W + 2 * SLIDE, "b": W + 3 * SLIDE,
                      "c": W + 4 * SLIDE}
    assert client.zrange(layout.CATEGORIES_KEY, 0, -1, withscores=True) == [
        (b"a", W + 2 * SLIDE), (b"b", W + 3 * SLIDE), (b"c", W + 4 * SLIDE)]


def test_a_redis_that_never_answers_times_out_and_the_windows_wait_for_it(server):
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=0.3)
    now = [0.0]
    view = RedisView(RedisRankingWriter(client, ttl_s=3600), PendingRankings(3, 10),
                     retry_interval_s=5, clock=lambda: now[0], backoff_s=0.01)
    server.pause()  # connections are accepted, nothing answers: reads time out
    try:
        assert not view.write(window(1))
        for n in range(2, 6):
            now[0] += 1.0
            assert not view.write(window(n))  # within the retry interval: no attempt
        assert len(view.pending) == 3
    finally:
        server.resume()
    now[0] += 1.0  # 5 s after the failure: tried again, Redis answers
    assert view.write(window(6))
    assert json.loads(client.get(layout.latest_key(None)))["window_end"] == W + 6 * SLIDE
    ends = {int(k.decode().rsplit(":", 1)[1]) for k in client.keys("trend:r:*")}
    # The newest three windows were pending; the paused server may still run the
    # transaction of window 1 that reached it before the client gave up (a rewrite of the
    # same keys, harmless).
    assert ends - {W + SLIDE} == {W + 4 * SLIDE, W + 5 * SLIDE, W + 6 * SLIDE}


def test_a_window_redis_refuses_is_counted_and_skipped_and_never_holds_back_newer_ones(
        server):
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=2)
    now = [0.0]
    refusals = []
    view = RedisView(RedisRankingWriter(client, ttl_s=3600), PendingRankings(3, 10),
                     retry_interval_s=5, clock=lambda: now[0], backoff_s=0.01,
                     on_refused=lambda: refusals.append(now[0]))

    def latest_end() -> int:
        return json.loads(client.get(layout.latest_key(None)))["window_end"]

    assert view.write(window(1))

    # WRONGTYPE: the oldest pending window meets a key something else wrote as a list.
    server.stop()
    assert not view.write(window(2))
    server.start()
    client.rpush(layout.product_key("p-2"), "not a history")
    now[0] = 6.0
    assert not view.write(window(3))  # window 2 refused, window 3 written after it
    assert refusals == [6.0]
    assert view.available and len(view.pending) == 0
    assert latest_end() == W + 3 * SLIDE
    assert client.lrange(layout.product_key("p-2"), 0, -1) == [b"not a history"]

    # OOM: Redis at its memory limit with no eviction refuses the window; the next one,
    # after the limit is lifted, is written.
    client.config_set("maxmemory", 1)
    now[0] = 7.0
    assert not view.write(window(4))
    client.config_set("maxmemory", 0)
    now[0] = 8.0
    assert view.write(window(5))
    assert refusals == [6.0, 7.0]
    assert latest_end() == W + 5 * SLIDE
    assert not client.exists(layout.ranking_key(None, W + 4 * SLIDE))

    # NOPERM: the job's Redis user lost a command it needs.
    client.acl_setuser("sink", enabled=True, passwords=["+sink-secret"], keys=["*"],
                       channels=["*"], commands=["+@all", "-zadd"])
    sink = redis.Redis.from_url(server.url, username="sink", password="sink-secret",
                                socket_connect_timeout=0.5, socket_timeout=2)
    view.writer = RedisRankingWriter(sink, ttl_s=3600)
    now[0] = 9.0
    assert not view.write(window(6))
    client.acl_setuser("sink", commands=["+zadd"])
    now[0] = 10.0
    assert view.write(window(7))
    assert refusals == [6.0, 7.0, 9.0]
    assert view.available and len(view.pending) == 0
    assert latest_end() == W + 7 * SLIDE


# --- the job through a Redis outage -----------------------------------------------------

RESTARTS_METRIC = "flink_jobmanager_job_numRestarts"
REDIS_FAILURES_METRIC = "flink_taskmanager_job_task_operator_trend_sink_write_failures"
VERSION = "test/1"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z; windows of 10 s


def job_metric(metrics_url: str, metric: str, label: str = "") -> float | None:
    """The sum of a job metric's series carrying ``label``; None before any is exported."""
    import urllib.request

    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(metric + "{") and label in line]
    return sum(values) if values else None


#: The rising ranking's default settings: no score here reaches the least score (so the
#: windows have no rising ranking), and no product of a window was in the previous one.
RISING_PRIOR = RISING_MIN_SCORE = 10.0


def window_rows(end_offset_ms: int, ranked: list[tuple]) -> list[dict]:
    """The Parquet rows of one 10 s window: (product_id, score, clicks, carts, purchases)
    in rank order, the same for the overall ranking and the one category."""
    assert all(score < RISING_MIN_SCORE for _, score, *_ in ranked)
    return [{"window_start": T0 + end_offset_ms - 10_000, "window_end": T0 + end_offset_ms,
             "ranking": "popular", "category": category, "rank": rank, "product_id": product,
             "score": score, "clicks": clicks, "carts": carts, "purchases": purchases,
             "previous_rank": None, "momentum": (score + RISING_PRIOR) / RISING_PRIOR,
             "weights_version": VERSION}
            for category in (None, "gadgets")
            for rank, (product, score, clicks, carts, purchases) in enumerate(ranked, 1)]


def parquet_rows(root, end_offset_ms: int) -> list[dict] | None:
    import pyarrow.parquet as pq

    path = root / "date=2024-01-01" / "hour=00" / f"trends-{T0 + end_offset_ms}.parquet"
    if not path.exists():
        return None
    rows = pq.read_table(path, partitioning=None).to_pylist()
    for row in rows:
        row["window_start"] = int(row["window_start"].timestamp() * 1000)
        row["window_end"] = int(row["window_end"].timestamp() * 1000)
    return rows


def ranking_document(rows: list[dict], category: str | None) -> dict:
    members = [r for r in rows if r["category"] == category]
    return {"window_start": members[0]["window_start"], "window_end": members[0]["window_end"],
            "ranking": "popular", "category": category, "weights_version": VERSION,
            "items": [{k: r[k] for k in ("rank", "product_id", "score", "clicks", "carts",
                                         "purchases", "previous_rank", "momentum")}
                      for r in members]}


@pytest.mark.slow
def test_the_job_keeps_writing_parquet_and_dead_letters_through_a_redis_outage(
        make_settings, server, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from confluent_kafka import Producer
    from streaming_job import committed_dead_letters
    from test_job_weights import advance_to, produce
    from test_registry import wait_until

    from localstack.stack import free_port
    from simulator.kafka_io import ensure_topics

    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps({"click": 1, "cart": 3, "purchase": 5,
                                        "version": VERSION}))
    metrics_port = free_port()
    settings = make_settings(
        weights_file=weights_file, window_size_s=10, window_slide_s=10, top_n=5,
        out_of_orderness_s=1, source_idle_timeout_s=60, topic_partitions=1, parallelism=1,
        checkpoint_interval_s=5, flink_metrics_port=metrics_port, redis_url=server.url,
        redis_connect_timeout_s=0.5, redis_write_timeout_s=2, redis_retry_interval_s=1)
    ensure_topics(settings, partitions=1)
    root = Path(settings.parquet_root[len("file://"):])
    client = redis.Redis.from_url(server.url, socket_timeout=5)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    log_path, flink_logs = tmp_path / "job.log", tmp_path / "flink-log"
    with open(log_path, "wb") as log:
        job = subprocess.Popen([sys.executable, "-m", "jobs.trending"],
                               env={**os.environ, **settings.as_env(),
                                    "FLINK_LOG_DIR": str(flink_logs)},
                               stdout=log, stderr=subprocess.STDOUT,
                               cwd=Path(__file__).parents[2], start_new_session=True)

    def flink_log() -> str:
        return "".join(p.read_text(errors="replace") for p in flink_logs.glob("*.log"))

    def diagnosis() -> str:
        lines = [line for line in flink_log().splitlines()
                 if "ERROR" in line or "Redis" in line or "Exception" in line]
        return log_path.read_text()[-3000:] + "\n".join(lines[-40:])

    def window(end_offset_ms: int, timeout_s: float = 180) -> list[dict]:
        found = wait_until(lambda: parquet_rows(root, end_offset_ms) is not None
                           or job.poll() is not None, timeout_s, 0.2)
        assert job.poll() is None, diagnosis()
        assert found, f"window {T0 + end_offset_ms} not written:\n{diagnosis()}"
        return sorted(parquet_rows(root, end_offset_ms),
                      key=lambda r: (r["category"] is not None, r["rank"]))

    try:
        # Window A [0 s, 10 s): p-1 clicked twice -> 2 (click 1, cart 3, purchase 5).
        produce(settings, [(1_000, "click", "p-1"), (2_000, "click", "p-1")])
        advance_to(settings, 12_000, "p-9")
        rows_a = window(10_000, timeout_s=420)
        assert rows_a == window_rows(10_000, [("p-1", 2.0, 2, 0, 0)])
        assert wait_until(lambda: client.exists(layout.latest_key(None)), 30)

        server.stop()
        # Window B [10 s, 20 s): p-9 (click, cart, purchase at 12 s) 9; p-2 cart + click 4.
        produce(settings, [(14_000, "cart", "p-2"), (15_000, "click", "p-2")])
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
        producer.produce(settings.topic_clicks, value=b"not json during the outage")
        assert producer.flush(30) == 0
        advance_to(settings, 22_000, "p-8")
        rows_b = window(20_000)
        assert rows_b == window_rows(20_000, [("p-9", 9.0, 1, 1, 1), ("p-2", 4.0, 1, 1, 0)])
        # Window C [20 s, 30 s): p-8 9; p-3 purchase 5.
        produce(settings, [(25_000, "purchase", "p-3")])
        advance_to(settings, 32_000, "p-7")
        rows_c = window(30_000)
        assert rows_c == window_rows(30_000, [("p-8", 9.0, 1, 1, 1), ("p-3", 5.0, 0, 0, 1)])

        # The dead letters carried on too.
        dead = [json.loads(r.value) for r in committed_dead_letters(settings, at_least=1)]
        assert [(d["payload"], d["reason"]) for d in dead] == [
            ("not json during the outage", "not_json")]
        # Both windows of the outage are counted as Redis write failures, and logged.
        assert wait_until(lambda: job_metric(metrics_url, REDIS_FAILURES_METRIC,
                                             'sink="redis"') == 2.0, 60, 0.5), diagnosis()
        assert wait_until(lambda: "Redis unavailable" in flink_log(), 30), diagnosis()

        # Redis comes back (empty: nothing is persisted). Window D [30 s, 40 s): p-7 9;
        # p-4 click 1. It reaches Redis, after the pending windows B and C.
        server.start()
        produce(settings, [(35_000, "click", "p-4")])
        advance_to(settings, 42_000, "p-6")
        rows_d = window(40_000)
        assert rows_d == window_rows(40_000, [("p-7", 9.0, 1, 1, 1), ("p-4", 1.0, 1, 0, 0)])

        def latest_end() -> int | None:
            stored = client.get(layout.latest_key(None))
            return json.loads(stored)["window_end"] if stored else None

        assert wait_until(lambda: latest_end() == T0 + 40_000, 60, 0.2), diagnosis()
        for rows in (rows_b, rows_c, rows_d):
            end = rows[0]["window_end"]
            for category in (None, "gadgets"):
                assert json.loads(client.get(layout.ranking_key(category, end))) == (
                    ranking_document(rows, category))
        assert json.loads(client.get(layout.latest_key("gadgets"))) == ranking_document(
            rows_d, "gadgets")
        assert client.zrange(layout.CATEGORIES_KEY, 0, -1, withscores=True) == [
            (b"gadgets", T0 + 40_000)]

        # The job never failed or restarted because of Redis.
        assert job.poll() is None
        assert job_metric(metrics_url, RESTARTS_METRIC) == 0.0
        assert "RESTARTING" not in flink_log()
        assert job_metric(metrics_url, REDIS_FAILURES_METRIC, 'sink="redis"') == 2.0
        assert job_metric(metrics_url, REDIS_FAILURES_METRIC, 'sink="parquet"') == 0.0
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(10)
