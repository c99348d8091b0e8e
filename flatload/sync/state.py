"""The incremental high-water mark: per target, table and scope, the newest journal change sent.

The journal's ``loaded_at`` changes only when a row's values change, and a load commits
while holding the DuckDB file (no reader sees half a commit), so "rows with ``loaded_at``
after the mark" are exactly the rows new or changed since the last sync. The mark is
the newest ``loaded_at`` the sync read, never the clock, and it is written only after the
target committed every batch: a failed sync sends the same rows again next time.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from ..errors import JournalLocked
from ..settings import Settings
from .tables import ColumnMap
from ..store.store import Store

_EXISTS = ("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sync_state' "
           "AND database_name = current_database()")


def scope(columns: Sequence[ColumnMap], since: dt.date | None, symbols: frozenset[str] | None) -> str:
    """The options that choose what is sent; a sync with other options keeps a mark of its own."""
    cols = ",".join(c.journal if c.journal == c.target else f"{c.journal}={c.target}" for c in columns)
    return f"columns={cols};since={since or ''};symbols={','.join(sorted(symbols or ()))}"


def read_mark(con: duckdb.DuckDBPyConnection, target: str, table: str, scope_: str) -> dt.datetime | None:
    """The mark for (target, table, scope), or None: never synced (or a store older than sync_state)."""
    if not con.execute(_EXISTS).fetchall()[0][0]:
        return None
    row = con.execute("SELECT synced_to FROM sync_state WHERE target = ? AND table_name = ? AND scope = ?",
                      [target, table, scope_]).fetchall()
    return row[0][0] if row else None


def write_mark(settings: Settings, target: str, table: str, scope_: str, synced_to: dt.datetime, rows: int) -> None:
    """Move the mark forward to ``synced_to`` (never back), in a short read-write connection."""
    try:
        con = Store.of(settings).writer()
    except JournalLocked as err:  # the target has the rows: only the bookkeeping is missing
        err.hint = ("the target has the rows, but the sync could not be recorded: the next sync sends them again "
                    "(unchanged rows are not rewritten); close that DuckDB session or pass a longer --lock-timeout")
        raise
    try:
        if not con.execute(_EXISTS).fetchall()[0][0]:  # a store made before sync_state: the DDL makes it
            Store.of(settings).apply_schema(con, migrations=False)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        con.execute("INSERT INTO sync_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, table_name, scope) "
                    "DO UPDATE SET synced_to = greatest(sync_state.synced_to, excluded.synced_to), "
                    "rows = excluded.rows, synced_at = excluded.synced_at",
                    [target, table, scope_, synced_to, rows, now])
    finally:
        con.close()

