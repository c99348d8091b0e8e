"""An independent computation of the journal, for checking flatload against.

Deliberately naive and unlike the package: the ``csv`` module instead of Polars,
one ``zoneinfo`` conversion per row instead of precomputed UTC bounds, wall-clock
comparisons in New York time, and the session close read straight from
``exchange_calendars`` (XNYS ``session_close``), not from ``flatload.calendar``.
Nothing from ``flatload`` is imported here.

Rules (the spec of the "End-to-end load" issue), for session date ``d``:
- a bar counts for ``d`` only when its start, in New York time, falls on ``d``;
- pre-market is 04:00 <= t < 09:30, after-hours is close <= t < close + 4 h
  (16:00-20:00, or 13:00-17:00 on early closes), all New York wall time;
- open/high/low/close/volume come from the day file; NULL for a ticker absent from it;
- one row per ticker present in either file; tickers are plain case-sensitive text.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterable, Mapping
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars
import pandas as pd

NY = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
PRE_START = dt.time(4, 0)
PRE_END = dt.time(9, 30)

Row = dict  # ticker (str), volume (int), open/close/high/low (float), window_start (int ns), transactions


@lru_cache(maxsize=1)
def _xnys():
    return exchange_calendars.get_calendar("XNYS", start="2015-01-01")


def is_session(d: dt.date) -> bool:
    return bool(_xnys().is_session(pd.Timestamp(d)))


@lru_cache(maxsize=None)
def session_close_et(d: dt.date) -> dt.datetime:
    """The session's close as an aware New York datetime, from XNYS session_close."""
    close_utc = _xnys().session_close(pd.Timestamp(d)).to_pydatetime()
    return close_utc.astimezone(NY)


def after_hours_window(d: dt.date) -> tuple[dt.time, dt.time]:
    """(close, post_end) as New York wall-clock times: 16:00-20:00, or 13:00-17:00 on early closes."""
    close = session_close_et(d)
    end = dt.datetime.combine(d, close.time()) + dt.timedelta(hours=4)  # naive wall-clock arithmetic
    assert end.date() == d
    return close.time(), end.time()


def is_early_close(d: dt.date) -> bool:
    return session_close_et(d).time() < dt.time(16, 0)


def to_ny(ns: int) -> dt.datetime:
    """A window_start (UTC epoch nanoseconds) as a New York datetime."""
    return (EPOCH + dt.timedelta(microseconds=ns // 1000)).astimezone(NY)


def et_ns(d: dt.date, t: dt.time) -> int:
    """The UTC epoch nanoseconds of New York wall time ``t`` on ``d`` (for building test bars)."""
    aware = dt.datetime.combine(d, t, tzinfo=NY)
    return (aware - EPOCH) // dt.timedelta(microseconds=1) * 1000


def window_of(d: dt.date, ns: int) -> str | None:
    """'pre', 'regular', 'ah', 'other' (on d but in no window) or None (not on d in New York)."""
    local = to_ny(ns)
    if local.date() != d:
        return None
    t = local.time()
    close, post_end = after_hours_window(d)
    if PRE_START <= t < PRE_END:
        return "pre"
    if PRE_END <= t < close:
        return "regular"
    if close <= t < post_end:
        return "ah"
    return "other"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return round(float(text))


def read_rows(gz: bytes) -> list[Row]:
    """Rows of a flat file with the csv module: ticker kept verbatim, numbers converted by hand."""
    text = gzip.decompress(gz).decode("utf-8")
    out = []
    for rec in csv.DictReader(io.StringIO(text)):
        out.append({
            "ticker": rec["ticker"],
            "volume": _int(rec["volume"]),
            "open": float(rec["open"]),
            "close": float(rec["close"]),
            "high": float(rec["high"]),
            "low": float(rec["low"]),
            "window_start": int(rec["window_start"]),
            "transactions": _int(rec["transactions"]) if rec.get("transactions") else None,
        })
    return out


def journal(d: dt.date, minute_rows: Iterable[Mapping] | None, day_rows: Iterable[Mapping] | None,
            symbols: Iterable[str] | None = None) -> dict[str, tuple]:
    """``{symbol: (symbol, d, pre_high, pre_low, open, hod, lod, close, ah_high, ah_low, volume)}``."""
    wanted = None if symbols is None else set(symbols)
    pre: dict[str, list[float]] = {}
    ah: dict[str, list[float]] = {}
    seen: set[str] = set()
    for r in minute_rows or ():
        sym = r["ticker"]
        if wanted is not None and sym not in wanted:
            continue
        w = window_of(d, r["window_start"])
        if w is None:
            continue  # another New York date: not this session's bar
        seen.add(sym)
        for name, acc in (("pre", pre), ("ah", ah)):
            if w == name:
                hi_lo = acc.setdefault(sym, [float("-inf"), float("inf")])
                hi_lo[0] = max(hi_lo[0], r["high"])
                hi_lo[1] = min(hi_lo[1], r["low"])
    daily: dict[str, Mapping] = {}
    for r in day_rows or ():
        sym = r["ticker"]
        if wanted is not None and sym not in wanted:
            continue
        if to_ny(r["window_start"]).date() != d:
            continue
        assert sym not in daily, f"oracle: {sym} twice in the day file"
        daily[sym] = r
    out = {}
    for sym in seen | set(daily):
        p, a, day = pre.get(sym), ah.get(sym), daily.get(sym)
        out[sym] = (
            sym, d,
            p[0] if p else None, p[1] if p else None,
            day["open"] if day else None, day["high"] if day else None, day["low"] if day else None,
            day["close"] if day else None,
            a[0] if a else None, a[1] if a else None,
            int(day["volume"]) if day else None,
        )
    return out


def journal_from_files(d: dt.date, minute_gz: bytes | None, day_gz: bytes | None,
                       symbols: Iterable[str] | None = None) -> dict[str, tuple]:
    """The journal rows of session ``d`` computed from the two gz CSV objects."""
    return journal(d, read_rows(minute_gz) if minute_gz is not None else None,
                   read_rows(day_gz) if day_gz is not None else None, symbols)


def minute_key(d: dt.date) -> str:
    """The vendor's key of a stocks minute file (FACTS: <asset>/<dataset>/YYYY/MM/YYYY-MM-DD.csv.gz)."""
    return f"us_stocks_sip/minute_aggs_v1/{d:%Y}/{d:%m}/{d:%Y-%m-%d}.csv.gz"


def day_key(d: dt.date) -> str:
    return f"us_stocks_sip/day_aggs_v1/{d:%Y}/{d:%m}/{d:%Y-%m-%d}.csv.gz"


def journal_from_bucket_files(files: Mapping[str, bytes], days: Iterable[dt.date],
                              symbols: Iterable[str] | None = None) -> list[tuple]:
    """Every expected journal row for ``days``, ordered by (trade_date, symbol) like the journal query."""
    rows = []
    for d in sorted(days):
        mk, dk = minute_key(d), day_key(d)
        if mk not in files and dk not in files:
            continue
        got = journal_from_files(d, files.get(mk), files.get(dk), symbols)
        rows.extend(got[s] for s in sorted(got))
    return rows
