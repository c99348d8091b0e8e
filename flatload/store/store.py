"""The Store: the one value that knows where a data directory's bytes live, and how to open its database.

Partitions of a dataset and date, the spool, the recovery records, the run files, and the DuckDB
file's reader and writer connections all come from here; nothing else builds a path. The value is
plain and picklable, so pool (and, later, cluster) workers carry it.

The partitions are on the local disk (``parquet/``, replaced by rename) or, with ``--store s3://...``,
on object storage as versions (:mod:`.objects.versions`): a worker writes a new version of a partition,
the parent commits it as the partition's pointer with the day's rows (:meth:`Store.pointers`), and the
superseded versions are removed after (:meth:`Store.retire`). Callers never rename: they *replace*
(:meth:`Store.write_partition`, :meth:`Store.build_partition`) with the task's version.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .database import db, pointers, schema
from .database.db import JOURNAL_NAME
from .database.views import Layout
from .files import fs, partitions, recovery, spool
from .objects import versions
from ..errors import ConfigError
from .objects.bucket import ObjectStore

#: the DuckDB variable that re-points the views of a store on object storage (a mirror, another prefix)
STORE_VARIABLE = "flatload_store"

if TYPE_CHECKING:
    from collections.abc import Iterable

    import duckdb
    import polars as pl

    from ..settings import Settings


@dataclass(frozen=True)
class Store:
    """A data directory: ``flatload.duckdb``, ``parquet/``, ``runs/``, ``spool/``."""

    root: Path
    #: how long a connection waits for a database another process holds (s)
    lock_timeout: float = 60.0
    #: where the partitions are when not in ``<root>/parquet``: an S3-compatible bucket
    objects: ObjectStore | None = None

    @classmethod
    def of(cls, settings: "Settings") -> "Store":
        """The store of ``settings.data_dir`` (its partitions on ``settings.store`` when that is set)."""
        objects = None
        if settings.store:
            objects = ObjectStore(settings.store, settings.store_endpoint_url, settings.store_region,
                                  settings.store_key_id, settings.store_secret)
        return cls(Path(settings.data_dir), settings.lock_timeout, objects)

    @property
    def location(self) -> str:
        """Where the partitions are, as messages say it."""
        return self.objects.root if self.objects is not None else str(self.parquet_root)

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
        con = db.connect(self.require(), self.lock_timeout if timeout is None else timeout, read_only=True)
        return self._attached(con)

    def writer(self, timeout: float | None = None) -> "duckdb.DuckDBPyConnection":
        """A read-write connection (the file is created when missing)."""
        return self._attached(db.connect(self.db_path, self.lock_timeout if timeout is None else timeout))

    def _attached(self, con: "duckdb.DuckDBPyConnection") -> "duckdb.DuckDBPyConnection":
        if self.objects is not None:  # flatload's own queries read the bucket without DuckDB's httpfs
            self.objects.attach(con)
        return con

    def layout(self, con: "duckdb.DuckDBPyConnection") -> Layout:
        """Where the views read this store's partitions (and which datasets have any)."""
        if self.objects is None:
            return schema.local_layout(self.root)
        url = self.objects.root.replace("'", "''")
        return Layout(f"coalesce(getvariable('{STORE_VARIABLE}'), '{url}')", frozenset(pointers.datasets(con)),
                      versioned=True)

    def apply_schema(self, con: "duckdb.DuckDBPyConnection", migrations: bool = True) -> list[str]:
        """The tables, migrations, views over this store's partitions and the analyst layer (idempotent)."""
        return schema.apply_schema(con, self.root, migrations=migrations, layout=lambda: self.layout(con))

    def views_complete(self, con: "duckdb.DuckDBPyConnection") -> bool:
        """True when every dataset with partitions has its view."""
        return schema.views_complete(con, self.layout(con))

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

    def existing(self, name: str, d: dt.date) -> str | None:
        """The local partition a load of ``name`` on ``d`` would replace, if there is one (a dry run lists
        them); on object storage nothing is replaced in place, so None."""
        path = self.partition(name, d)
        return str(path) if self.objects is None and path.exists() else None

    @staticmethod
    def new_version() -> str:
        """A fresh partition version (the parent gives each task one; 'v' keeps it text in hive paths)."""
        import uuid

        return "v" + uuid.uuid4().hex[:12]

    def write_partition(self, frame: "pl.DataFrame", name: str, d: dt.date, version: str | None = None) -> int:
        """Replace the partition of ``name`` on ``d`` with ``frame`` (on object storage: write ``version``,
        which the commit makes current); its size in bytes."""
        if self.objects is None:
            return partitions.write_atomic(frame, self.partition_file(name, d))
        buf = io.BytesIO()  # an aggregate day is small: one PUT, visible whole or not at all
        partitions.write_frame(frame, buf)
        data = buf.getvalue()
        self.objects.put_bytes(versions.part_key(self.objects, name, d, version or self.new_version(), 0), data)
        return len(data)

    def build_partition(self, name: str, d: dt.date, version: str | None = None, first_part: int = 0):
        """A partition of parts, built aside and swapped in whole when the build closes (on object storage:
        uploaded as ``version``, current once committed). ``first_part``: a slice's numbering."""
        if self.objects is not None:
            return versions.ObjectPartitionBuild(self.objects, name, d, version or self.new_version(), first_part)
        from .files.swap import PartitionBuild  # Arrow's writer: only tick days need it

        return PartitionBuild(self.parquet_root, name, d, first_part)

    def join_parts(self, name: str, d: dt.date, parts: "Iterable[str]") -> None:
        """Make the sealed parts of a file's slices the partition of ``name`` on ``d``, whole: on the local
        disk they are moved into one build that is swapped in; on object storage they already are the
        day's version, which the commit's pointer makes current."""
        if self.objects is not None:
            return
        from .files.swap import PartitionBuild

        with PartitionBuild(self.parquet_root, name, d) as build:
            build.adopt(list(parts))
            build.publish()

    def drop_parts(self, parts: "Iterable[str]") -> None:
        """Remove the sealed parts of a day that will not be committed (one of its slices failed)."""
        parts = list(parts)
        if self.objects is not None:
            self.objects.delete(parts)
            return
        import shutil

        for folder in {Path(p).parent for p in parts}:
            shutil.rmtree(folder, ignore_errors=True)

    def read_partition(self, name: str, d: dt.date, version: str | None = None) -> "pl.DataFrame | None":
        """A one-file partition's rows (a derived table's, for recovery), or None when it is not there."""
        import polars as pl

        if self.objects is None:
            path = self.partition_file(name, d)
            return pl.read_parquet(path) if path.exists() else None
        if version is None:
            return None
        data = self.objects.get_bytes(versions.part_key(self.objects, name, d, version, 0))
        return None if data is None else pl.read_parquet(data)

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
        if self.objects is None:
            recovery.write_record(self.parquet_root, family, d, record)
        else:
            self.objects.put_json(self._record_key(family, d), record)

    def read_record(self, family: str, d: dt.date) -> dict | None:
        """The recovery record of a finished, uncommitted day, or None."""
        if self.objects is None:
            return recovery.read_record(self.parquet_root, family, d)
        return self.objects.get_json(self._record_key(family, d))

    def remove_record(self, family: str, d: dt.date) -> None:
        """Forget a day's recovery record once the day is committed."""
        if self.objects is None:
            recovery.remove_record(self.parquet_root, family, d)
        else:
            self.objects.delete([self._record_key(family, d)])

    def _record_key(self, family: str, d: dt.date) -> str:
        assert self.objects is not None
        return self.objects.key(family, recovery.RECORDS, f"date={d:%Y-%m-%d}.json")

    # -- versions on object storage ----------------------------------------------------------

    def pointers(self, version: str | None, names: "Iterable[str]") -> list[tuple[str, str]]:
        """The ``(dataset, version)`` pointers a day's commit sets (none on the local disk)."""
        if self.objects is None or version is None:
            return []
        return [(name, version) for name in names]

    def retire(self, d: dt.date, current: "Iterable[tuple[str, str]]") -> int:
        """After a commit: remove every version of the day's partitions but the current one; how many objects."""
        if self.objects is None:
            return 0
        stale = [k for name, v in current for k in versions.stale(self.objects, name, d, v)]
        return self.objects.delete(stale)

    def upkeep(self, con: "duckdb.DuckDBPyConnection") -> int:
        """Under the run lock: a journal serves one object store (ConfigError naming it otherwise), and after
        a run that did not end cleanly, versions no pointer or recovery record names are removed."""
        bound = pointers.bound_store(con)
        mine = self.objects.root if self.objects is not None else None
        # a local store's partitions would vanish from its views behind a new --store: refuse that too
        if bound != mine and (bound is not None or pointers.datasets(con) or schema.local_layout(self.root).have):
            raise ConfigError(f"this journal's partitions are in {bound or 'the local parquet/ folder'}",
                              key=str(self.db_path),
                              hint=f"pass --store {bound}" if bound else "drop --store, or use another --data-dir")
        if mine is None:
            return 0
        if bound is None:
            pointers.bind_store(con, mine)
        if not pointers.needs_sweep(con):
            return 0
        return versions.sweep(self.objects, pointers.current(con), recovery.RECORDS)

    def prepare(self) -> None:
        """Create the data directory for a load (ConfigError / DiskFull naming it when it cannot be), and check
        that the object store, if any, takes writes (before the journal is touched)."""
        fs.prepare_data_dir(self.root)
        if self.objects is not None:
            self.objects.probe()

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
