"""`trend tail` against the real local broker: from the beginning it stops at the end of the
topic (the end found by reading, since the broker under-reports it after batched writes),
says when it found nothing, and with --follow keeps waiting for new records."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from typer.testing import CliRunner

from simulator.kafka_io import ensure_topics, event_record, send_records
from simulator.tail import tail_lines
from trend_tracker.cli import app

TREND = Path(sys.executable).parent / "trend"
#: partition:offset key=... [status] {json}
LINE = re.compile(r"^(\d+):(\d+) key=(\S+) \[(\w+)\] (\{.*\})$")


def click(n: int) -> dict:
    return {"event_id": f"e-{n}", "event_type": "click", "product_id": f"p-{n % 30}",
            "category": "books", "user_id": "u-1", "ts": int(time.time() * 1000)}


def event_ids(output: str) -> list[str]:
    """The event ids of the record lines, in the order printed."""
    ids = []
    for line in output.splitlines():
        match = LINE.match(line)
        assert match, line
        assert match.group(4) == "ok", line
        ids.append(orjson.loads(match.group(5))["event_id"])
    return ids


def test_from_the_beginning_tail_stops_at_the_end_of_the_topic(make_settings):
    settings = make_settings()
    ensure_topics(settings, partitions=2)
    # Batched writes (librdkafka batches whatever is queued within 1 ms): the case where
    # the local broker reports an end short of the last record.
    sent = [f"e-{n}" for n in range(300)]
    assert send_records(settings, [event_record(settings, click(n)) for n in range(300)]) == 300

    started = time.monotonic()
    # --idle-timeout only keeps a regression from hanging the test: tail must stop at the
    # end, and say so, well before it.
    result = CliRunner().invoke(app, ["tail", "clicks", "--from-beginning",
                                      "--idle-timeout", "30"], env=settings.as_env())
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert sorted(event_ids(result.stdout)) == sorted(sent)
    assert result.stderr == f"trend tail: 300 records in {settings.topic_clicks}, end of topic\n"
    assert elapsed < 20


def test_tail_says_when_it_found_nothing(make_settings):
    settings = make_settings()
    ensure_topics(settings, partitions=2)
    result = CliRunner().invoke(app, ["tail", "carts", "--from-beginning", "--idle-timeout",
                                      "30"], env=settings.as_env())
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"trend tail: no records in {settings.topic_carts}, end of topic\n"

    # Following from the end, nothing arrives before the idle timeout.
    result = CliRunner().invoke(app, ["tail", "purchases", "--idle-timeout", "1"],
                                env=settings.as_env())
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (f"trend tail: no records in {settings.topic_purchases} since "
                             "tail started (1 s without one)\n")


def test_follow_keeps_waiting_at_the_end(make_settings, tmp_path):
    settings = make_settings()
    ensure_topics(settings, partitions=2)
    send_records(settings, [event_record(settings, click(n)) for n in range(50)])

    # The generator: past the end it waits, and yields what is written afterwards.
    lines = tail_lines(settings, "clicks", from_beginning=True)
    first = [next(lines) for _ in range(50)]
    send_records(settings, [event_record(settings, click(n)) for n in range(50, 60)])
    later = [next(lines) for _ in range(10)]
    lines.close()
    details = [orjson.loads(line.detail)["event_id"] for line in first + later]
    assert sorted(details[:50]) == sorted(f"e-{n}" for n in range(50))
    assert sorted(details[50:]) == sorted(f"e-{n}" for n in range(50, 60))

    # The command: with --follow it is still running after the end, and prints new records.
    out = tmp_path / "tail.out"
    with open(out, "wb") as stdout:
        tail = subprocess.Popen([str(TREND), "tail", "clicks", "--from-beginning", "--follow"],
                                env={**os.environ, **settings.as_env()}, stdout=stdout,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def printed() -> list[str]:
            return event_ids(out.read_text()) if out.read_text().endswith("\n") else []

        deadline = time.monotonic() + 60
        while len(printed()) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(printed()) == 60, out.read_text()
        time.sleep(2)  # well past the end of every partition
        assert tail.poll() is None, out.read_text()
        send_records(settings, [event_record(settings, click(n)) for n in range(60, 65)])
        deadline = time.monotonic() + 30
        while len(printed()) < 65 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(printed()[60:]) == [f"e-{n}" for n in range(60, 65)]
        assert tail.poll() is None
    finally:
        os.killpg(tail.pid, signal.SIGINT)
        tail.wait(30)
    assert "end of topic" not in out.read_text()
