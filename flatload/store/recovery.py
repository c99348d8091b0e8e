"""The crash-recovery record: what a day's commit needs, kept inside its last-written partition.

A worker writes the record as Parquet key-value metadata of the partition it writes
last. If the commit then never happens (journal locked, kill -9), the next run finds
the record and commits from it instead of fetching the day again.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from . import partitions

RECORD_KEY = "flatload_commit"


def write_with_record(frame: pl.DataFrame, path: Path, record: dict) -> int:
    """Write ``frame`` atomically to ``path`` with ``record`` (JSON-serializable) in its metadata."""
    return partitions.write_atomic(frame, path, metadata={RECORD_KEY: json.dumps(record)})


def read_record(path: Path) -> tuple[pl.DataFrame, dict] | None:
    """The frame and record of a partition written by :func:`write_with_record`, or None."""
    if not path.exists():
        return None
    try:
        record = json.loads(pl.read_parquet_metadata(path).get(RECORD_KEY, "null"))
        if not record:
            return None
        return pl.read_parquet(path), record
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
