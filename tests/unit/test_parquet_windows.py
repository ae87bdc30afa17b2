"""Reading back the windows the Parquet sink wrote (local files, no servers)."""

from __future__ import annotations

from udfs.parquet_sink import ParquetWindowReader, ParquetWindowWriter

# 2024-01-01T23:59:50.123Z, 2024-01-02T00:00:00Z, 00:00:10Z and 01:00:00Z
ENDS = [1_704_153_590_123, 1_704_153_600_000, 1_704_153_610_000, 1_704_157_200_000]


def rows(end: int) -> list[dict]:
    return [{"window_start": end - 60_000, "window_end": end, "ranking": "popular",
             "category": category, "rank": 1, "product_id": "p-1", "score": 2.5, "clicks": 1,
             "carts": 0, "purchases": 0, "previous_rank": None, "momentum": 1.25,
             "weights_version": "v1"} for category in ("toys", None)]


def test_window_ends_are_listed_oldest_first_from_a_time_on(tmp_path):
    writer = ParquetWindowWriter(f"file://{tmp_path}")
    for end in reversed(ENDS):
        writer.write_window(end, rows(end))
    (tmp_path / "date=2024-01-02" / "hour=00" / "notes.txt").write_text("not a window")
    (tmp_path / "date=2024-01-02" / "hour=00" / ".abc.tmp").write_text("half a file")
    reader = ParquetWindowReader(f"file://{tmp_path}")
    assert reader.window_ends() == ENDS
    assert reader.window_ends(since_ms=ENDS[1]) == ENDS[1:]
    assert reader.window_ends(since_ms=ENDS[1] + 1) == ENDS[2:]
    assert reader.window_ends(since_ms=ENDS[3] + 1) == []
    assert ParquetWindowReader(f"file://{tmp_path / 'nothing-yet'}").window_ends() == []


def test_a_window_reads_back_as_the_rows_written_in_file_order(tmp_path):
    ParquetWindowWriter(f"file://{tmp_path}").write_window(ENDS[0], rows(ENDS[0]))
    read = ParquetWindowReader(f"file://{tmp_path}").read_window(ENDS[0])
    assert read == [rows(ENDS[0])[1], rows(ENDS[0])[0]]  # the overall ranking first
