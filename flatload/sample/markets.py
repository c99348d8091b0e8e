"""Synthetic options, indices, crypto and forex aggregates, shaped like the vendor's files.

Each family's minutes follow its market: options trade the regular session, indices
print from the open to the close (and a few on exchange holidays), crypto trades around
the clock every day, forex from Sunday evening to Friday evening (UTC). Day files are
the minutes aggregated, stamped at the day's midnight in the family's time zone.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from .. import calendar

NS_PER_MIN = 60_000_000_000
#: option contracts: roots with digits and dots, strikes with fractions of a dollar
OPTION_CONTRACTS = ["O:SPY{exp}C00500000", "O:SPY{exp}P00495500", "O:QQQ{exp}C00430000", "O:AAPL1{exp}C00150500",
                    "O:BRK.B{exp}P00400000", "O:TSLA{exp}C01000000"]
INDEX_TICKERS = ["I:SPX", "I:NDX", "I:DJI", "I:VIX", "I:RUT"]
CRYPTO_TICKERS = ["X:BTCUSD", "X:ETHUSD", "X:SOLUSD", "X:DOGEUSD"]
FOREX_TICKERS = ["C:EURUSD", "C:USDJPY", "C:GBPUSD", "C:AUDUSD"]


def _bars(tickers: list[str], starts: np.ndarray, rng: np.random.Generator, density: float,
          fractional: bool, base_lo: float = 1.0, base_hi: float = 500.0) -> pl.DataFrame:
    """Random-walk bars for ``tickers`` on the minute grid ``starts`` (UTC ns), about ``density`` of minutes each."""
    n, m = len(tickers), len(starts)
    base = np.exp(rng.uniform(np.log(base_lo), np.log(base_hi), n))
    present = rng.random((n, m)) < density
    present[:, 0] = True  # every ticker has a bar at the first minute: no day is empty for a ticker
    walk = np.exp(np.cumsum(rng.normal(0, 0.001, (n, m + 1)), axis=1))
    path = base[:, None] * walk
    rows, cols = np.nonzero(present)
    o, c = np.round(path[rows, cols], 4), np.round(path[rows, cols + 1], 4)
    spread = np.abs(rng.normal(0, 0.0008, rows.size))
    vol = rng.random(rows.size) * 3 if fractional else rng.integers(1, 500, rows.size).astype(float)
    return pl.DataFrame({
        "ticker": np.array(tickers, dtype=object)[rows],
        "volume": np.round(vol, 8) if fractional else vol.astype(np.int64),
        "open": o, "close": c,
        "high": np.round(np.maximum(o, c) * (1 + spread), 4), "low": np.round(np.minimum(o, c) * (1 - spread), 4),
        "window_start": starts[cols].astype(np.int64),
        "transactions": np.maximum(1, (vol // 7).astype(np.int64)),
    }).sort("ticker", "window_start")


def _day(minute: pl.DataFrame, midnight_ns: int) -> pl.DataFrame:
    return (minute.group_by("ticker", maintain_order=True)
            .agg(pl.col("volume").sum(), pl.col("open").first(), pl.col("close").last(), pl.col("high").max(),
                 pl.col("low").min(), pl.col("transactions").sum())
            .with_columns(window_start=pl.lit(midnight_ns, pl.Int64)))


def _grid(start_ns: int, end_ns: int) -> np.ndarray:
    return start_ns + np.arange((end_ns - start_ns) // NS_PER_MIN, dtype=np.int64) * NS_PER_MIN


def _rng(seed: int, d: dt.date, family: str) -> np.random.Generator:
    return np.random.default_rng([seed, d.toordinal(), sum(map(ord, family))])


def _contracts(d: dt.date, n: int) -> list[str]:
    """``n`` option tickers: the special ones (digit and dot roots, fractional strikes) first, then a chain
    of 400 underlyings x 8 weekly expirations x calls and puts x strikes, as many as ``n`` asks (sorted)."""
    first = d + dt.timedelta(days=(4 - d.weekday()) % 7 or 7)
    names = [t.format(exp=f"{first:%y%m%d}") for t in OPTION_CONTRACTS][:n]
    roots = [a + b + c for a in "ABCDEFGHIJKLMNOPQRST" for b in "AEIOU" for c in "KLMN"][:400]
    strikes_per = max(1, -(-(n - len(names)) // (len(roots) * 8 * 2)))
    for root in roots:
        for week in range(8):
            expiry = first + dt.timedelta(days=7 * week)
            for cp in "CP":
                for k in range(strikes_per):
                    if len(names) >= n:
                        return sorted(names)
                    names.append(f"O:{root}{expiry:%y%m%d}{cp}{50_000 + 2_500 * k:08d}")
    return sorted(names)


def options_day(d: dt.date, n_contracts: int = 6, seed: int = 0, density: float = 0.4) -> dict[str, pl.DataFrame]:
    """Contracts traded in the regular session (a real day: about 0.05 of the minutes for most contracts)."""
    b = calendar.session_bounds(d)
    minute = _bars(_contracts(d, max(n_contracts, 1)), _grid(b.open, b.close), _rng(seed, d, "options"), density,
                   False, 0.05, 30.0)
    return {"minute_aggs": minute, "day_aggs": _day(minute, b.day_start)}


def indices_day(d: dt.date, seed: int = 0) -> dict[str, pl.DataFrame]:
    """Index values every minute of the session; on a weekday holiday, a few indices print all day."""
    rng = _rng(seed, d, "indices")
    if calendar.is_session(d):
        b = calendar.session_bounds(d)
        grid, tickers = _grid(b.open, b.close), INDEX_TICKERS
    else:
        start = calendar.midnight_ns(d, calendar.NY) + 9 * 60 * NS_PER_MIN
        grid, tickers = _grid(start, start + 8 * 60 * NS_PER_MIN), INDEX_TICKERS[:2]
    minute = _bars(tickers, grid, rng, 1.0, False, 10.0, 20_000.0).drop("volume", "transactions")
    day = (minute.group_by("ticker", maintain_order=True)
           .agg(pl.col("open").first(), pl.col("close").last(), pl.col("high").max(), pl.col("low").min())
           .with_columns(window_start=pl.lit(calendar.midnight_ns(d, calendar.NY), pl.Int64)))
    return {"minute_aggs": minute, "day_aggs": day}


def crypto_day(d: dt.date, seed: int = 0) -> dict[str, pl.DataFrame]:
    """Around the clock, weekends included, with fractional volume (amounts of the base asset)."""
    start = calendar.midnight_ns(d, calendar.UTC)
    minute = _bars(CRYPTO_TICKERS, _grid(start, start + 1440 * NS_PER_MIN), _rng(seed, d, "crypto"), 0.5, True,
                   0.1, 60_000.0)
    return {"minute_aggs": minute, "day_aggs": _day(minute, start)}


def forex_day(d: dt.date, seed: int = 0) -> dict[str, pl.DataFrame]:
    """Sunday from 21:00 UTC (partial), Monday to Thursday whole, Friday until 21:00 UTC."""
    start = calendar.midnight_ns(d, calendar.UTC)
    lo = start + (21 * 60 * NS_PER_MIN if d.weekday() == 6 else 0)
    hi = start + (21 * 60 if d.weekday() == 4 else 1440) * NS_PER_MIN
    minute = _bars(FOREX_TICKERS, _grid(lo, hi), _rng(seed, d, "forex"), 0.7, True, 0.5, 160.0)
    return {"minute_aggs": minute, "day_aggs": _day(minute, start)}
