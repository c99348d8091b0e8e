"""The ``sessions`` table: every NYSE session's windows from the calendar, for SQL that needs them.

The bars macros and the journal features run in any DuckDB client, without Python, so the
session windows (holidays and early closes from ``exchange_calendars``) live in the file. The
table is rewritten only when the calendar says something else than what it holds (a new year
of sessions, a holiday added by a calendar update); a digest in ``flatload_meta`` tells.
"""
from __future__ import annotations

import duckdb

from ... import calendar
from .db import transaction

_DIGEST_KEY = "sessions_digest"

# the columns go in as lists of plain ints (one parameter each): building an Arrow table from
# Python objects would make pyarrow import pandas, half a second of a one-day load
# (the UTC instants are named as such: a bare TIMESTAMP would be read in the session's time zone)
_INSERT = """INSERT INTO sessions SELECT DATE '1970-01-01' + d, timezone('UTC', make_timestamp_ns(p)),
       timezone('UTC', make_timestamp_ns(o)), timezone('UTC', make_timestamp_ns(c)),
       timezone('UTC', make_timestamp_ns(e)), x
FROM (SELECT unnest($1::INTEGER[]) - 719163 AS d, unnest($2::BIGINT[]) AS p, unnest($3::BIGINT[]) AS o,
             unnest($4::BIGINT[]) AS c, unnest($5::BIGINT[]) AS e, unnest($6::BOOLEAN[]) AS x)"""


def _columns(rows: list[calendar.SessionBounds]) -> list[list]:
    return [[r.date.toordinal() for r in rows], [r.pre_start for r in rows], [r.open for r in rows],
            [r.close for r in rows], [r.post_end for r in rows], [r.early_close for r in rows]]


def sync_sessions(con: duckdb.DuckDBPyConnection) -> bool:
    """Make ``sessions`` hold every session the calendar knows; True when it was rewritten."""
    digest = calendar.calendar_digest()  # the table's own digest: no session is computed when nothing changed
    held = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [_DIGEST_KEY]).fetchall()
    if held and held[0][0] == digest:
        return False
    with transaction(con):
        con.execute("DELETE FROM sessions")
        con.execute(_INSERT, _columns(calendar.session_table()))
        con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [_DIGEST_KEY, digest])
    return True
