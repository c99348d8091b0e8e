"""The DuckDB journal's writes and reads: per-day upserts with their ledger, day status, runs.

Only the parent process writes here, one short connection per batch of finished
days, so an analyst can open the file between batches. A day's journal rows,
rejects, ledger entries and status are committed in one transaction.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from typing import TYPE_CHECKING

import duckdb

from ...datasets.journal import JOURNAL_COLUMNS
from . import pointers
from .db import registered, transaction
from .ledger import LedgerEntry

if TYPE_CHECKING:  # Polars is imported where frames are written: a run with nothing to do never needs it
    import polars as pl

_VALUE_COLUMNS = [c for c in JOURNAL_COLUMNS if c not in ("symbol", "trade_date")] + ["source"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def upsert_day(con: duckdb.DuckDBPyConnection, trade_date: dt.date, rows: "pl.DataFrame", source: str,
               scope: frozenset[str] | None) -> None:
    """Make the journal's rows for ``trade_date`` (within ``scope``) equal ``rows``.

    Rows whose values are unchanged keep their ``loaded_at``: upserting twice changes
    nothing. Call inside a transaction.
    """
    import polars as pl

    frame = rows.select(JOURNAL_COLUMNS).with_columns(source=pl.lit(source))
    cols = ", ".join(JOURNAL_COLUMNS + ["source"])
    if not con.execute("SELECT count(*) FROM journal WHERE trade_date = ?", [trade_date]).fetchall()[0][0]:
        # a day's first load (the usual case): nothing to delete or compare, a plain insert is a third of the cost
        with registered(con, "_day_rows", frame):
            con.execute(f"INSERT INTO journal ({cols}, loaded_at) SELECT {cols}, ? FROM _day_rows", [_now()])
        return
    with registered(con, "_day_rows", frame):
        params: list[object] = [trade_date]
        where_scope = ""
        if scope is not None:
            where_scope = " AND symbol IN (SELECT unnest(?::VARCHAR[]))"
            params.append(sorted(scope))
        con.execute(f"DELETE FROM journal WHERE trade_date = ? AND symbol NOT IN "
                    f"(SELECT symbol FROM _day_rows){where_scope}", params)
        sets = ", ".join(f"{c} = excluded.{c}" for c in _VALUE_COLUMNS)
        old = ", ".join(f"journal.{c}" for c in _VALUE_COLUMNS)
        new = ", ".join(f"excluded.{c}" for c in _VALUE_COLUMNS)
        con.execute(
            f"INSERT INTO journal ({cols}, loaded_at) SELECT {cols}, ? FROM _day_rows "
            f"ON CONFLICT (symbol, trade_date) DO UPDATE SET {sets}, loaded_at = excluded.loaded_at "
            f"WHERE ({old}) IS DISTINCT FROM ({new})", [_now()])


_LEDGER_TYPES = {"key": "String", "dataset": "String", "trade_date": "Date", "etag": "String", "size": "Int64",
                 "last_modified": "String", "rows": "Int64", "rejected": "Int64", "off_date": "Int64",
                 "status": "String", "error": "String", "scope": "String"}
_STATUS_TYPES = {"dataset": "String", "trade_date": "Date", "status": "String", "detail": "String",
                 "symbols": "Int64", "scope": "String"}


def _frame(rows: list[tuple], types: dict[str, str]) -> "pl.DataFrame":
    import polars as pl

    return pl.DataFrame(rows, schema={k: getattr(pl, v) for k, v in types.items()}, orient="row")


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: "pl.DataFrame", run_id: str) -> None:
    """``INSERT OR REPLACE`` a whole frame at once (plus run id and time): executemany takes seconds per thousand."""
    import polars as pl

    name = f"_new_{table}"
    with registered(con, name, frame.with_columns(run_id=pl.lit(run_id), updated_at=pl.lit(_now()))):
        con.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM {name}")


def write_ledger(con: duckdb.DuckDBPyConnection, entries: Iterable[LedgerEntry], run_id: str) -> None:
    """Insert or replace ledger rows (call inside the day's transaction)."""
    rows = [(e.key, e.dataset, e.trade_date, e.etag, e.size, e.last_modified, e.rows, e.rejected, e.off_date,
             e.status, e.error, e.scope) for e in entries]
    if rows:
        _insert(con, "ledger", _frame(rows, _LEDGER_TYPES), run_id)


def write_rejects(con: duckdb.DuckDBPyConnection, trade_date: dt.date, keys: list[str], rejects: "pl.DataFrame",
                  run_id: str) -> None:
    """Replace the rejects of ``keys`` with ``rejects`` (key, line, reason)."""
    import polars as pl

    if keys:
        con.execute("DELETE FROM rejects WHERE key IN (SELECT unnest(?))", [keys])
    if rejects.height:
        frame = rejects.select("key", pl.lit(trade_date).alias("trade_date"), "line", "reason",
                               pl.lit(run_id).alias("run_id"))
        with registered(con, "_rejects", frame):
            con.execute("INSERT INTO rejects SELECT * FROM _rejects")


def set_day_status(con: duckdb.DuckDBPyConnection, dataset: str, trade_date: dt.date, status: str,
                   detail: str | None, symbols: int, scope: str, run_id: str) -> None:
    """Record where a day of a dataset stands (flatfile / rest / suspect / failed)."""
    con.execute("INSERT OR REPLACE INTO day_status VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [dataset, trade_date, status, detail, symbols, scope, run_id, _now()])


def read_ledger(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> dict[str, LedgerEntry]:
    """Ledger rows for ``keys``."""
    keys = list(keys)
    if not keys:
        return {}
    rows = con.execute(
        "SELECT key, dataset, trade_date, etag, size, last_modified, rows, rejected, off_date, status, error, scope "
        "FROM ledger WHERE key IN (SELECT unnest(?))", [keys]).fetchall()
    return {r[0]: LedgerEntry(*r) for r in rows}


def read_day_status(con: duckdb.DuckDBPyConnection, datasets: Iterable[str], start: dt.date,
                    end: dt.date) -> dict[tuple[str, dt.date], tuple[str, str | None, str]]:
    """``{(dataset, date): (status, detail, scope)}`` for ``datasets`` in ``[start, end]``."""
    rows = con.execute("SELECT dataset, trade_date, status, detail, scope FROM day_status "
                       "WHERE dataset IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?",
                       [list(datasets), start, end]).fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def clean_rows(con: duckdb.DuckDBPyConnection, datasets: Iterable[str], end: dt.date) -> dict[str, list[tuple[dt.date, int]]]:
    """Per dataset, ``(date, rows)`` of every day up to ``end`` loaded cleanly from a flat file, oldest first."""
    rows = con.execute(
        "SELECT l.dataset, l.trade_date, l.rows FROM ledger l JOIN day_status s USING (dataset, trade_date) "
        "WHERE l.dataset IN (SELECT unnest(?)) AND l.trade_date <= ? AND l.status = 'loaded' "
        "AND s.status = 'flatfile' AND l.rows > 0 ORDER BY l.trade_date", [list(datasets), end]).fetchall()
    out: dict[str, list[tuple[dt.date, int]]] = {}
    for ds, d, n in rows:
        out.setdefault(ds, []).append((d, int(n)))
    return out


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, command: str, arguments: dict, pid: int) -> None:
    """Record a run as running."""
    con.execute("INSERT OR REPLACE INTO runs (run_id, command, arguments, started_at, outcome, pid) "
                "VALUES (?, ?, ?, ?, 'running', ?)", [run_id, command, json.dumps(arguments, default=str), _now(), pid])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, outcome: str, counts: dict[str, int],
               errors: list[dict]) -> None:
    """Record a run's outcome and counts."""
    con.execute("UPDATE runs SET finished_at = ?, outcome = ?, days_planned = ?, days_done = ?, days_failed = ?, "
                "days_skipped = ?, rows = ?, errors = ? WHERE run_id = ?",
                [_now(), outcome, counts.get("planned", 0), counts.get("done", 0), counts.get("failed", 0),
                 counts.get("skipped", 0), counts.get("rows", 0), json.dumps(errors, default=str), run_id])


def mark_abandoned_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Runs still 'running' when a new run holds the lock died without finishing (kill -9)."""
    n = con.execute("SELECT count(*) FROM runs WHERE outcome = 'running'").fetchone()[0]
    con.execute("UPDATE runs SET outcome = 'killed', finished_at = coalesce(finished_at, ?) "
                "WHERE outcome = 'running'", [_now()])
    return int(n)


def pairs_without_rows(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, dt.date]]) -> list[tuple[str, dt.date]]:
    """The (symbol, date) pairs with no journal row, or a row with no price at all."""
    import polars as pl

    frame = pl.DataFrame({"symbol": [p[0] for p in pairs], "trade_date": [p[1] for p in pairs]},
                         schema={"symbol": pl.String, "trade_date": pl.Date})
    with registered(con, "_pairs", frame):
        rows = con.execute(
            "SELECT p.symbol, p.trade_date FROM _pairs p LEFT JOIN journal j USING (symbol, trade_date) "
            "WHERE j.symbol IS NULL OR coalesce(j.open_price, j.pre_high, j.ah_high) IS NULL "
            "ORDER BY p.trade_date, p.symbol").fetchall()
    return [(r[0], r[1]) for r in rows]


def commit_day(con: duckdb.DuckDBPyConnection, trade_date: dt.date, ledger: list[LedgerEntry],
               rejects: "pl.DataFrame", statuses: dict[str, tuple[str, str | None]], run_id: str, *,
               journal: "pl.DataFrame | None" = None, source: str = "flatfile",
               scope: frozenset[str] | None = None, versions: list[tuple[str, str]] = ()) -> None:
    """One transaction: a day's journal rows (stocks, within ``scope``), rejects, ledger entries, per-dataset
    status, and (object storage) the ``versions`` its partitions now point at."""
    scope_text = ledger[0].scope if ledger else "*"
    # each dataset's own scope: a stocks tick file loaded for --symbols beside aggregates loaded whole
    scopes = {e.dataset: e.scope for e in ledger}
    symbols = journal.height if journal is not None else 0
    with transaction(con):
        if journal is not None:
            upsert_day(con, trade_date, journal, source, scope)
        write_rejects(con, trade_date, [e.key for e in ledger], rejects, run_id)
        write_ledger(con, ledger, run_id)
        for dataset, (status, detail) in statuses.items():
            set_day_status(con, dataset, trade_date, status, detail, symbols, scopes.get(dataset, scope_text), run_id)
        pointers.set_versions(con, trade_date, versions, run_id)


def commit_failures(con: duckdb.DuckDBPyConnection, entries: list[LedgerEntry],
                    days: list[tuple[str, dt.date, str, str]], run_id: str) -> None:
    """Record failed objects (``entries``) and failed days ``(dataset, date, message, scope)``, in one transaction.

    A day is marked failed unless an earlier run loaded it: it keeps its rows and status, and
    the failure stays visible in the ledger.
    """
    import polars as pl

    if not entries and not days:
        return
    frame = pl.DataFrame({"dataset": [f[0] for f in days], "trade_date": [f[1] for f in days]},
                         schema={"dataset": pl.String, "trade_date": pl.Date})
    with transaction(con):
        write_ledger(con, entries, run_id)
        with registered(con, "_failed_days", frame):
            loaded = {(r[0], r[1]) for r in con.execute(
                "SELECT s.dataset, s.trade_date FROM day_status s JOIN _failed_days f USING (dataset, trade_date) "
                "WHERE s.status <> 'failed'").fetchall()}
        rows = [(ds, d, "failed", msg, 0, scope) for ds, d, msg, scope in days if (ds, d) not in loaded]
        if rows:
            _insert(con, "day_status", _frame(rows, _STATUS_TYPES), run_id)
