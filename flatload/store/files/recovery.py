"""The crash-recovery record: what a day's commit needs, written once its partitions are in place.

A worker writes ``parquet/<family>/_commit/date=YYYY-MM-DD.json`` after the day's
partitions (each atomic). If the commit then never happens (journal locked, kill -9),
the next run finds the record and commits from it, with the journal rows read back
from the journal partition, instead of fetching the day again. The committer removes
the record once the day is committed; one left over is harmless (the ledger then
already holds its ETags).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from .fs import storage_error

#: the folder (under a family's) holding the recovery records of finished, uncommitted days
RECORDS = "_commit"


def record_path(root: Path | str, family: str, d: dt.date) -> Path:
    """Where the record of ``family``'s day ``d`` lives."""
    return Path(root) / family / RECORDS / f"date={d:%Y-%m-%d}.json"


def write_record(root: Path | str, family: str, d: dt.date, record: dict) -> None:
    """Write the record atomically (temp file, fsync, rename)."""
    path = record_path(root, family, d)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as fh:
            json.dump(record, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise (storage_error(exc, path, "write a recovery record") or exc) from None


def read_record(root: Path | str, family: str, d: dt.date) -> dict | None:
    """The record of ``family``'s day ``d``, or None (absent or unreadable)."""
    try:
        return json.loads(record_path(root, family, d).read_text())
    except (OSError, ValueError):
        return None


def remove_record(root: Path | str, family: str, d: dt.date) -> None:
    """Forget the record of a committed day (best effort: a leftover one is harmless)."""
    try:
        record_path(root, family, d).unlink(missing_ok=True)
    except OSError:
        pass
