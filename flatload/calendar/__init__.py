"""Which days have a file, and each day's window: NYSE sessions (``sessions``), day calendars per family
(``days``), and the session table they come from (``table``: exchange_calendars, cached on disk)."""
from __future__ import annotations

from .days import DayCalendar, EveryDayUTC, SundayToFridayUTC, XnysCalendar, XnysWithHolidayFiles
from .sessions import (
    AFTER_HOURS,
    NY,
    PRE_OPEN,
    UTC,
    DayBounds,
    SessionBounds,
    calendar_digest,
    early_closes,
    is_session,
    latest_closed_session,
    midnight_ns,
    ny_midnight_ns,
    previous_sessions,
    session_bounds,
    session_table,
    sessions,
)

__all__ = ["AFTER_HOURS", "NY", "PRE_OPEN", "UTC", "DayBounds", "DayCalendar", "EveryDayUTC", "SessionBounds",
           "SundayToFridayUTC", "XnysCalendar", "XnysWithHolidayFiles", "calendar_digest", "early_closes",
           "is_session", "latest_closed_session", "midnight_ns", "ny_midnight_ns", "previous_sessions",
           "session_bounds", "session_table", "sessions"]
