"""The Store: the one value that knows where a data directory's bytes live, and how to open its database.

Partitions of a dataset and date, the spool, the recovery records, the run files, and the DuckDB
file's reader and writer connections all come from here; nothing else builds a path. The value is
plain and picklable, so pool (and, later, cluster) workers carry it.

Local disk today. What a caller may rely on is written so that object storage fits behind the same
methods: a partition is *replaced* (:meth:`Store.write_partition`, :meth:`Store.build_partition`), never
renamed by the caller; a recovery record is written whole and read back whole.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .database import db
from .database.db import JOURNAL_NAME
from .files import fs, partitions, recovery, spool

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from ..settings import Settings
    from .files.swap import PartitionBuild


@dataclass(frozen=True)
class Store:
    """A data directory: ``flatload.duckdb``, ``parquet/``, ``runs/``, ``spool/``."""

    root: Path
    #: how long a connection waits for a database another process holds (s)
    lock_timeout: float = 60.0

    @classmethod
    def of(cls, settings: "Settings") -> "Store":
        """The store of ``settings.data_dir``."""
        return cls(Path(settings.data_dir), settings.lock_timeout)

    # -- the database side -------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        """``<root>/flatload.duckdb``: the journal, the ledger, the runs and the analysts' views."""
        return self.root / JOURNAL_NAME

    def require(self) -> Path:
        """For readers: the data directory and its database must exist (ConfigError naming what to do)."""
        return fs.require_journal(self.root, self.db_path)

    def require_dir(self) -> None:
        """For read-only commands: the data directory must exist (a typo is not 'nothing loaded yet')."""
        fs.require_store(self.root)

    def reader(self, timeout: float | None = None) -> "duckdb.DuckDBPyConnection":
        """A read-only connection (waiting up to ``timeout``, default the store's, for a writer to finish)."""
        return db.connect(self.require(), self.lock_timeout if timeout is None else timeout, read_only=True)

    def writer(self, timeout: float | None = None) -> "duckdb.DuckDBPyConnection":
        """A read-write connection (the file is created when missing)."""
        return db.connect(self.db_path, self.lock_timeout if timeout is None else timeout)

    def writing(self, action: str):
        """Around every write of the database: a full disk becomes one DiskFull naming the file."""
        return db.writing(self.db_path, action)

    # -- the files side ----------------------------------------------------------------------

    @property
    def parquet_root(self) -> Path:
        """``<root>/parquet``: the partitions, hive-style."""
        return self.root / "parquet"

    @property
    def runs_dir(self) -> Path:
        """``<root>/runs``: one JSON file per run."""
        return self.root / "runs"

    @property
    def spool_dir(self) -> Path:
        """``<root>/spool``: large objects waiting for their worker."""
        return spool.spool_dir(self.root)

    def partition_file(self, name: str, d: dt.date) -> Path:
        """The one Parquet file of an aggregate (or derived table's) partition."""
        return partitions.partition_path(self.parquet_root, name, d)

    def partition_dir(self, name: str, d: dt.date) -> Path:
        """The folder of a partition (a tick partition is a folder of parts, replaced whole)."""
        return partitions.partition_dir(self.parquet_root, name, d)

    def partition(self, name: str, d: dt.date) -> Path:
        """What a load of ``name`` on ``d`` replaces: the folder of a streamed dataset, else the file."""
        from ..datasets import REGISTRY

        ds = REGISTRY.get(name)
        return self.partition_dir(name, d) if ds is not None and ds.streamed else self.partition_file(name, d)

    def write_partition(self, frame: "pl.DataFrame", name: str, d: dt.date) -> int:
        """Replace the partition of ``name`` on ``d`` with ``frame``, atomically; its size in bytes."""
        return partitions.write_atomic(frame, self.partition_file(name, d))

    def build_partition(self, name: str, d: dt.date) -> "PartitionBuild":
        """A partition of parts, built aside and swapped in whole when the build closes."""
        from .files.swap import PartitionBuild  # Arrow's writer: only tick days need it

        return PartitionBuild(self.parquet_root, name, d)

    def clean_temp(self) -> None:
        """Remove what killed writers left (hidden temp files and build folders); call holding the run lock."""
        partitions.clean_temp(self.parquet_root)

    def spool_path(self, key: str) -> Path:
        """A fresh spool file for object ``key``."""
        return spool.new_path(self.root, key)

    def spooled(self, path: str | Path | None) -> bool:
        """True when ``path`` is a spool file (a mirror's own file is not: it is never removed)."""
        return path is not None and self.spool_dir in Path(path).parents

    def remove_spooled(self, path: str | Path) -> None:
        """Forget one spool file (and what a transfer left beside it)."""
        spool.remove(path)

    def sweep_spool(self) -> int:
        """Remove every spooled file (start and end of a run, holding the lock)."""
        return spool.sweep(self.root)

    def write_record(self, family: str, d: dt.date, record: dict) -> None:
        """The record a rerun commits a finished day from (written last by the worker)."""
        recovery.write_record(self.parquet_root, family, d, record)

    def read_record(self, family: str, d: dt.date) -> dict | None:
        """The recovery record of a finished, uncommitted day, or None."""
        return recovery.read_record(self.parquet_root, family, d)

    def remove_record(self, family: str, d: dt.date) -> None:
        """Forget a day's recovery record once the day is committed."""
        recovery.remove_record(self.parquet_root, family, d)

    def prepare(self) -> None:
        """Create the data directory for a load (ConfigError / DiskFull naming it when it cannot be)."""
        fs.prepare_data_dir(self.root)

    @contextmanager
    def room_reserved(self) -> Iterator[None]:
        """Set aside room to record a run's end should the disk fill; freed then, and on exit."""
        fs.reserve_room(self.root)
        try:
            yield
        finally:
            fs.release_room(self.root)

    def release_room(self) -> None:
        """Free the reserved room now (the disk filled: the run's end must still be recorded)."""
        fs.release_room(self.root)
