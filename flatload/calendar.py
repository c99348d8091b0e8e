"""Which days have a file, and each day's window: NYSE sessions, or every (UTC) day for 24-hour markets.

Holidays and early closes come from ``exchange_calendars`` (XNYS), never from a
hard-coded list. Bounds are computed once per date, as UTC nanoseconds, so the
parser and the metrics compare plain integers instead of converting every bar's
time zone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import exchange_calendars as xcals

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
PRE_OPEN = dt.time(4, 0)
#: after-hours last this long after the close (16:00-20:00, or 13:00-17:00 on early closes)
AFTER_HOURS = dt.timedelta(hours=4)
#: files are complete by about 11:00 ET the next day; only the object's presence decides
_CALENDAR_START = "2003-01-01"


@lru_cache(maxsize=1)
def _xnys() -> "xcals.ExchangeCalendar":
    # imported here: pool workers get their bounds from the parent and never pay for
    # exchange_calendars + pandas (about a second per worker start)
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start=_CALENDAR_START)


def _ts(d: dt.date):  # -> pandas.Timestamp
    import pandas as pd

    return pd.Timestamp(d)


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


def _bounds_checked(d: dt.date) -> SessionBounds:
    cal = _xnys()
    ts = _ts(d)
    open_ = cal.session_open(ts).to_pydatetime()
    close = cal.session_close(ts).to_pydatetime()
    regular_close = dt.datetime.combine(d, dt.time(16, 0), tzinfo=NY)
    return SessionBounds(
        date=d,
        day_start=ny_midnight_ns(d),
        pre_start=_ns(dt.datetime.combine(d, PRE_OPEN, tzinfo=NY)),
        open=_ns(open_),
        close=_ns(close),
        post_end=_ns(close + AFTER_HOURS),
        day_end=ny_midnight_ns(d + dt.timedelta(days=1)),
        early_close=close < regular_close,
    )


@lru_cache(maxsize=8192)
def session_bounds(d: dt.date) -> SessionBounds:
    """Session windows for NYSE session ``d``. Raises ValueError if ``d`` is not a session."""
    if not is_session(d):
        raise ValueError(f"{d} is not an NYSE session")
    return _bounds_checked(d)


def is_session(d: dt.date) -> bool:
    """True when NYSE trades on ``d``."""
    return bool(_xnys().is_session(_ts(d)))


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in ``[start, end]`` (both inclusive), oldest first."""
    if end < start:
        return []
    cal = _xnys()
    lo = max(_ts(start), cal.first_session)
    hi = min(_ts(end), cal.last_session)
    if hi < lo:
        return []
    return [ts.date() for ts in cal.sessions_in_range(lo, hi)]


def session_table(start: dt.date | None = None, end: dt.date | None = None) -> list[SessionBounds]:
    """:func:`session_bounds` of every session in ``[start, end]`` (default: all the calendar knows), oldest first.

    One vectorized pass over the calendar's schedule: thousands of sessions cost what one
    ``session_bounds`` call costs, and the values are the same.
    """
    import pandas as pd

    cal = _xnys()
    lo = max(_ts(start), cal.first_session) if start else cal.first_session
    hi = min(_ts(end), cal.last_session) if end else cal.last_session
    if hi < lo:
        return []
    sched = cal.schedule.loc[lo:hi]
    dates = pd.DatetimeIndex(sched.index).as_unit("ns")  # asi8 below must be nanoseconds
    # wall-clock times localized per date: 04:00 and midnight are New York times on every date, DST or not
    pre = (dates + pd.Timedelta(hours=PRE_OPEN.hour)).tz_localize(NY).asi8
    day_start = dates.tz_localize(NY).asi8
    day_end = (dates + pd.Timedelta(days=1)).tz_localize(NY).asi8
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8
    closes = pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8
    post = closes + AFTER_HOURS // dt.timedelta(microseconds=1) * 1000
    regular_close = (dates + pd.Timedelta(hours=16)).tz_localize(NY).asi8
    return [SessionBounds(date=d.date(), day_start=int(day_start[i]), pre_start=int(pre[i]), open=int(opens[i]),
                          close=int(closes[i]), post_end=int(post[i]), day_end=int(day_end[i]),
                          early_close=bool(closes[i] < regular_close[i]))
            for i, d in enumerate(dates)]


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


class DayCalendar:
    """The days a dataset has a file for, and each day's window. Subclasses say which days."""

    #: shown by ``flatload datasets``
    name = ""
    tz: ZoneInfo = UTC
    #: how messages name the zone of a day ("New York", "UTC")
    zone = "UTC"
    #: a file found on a day the calendar does not expect is loaded too (index files on holidays)
    loads_unexpected = False

    def days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The days in ``[start, end]`` that should have a file, oldest first."""
        raise NotImplementedError

    def expects(self, d: dt.date) -> bool:
        """True when ``d`` should have a file."""
        return bool(self.days(d, d))

    def partial(self, d: dt.date) -> bool:
        """True when ``d``'s file covers only part of a day (its size says nothing about completeness)."""
        return not self.expects(d)

    def bounds(self, d: dt.date) -> DayBounds | SessionBounds:
        """The window of rows that belong to ``d``."""
        return DayBounds(d, midnight_ns(d, self.tz), midnight_ns(d + dt.timedelta(days=1), self.tz))

    def latest_complete(self, now: dt.datetime | None = None) -> dt.date:
        """The latest day whose file can exist at ``now`` (its day is over)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        day = now.astimezone(self.tz).date() - dt.timedelta(days=1)
        while not self.expects(day):
            day -= dt.timedelta(days=1)
        return day

    def previous(self, d: dt.date, n: int) -> list[dt.date]:
        """The ``n`` expected days before ``d`` (excluded), oldest first."""
        if n <= 0:
            return []
        return self.days(d - dt.timedelta(days=n * 2 + 10), d - dt.timedelta(days=1))[-n:]


class XnysCalendar(DayCalendar):
    """NYSE sessions, days in New York time; bounds carry the session windows."""

    name = "XNYS sessions, New York"
    tz = NY
    zone = "New York"

    def days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return sessions(start, end)

    def expects(self, d: dt.date) -> bool:
        return is_session(d)

    def bounds(self, d: dt.date) -> DayBounds | SessionBounds:
        if is_session(d):
            return session_bounds(d)
        # a file on a holiday (indices publish some): the New York day
        return DayBounds(d, midnight_ns(d, NY), midnight_ns(d + dt.timedelta(days=1), NY))

    def latest_complete(self, now: dt.datetime | None = None) -> dt.date:
        return latest_closed_session(now)

    def previous(self, d: dt.date, n: int) -> list[dt.date]:
        return previous_sessions(d, n)


class XnysWithHolidayFiles(XnysCalendar):
    """NYSE sessions, plus any weekday holiday the listing shows a file for (index values still print)."""

    name = "XNYS + holiday files, New York"
    loads_unexpected = True


class EveryDayUTC(DayCalendar):
    """A file for every calendar day, weekends included (crypto), days in UTC."""

    name = "every day, UTC"

    def days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


class SundayToFridayUTC(DayCalendar):
    """A file for Sunday through Friday (forex; Sunday is partial), days in UTC."""

    name = "Sunday-Friday, UTC"

    def partial(self, d: dt.date) -> bool:
        return d.weekday() in (5, 6)  # Sunday opens in the evening

    def days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return [d for d in EveryDayUTC().days(start, end) if d.weekday() != 5]
