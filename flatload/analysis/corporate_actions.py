"""Splits and dividends from the vendor's REST API into the store's ``splits`` and ``dividends`` tables.

``load_corporate_actions`` (``flatload corporate-actions``) replaces what the store holds for its
symbols (all, or ``--symbols``) with what the API says now, so corrections and withdrawals reach
the store too; ``flatload_meta`` remembers which symbols are covered (adjustment refuses a symbol
that is not, instead of silently not adjusting it). ``refresh_corporate_actions`` (run by
``flatload refresh``) re-reads the last weeks' events for those symbols. Rows the API sends
without a ticker, a date or a positive split ratio are skipped and counted.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from ..errors import ConfigError
from ..fetch.rest import RestClient
from ..settings import Settings
from ..store.database import db
from ..store.files import fs
from ..store.database.ledger import scope_text
from .adjust import META_KEY, new_york_today
from .sql import kept_scope
from ..store.store import Store

#: how far back ``refresh`` re-reads events (the vendor corrects recent ones)
REFRESH_DAYS = 30
SPLIT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "ticker": pl.String(), "execution_date": pl.Date(), "split_from": pl.Float64(),
    "split_to": pl.Float64(), "adjustment_type": pl.String(), "historical_adjustment_factor": pl.Float64(),
}
DIVIDEND_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "ticker": pl.String(), "ex_dividend_date": pl.Date(), "cash_amount": pl.Float64(),
    "currency": pl.String(), "declaration_date": pl.Date(), "record_date": pl.Date(), "pay_date": pl.Date(),
    "frequency": pl.Int32(), "distribution_type": pl.String(), "split_adjusted_cash_amount": pl.Float64(),
    "historical_adjustment_factor": pl.Float64(),
}


@dataclass(frozen=True)
class CorporateActions:
    """What one load or refresh of corporate actions wrote."""

    splits: int
    dividends: int
    skipped: int
    scope: str  # '*' or the comma-joined symbols
    since: dt.date | None = None

    def line(self) -> str:
        """One line for the terminal."""
        who = "all symbols" if self.scope == "*" else self.scope.replace(",", ", ")
        when = f" since {self.since}" if self.since else ""
        skipped = f"; {self.skipped} row(s) without a ticker, a date or a valid ratio skipped" if self.skipped else ""
        return f"corporate actions: {self.splits} split(s), {self.dividends} dividend(s) for {who}{when}{skipped}"


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def split_rows(results: Iterable[dict[str, Any]]) -> tuple[pl.DataFrame, int]:
    """The API's split results as table rows, and how many were unusable."""
    rows, bad = [], 0
    for r in results:
        ticker, day = r.get("ticker"), _date(r.get("execution_date"))
        lo, hi = _number(r.get("split_from")), _number(r.get("split_to"))
        if not isinstance(ticker, str) or not ticker or day is None or not lo or not hi or lo <= 0 or hi <= 0:
            bad += 1
            continue
        rows.append({"id": str(r.get("id") or f"{ticker}:{day}:{lo:g}:{hi:g}"), "ticker": ticker,
                     "execution_date": day, "split_from": lo, "split_to": hi,
                     "adjustment_type": r.get("adjustment_type"),
                     "historical_adjustment_factor": _number(r.get("historical_adjustment_factor"))})
    # the same event twice (pages that overlap while the vendor updates) is one row
    return pl.DataFrame(rows, schema=SPLIT_SCHEMA).unique("id", keep="last", maintain_order=True), bad


def dividend_rows(results: Iterable[dict[str, Any]]) -> tuple[pl.DataFrame, int]:
    """The API's dividend results as table rows, and how many were unusable."""
    rows, bad = [], 0
    for r in results:
        ticker, ex = r.get("ticker"), _date(r.get("ex_dividend_date"))
        if not isinstance(ticker, str) or not ticker or ex is None:
            bad += 1
            continue
        cash, freq = _number(r.get("cash_amount")), _number(r.get("frequency"))
        rows.append({"id": str(r.get("id") or f"{ticker}:{ex}:{cash}:{r.get('distribution_type')}"),
                     "ticker": ticker, "ex_dividend_date": ex, "cash_amount": cash, "currency": r.get("currency"),
                     **{k: _date(r.get(k)) for k in ("declaration_date", "record_date", "pay_date")},
                     "frequency": int(freq) if freq is not None else None,
                     "distribution_type": r.get("distribution_type"),
                     "split_adjusted_cash_amount": _number(r.get("split_adjusted_cash_amount")),
                     "historical_adjustment_factor": _number(r.get("historical_adjustment_factor"))})
    return pl.DataFrame(rows, schema=DIVIDEND_SCHEMA).unique("id", keep="last", maintain_order=True), bad


