"""Per (symbol, trade_date) session metrics: pure, vectorized Polars.

Session windows arrive as UTC-nanosecond integers (``SessionBounds``) so each bar
is classified by two integer comparisons instead of a time-zone conversion.
"""
from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ..calendar import SessionBounds
from .journal import JOURNAL_COLUMNS, JOURNAL_TYPES
from .model import polars_type

__all__ = ["JOURNAL_COLUMNS", "METRICS_SCHEMA", "extended_hours", "daily", "session_metrics"]

METRICS_SCHEMA: dict[str, pl.DataType] = {name: polars_type(t) for name, t in JOURNAL_TYPES.items()}


def extended_hours(minute: pl.DataFrame, b: SessionBounds) -> pl.DataFrame:
    """``ticker, pre_high, pre_low, ah_high, ah_low`` for every ticker in ``minute``.

    Pre-market is ``[04:00, open)``, after-hours ``[close, close + 4h)`` (16:00-20:00,
    or 13:00-17:00 on early closes). A ticker with no bar in a window gets NULLs.
    """
    ws = pl.col("window_start")
    lf = minute.lazy()
    # filter before grouping: extended-hours bars are a small share of the day
    pre = (lf.filter((ws >= b.pre_start) & (ws < b.open))
           .group_by("ticker").agg(pre_high=pl.col("high").max(), pre_low=pl.col("low").min()))
    post = (lf.filter((ws >= b.close) & (ws < b.post_end))
            .group_by("ticker").agg(ah_high=pl.col("high").max(), ah_low=pl.col("low").min()))
    tickers = lf.select(pl.col("ticker").unique())
    return tickers.join(pre, on="ticker", how="left").join(post, on="ticker", how="left").collect()


def daily(day: pl.DataFrame) -> pl.DataFrame:
    """``ticker, open_price, hod, lod, close_price, day_volume`` from the day aggregates."""
    # a ticker listed twice in a day file is a vendor defect; keep the row with most volume
    return (day.sort("volume", descending=True).unique("ticker", keep="first")
            .select("ticker", open_price="open", hod="high", lod="low", close_price="close",
                    day_volume=pl.col("volume").cast(pl.Float64)))


def session_metrics(minute: pl.DataFrame | None, day: pl.DataFrame | None, b: SessionBounds,
                    symbols: Iterable[str] | None = None) -> pl.DataFrame:
    """One row per ticker present in either file for session ``b.date``, in journal column order.

    ``minute`` and ``day`` are typed flat-file frames (or None when that file is not
    available: its columns are then NULL). ``symbols`` limits the output.
    """
    if symbols is not None:
        wanted = pl.Series(sorted(set(symbols)), dtype=pl.String)
        minute = None if minute is None else minute.filter(pl.col("ticker").is_in(wanted.implode()))
        day = None if day is None else day.filter(pl.col("ticker").is_in(wanted.implode()))
    parts = []
    if minute is not None:
        parts.append(extended_hours(minute, b))
    if day is not None:
        parts.append(daily(day))
    if not parts:
        return pl.DataFrame(schema=METRICS_SCHEMA)
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on="ticker", how="full", coalesce=True)
    return (out.rename({"ticker": "symbol"})
            .with_columns(trade_date=pl.lit(b.date, pl.Date))
            .select([pl.col(c).cast(t) if c in out.columns or c in ("symbol", "trade_date")
                     else pl.lit(None, t).alias(c) for c, t in METRICS_SCHEMA.items()])
            .sort("symbol"))
