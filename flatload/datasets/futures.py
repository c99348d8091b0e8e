"""US futures (CME Group's four exchanges): minute and session aggregates, dated by ``session_end_date``.

A futures session opens the evening before the date it settles on (CME Globex: 17:00 Chicago), so a
row's trading date is its ``session_end_date`` column, never the calendar date of its ``window_start``:
Monday's file starts on Sunday evening, the file after a holiday on the holiday's evening. The parser
checks that column against the file's date; the time only has to fall within the week before the
session's end.

What the vendor documents: the four prefixes, the columns (``dollar_volume``, ``exchange`` and
``session_end_date`` added to the aggregates, ``settlement_price`` to the session aggregates), files
from 2021-08-10. What it does not, and how it is met here:

- the key folders: ``minute_aggs_v1`` and ``session_aggs_v1`` by analogy with the other families
  (``flatload datasets --remote`` shows what the bucket holds);
- the column order: the header decides; ``exchange`` and ``settlement_price`` may be absent;
- which days have files: a session ends on every NYSE session day, and CME trades on some NYSE
  holidays, so the calendar expects the NYSE sessions and loads a file on any other weekday the
  listing has (a missing holiday file is never a gap);
- prices, ``dollar_volume`` and settlement prices may be negative (spreads, butterflies, 2020's oil);
  volumes are read as DOUBLE because the vendor types them "number".
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ..calendar import DayCalendar, XnysWithHolidayFiles, midnight_ns, previous_sessions
from ..calendar.sessions import DayBounds
from .model import Column, Dataset, Family

CHICAGO = ZoneInfo("America/Chicago")
#: CME Globex halts daily from 16:00 to 17:00 Chicago: a row from 16:00 on belongs to the next session
SESSION_CUT = dt.time(16, 0)
FIRST_DATE = dt.date(2021, 8, 10)
#: family name → the vendor's key prefix
EXCHANGES = {"futures_cme": "us_futures_cme", "futures_cbot": "us_futures_cbot",
             "futures_comex": "us_futures_comex", "futures_nymex": "us_futures_nymex"}


def _cut_ns(d: dt.date) -> int:
    return midnight_ns(d, CHICAGO) + SESSION_CUT.hour * 3_600 * 10**9


class FuturesSessions(XnysWithHolidayFiles):
    """Sessions named by the day they end, in Chicago time: the NYSE's days (a session ends on each), and a
    file on any other weekday the listing has (CME trades on some NYSE holidays).

    A day's window is one, not NYSE's three: from 16:00 Chicago of the session before (Friday for a Monday)
    to 16:00 of the day itself; it places bars, while each row's ``session_end_date`` decides which file it
    belongs to.
    """

    name = "futures sessions by end date, Chicago"
    tz = CHICAGO
    zone = "Chicago"
    session_windows = False

    def bounds(self, d: dt.date) -> DayBounds:  # type: ignore[override]
        before = previous_sessions(d, 1)
        return DayBounds(d, _cut_ns(before[0] if before else d - dt.timedelta(days=1)), _cut_ns(d))

    def latest_complete(self, now: dt.datetime | None = None) -> dt.date:
        return DayCalendar.latest_complete(self, now)  # a session ends at 16:00 Chicago, not at NYSE's close


def _columns(session: bool) -> tuple[Column, ...]:
    cols = [Column("ticker", "String", "ticker"), Column("session_end_date", "Date", "date"),
            Column("window_start", "Int64", "time")]
    cols += [Column(n, "Float64", "price", signed=True) for n in ("open", "high", "low", "close")]
    if session:
        cols.append(Column("settlement_price", "Float64", "price", required=False, signed=True))
    cols += [Column("volume", "Float64", "volume"),
             Column("dollar_volume", "Float64", "volume", required=False, signed=True),
             Column("transactions", "Int64", "count", required=False),
             Column("exchange", "Int64", "code", required=False)]
    return tuple(cols)


def futures_datasets() -> list[Dataset]:
    """Minute and session aggregates of each of the four exchanges."""
    out = []
    for family_name, prefix in EXCHANGES.items():
        family = Family(family_name, prefix, FuturesSessions())
        exchange = family_name.split("_")[1].upper()
        out.append(Dataset(family, "minute_aggs", _columns(False), FIRST_DATE, False,
                           f"US futures ({exchange}): one bar per contract and minute, dated by session_end_date",
                           tickers_within=f"{family_name}/session_aggs"))
        out.append(Dataset(family, "session_aggs", _columns(True), FIRST_DATE, False,
                           f"US futures ({exchange}): one bar per contract and session, with the settlement price",
                           daily=True))
    return out
