"""A week of stocks files and a ticker reference with the traps that matter: a rename in the middle of the
range, a recycled ticker, a delisting. Files come from the sample generator with some tickers renamed.

- ``AAPL``'s series trades as ``FB`` until 2024-03-12 and as ``META`` from 2024-03-13 (one share class,
  ``BBG_META``), with a 2-for-1 split executed on 2024-03-12 under ``FB``;
- ``SPY``'s series trades as ``ABC``: on 2024-03-08 that is company X (delisted that day, ``BBG_X``),
  from 2024-03-12 company Y (``BBG_Y``, listed then); nobody trades as ``ABC`` on 2024-03-11;
- ``QQQ``'s series trades as ``OLDCO`` until its delisting on 2024-03-11 (``BBG_OLD``);
- one more delisted listing the vendor gives no FIGI (``GONE``), and an active ETF (``SPYX``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from flatload import datasets, sample

DAYS = [dt.date(2024, 3, 8), dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13),
        dt.date(2024, 3, 14), dt.date(2024, 3, 15)]
RENAMED_ON = dt.date(2024, 3, 13)
X_DELISTED, Y_LISTED, OLDCO_DELISTED = dt.date(2024, 3, 8), dt.date(2024, 3, 12), dt.date(2024, 3, 11)
SPLIT = {"id": "fb-split", "ticker": "FB", "execution_date": "2024-03-12", "split_from": 1, "split_to": 2,
         "adjustment_type": "forward_split"}


def traded_as(series: str, d: dt.date) -> str | None:
    """The ticker a sample series trades under on ``d`` (None: not at all)."""
    if series == "AAPL":
        return "FB" if d < RENAMED_ON else "META"
    if series == "SPY":
        return None if d == OLDCO_DELISTED else "ABC"
    if series == "QQQ":
        return "OLDCO" if d <= OLDCO_DELISTED else None
    return series


def _renamed(frame: pl.DataFrame, d: dt.date) -> pl.DataFrame:
    names = {s: traded_as(s, d) for s in ("AAPL", "SPY", "QQQ")}
    out = frame.filter(~pl.col("ticker").is_in([s for s, t in names.items() if t is None]))
    return out.with_columns(pl.col("ticker").replace({s: t for s, t in names.items() if t is not None}))


def stock_files(n_tickers: int = 10) -> dict[str, bytes]:
    """The week's minute and day files, renamed as the module says."""
    files = {}
    for d in DAYS:
        day = sample.sample_day(d, n_tickers)
        files[datasets.get("stocks/minute_aggs").key(d)] = sample.to_csv_gz(_renamed(day.minute, d))
        files[datasets.get("stocks/day_aggs").key(d)] = sample.to_csv_gz(_renamed(day.day, d))
    return files


def _row(ticker: str, figi: str | None, active: bool, *, type_: str = "CS", delisted: dt.date | None = None,
         updated: str = "2024-03-15T00:00:00Z", name: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"ticker": ticker, "name": name or f"{ticker} Inc.", "market": "stocks", "locale": "us",
                           "primary_exchange": "XNAS", "type": type_, "active": active, "currency_name": "usd",
                           "last_updated_utc": updated}
    if figi is not None:
        row |= {"composite_figi": figi, "share_class_figi": f"SC_{figi}"}
    if delisted is not None:
        row["delisted_utc"] = f"{delisted.isoformat()}T00:00:00Z"
    return row


def reference() -> tuple[list[dict[str, Any]], dict[str, tuple[str, list[tuple[str, str]]]]]:
    """The reference rows, and each composite FIGI's (name, ticker changes)."""
    rows = [_row("META", "BBG_META", True, name="Meta Platforms"),
            _row("ABC", "BBG_Y", True, name="Y Corp"),
            _row("ABC", "BBG_X", False, delisted=X_DELISTED, name="X Corp"),
            _row("OLDCO", "BBG_OLD", False, delisted=OLDCO_DELISTED),
            _row("GONE", None, False, delisted=dt.date(2020, 1, 31)),
            _row("SPYX", "BBG_ETF", True, type_="ETF")]
    rows += [_row(t, f"BBG_{t.replace('.', '_')}", True) for t in ("BRK.B", "ABRpD", "TpC", "TPC", "NA")]
    events = {"BBG_META": ("Meta Platforms", [("2012-05-18", "FB"), (RENAMED_ON.isoformat(), "META")]),
              "BBG_Y": ("Y Corp", [(Y_LISTED.isoformat(), "ABC")]),
              "BBG_X": ("X Corp", [("2001-06-01", "ABC")]),
              "BBG_OLD": ("Oldco", [("2010-01-04", "OLDCO")])}
    return rows, events


def serve(fake: Any) -> None:
    """Put the reference and its events on a FakeRest."""
    rows, events = reference()
    fake.set_tickers(rows)
    for figi, (name, changes) in events.items():
        fake.set_events(figi, name, changes)
