"""Reading training history: the job's Parquet snapshots (file:// or s3://).

Snapshots are partitioned ``date=YYYY-MM-DD/hour=HH`` under ``settings.parquet_root`` and
hold the job's output row (:mod:`trend_tracker.output_row`; window times as
``timestamp[ms, UTC]``, or epoch ms integers in older snapshots). The overall popular
ranking is the rows whose ``category`` is null and ``ranking`` is ``popular`` (snapshots
from before the rising ranking have no ``ranking`` column); training uses those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from registry.train import COUNT_COLUMNS
from trend_tracker import output_row as output

if TYPE_CHECKING:
    from trend_tracker.settings import Settings


def parquet_filesystem(root_uri: str, settings: Settings):
    """(pyarrow filesystem, path inside it) for a ``file://`` or ``s3://`` root."""
    from pyarrow import fs

    if root_uri.startswith("s3://"):
        return fs.S3FileSystem(**settings.s3_storage_options), root_uri[len("s3://"):]
    if root_uri.startswith("file://"):
        return fs.LocalFileSystem(), root_uri[len("file://"):]
    raise ValueError(f"unsupported Parquet root {root_uri!r}: use file:// or s3://")


def read_snapshot_counts(settings: Settings, since_ms: int | None = None,
                         until_ms: int | None = None, root_uri: str | None = None
                         ) -> pd.DataFrame:
    """Overall-ranking counts per (window, product) from the snapshots, in a time range.

    ``since_ms``/``until_ms`` bound ``window_start`` (inclusive) and ``window_end``
    (inclusive). A missing root gives an empty frame.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from pyarrow import fs

    filesystem, path = parquet_filesystem(root_uri or settings.parquet_root, settings)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        return pd.DataFrame(columns=list(COUNT_COLUMNS))
    dataset = ds.dataset(path, filesystem=filesystem, format="parquet", partitioning="hive",
                         exclude_invalid_files=True)
    condition = pc.field("category").is_null()
    if "ranking" in dataset.schema.names:
        # Each window's file holds the popular and the rising rankings (the same counts):
        # the overall popular ranking is the training history.
        condition &= pc.field("ranking") == output.POPULAR
    if since_ms is not None:
        condition &= pc.field("window_start") >= _bound(dataset.schema, "window_start", since_ms)
    if until_ms is not None:
        condition &= pc.field("window_end") <= _bound(dataset.schema, "window_end", until_ms)
    table = dataset.to_table(columns=list(COUNT_COLUMNS), filter=condition)
    frame = table.to_pandas()
    for column in ("window_start", "window_end"):
        frame[column] = _epoch_ms(frame[column])
    frame["product_id"] = frame["product_id"].astype(str)
    return frame


def _bound(schema, column: str, epoch_ms: int):
    """A filter bound in the column's type: the job writes ``timestamp[ms, UTC]``."""
    import pyarrow as pa

    kind = schema.field(column).type
    if pa.types.is_timestamp(kind):
        return pa.scalar(epoch_ms, type=pa.timestamp("ms", tz=kind.tz)).cast(kind)
    return pa.scalar(epoch_ms, type=kind)


def _epoch_ms(values: pd.Series) -> pd.Series:
    """Window bounds as epoch milliseconds, whether stored as timestamps or integers."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.as_unit("ms").astype("int64") if values.dt.tz is None else (
            values.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ms").astype("int64"))
    return values.astype("int64")
