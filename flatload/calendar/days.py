"""Which days a dataset has a file for, and each day's window: NYSE sessions, or every (UTC) day."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .sessions import (
    NY,
    UTC,
    DayBounds,
    SessionBounds,
    is_session,
    latest_closed_session,
    midnight_ns,
    previous_sessions,
    session_bounds,
    sessions,
)


class DayCalendar:
    """The days a dataset has a file for, and each day's window. Subclasses say which days."""

    #: shown by ``flatload datasets``
    name = ""
    tz: ZoneInfo = UTC
    #: how messages name the zone of a day ("New York", "UTC")
    zone = "UTC"
    #: a file found on a day the calendar does not expect is loaded too (index files on holidays)
    loads_unexpected = False
    #: a day has NYSE session windows (pre-market, regular, after-hours), not one window
    session_windows = False

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
    session_windows = True

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
