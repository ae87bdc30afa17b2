"""The job's Parquet sink: every ranking of a window in one file, named by the window.

Layout: ``{root}/date=YYYY-MM-DD/hour=HH/trends-{window_end_ms}.parquet``, the date and hour
of ``window_end`` in UTC. The columns are exactly the job's output row
(:mod:`trend_tracker.output_row`), window times as ``timestamp[ms, UTC]``. The same code
writes to ``file://`` and ``s3://`` (MinIO).

File size against freshness: one file per window, written as soon as the window is final
(the watermark passed its end). That makes a window queryable one slide after it closes
and makes the file name a pure function of the window, so a replay after a restart
overwrites the same file instead of adding a duplicate. The price is many small files:
with a 30 s slide, 120 files an hour of ``top_n * (1 + categories)`` rows each (tens of KB).
Query engines read that comfortably for days; for long retention, compact a finished hour
into one file offline (its name can be derived from the hour the same way). Batching
several windows per file would cut the file count but delay every window in the batch and
make a replay's file names depend on where batches happened to start.

Local files are written to a temporary name and renamed, so a reader never sees half a
file; an S3 PUT is atomic by itself. :class:`ParquetWindowReader` reads the windows back
(``trend redis rebuild`` refills Redis from them).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from trend_tracker import output_row as output

#: The Parquet columns: the job's output row (:mod:`trend_tracker.output_row`).
OUTPUT_COLUMNS: tuple[str, ...] = output.OUTPUT_COLUMNS


def arrow_type(field: output.Field) -> pa.DataType:
    """A field's Arrow type; window times are ``timestamp[ms, UTC]``."""
    if field.arrow == output.PARQUET_TIME:
        return pa.timestamp("ms", tz="UTC")
    return pa.type_for_alias(field.arrow)


SCHEMA = pa.schema([pa.field(f.name, arrow_type(f), nullable=f.nullable)
                    for f in output.FIELDS])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A window's file name; anything else in the tree (temporary files) is not a window.
WINDOW_FILE_RE = re.compile(r"trends-(\d+)\.parquet")


def window_file_path(window_end_ms: int) -> str:
    """The file of one window, relative to the root: partitioned by window_end's hour."""
    end = datetime.fromtimestamp(window_end_ms / 1000, tz=UTC)
    return f"date={end:%Y-%m-%d}/hour={end:%H}/trends-{int(window_end_ms)}.parquet"


def sort_key(row: Mapping[str, Any]) -> tuple:
    """The popular rankings, then the rising ones; in each the overall ranking first, then
    categories by name, each by rank."""
    return (output.RANKINGS.index(row["ranking"]), row["category"] is not None,
            row["category"] or "", int(row["rank"]))


def rows_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (window times as epoch ms) as an Arrow table with :data:`SCHEMA`, sorted."""
    ordered = sorted(rows, key=sort_key)
    columns = {name: [row[name] for row in ordered] for name in OUTPUT_COLUMNS}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def open_root(root_uri: str, s3_storage_options: Mapping[str, Any] | None = None
              ) -> tuple[pafs.FileSystem, str]:
    """The filesystem and base path of ``file://...`` or ``s3://bucket/prefix``."""
    if root_uri.startswith("s3://"):
        return pafs.S3FileSystem(**dict(s3_storage_options or {})), root_uri[len("s3://"):].rstrip("/")
    filesystem, path = pafs.FileSystem.from_uri(root_uri)
    return filesystem, path.rstrip("/")


class ParquetWindowWriter:
    """Writes one window's rankings to its deterministic file (overwriting a replay)."""

    def __init__(self, root_uri: str, s3_storage_options: Mapping[str, Any] | None = None):
        self.filesystem, self.base = open_root(root_uri, s3_storage_options)
        self._local = isinstance(self.filesystem, pafs.LocalFileSystem)

    def path_for(self, window_end_ms: int) -> str:
        return f"{self.base}/{window_file_path(window_end_ms)}"

    def exists(self, window_end_ms: int) -> bool:
        """Whether the file of window ``window_end_ms`` is written."""
        info = self.filesystem.get_file_info(self.path_for(window_end_ms))
        return info.type == pafs.FileType.File

    def write_window(self, window_end_ms: int, rows: Iterable[Mapping[str, Any]]) -> str:
        """Write the rows of window ``window_end_ms``; returns the file's path."""
        table = rows_table(rows)
        path = self.path_for(window_end_ms)
        directory = path.rsplit("/", 1)[0]
        self.filesystem.create_dir(directory, recursive=True)
        if not self._local:
            pq.write_table(table, path, filesystem=self.filesystem)
            return path
        temporary = f"{directory}/.{uuid.uuid4().hex}.tmp"
        pq.write_table(table, temporary, filesystem=self.filesystem)
        self.filesystem.move(temporary, path)
        return path


class ParquetWindowReader:
    """Reads back the windows :class:`ParquetWindowWriter` wrote under a root."""

    def __init__(self, root_uri: str, s3_storage_options: Mapping[str, Any] | None = None):
        self.filesystem, self.base = open_root(root_uri, s3_storage_options)

    def _children(self, path: str) -> list[str]:
        selector = pafs.FileSelector(path, allow_not_found=True)
        return sorted(info.base_name for info in self.filesystem.get_file_info(selector))

    def window_ends(self, since_ms: int = 0) -> list[int]:
        """The window_end of every window written, from ``since_ms`` on, oldest first.

        Date and hour partitions before ``since_ms`` are not listed, so the cost follows
        the windows asked for rather than the whole retention.
        """
        since = datetime.fromtimestamp(max(since_ms, 0) / 1000, tz=UTC)
        first_date, first_hour = f"date={since:%Y-%m-%d}", f"hour={since:%H}"
        ends = []
        for date in self._children(self.base):
            if not date.startswith("date=") or date < first_date:
                continue
            for hour in self._children(f"{self.base}/{date}"):
                if not hour.startswith("hour=") or (date, hour) < (first_date, first_hour):
                    continue
                for name in self._children(f"{self.base}/{date}/{hour}"):
                    match = WINDOW_FILE_RE.fullmatch(name)
                    if match and int(match.group(1)) >= since_ms:
                        ends.append(int(match.group(1)))
        return sorted(ends)

    def read_window(self, window_end_ms: int) -> list[dict[str, Any]]:
        """The rows of one window, in file order, with window times as epoch ms."""
        path = f"{self.base}/{window_file_path(window_end_ms)}"
        table = pq.read_table(path, filesystem=self.filesystem, partitioning=None)
        rows = table.to_pylist()
        for row in rows:
            for name in output.WINDOW_KEYS:
                row[name] = (row[name] - EPOCH) // timedelta(milliseconds=1)
        return rows
