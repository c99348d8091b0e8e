"""The ``sessions`` table: every NYSE session's windows from the calendar, for SQL that needs them.

The bars macros and the journal features run in any DuckDB client, without Python, so the
session windows (holidays and early closes from ``exchange_calendars``) live in the file. The
table is rewritten only when the calendar says something else than what it holds (a new year
of sessions, a holiday added by a calendar update); a digest in ``flatload_meta`` tells.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from .. import calendar
from .db import transaction

if TYPE_CHECKING:
    import pyarrow as pa

_DIGEST_KEY = "sessions_digest"


def _table(rows: list[calendar.SessionBounds]) -> "pa.Table":
    import pyarrow as pa  # only when the table is rewritten: a run with nothing to do never needs it

    ts = pa.timestamp("ns", tz="UTC")
    return pa.table({
        "trade_date": pa.array([r.date for r in rows], pa.date32()),
        "pre_start": pa.array([r.pre_start for r in rows], ts),
        "open": pa.array([r.open for r in rows], ts),
        "close": pa.array([r.close for r in rows], ts),
        "post_end": pa.array([r.post_end for r in rows], ts),
        "early_close": pa.array([r.early_close for r in rows], pa.bool_()),
    })


def sync_sessions(con: duckdb.DuckDBPyConnection) -> bool:
    """Make ``sessions`` hold every session the calendar knows; True when it was rewritten."""
    digest = calendar.calendar_digest()  # the table's own digest: no session is computed when nothing changed
    held = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [_DIGEST_KEY]).fetchall()
    if held and held[0][0] == digest:
        return False
    table = _table(calendar.session_table())
    con.register("_sessions_new", table)
    try:
        with transaction(con):
            con.execute("DELETE FROM sessions")
            con.execute("INSERT INTO sessions SELECT * FROM _sessions_new")
            con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [_DIGEST_KEY, digest])
    finally:
        con.unregister("_sessions_new")
    return True
