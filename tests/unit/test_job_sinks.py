"""The job's window sink logic and Parquet writer, without Flink or servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from udfs.parquet_sink import OUTPUT_COLUMNS, ParquetWindowWriter, window_file_path
from udfs.redis_sink import rankings_from_rows
from udfs.window_sink import window_rows, with_retries

END = 1_704_070_810_000  # 2024-01-01T01:00:10Z
START = END - 60_000


def ranked(category, rank, product_id, score, ranking="popular", previous_rank=None,
           momentum=1.0):
    return (ranking, category, rank, product_id, score, 1, 2, 3, previous_rank, momentum)


def test_window_rows_carry_the_output_columns_with_epoch_ms_times():
    # Flink hands TIMESTAMP(3) values over as naive datetimes, in UTC for this job.
    rows = window_rows(datetime(2024, 1, 1, 0, 59, 10), datetime(2024, 1, 1, 1, 0, 10),
                       [ranked(None, 1, "p-1", 7)], "v1")
    assert rows == [{"window_start": START, "window_end": END, "ranking": "popular",
                     "category": None, "rank": 1,
                     "product_id": "p-1", "score": 7.0, "clicks": 1, "carts": 2,
                     "purchases": 3, "previous_rank": None, "momentum": 1.0,
                     "weights_version": "v1"}]
    assert list(rows[0]) == list(OUTPUT_COLUMNS)


def test_file_path_is_partitioned_by_window_end_hour():
    assert window_file_path(END) == f"date=2024-01-01/hour=01/trends-{END}.parquet"
    assert window_file_path(1_704_153_599_999) == (
        "date=2024-01-01/hour=23/trends-1704153599999.parquet")


def test_parquet_writer_writes_sorted_rows_and_a_replay_overwrites(tmp_path):
    writer = ParquetWindowWriter(f"file://{tmp_path}")
    rows = window_rows(START, END, [ranked("toys", 1, "p-3", 2.0), ranked(None, 2, "p-2", 3.0),
                                    ranked(None, 1, "p-1", 5.0), ranked("books", 1, "p-1", 5.0)],
                       "v1")
    path = writer.write_window(END, rows)
    assert path == f"{tmp_path}/date=2024-01-01/hour=01/trends-{END}.parquet"
    writer.write_window(END, rows)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"date=2024-01-01/hour=01/trends-{END}.parquet"]
    table = pq.read_table(path, partitioning=None)
    assert table.column_names == list(OUTPUT_COLUMNS)
    assert str(table.schema.field("window_end").type) == "timestamp[ms, tz=UTC]"
    got = table.to_pylist()
    assert [(r["category"], r["rank"], r["product_id"]) for r in got] == [
        (None, 1, "p-1"), (None, 2, "p-2"), ("books", 1, "p-1"), ("toys", 1, "p-3")]
    assert got[0]["window_end"] == datetime.fromtimestamp(END / 1000, tz=UTC)


def test_the_rising_rankings_follow_the_popular_ones_in_the_window_file(tmp_path):
    writer = ParquetWindowWriter(f"file://{tmp_path}")
    rows = window_rows(START, END, [
        ranked("toys", 1, "p-3", 2.0, "rising", None, 3.5), ranked(None, 1, "p-1", 5.0),
        ranked(None, 1, "p-3", 2.0, "rising", 4, 3.5), ranked("toys", 1, "p-1", 5.0, "popular", 1)],
        "v1")
    table = pq.read_table(writer.write_window(END, rows), partitioning=None)
    assert [(r["ranking"], r["category"], r["rank"], r["product_id"], r["previous_rank"],
             r["momentum"]) for r in table.to_pylist()] == [
        ("popular", None, 1, "p-1", None, 1.0), ("popular", "toys", 1, "p-1", 1, 1.0),
        ("rising", None, 1, "p-3", 4, 3.5), ("rising", "toys", 1, "p-3", None, 3.5)]


def test_rankings_of_a_window_are_grouped_and_carry_the_window_weights_version():
    # A window is scored with one weights version (the Java ranking pins it in its
    # state), so no ranking can mix versions: every row carries the window's version.
    rows = window_rows(START, END, [
        ranked(None, 2, "p-2", 3.0), ranked(None, 1, "p-1", 5.0),
        ranked("toys", 1, "p-3", 2.0), ranked("toys", 2, "p-4", 1.0)], "v2")
    rankings = rankings_from_rows(rows)
    assert [(r.category, r.weights_version, [i.product_id for i in r.items])
            for r in rankings] == [(None, "v2", ["p-1", "p-2"]), ("toys", "v2", ["p-3", "p-4"])]


def test_with_retries_retries_then_raises_the_last_error():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("down")
        return "ok"

    assert with_retries(flaky, attempts=3, backoff_s=0) == "ok"
    assert len(attempts) == 3
    attempts.clear()
    with pytest.raises(ConnectionError):
        with_retries(flaky, attempts=2, backoff_s=0)
    assert len(attempts) == 2
