"""Which company a ticker is on a date, out of the store's ``symbol_history`` (``flatload tickers`` fills it).

``company`` resolves a ticker to the share class holding it (the latest holder within a range: a recycled
ticker is never two companies) with every ticker it traded under; bars, adjustment and indicators follow
it across renames (``--follow-renames``). ``members`` gives a universe as it was on each date: every
listing of a type (common stock: ``CS``) on a date, delisted names included, or the names a list of
companies had then, so that a backtest does not see only the survivors.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from ..errors import ConfigError
from ..settings import Settings
from ..store.store import Store

_BEGIN, _END = dt.date(1, 1, 1), dt.date(9999, 12, 31)


@dataclass(frozen=True)
class Span:
    """One ticker of a company, from ``first`` to ``last`` (inclusive; None: open)."""

    ticker: str
    first: dt.date | None
    last: dt.date | None

    def covers(self, d: dt.date) -> bool:
        """True when the company traded under this ticker on ``d``."""
        return (self.first or _BEGIN) <= d <= (self.last or _END)


@dataclass(frozen=True)
class Company:
    """A share class: its entity (FIGI), the ticker it trades under now (or last did), and all its tickers."""

    entity: str
    ticker: str
    spans: tuple[Span, ...]

    def ticker_on(self, d: dt.date) -> str | None:
        """The ticker it traded under on ``d`` (None: not listed then)."""
        return next((s.ticker for s in self.spans if s.covers(d)), None)


def _require_reference(con: duckdb.DuckDBPyConnection) -> None:
    known = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'tickers'").fetchall()[0][0]
    if not known or not con.execute("SELECT count(*) FROM tickers").fetchall()[0][0]:
        raise ConfigError("this store has no ticker reference: renames and delistings are unknown to it",
                          hint="load it first: flatload tickers (or flatload tickers --symbols A,B)")


def company(con: duckdb.DuckDBPyConnection, symbol: str, start: dt.date, end: dt.date) -> Company:
    """The share class that traded as ``symbol`` within ``[start, end]`` (the latest holder), with its spans.

    ConfigError when the store has no reference, or none of its share classes used ``symbol`` then.
    """
    _require_reference(con)
    holders = con.execute(
        "SELECT entity FROM symbol_history WHERE ticker = ? AND coalesce(first_date, DATE '0001-01-01') <= ? "
        "AND coalesce(last_date, DATE '9999-12-31') >= ? ORDER BY coalesce(last_date, DATE '9999-12-31') DESC, "
        "coalesce(first_date, DATE '0001-01-01') DESC LIMIT 1", [symbol, end, start]).fetchall()
    if not holders:
        raise ConfigError(f"no share class in the ticker reference traded as {symbol!r} between {start} and {end}",
                          hint="check the symbol and the dates, or reload the reference: flatload tickers")
    entity = holders[0][0]
    rows = con.execute("SELECT ticker, first_date, last_date, current_ticker FROM symbol_history WHERE entity = ? "
                       "ORDER BY coalesce(first_date, DATE '0001-01-01')", [entity]).fetchall()
    return Company(entity, rows[-1][3], tuple(Span(t, f, last) for t, f, last, _ in rows))


def listed_on(con: duckdb.DuckDBPyConnection, d: dt.date, types: Sequence[str] = ("CS",)) -> list[str]:
    """Every ticker of ``types`` listed on ``d``, delisted ones included, as they were named then (sorted)."""
    _require_reference(con)
    rows = con.execute(
        "SELECT DISTINCT ticker FROM symbol_history WHERE type IN (SELECT unnest(?::VARCHAR[])) "
        "AND coalesce(first_date, DATE '0001-01-01') <= ? AND coalesce(last_date, DATE '9999-12-31') >= ? "
        "ORDER BY ticker", [list(types), d, d]).fetchall()
    return [r[0] for r in rows]


def companies_now(con: duckdb.DuckDBPyConnection, symbols: Iterable[str]) -> dict[str, list[Company]]:
    """The companies now (or last) trading as each of ``symbols``, with all their spans (one query)."""
    _require_reference(con)
    wanted = list(dict.fromkeys(symbols))
    rows = con.execute(
        "SELECT entity, ticker, first_date, last_date, current_ticker FROM symbol_history WHERE entity IN "
        "(SELECT entity FROM symbol_history WHERE current_ticker IN (SELECT unnest(?::VARCHAR[]))) "
        "ORDER BY entity, coalesce(first_date, DATE '0001-01-01')", [wanted]).fetchall()
    spans: dict[tuple[str, str], list[Span]] = {}
    for entity, ticker, first, last, now in rows:
        spans.setdefault((now, entity), []).append(Span(ticker, first, last))
    out: dict[str, list[Company]] = {s: [] for s in wanted}
    for (now, entity), held in spans.items():
        out[now].append(Company(entity, now, tuple(held)))
    return out


def names_on(companies: dict[str, list[Company]], d: dt.date) -> list[str]:
    """What the companies of :func:`companies_now` were named on ``d``; those not listed then are left out, and
    a symbol the reference does not know is kept as it is."""
    out = set()
    for symbol, firms in companies.items():
        if not firms:
            out.add(symbol)
        out.update(t for t in (f.ticker_on(d) for f in firms) if t is not None)
    return sorted(out)


def members(settings: Settings, start: dt.date, end: dt.date, symbols: Iterable[str] | None = None,
            types: Sequence[str] = ("CS",), sessions: Sequence[dt.date] | None = None) -> dict[dt.date, list[str]]:
    """A universe on each date of ``sessions`` (default: the NYSE sessions of ``[start, end]``): the names of
    ``symbols``' companies then, or without ``symbols`` every listing of ``types`` then."""
    from ..calendar import sessions as nyse_sessions

    days = list(sessions) if sessions is not None else nyse_sessions(start, end)
    wanted = list(dict.fromkeys(symbols)) if symbols is not None else None
    con = Store.of(settings).reader()
    try:
        if wanted is None:
            return {d: listed_on(con, d, types) for d in days}
        firms = companies_now(con, wanted)  # read once: the dates are checked against their spans
        return {d: names_on(firms, d) for d in days}
    finally:
        con.close()
