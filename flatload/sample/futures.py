"""Synthetic futures aggregates, shaped like the vendor's: sessions named by the day they end.

A session ending on ``d`` opens at 17:00 Chicago the evening before and ends at 16:00 (CME Globex's
daily halt). When the day before was a holiday on which CME still traded (Martin Luther King Day:
open Sunday evening, halted at noon), that trading belongs to the next session too, so Tuesday's file
starts on Sunday. A few contracts print a pre-open bar at 16:55 Chicago (17:55 New York), which belongs
to the next session's file. Ticker forms: outrights, a calendar spread and a butterfly (spreads trade at
negative prices). No file on a day CME is closed (Good Friday, Christmas, New Year's Day).
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import polars as pl

from .. import calendar
from ..datasets.futures import CHICAGO

NS_PER_MIN = 60_000_000_000
#: per family: outright contracts (the month code and year), a calendar spread, a butterfly
CONTRACTS = {
    "futures_cme": ["ESH4", "ESM4", "NQH4", "ESH4-ESM4", "GE:BF H4-M4-U4"],
    "futures_cbot": ["ZCH4", "ZSK4", "ZNH4", "ZCH4-ZCK4", "ZN:BF H4-M4-U4"],
    "futures_comex": ["GCJ4", "GCM4", "SIH4", "GCJ4-GCM4", "GC:BF J4-M4-Q4"],
    "futures_nymex": ["CLJ4", "CLK4", "NGH4", "CLJ4-CLK4", "CL:BF J4-K4-M4"],
}
_SPREAD = ("-", ":BF")


def _at(d: dt.date, hour: int, minute: int = 0) -> int:
    return calendar.midnight_ns(d, CHICAGO) + (hour * 60 + minute) * NS_PER_MIN


@lru_cache(maxsize=1)
def _cme_open_days() -> frozenset[dt.date]:
    """The days CME trades on, from exchange_calendars (a day off for NYSE is often a short one for CME)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("us_futures", start="2021-01-01")
    return frozenset(ts.date() for ts in cal.sessions)


def session_grid(d: dt.date) -> np.ndarray:
    """The minutes (UTC ns) of the session ending on ``d``: the evening before to 16:00, and a short holiday
    before it when there was one."""
    day_before = d - dt.timedelta(days=1)
    blocks = [(_at(day_before, 17), _at(d, 16))]
    if day_before.weekday() < 5 and not calendar.is_session(day_before) and day_before in _cme_open_days():
        blocks.insert(0, (_at(day_before - dt.timedelta(days=1), 17), _at(day_before, 12)))
    return np.concatenate([lo + np.arange((hi - lo) // NS_PER_MIN, dtype=np.int64) * NS_PER_MIN
                           for lo, hi in blocks])


def _minutes(family: str, d: dt.date, seed: int, density: float) -> pl.DataFrame:
    rng = np.random.default_rng([seed, d.toordinal(), sum(map(ord, family))])
    tickers = CONTRACTS[family]
    grid = session_grid(d)
    present = rng.random((len(tickers), grid.size)) < density
    present[:, 0] = True
    base = np.array([-2.5 if any(s in t for s in _SPREAD) else 100.0 + 50 * i for i, t in enumerate(tickers)])
    steps = rng.normal(0, 0.05, (len(tickers), grid.size + 1)).cumsum(axis=1)
    path = base[:, None] + steps
    rows, cols = np.nonzero(present)
    o, c = np.round(path[rows, cols], 2), np.round(path[rows, cols + 1], 2)
    spread = np.round(np.abs(rng.normal(0, 0.05, rows.size)), 2)
    vol = rng.integers(1, 300, rows.size).astype(float)
    minute = pl.DataFrame({
        "ticker": np.array(tickers, dtype=object)[rows], "session_end_date": [d.isoformat()] * rows.size,
        "window_start": grid[cols], "open": o, "high": np.round(np.maximum(o, c) + spread, 2),
        "low": np.round(np.minimum(o, c) - spread, 2),
        "close": c, "volume": vol, "dollar_volume": np.round(vol * c * 50, 2),
        "transactions": np.maximum(1, (vol // 5).astype(np.int64)), "exchange": np.full(rows.size, 4, np.int64),
    })
    # the pre-open quirk: a bar at 16:55 Chicago the day before, in this (the next) session's file
    pre = minute.head(1).with_columns(window_start=pl.lit(_at(d - dt.timedelta(days=1), 16, 55), pl.Int64))
    return pl.concat([pre, minute]).sort("ticker", "window_start")


def futures_day(family: str, d: dt.date, seed: int = 0, density: float = 0.05) -> dict[str, pl.DataFrame]:
    """The minute and session aggregates of the session ending on ``d`` (none on a day no session ends)."""
    if not calendar.is_session(d):
        return {}
    minute = _minutes(family, d, seed, density)
    session = (minute.group_by("ticker", maintain_order=True)
               .agg(pl.col("session_end_date").first(), pl.col("window_start").min(), pl.col("open").first(),
                    pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
                    settlement_price=(pl.col("close").last() * 100).round() / 100,
                    volume=pl.col("volume").sum(), dollar_volume=pl.col("dollar_volume").sum(),
                    transactions=pl.col("transactions").sum()))
    return {"minute_aggs": minute, "session_aggs": session}
