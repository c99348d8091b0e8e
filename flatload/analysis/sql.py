"""Read-only SQL on a store, with its views pointed at the store itself (``flatload sql``).

An analyst's read and a load's commit cannot hold the DuckDB file at the same time:
DuckDB lets one process write or many read. A load opens the file only for a moment
per commit batch, so a read-only connection that waits and retries for a few seconds
always gets in; one that fails at once ("Conflicting lock") only hit a commit.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import polars as pl

from ..errors import ConfigError, QueryError
from ..settings import Settings
from ..store.database import db
from ..store.store import Store


@contextmanager
def reader(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the store of ``settings`` (waits up to ``lock_timeout`` for a commit)."""
    con = Store.of(settings).reader()
    try:
        yield con
    finally:
        con.close()


def kept_scope(settings: Settings, key: str) -> str | None:
    """The scope (``'*'`` or comma-joined symbols) a REST-fed table was loaded for, as ``flatload_meta`` holds it
    under ``key``; None when a refresh has nothing to keep current: no API key, REST off, no store yet, or
    never loaded."""
    store = Store.of(settings)
    if not settings.api_key or not settings.use_rest or not store.db_path.exists():
        return None
    with reader(settings) as con:
        held = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [key]).fetchall()
    return held[0][0] if held else None


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
    """The result of ``sql`` as a Polars frame; a DuckDB error becomes a one-line :class:`QueryError`."""
    try:
        return pl.from_arrow(con.sql(sql, params=list(params or [])).to_arrow_table())  # type: ignore[return-value]
    except duckdb.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise (_not_loaded(text) or QueryError(text, hint="check the query; `flatload sql \"SHOW TABLES\"` lists "
                                                         "what there is")) from None


_NO_TABLE = re.compile(r"Table with name (\w+) does not exist")


def _not_loaded(text: str) -> QueryError | None:
    """A dataset's view is made with its first files: a query of one not loaded yet says so, and how to load it."""
    from ..datasets import REGISTRY
    from ..store.database.views import COMPAT_VIEWS

    m = _NO_TABLE.search(text)
    if m is None:
        return None
    name = COMPAT_VIEWS.get(m.group(1), (m.group(1),))[0]
    ds = next((d for d in REGISTRY.values() if d.view == name), None)
    if ds is None:
        return None
    return QueryError(f"{m.group(1)}: the dataset {ds.name} is not loaded in this store (its view appears with its "
                      f"first day)", hint=f"flatload load --datasets {ds.name} --start DATE --end DATE")


def query(sql: str, settings: Settings, params: Sequence[object] | None = None) -> pl.DataFrame:
    """Run ``sql`` read-only against the store of ``settings``; waits up to ``lock_timeout`` for a commit."""
    with reader(settings) as con:
        return frame(con, sql, params)


def shell_command(settings: Settings) -> list[str]:
    """The ``duckdb`` CLI command that opens the store read-only with its views pointed at it."""
    exe = shutil.which("duckdb")
    if exe is None:
        raise ConfigError("no SQL given and no duckdb command on PATH",
                          hint="pass a query (flatload sql \"SELECT ...\"), or pip install duckdb-cli")
    store = Store.of(settings)
    # wait out a commit in progress, so the CLI does not open into "Conflicting lock"
    store.reader().close()
    path = store.db_path
    root = settings.data_dir.resolve().as_posix().replace("'", "''")
    return [exe, "-readonly", "-cmd", f"SET VARIABLE {db.ROOT_VARIABLE} = '{root}'", str(path)]
