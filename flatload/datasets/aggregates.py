"""The aggregate datasets: minute and day bars of each family, one registry entry each.

Column types: prices DOUBLE; ``volume`` DOUBLE for stocks (the SIP reports fractional
share volume since 2026-02-23), crypto (amounts of the base asset) and forex, BIGINT
for options (whole contracts: a fractional value rejects its row); ``transactions``
BIGINT; ``window_start`` a UTC timestamp (ns). Index files have neither volume nor
transactions. The header decides which columns a file has; a required one missing
fails the file, an unknown extra one is ignored with a warning.
"""
from __future__ import annotations

import datetime as dt

from ..calendar import EveryDayUTC, SundayToFridayUTC, XnysCalendar, XnysWithHolidayFiles
from .model import Column, Dataset, Family
from .options import CONTRACT_COLUMNS, derive_contracts

STOCKS = Family("stocks", "us_stocks_sip", XnysCalendar())
OPTIONS = Family("options", "us_options_opra", XnysCalendar(), row_filter="underlyings")
INDICES = Family("indices", "us_indices", XnysWithHolidayFiles())
CRYPTO = Family("crypto", "global_crypto", EveryDayUTC())
FOREX = Family("forex", "global_forex", SundayToFridayUTC())


def _bars(volume: str | None) -> tuple[Column, ...]:
    """The vendor's aggregate header order: ticker,volume,open,close,high,low,window_start,transactions."""
    cols = [Column("ticker", "String", "ticker")]
    if volume is not None:
        cols.append(Column("volume", volume, "volume"))
    cols += [Column(n, "Float64", "price") for n in ("open", "close", "high", "low")]
    cols.append(Column("window_start", "Int64", "time"))
    if volume is not None:
        cols.append(Column("transactions", "Int64", "count", required=False))
    return tuple(cols)


def _pair(family: Family, volume: str | None, first: dt.date, known: bool, what: str,
          rest: tuple[str, str] | None = None, **extra: object) -> list[Dataset]:
    """The minute and day aggregates of ``family`` (``rest``: the REST endpoints that can fill each)."""
    minute = Dataset(family, "minute_aggs", _bars(volume), first, known, f"{what}: one bar per ticker and minute "
                     "with a trade (or a value)", rest=rest[0] if rest else None,
                     tickers_within=f"{family.name}/day_aggs", **extra)  # type: ignore[arg-type]
    day = Dataset(family, "day_aggs", _bars(volume), first, known, f"{what}: one bar per ticker and day", daily=True,
                  rest=rest[1] if rest else None, **extra)  # type: ignore[arg-type]
    return [minute, day]


def aggregate_datasets() -> list[Dataset]:
    """The ten aggregate datasets, in the order ``flatload datasets`` lists them."""
    stocks = _pair(STOCKS, "Float64", dt.date(2003, 9, 10), True, "US stocks (SIP)",
                   rest=("minute_aggs", "grouped_daily"))
    options = _pair(OPTIONS, "Int64", dt.date(2014, 6, 2), False, "US options (OPRA)",
                    derive=derive_contracts, derived_columns=CONTRACT_COLUMNS)
    return [*stocks, *options,
            *_pair(INDICES, None, dt.date(2023, 2, 1), False, "US indices (values, no volume)"),
            *_pair(CRYPTO, "Float64", dt.date(2013, 1, 1), False, "crypto (UTC days, weekends included)"),
            *_pair(FOREX, "Float64", dt.date(2009, 1, 1), False, "forex (UTC days, Sunday to Friday)")]
