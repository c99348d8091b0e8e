"""Bar widths (``--every``), sessions (``--session``) and the windows of each day that bars are cut from.

A *segment* is one contiguous window of one day: ``regular`` is ``[open, close)``, ``extended``
two segments (pre-market ``[04:00, open)`` and after-hours ``[close, close + 4 h)``), ``all``
``[04:00, close + 4 h)``; crypto and forex have no sessions, a segment is a UTC day (futures: the session
from 16:00 Chicago the day before). Intraday
bars start on a grid anchored at their segment's start and end at the segment's end at the
latest (the last bar of a session may be short). A ``1d`` bar is one session (all its segments),
a ``1w`` bar the sessions of one ISO week. Times are UTC nanoseconds; the calendar decides
holidays and early closes.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from .. import calendar
from ..calendar import DayCalendar
from ..errors import ConfigError

NS_PER_MIN = 60_000_000_000
SESSIONS = ("regular", "extended", "all")
_EVERY = re.compile(r"^(\d+)([mh])$")
EVERY_HELP = "<n>m or <n>h such as 5m or 1h, 1d for a bar per session, or 1w for an ISO week"
SEGMENT_SCHEMA: dict[str, pl.DataType] = {
    "trade_date": pl.Date(), "seg_start": pl.Int64(), "seg_end": pl.Int64(),
    "day_start": pl.Int64(), "week_start": pl.Int64(),
}


@dataclass(frozen=True)
class Every:
    """A bar width: ``minutes`` wide intraday bars, or one bar per ``day`` (session) or ISO ``week``."""

    kind: str  # "minute" | "day" | "week"
    minutes: int = 0

    @property
    def label(self) -> str:
        """``5m``, ``1h``, ``1d``, ``1w``."""
        if self.kind != "minute":
            return f"1{self.kind[0]}"
        return f"{self.minutes // 60}h" if self.minutes % 60 == 0 else f"{self.minutes}m"

    @property
    def width_ns(self) -> int:
        """The width of an intraday bar in nanoseconds."""
        return self.minutes * NS_PER_MIN


def parse_every(text: str) -> Every:
    """``"5m"`` → 5-minute bars, ``"4h"`` → 240-minute bars, ``"1d"`` → per session, ``"1w"`` → per ISO week."""
    value = text.strip()
    if value in ("1d", "1w"):
        return Every("day" if value == "1d" else "week")
    m = _EVERY.match(value)
    if m is None or int(m.group(1)) < 1:
        raise ConfigError(f"--every {text!r} is not a bar width", hint=f"use {EVERY_HELP}")
    n = int(m.group(1))
    return Every("minute", n * 60 if m.group(2) == "h" else n)


def has_sessions(cal: DayCalendar) -> bool:
    """True for the NYSE families (stocks, options, indices); crypto and forex trade in UTC days."""
    return cal.session_windows


def resolve_session(session: str | None, cal: DayCalendar, family: str) -> str:
    """The session to cut bars from: ``regular`` by default where there are sessions, else ``all``."""
    if session is None:
        return "regular" if has_sessions(cal) else "all"
    if session not in SESSIONS:
        raise ConfigError(f"--session {session!r} is not a session", hint="use regular, extended or all")
    if not has_sessions(cal) and session != "all":
        raise ConfigError(f"{family} has no sessions: it trades around the clock in UTC days",
                          hint="use --session all: bars are aligned to UTC midnight")
    return session


def _windows(b: calendar.SessionBounds, session: str) -> list[tuple[int, int]]:
    if session == "regular":
        return [(b.open, b.close)]
    if session == "extended":
        return [(b.pre_start, b.open), (b.close, b.post_end)]
    return [(b.pre_start, b.post_end)]


def _labelled(rows: list[tuple[dt.date, int, int]]) -> pl.DataFrame:
    """Segments with the start of their day (its first segment) and of their ISO week (its first day)."""
    frame = pl.DataFrame(rows, schema=list(SEGMENT_SCHEMA)[:3], orient="row")
    return (frame.with_columns(day_start=pl.col("seg_start").min().over("trade_date"))
            .with_columns(week_start=pl.col("seg_start").min().over(pl.col("trade_date").dt.truncate("1w")))
            .cast(SEGMENT_SCHEMA).sort("seg_start"))  # type: ignore[arg-type]


def session_segments(bounds: list[calendar.SessionBounds], session: str) -> pl.DataFrame:
    """The segments of NYSE sessions ``bounds`` for ``session`` (regular, extended or all)."""
    if session not in SESSIONS:
        raise ValueError(f"unknown session {session!r}")
    rows = [(b.date, lo, hi) for b in bounds for lo, hi in _windows(b, session)]
    return _labelled(rows) if rows else pl.DataFrame(schema=SEGMENT_SCHEMA)


def day_segments(cal: DayCalendar, start: dt.date, end: dt.date) -> pl.DataFrame:
    """One segment per day in ``[start, end]``, its window in ``cal``: a UTC day for the 24-hour markets, a
    futures session from the evening before. Every calendar day has one, since minutes join them by trade date
    and a file the calendar does not expect (a holiday's) still has its day."""
    rows = []
    for i in range((end - start).days + 1):
        b = cal.bounds(start + dt.timedelta(days=i))
        rows.append((b.date, b.day_start, b.day_end))
    return _labelled(rows) if rows else pl.DataFrame(schema=SEGMENT_SCHEMA)


def segments(cal: DayCalendar, start: dt.date, end: dt.date, session: str) -> pl.DataFrame:
    """The segments of ``[start, end]`` in the calendar ``cal`` (NYSE sessions, or UTC days)."""
    if end < start:
        return pl.DataFrame(schema=SEGMENT_SCHEMA)
    if has_sessions(cal):
        return session_segments(calendar.session_table(start, end), session)
    return day_segments(cal, start, end)


def bucket_expr(ts: pl.Expr, every: Every) -> pl.Expr:
    """The start of the bar a minute starting at ``ts`` falls in, given its segment's columns."""
    if every.kind == "day":
        return pl.col("day_start")
    if every.kind == "week":
        return pl.col("week_start")
    width = every.width_ns
    return pl.col("seg_start") + (ts - pl.col("seg_start")) // width * width
