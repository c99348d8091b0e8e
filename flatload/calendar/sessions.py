"""NYSE sessions and the windows of each session date, as UTC nanoseconds.

Holidays and early closes come from ``exchange_calendars`` (XNYS) through the session table
(``table.py``), never from a hard-coded list. Bounds are computed once per date so the parser
and the metrics compare plain integers instead of converting every bar's time zone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from .table import xnys

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
PRE_OPEN = dt.time(4, 0)
#: after-hours last this long after the close (16:00-20:00, or 13:00-17:00 on early closes)
AFTER_HOURS = dt.timedelta(hours=4)
_AFTER_HOURS_NS = AFTER_HOURS // dt.timedelta(microseconds=1) * 1000


def _ns(ts: dt.datetime) -> int:
    # integer arithmetic: float timestamps lose nanoseconds
    return (ts - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1) * 1000


def ny_midnight_ns(d: dt.date) -> int:
    """Midnight America/New_York of ``d`` in UTC ns (the ``window_start`` of a day bar)."""
    return _ns(dt.datetime.combine(d, dt.time(0), tzinfo=NY))


def midnight_ns(d: dt.date, tz: ZoneInfo) -> int:
    """Midnight of ``d`` in ``tz``, in UTC ns."""
    return _ns(dt.datetime.combine(d, dt.time(0), tzinfo=tz))


@dataclass(frozen=True)
class DayBounds:
    """One file's day, half-open ``[day_start, day_end)`` in UTC nanoseconds."""

    date: dt.date
    day_start: int
    day_end: int


@dataclass(frozen=True)
class SessionBounds:
    """The windows of one session date, half-open ``[start, end)``, in UTC nanoseconds."""

    date: dt.date
    day_start: int  # 00:00 ET
    pre_start: int  # 04:00 ET
    open: int  # 09:30 ET
    close: int  # 16:00 ET, 13:00 on early closes
    post_end: int  # 20:00 ET, 17:00 on early closes
    day_end: int  # next 00:00 ET
    early_close: bool

    @property
    def close_et(self) -> dt.time:
        """The close as New York wall time (16:00, or 13:00 on early closes)."""
        return dt.datetime.fromtimestamp(self.close / 1e9, NY).time()


def is_session(d: dt.date) -> bool:
    """True when NYSE trades on ``d``."""
    return d.toordinal() in xnys().index


@lru_cache(maxsize=16384)
def session_bounds(d: dt.date) -> SessionBounds:
    """Session windows for NYSE session ``d``. Raises ValueError if ``d`` is not a session."""
    t = xnys()
    i = t.index.get(d.toordinal())
    if i is None:
        raise ValueError(f"{d} is not an NYSE session")
    close = t.closes[i]
    return SessionBounds(date=d, day_start=ny_midnight_ns(d), pre_start=_ns(dt.datetime.combine(d, PRE_OPEN, tzinfo=NY)),
                         open=t.opens[i], close=close, post_end=close + _AFTER_HOURS_NS,
                         day_end=ny_midnight_ns(d + dt.timedelta(days=1)),
                         early_close=close < _ns(dt.datetime.combine(d, dt.time(16, 0), tzinfo=NY)))


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in ``[start, end]`` (both inclusive), oldest first."""
    if end < start:
        return []
    t = xnys()
    i, j = t.between(start, end)
    return [dt.date.fromordinal(o) for o in t.ordinals[i:j]]


def session_table(start: dt.date | None = None, end: dt.date | None = None) -> list[SessionBounds]:
    """:func:`session_bounds` of every session in ``[start, end]`` (default: all the calendar knows), oldest first."""
    t = xnys()
    days = [dt.date.fromordinal(o) for o in t.ordinals]
    if start is not None or end is not None:
        days = sessions(start or days[0], end or days[-1])
    return [session_bounds(d) for d in days]


def calendar_digest() -> str:
    """A digest of the whole session table: it changes when the calendar does."""
    return xnys().digest


def early_closes(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in range that close early (13:00 ET)."""
    return [d for d in sessions(start, end) if session_bounds(d).early_close]


def latest_closed_session(now: dt.datetime | None = None) -> dt.date:
    """The most recent session whose close has passed in New York at ``now``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    day = now.astimezone(NY).date()
    for _ in range(15):
        if is_session(day) and _ns(now) >= session_bounds(day).close:
            return day
        day -= dt.timedelta(days=1)
    raise ValueError(f"no NYSE session closed in the 15 days before {now:%Y-%m-%d}")


def previous_sessions(d: dt.date, n: int) -> list[dt.date]:
    """The ``n`` sessions before ``d`` (excluded), oldest first."""
    if n <= 0:
        return []
    return sessions(d - dt.timedelta(days=n * 2 + 10), d - dt.timedelta(days=1))[-n:]
