"""Parquet partitions, one file per (dataset, date), replaced atomically.

A partition is written to a hidden temp file in its own directory, fsynced, then
renamed over the old file: a reader sees the old file or the new one, never a
mix or half a file. Temp files left by a killed run are removed by the next run.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import polars as pl

from .fs import storage_error

MINUTE_BARS = "minute_aggs"
DAY_BARS = "day_aggs"
METRICS = "metrics"
PART_NAME = "part-0.parquet"
_TMP_MARK = ".tmp-"


def partition_dir(root: Path, asset: str, dataset: str, d: dt.date) -> Path:
    """``root/us_stocks_sip/minute_aggs/date=2024-03-11`` (hive layout for DuckDB and Polars)."""
    return Path(root) / asset / dataset / f"date={d:%Y-%m-%d}"


def partition_path(root: Path, asset: str, dataset: str, d: dt.date) -> Path:
    """The one Parquet file of a partition."""
    return partition_dir(root, asset, dataset, d) / PART_NAME


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(frame: pl.DataFrame, path: Path, compression_level: int = 2,
                 metadata: dict[str, str] | None = None) -> int:
    """Write ``frame`` to ``path`` atomically (with optional key-value ``metadata``); returns its size."""
    tmp = path.parent / f".{path.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(tmp, compression="zstd", compression_level=compression_level, statistics=True,
                           metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        mapped = storage_error(exc, path, "write a partition") if isinstance(exc, Exception) else None
        if mapped is not None:
            raise mapped from None
        raise
    # the rename itself must survive a power cut before the journal says "loaded"
    _fsync_dir(path.parent)
    return path.stat().st_size


def clean_temp(root: Path) -> int:
    """Remove temp files left by killed runs. Call only while holding the data-dir lock."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed = 0
    for tmp in root.rglob(f".*{_TMP_MARK}*"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def is_sorted_by_ticker_time(frame: pl.DataFrame) -> bool:
    """True when rows are ordered by ticker, then window_start (vendor files usually are)."""
    if frame.height < 2:
        return True
    t, ws = pl.col("ticker"), pl.col("window_start")
    ok = frame.select(
        ((t > t.shift()) | ((t == t.shift()) & (ws >= ws.shift()))).fill_null(True).all()
    ).item()
    return bool(ok)


def bars_table(frame: pl.DataFrame) -> pl.DataFrame:
    """A bars partition's shape (minute or day): window_start as a UTC timestamp, sorted by ticker then time."""
    if not is_sorted_by_ticker_time(frame):
        frame = frame.sort("ticker", "window_start")
    return frame.with_columns(pl.col("window_start").cast(pl.Datetime("ns", "UTC")))
