"""The journal side of a sync: the rows to send, spooled to a Parquet file in one short read.

The DuckDB file is opened read-only for as long as it takes to write the chosen rows to
a temp Parquet file next to it, never for as long as the target takes to accept them: a
load that wants to commit waits seconds at most, and the rows sent are one consistent
snapshot whatever is committed meanwhile. The spool is then read back batch by batch,
so a full sync of years of journal holds one batch in memory, not the journal.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..settings import Settings
from ..store.files import fs, lock
from . import state
from .tables import ColumnMap
from ..store.store import Store

_SPOOL_PREFIX = ".sync-spool-"


@dataclass(frozen=True)
class Selection:
    """The rows chosen for a sync, spooled; ``previous`` is the mark they are newer than (None: all)."""

    path: Path
    rows: int
    schema: pa.Schema
    previous: dt.datetime | None
    newest: dt.datetime | None

    def batches(self, columns: Sequence[ColumnMap], size: int,
                convert: Mapping[str, str] | None = None) -> Iterator[list[dict]]:
        """The rows as dicts keyed by target column, ``size`` at a time; ``convert`` (target column → "iso" or
        "whole") writes dates and times as ISO text and whole counts as integers."""
        names = [c.journal for c in columns]
        rename = {c.journal: c.target for c in columns}
        how = {c.journal: _CONVERT[convert[c.target]] for c in columns if convert and c.target in convert}
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=size, columns=names):
            yield [{rename[k]: (how[k](v) if k in how and v is not None else v) for k, v in row.items()}
                   for row in batch.to_pylist()]

    def first_fraction(self, column: str) -> tuple[str, dt.date, float] | None:
        """The first ``(symbol, trade_date, value)`` whose ``column`` is not a whole number, or None."""
        con = duckdb.connect()
        try:
            rows = con.execute(f'SELECT symbol, trade_date, "{column}" FROM read_parquet(?) WHERE "{column}" <> '
                               f'floor("{column}") ORDER BY trade_date, symbol LIMIT 1', [str(self.path)]).fetchall()
        finally:
            con.close()
        return rows[0] if rows else None


#: how a value is written into a column that does not hold it as it is (see tables.Prepared.convert)
_CONVERT = {"iso": lambda v: v.isoformat(), "whole": int}


def spool_dir(settings: Settings) -> tempfile.TemporaryDirectory:
    """A temp directory in the data directory (removed on exit); spools of killed syncs are removed first."""
    for old in settings.data_dir.glob(f"{_SPOOL_PREFIX}*"):
        pid = old.name[len(_SPOOL_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not lock.process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    try:
        return tempfile.TemporaryDirectory(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-", dir=settings.data_dir)
    except OSError as exc:
        raise (fs.storage_error(exc, settings.data_dir, "write a temp file for the sync") or exc) from None


def _where(since: dt.date | None, symbols: frozenset[str] | None,
           after: dt.datetime | None) -> tuple[str, list[object]]:
    clauses, params = ["TRUE"], []
    if after is not None:
        clauses.append("loaded_at > ?")
        params.append(after)
    if since is not None:
        clauses.append("trade_date >= ?")
        params.append(since)
    if symbols:
        clauses.append("symbol IN (SELECT unnest(?))")
        params.append(sorted(symbols))
    return " AND ".join(clauses), params


def select(settings: Settings, columns: Sequence[ColumnMap], spool: Path, *, since: dt.date | None,
           symbols: frozenset[str] | None, mark: tuple[str, str, str] | None) -> Selection:
    """Spool the journal rows to send into ``spool``: those loaded after ``mark``'s remembered
    ``(target, table, scope)`` (all of them when ``mark`` is None), on or after ``since``, of ``symbols``."""
    con = Store.of(settings).reader()
    try:
        have = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'journal' "
                                          "AND database_name = current_database() ORDER BY column_index").fetchall()]
        unknown = [c.journal for c in columns if c.journal not in have]
        if unknown:
            raise ConfigError(f"--columns: the journal has no column {', '.join(unknown)}",
                              hint=f"its columns: {','.join(have)} (rename with JOURNAL=TARGET)")
        previous = state.read_mark(con, *mark) if mark is not None else None
        where, params = _where(since, symbols, previous)
        cols = ", ".join(f'"{c.journal}"' for c in columns)
        try:
            con.sql(f"SELECT {cols} FROM journal WHERE {where} ORDER BY trade_date, symbol",
                    params=params).to_parquet(str(spool))
        except (OSError, duckdb.IOException) as exc:
            raise (fs.storage_error(exc, spool.parent, "write a temp file for the sync") or exc) from None
        rows, newest = con.execute(f"SELECT count(*), max(loaded_at) FROM journal WHERE {where}", params).fetchall()[0]
    finally:
        con.close()
    return Selection(spool, int(rows), pq.read_schema(spool), previous, newest)
