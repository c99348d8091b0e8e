"""Synthetic US stocks minute and day aggregates, shaped like the vendor's.

Nothing here is vendor data. The generator reproduces what matters to the loader:
the exact CSV header, nanosecond ``window_start``, bars only for some minutes
from 04:00 to 20:00 ET (17:00 on early closes), case-sensitive tickers
(``ABRpD``, ``TpC`` vs ``TPC``, a ticker named ``NA``), a day file with one row
per ticker stamped at New York midnight, tickers present in only one of the two
files, and bars sitting exactly on every session boundary.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from .. import calendar
from ..datasets import get

CSV_COLUMNS = get("stocks/minute_aggs").csv_columns

SPECIAL_TICKERS = ["AAPL", "BRK.B", "ABRpD", "TpC", "TPC", "NA", "SPY", "QQQ"]
NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True)
class SampleDay:
    """One session's generated files, as frames in the CSV's column order."""

    date: dt.date
    minute: pl.DataFrame
    day: pl.DataFrame


def _tickers(n: int, rng: np.random.Generator) -> list[str]:
    names = list(SPECIAL_TICKERS[: max(n, 0)])
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    seen = set(names)
    while len(names) < n:
        width = int(rng.integers(2, 5))
        name = "".join(rng.choice(letters, width))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def sample_day(d: dt.date, n_tickers: int = 40, seed: int = 0, density: float = 0.35,
               minute_only: int = 1, day_only: int = 1, fractional_volume: bool = False) -> SampleDay:
    """Generate one session's minute and day aggregates.

    ``density`` is the mean share of minutes with a bar (about 0.19 gives ~2 M rows
    for 11,000 tickers, the size of a real day). ``minute_only`` tickers appear only in
    the minute file and ``day_only`` only in the day file, as happens in real files.
    ``fractional_volume``: volumes with fractions of a share, as the SIP reports them from 2026-02-23 on.
    """
    b = calendar.session_bounds(d)
    # names and price levels are stable across days; bars differ per day
    stable = np.random.default_rng(seed)
    tickers = _tickers(n_tickers + day_only, stable)
    base = np.exp(stable.uniform(np.log(2), np.log(600), len(tickers)))
    rng = np.random.default_rng([seed, d.toordinal()])
    n = len(tickers)
    minutes = (b.post_end - b.pre_start) // NS_PER_MIN
    starts = b.pre_start + np.arange(minutes, dtype=np.int64) * NS_PER_MIN
    regular = (starts >= b.open) & (starts < b.close)

    # liquid names trade most regular minutes; extended hours are thinner
    liquidity = np.clip(rng.beta(0.6, 1.2, n) * density / 0.33, 0.01, 1.0)
    p = np.where(regular[None, :], liquidity[:, None], liquidity[:, None] * 0.3)
    present = rng.random((n, minutes)) < p
    # every special ticker trades on each window boundary: the edges are where bugs live
    edges = np.isin(starts, [b.pre_start, b.open - NS_PER_MIN, b.open, b.close - NS_PER_MIN, b.close,
                             b.post_end - NS_PER_MIN])
    n_special = min(len(SPECIAL_TICKERS), n_tickers)
    present[:n_special] |= edges[None, :]
    present[n_tickers:] = False  # day-only tickers

    walk = np.exp(np.cumsum(rng.normal(0, 0.0015, (n, minutes + 1)), axis=1))
    path = base[:, None] * walk
    rows, cols = np.nonzero(present)
    o = path[rows, cols]
    c = path[rows, cols + 1]
    spread = np.abs(rng.normal(0, 0.001, rows.size))
    h = np.maximum(o, c) * (1 + spread)
    low = np.minimum(o, c) * (1 - spread)
    vol = rng.integers(1, 5_000, rows.size) * np.where(regular[cols], 10, 1)
    trades = np.maximum(1, vol // 37)
    minute = pl.DataFrame({
        "ticker": np.array(tickers, dtype=object)[rows],
        "volume": np.round(vol + rng.random(rows.size), 6) if fractional_volume else vol.astype(np.int64),
        "open": _tick(o),
        "close": _tick(c),
        "high": np.maximum(_tick(h), np.maximum(_tick(o), _tick(c))),
        "low": np.minimum(_tick(low), np.minimum(_tick(o), _tick(c))),
        "window_start": starts[cols],
        "transactions": trades.astype(np.int64),
    }, schema=_schema(fractional_volume))
    # the vendor's files are ordered by ticker, then time
    minute = minute.sort("ticker", "window_start")
    day = _day_from_minutes(minute, b, tickers[n_tickers:], rng, drop=minute_only).cast(_schema(fractional_volume))
    return SampleDay(d, minute, day)


def _tick(price: np.ndarray) -> np.ndarray:
    """Prices on the tick grid: cents from $1 up, 1/100 cent below (Reg NMS)."""
    return np.where(price >= 1.0, np.round(price, 2), np.round(price, 4))


def _schema(fractional_volume: bool = False) -> dict[str, pl.DataType]:
    return {"ticker": pl.String, "volume": pl.Float64 if fractional_volume else pl.Int64,
            "open": pl.Float64, "close": pl.Float64,
            "high": pl.Float64, "low": pl.Float64, "window_start": pl.Int64, "transactions": pl.Int64}


def _day_from_minutes(minute: pl.DataFrame, b: calendar.SessionBounds, extra: list[str],
                      rng: np.random.Generator, drop: int) -> pl.DataFrame:
    ws = pl.col("window_start")
    reg = minute.filter((ws >= b.open) & (ws <= b.close))  # the official close prints in the close bar
    day = (reg.sort("ticker", "window_start").group_by("ticker", maintain_order=True).agg(
        pl.col("volume").sum(), pl.col("open").first(), pl.col("close").last(),
        pl.col("high").max(), pl.col("low").min(), pl.col("transactions").sum()))
    if drop:
        # the last few tickers trade only outside the regular session or are missing from the day file
        day = day.head(max(day.height - drop, 0))
    if extra:
        px = _tick(np.exp(rng.uniform(np.log(2), np.log(100), len(extra))))
        day = pl.concat([day.with_columns(pl.col("volume").cast(pl.Float64)), pl.DataFrame({
            "ticker": extra, "volume": rng.integers(100, 10_000, len(extra)), "open": px, "close": px,
            "high": px, "low": px, "transactions": np.full(len(extra), 3)},
            schema_overrides={"volume": pl.Float64, "transactions": pl.Int64})], how="diagonal")
    return day.with_columns(window_start=pl.lit(b.day_start, pl.Int64), volume=pl.col("volume").cast(pl.Float64)
                            ).select(CSV_COLUMNS)
