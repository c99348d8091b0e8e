"""An independent computation of bars, for checking ``flatload.bars`` (and the DuckDB macro) against.

Deliberately unlike the package: the rows come from the gz CSV files through the ``csv``
module (``oracle.read_rows``), windows are New York wall-clock datetimes with the open and
close read straight from ``exchange_calendars``, a minute's bar is found by counting whole
minutes since its window's start, and pandas does the grouping. Nothing from ``flatload``
is imported here.

Rules (the issue's), for a session date d: regular = [open, close), extended = [04:00, open)
and [close, close + 4 h), all = [04:00, close + 4 h); intraday bars start at their window's
start + k x width; 1d = one bar per session starting at its first window; 1w = the sessions of
an ISO week in the range, starting at the first one's first window. vwap = Σ(typical x volume)
/ Σ volume with typical = (high + low + close) / 3 per minute.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

import pandas as pd

from . import oracle

PRE = dt.time(4, 0)


def windows(d: dt.date, session: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The session's windows as aware New York datetimes."""
    cal = oracle._xnys()
    open_ = cal.session_open(pd.Timestamp(d)).to_pydatetime().astimezone(oracle.NY)
    close = oracle.session_close_et(d)
    pre = dt.datetime.combine(d, PRE, tzinfo=oracle.NY)
    post = dt.datetime.combine(d, close.time(), tzinfo=oracle.NY) + dt.timedelta(hours=4)
    return {"regular": [(open_, close)], "extended": [(pre, open_), (close, post)], "all": [(pre, post)]}[session]


@lru_cache(maxsize=64)
def _rows(data: bytes) -> list[dict]:
    return oracle.read_rows(data)


def _minutes(every: str) -> int | None:
    if every in ("1d", "1w"):
        return None
    n = int(every[:-1])
    return n * 60 if every.endswith("h") else n


def _starts(days: list[dt.date], session: str, every: str) -> dict[dt.date, dt.datetime]:
    """The start of the 1d / 1w bar each day belongs to."""
    first = {d: windows(d, session)[0][0] for d in days}
    if every == "1d":
        return first
    week: dict[tuple[int, int], dt.datetime] = {}
    for d in sorted(days):
        week.setdefault(d.isocalendar()[:2], first[d])
    return {d: week[d.isocalendar()[:2]] for d in days}


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """XNYS sessions in ``[start, end]``, from exchange_calendars."""
    return [ts.date() for ts in oracle._xnys().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def bars(files: Mapping[str, bytes], ticker: str, start: dt.date, end: dt.date, every: str,
         session: str = "regular", factors: Mapping[dt.date, tuple[float | None, float]] | None = None
         ) -> pd.DataFrame:
    """``window_start`` (ISO 8601 with offset), open, high, low, close, volume, vwap, transactions.

    Every session in ``[start, end]`` counts (a week starts at its first session in range, loaded
    or not); sessions without a file in ``files`` have no bars. ``factors``: per date, (price
    factor, volume factor) applied to each minute first.
    """
    days = sessions(start, end)
    width = _minutes(every)
    starts = _starts(days, session, every) if width is None else {}
    out = []
    for d in days:
        key = oracle.minute_key(d)
        if key not in files:
            continue
        pf, vf = (factors or {}).get(d, (1.0, 1.0))
        for r in _rows(files[key]):
            local = oracle.to_ny(r["window_start"])
            if r["ticker"] != ticker or local.date() != d:
                continue
            win = next(((lo, hi) for lo, hi in windows(d, session) if lo <= local < hi), None)
            if win is None:
                continue
            if width is None:
                start = starts[d]
            else:
                k = int((local - win[0]).total_seconds() // 60) // width
                start = win[0] + dt.timedelta(minutes=k * width)
            p = float("nan") if pf is None else pf
            out.append({"start": start, "ts": r["window_start"], "open": r["open"] * p, "high": r["high"] * p,
                        "low": r["low"] * p, "close": r["close"] * p, "volume": r["volume"] * vf,
                        "transactions": r["transactions"]})
    return _aggregate(pd.DataFrame(out))


def _aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["window_start", "open", "high", "low", "close", "volume", "vwap", "transactions"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame = frame.sort_values("ts")
    frame["pv"] = (frame["high"] + frame["low"] + frame["close"]) / 3 * frame["volume"]
    g = frame.groupby("start", sort=True)
    agg = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                        "close": g["close"].last(), "volume": g["volume"].sum(), "pv": g["pv"].sum(),
                        "transactions": g["transactions"].sum()})
    agg["vwap"] = agg["pv"] / agg["volume"]
    agg["window_start"] = [s.isoformat() for s in agg.index]
    return agg.reset_index(drop=True)[cols]
