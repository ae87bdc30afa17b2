"""Schemathesis, driven by the OpenAPI spec, finds no server error in the live API.

A real uvicorn serves the API over a real redis-server holding rankings written by the
job's Redis sink; every check schemathesis has runs against every operation.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

from localstack.servers import ApiServer, RedisServer
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

SLIDE_MS = 30_000


def test_schemathesis_finds_no_failure(artifacts_dir, tmp_path):
    end = time.time_ns() // 1_000_000 // SLIDE_MS * SLIDE_MS
    # Both kinds of ranking; previous ranks null for some items, momentum above and below 1.
    items = tuple(RankedItem(rank=r, product_id=f"p{r}", score=100.0 - r, clicks=100 - r,
                             carts=r % 3, purchases=r % 2,
                             previous_rank=None if r % 4 == 0 else 21 - r,
                             momentum=r / 4) for r in range(1, 21))
    rankings = [Ranking(window_start=end - w * SLIDE_MS - 600_000,
                        window_end=end - w * SLIDE_MS, category=category,
                        weights_version="v1", items=items, ranking=kind)
                for w in range(3) for category in (None, "0", "books")
                for kind in ("popular", "rising")]
    # The windows the rising ones compare with have rankings (else rising is building
    # history: a 503 by design, which the schema check counts as a server error).
    rankings += [Ranking(window_start=end - w * SLIDE_MS - 1_200_000,
                         window_end=end - w * SLIDE_MS - 600_000, category=None,
                         weights_version="v1", items=items) for w in range(3)]
    report = artifacts_dir / "schemathesis-junit.xml"
    with RedisServer() as redis_server:
        RedisRankingWriter(redis.Redis.from_url(redis_server.url), ttl_s=3600).write(rankings)
        env = {"TREND_REDIS_URL": redis_server.url, "TREND_TOP_N": "20"}
        with ApiServer(env, log_path=tmp_path / "api.log") as api:
            result = subprocess.run(
                [str(Path(sys.executable).parent / "st"), "run", f"{api.url}/openapi.json",
                 "--checks", "all", "--max-examples", "40", "--seed", "20240601",
                 "--generation-database", "none", "--no-color",
                 "--report", "junit", "--report-junit-path", str(report)],
                check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
    assert "Operations:       6 selected / 6 total" in result.stdout
