"""NYSE sessions and window bounds (UTC ns) from flatload.calendar."""
from __future__ import annotations

import datetime as dt

import pytest

from flatload import calendar
from tests.helpers.days import DST_FALL, DST_SPRING, EARLY_CLOSES, HOLIDAY

UTC = dt.timezone.utc
HOUR = 3_600 * 10**9


def utc_ns(d: dt.date, h: int, m: int = 0) -> int:
    return int(dt.datetime.combine(d, dt.time(h, m), tzinfo=UTC).timestamp()) * 10**9


@pytest.mark.parametrize("winter, summer", [(DST_SPRING[0], DST_SPRING[1]), (DST_FALL[1], DST_FALL[0])])
def test_dst_bounds_differ_by_one_hour_in_utc(winter, summer):
    w, s = calendar.session_bounds(winter), calendar.session_bounds(summer)
    # EST = UTC-5, EDT = UTC-4
    assert (w.day_start, w.pre_start, w.open, w.close, w.post_end) == (
        utc_ns(winter, 5), utc_ns(winter, 9), utc_ns(winter, 14, 30), utc_ns(winter, 21),
        utc_ns(winter + dt.timedelta(days=1), 1))  # 20:00 EST is 01:00Z the next UTC day
    assert (s.day_start, s.pre_start, s.open, s.close, s.post_end) == (
        utc_ns(summer, 4), utc_ns(summer, 8), utc_ns(summer, 13, 30), utc_ns(summer, 20),
        utc_ns(summer + dt.timedelta(days=1), 0))
    for name in ("day_start", "pre_start", "open", "close", "post_end"):
        offset_w = getattr(w, name) - utc_ns(winter, 0)
        offset_s = getattr(s, name) - utc_ns(summer, 0)
        assert offset_w - offset_s == HOUR, name
    assert not w.early_close and not s.early_close
    assert w.day_end - w.day_start == 24 * HOUR and s.day_end - s.day_start == 24 * HOUR
    assert w.close_et == s.close_et == dt.time(16, 0)


def test_early_close_bounds():
    jul, nov = (calendar.session_bounds(d) for d in EARLY_CLOSES)
    assert jul.early_close and nov.early_close
    assert jul.close_et == nov.close_et == dt.time(13, 0)
    assert (jul.open, jul.close, jul.post_end) == (utc_ns(EARLY_CLOSES[0], 13, 30), utc_ns(EARLY_CLOSES[0], 17),
                                                  utc_ns(EARLY_CLOSES[0], 21))  # EDT: 13:00-17:00 ET
    assert (nov.open, nov.close, nov.post_end) == (utc_ns(EARLY_CLOSES[1], 14, 30), utc_ns(EARLY_CLOSES[1], 18),
                                                  utc_ns(EARLY_CLOSES[1], 22))  # EST
    assert calendar.early_closes(dt.date(2024, 1, 1), dt.date(2024, 12, 31)) == [
        dt.date(2024, 7, 3), dt.date(2024, 11, 29), dt.date(2024, 12, 24)]


def test_holiday_and_weekend_are_not_sessions():
    assert not calendar.is_session(HOLIDAY)
    assert not calendar.is_session(dt.date(2024, 3, 9))
    with pytest.raises(ValueError, match="not an NYSE session"):
        calendar.session_bounds(HOLIDAY)
    assert calendar.sessions(dt.date(2024, 11, 27), dt.date(2024, 12, 2)) == [
        dt.date(2024, 11, 27), dt.date(2024, 11, 29), dt.date(2024, 12, 2)]
    assert calendar.sessions(dt.date(2024, 3, 11), dt.date(2024, 3, 8)) == []
    assert calendar.sessions(HOLIDAY, HOLIDAY) == []


def test_ny_midnight_and_previous_sessions():
    assert calendar.ny_midnight_ns(DST_SPRING[1]) == utc_ns(DST_SPRING[1], 4)
    assert calendar.ny_midnight_ns(DST_SPRING[0]) == utc_ns(DST_SPRING[0], 5)
    assert calendar.previous_sessions(dt.date(2024, 12, 2), 2) == [dt.date(2024, 11, 27), dt.date(2024, 11, 29)]
    assert calendar.previous_sessions(dt.date(2024, 12, 2), 0) == []


def test_latest_closed_session():
    # Friday 2024-11-29 closes at 13:00 ET (18:00Z): at 17:59Z the latest closed session is Wednesday
    assert calendar.latest_closed_session(dt.datetime(2024, 11, 29, 17, 59, tzinfo=UTC)) == dt.date(2024, 11, 27)
    assert calendar.latest_closed_session(dt.datetime(2024, 11, 29, 18, 0, tzinfo=UTC)) == dt.date(2024, 11, 29)
    assert calendar.latest_closed_session(dt.datetime(2024, 12, 1, 12, 0, tzinfo=UTC)) == dt.date(2024, 11, 29)
