"""Parquet partitions, one folder per (dataset, date), replaced atomically: the only module that knows paths.

``parquet/<family>/<kind>/date=YYYY-MM-DD/part-0.parquet`` (hive layout for DuckDB and
Polars); the stocks journal's rows of a day live in ``parquet/stocks/journal/``. A
partition is written to a hidden temp file in its own directory, fsynced, then
renamed over the old file: a reader sees the old file or the new one, never a mix
or half a file. Temp files left by a killed run are removed by the next run.

Tick data (trades, quotes) is too large for one file: its partition is a folder of parts
``part-NNNNN-<version>.parquet`` built in a hidden folder beside it and swapped in whole
(:class:`PartitionBuild`, in :mod:`.swap`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import datetime as dt
import os
import uuid
from pathlib import Path


from .fs import fsync_path, storage_error

if TYPE_CHECKING:
    import polars as pl

PART_NAME = "part-0.parquet"
_TMP_MARK = ".tmp-"


def partition_dir(root: Path | str, folder: str, d: dt.date) -> Path:
    """``root/stocks/minute_aggs/date=2024-03-11`` for the dataset (or derived table) ``folder``."""
    return Path(root) / folder / f"date={d:%Y-%m-%d}"


def partition_path(root: Path | str, folder: str, d: dt.date) -> Path:
    """The one Parquet file of a partition."""
    return partition_dir(root, folder, d) / PART_NAME


def glob(folder: str) -> str:
    """Every partition file of ``folder``, relative to the parquet root (for views and scans).

    ``date=*`` and not ``*``: hidden temp folders (``.date=...``) of a partition being replaced never match.
    """
    return f"{folder}/date=*/*.parquet"


def has_files(root: Path | str, folder: str) -> bool:
    """True once at least one partition of ``folder`` exists."""
    base = Path(root) / folder
    return base.is_dir() and next(base.glob("date=*/*.parquet"), None) is not None


def write_frame(frame: "pl.DataFrame", dest, compression_level: int = 2, metadata: dict[str, str] | None = None) -> None:
    """``frame`` as one partition file into ``dest`` (a path or a binary buffer): zstd, with statistics."""
    frame.write_parquet(dest, compression="zstd", compression_level=compression_level, statistics=True,
                        metadata=metadata)


def write_atomic(frame: "pl.DataFrame", path: Path, compression_level: int = 2,
                 metadata: dict[str, str] | None = None) -> int:
    """Write ``frame`` to ``path`` atomically (with optional key-value ``metadata``); returns its size."""
    tmp = path.parent / f".{path.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_frame(frame, tmp, compression_level, metadata)
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
    fsync_path(path.parent)
    return path.stat().st_size


def clean_temp(root: Path) -> int:
    """Remove temp files left by killed runs and repair half-swapped tick partitions (the old one comes back
    where a run died between the two renames of a swap). Call only while holding the data-dir lock."""
    from .swap import repair

    root = Path(root)
    if not root.is_dir():
        return 0
    removed = repair(root)
    spool = root.parent / "spool"
    leftovers = list(spool.glob(f".*{_TMP_MARK}*")) if spool.is_dir() else []
    for tmp in [*root.rglob(f".*{_TMP_MARK}*"), *leftovers]:
        if tmp.is_dir():
            continue  # a folder of a swap: repair() alone decides about those
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def is_sorted_by_ticker_time(frame: "pl.DataFrame", time_column: str = "window_start") -> bool:
    """True when rows are ordered by ticker, then time (vendor files usually are)."""
    import polars as pl

    if frame.height < 2:
        return True
    t, ws = pl.col("ticker"), pl.col(time_column)
    ok = frame.select(
        ((t > t.shift()) | ((t == t.shift()) & (ws >= ws.shift()))).fill_null(True).all()
    ).item()
    return bool(ok)


def bars_table(frame: "pl.DataFrame", time_column: str = "window_start") -> "pl.DataFrame":
    """A bars partition's shape: the time as a UTC timestamp, sorted by ticker then time."""
    import polars as pl

    if not is_sorted_by_ticker_time(frame, time_column):
        frame = frame.sort("ticker", time_column)
    return frame.with_columns(pl.col(time_column).cast(pl.Datetime("ns", "UTC")))
