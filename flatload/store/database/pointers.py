"""The journal side of versioned partitions (a store on object storage): each partition's current version.

The pointer of a (dataset, date) is set in the transaction that commits the day, so the views that
read through it move from the whole old version to the whole new one at the commit.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

#: ``flatload_meta`` key: the object store a journal's partitions live in (a journal serves one store)
STORE_KEY = "store"


def set_versions(con: duckdb.DuckDBPyConnection, d: dt.date, versions: Iterable[tuple[str, str]],
                 run_id: str) -> None:
    """Point each ``(dataset, version)`` of day ``d`` at its new version (inside the caller's transaction)."""
    rows = [(name, d, version, run_id) for name, version in versions]
    if rows:
        con.executemany("INSERT OR REPLACE INTO partition_versions VALUES (?, ?, ?, ?, now()::TIMESTAMP)", rows)


def current(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, dt.date], str]:
    """Every partition's current version."""
    rows = con.execute("SELECT dataset, trade_date, version FROM partition_versions").fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def version_of(con: duckdb.DuckDBPyConnection, dataset: str, d: dt.date) -> str | None:
    """The current version of one partition, or None."""
    row = con.execute("SELECT version FROM partition_versions WHERE dataset = ? AND trade_date = ?",
                      [dataset, d]).fetchone()
    return None if row is None else row[0]


def datasets(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The datasets (and derived tables) with at least one committed version."""
    return {r[0] for r in con.execute("SELECT DISTINCT dataset FROM partition_versions").fetchall()}


def bound_store(con: duckdb.DuckDBPyConnection) -> str | None:
    """The object store this journal's partitions are in (None: the local parquet/ folder)."""
    row = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [STORE_KEY]).fetchone()
    return None if row is None else row[0]


def bind_store(con: duckdb.DuckDBPyConnection, url: str) -> None:
    """Record that this journal's partitions are in ``url``."""
    con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [STORE_KEY, url])


def needs_sweep(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the last run did not end cleanly: only then can versions be left that no pointer names."""
    row = con.execute("SELECT outcome FROM runs WHERE outcome <> 'running' ORDER BY started_at DESC LIMIT 1"
                      ).fetchone()
    return row is not None and row[0] != "ok"