def _replace(con: duckdb.DuckDBPyConnection, table: str, date_col: str, rows: pl.DataFrame,
             tickers: frozenset[str] | None, since: dt.date | None) -> None:
    """Rows of ``table`` in scope (``tickers``, dates from ``since``) become ``rows``."""
    where, params = ["TRUE"], []
    if since is not None:
        where.append(f"{date_col} >= ?")
        params.append(since)
    if tickers is not None:
        where.append("ticker IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(tickers))
    con.execute(f"DELETE FROM {table} WHERE {' AND '.join(where)}", params)
    cols = ", ".join(rows.columns)
    with db.registered(con, "_ca_rows", rows):
        con.execute(f"INSERT OR REPLACE INTO {table} ({cols}, loaded_at) "
                    f"SELECT {cols}, CAST(timezone('UTC', now()) AS TIMESTAMP) FROM _ca_rows")


def _merged_scope(held: str | None, new: frozenset[str] | None) -> str:
    if new is None or held == "*":
        return "*"
    return scope_text(new | (frozenset(held.split(",")) if held else frozenset()))


def _store(settings: Settings, splits: pl.DataFrame, dividends: pl.DataFrame, tickers: frozenset[str] | None,
           since: dt.date | None) -> str:
    """Write both tables and the covered symbols in one transaction; returns the scope now covered."""
    fs.prepare_data_dir(settings.data_dir)
    store = Store.of(settings)
    con = store.writer()
    try:
        store.apply_schema(con, migrations=False)
        held = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [META_KEY]).fetchall()
        held_scope = held[0][0] if held else None
        scope = held_scope if since is not None and held_scope else _merged_scope(held_scope, tickers)
        with db.transaction(con):
            _replace(con, "splits", "execution_date", splits, tickers, since)
            _replace(con, "dividends", "ex_dividend_date", dividends, tickers, since)
            con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [META_KEY, scope])
        return scope
    finally:
        con.close()


def _fetch(settings: Settings, tickers: frozenset[str] | None,
           since: dt.date | None) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    with RestClient.of(settings, "corporate actions") as client:
        names = sorted(tickers) if tickers is not None else None
        splits, bad_s = split_rows(client.splits(names, since))
        dividends, bad_d = dividend_rows(client.dividends(names, since))
    return splits, dividends, bad_s + bad_d


def load_corporate_actions(settings: Settings, symbols: Iterable[str] | None = None) -> CorporateActions:
    """Load every split and dividend of ``symbols`` (None: all) and replace what the store holds of them."""
    tickers = frozenset(symbols) if symbols is not None else None
    if tickers is not None and not tickers:
        raise ConfigError("no symbols given", hint="pass --symbols A,B or leave it out for all symbols")
    splits, dividends, bad = _fetch(settings, tickers, None)
    _store(settings, splits, dividends, tickers, None)
    return CorporateActions(splits.height, dividends.height, bad, scope_text(tickers))


def refresh_corporate_actions(settings: Settings, today: dt.date | None = None) -> CorporateActions | None:
    """Re-read the last :data:`REFRESH_DAYS` days of events for the symbols already loaded.

    None when there is nothing to keep current: no API key, REST turned off, or corporate actions
    never loaded into this store (a first load of every symbol is ``flatload corporate-actions``).
    """
    held = kept_scope(settings, META_KEY)
    if held is None:
        return None
    tickers = None if held == "*" else frozenset(held.split(","))
    since = (today or new_york_today()) - dt.timedelta(days=REFRESH_DAYS)
    splits, dividends, bad = _fetch(settings, tickers, since)
    scope = _store(settings, splits, dividends, tickers, since)
    return CorporateActions(splits.height, dividends.height, bad, scope, since)
