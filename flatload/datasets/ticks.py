"""The tick datasets: every trade and every quote of US stocks (SIP) and US options (OPRA), one entry each.

Column types: prices DOUBLE; sizes DOUBLE (the SIP reports fractional trade sizes since
2026-02-23, and quote sizes changed from round lots to shares on 2025-11-03: a double keeps
both exact); exchange, tape and correction codes and sequence numbers BIGINT; every
``*_timestamp`` a nanosecond timestamp without time zone holding UTC (``NAIVE_UTC_NANOS``: the
vendor's integer nanoseconds, exact in every reader, DuckDB 1.x included); ``conditions``
and ``indicators`` text (comma lists, quoted in the CSV); trade ``id`` text. ``sip_timestamp``
decides the day (New York). The header decides which columns a file has: a required one
missing fails the file, an optional one missing is stored as NULL, an unknown one is kept
as text. A stocks day is about 70 M trades (1.3 GB gzip); the files are read in batches.
"""
from __future__ import annotations

import datetime as dt

from .aggregates import OPTIONS, STOCKS
from .model import NAIVE_UTC_NANOS, Column, Dataset
from .options import CONTRACT_COLUMNS, derive_contracts

_STR, _F64, _I64 = "String", "Float64", "Int64"
#: the vendor's files are ordered by ticker, then SIP time: partitions keep that order
TICK_ORDER = ("ticker", "sip_timestamp")


def _col(name: str, required: bool = False) -> Column:
    """A tick column, typed and given its role by its name (the vendor's names are regular)."""
    if name == "ticker":
        return Column(name, _STR, "ticker")
    if name == "sip_timestamp":
        return Column(name, _I64, "time")
    if name.endswith("_timestamp"):
        return Column(name, _I64, "timestamp", required)
    if name.endswith("price"):
        return Column(name, _F64, "price", required)
    if name.endswith("size"):
        return Column(name, _F64, "volume", required)
    if name in ("conditions", "indicators", "id"):
        return Column(name, _STR, "text", required)
    if name == "sequence_number":
        return Column(name, _I64, "count", required)
    return Column(name, _I64, "code", required)  # exchange, tape, correction, trf_id


def _columns(header: str, required: tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(_col(n, n in required) for n in header.split(","))


STOCK_TRADES = _columns("ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,"
                        "sip_timestamp,size,tape,trf_id,trf_timestamp", ("price", "size"))
STOCK_QUOTES = _columns("ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,conditions,"
                        "indicators,participant_timestamp,sequence_number,sip_timestamp,tape,trf_timestamp",
                        ("ask_price", "ask_size", "bid_price", "bid_size"))
OPTION_TRADES = _columns("ticker,conditions,correction,exchange,participant_timestamp,price,sip_timestamp,size",
                         ("price", "size"))
OPTION_QUOTES = _columns("ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,sequence_number,"
                         "sip_timestamp", ("ask_price", "ask_size", "bid_price", "bid_size"))


def tick_datasets() -> list[Dataset]:
    """The four tick datasets, loaded only when named (``--datasets stocks/trades``)."""
    stocks_first, options_first = dt.date(2003, 9, 10), dt.date(2014, 6, 2)
    common = {"first_date_known": False, "streamed": True, "sort_by": TICK_ORDER, "instant_type": NAIVE_UTC_NANOS}
    options = {**common, "derive": derive_contracts, "derived_columns": CONTRACT_COLUMNS}
    return [
        Dataset(STOCKS, "trades", STOCK_TRADES, stocks_first, description="US stocks (SIP): every trade, "
                "ns timestamps, fractional sizes since 2026-02-23", **common),  # type: ignore[arg-type]
        Dataset(STOCKS, "quotes", STOCK_QUOTES, stocks_first, description="US stocks (SIP): every NBBO quote "
                "update, ns timestamps", **common),  # type: ignore[arg-type]
        Dataset(OPTIONS, "trades", OPTION_TRADES, options_first, description="US options (OPRA): every trade, "
                "with the contract's underlying, expiration, type and strike", **options),  # type: ignore[arg-type]
        Dataset(OPTIONS, "quotes", OPTION_QUOTES, options_first, description="US options (OPRA): every quote "
                "(100 GB+ gzip a day in all), with the contract's columns", **options),  # type: ignore[arg-type]
    ]
