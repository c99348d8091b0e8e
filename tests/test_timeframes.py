"""The pure parts of bars: --every parsing, session windows from the calendar, bucket alignment (Hypothesis)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from flatload import calendar
from flatload.analysis.bars import resample
from flatload.analysis.timeframes import (
    NS_PER_MIN,
    Every,
    parse_every,
    resolve_session,
    segments,
    session_segments,
    day_segments,
)
from flatload.calendar import EveryDayUTC, XnysCalendar
from flatload.errors import ConfigError
from tests.helpers import oracle
from tests.helpers.days import DST_SPRING, EARLY_CLOSES


@given(st.integers(min_value=1, max_value=100_000), st.sampled_from(["m", "h"]))
def test_every_parses_minutes_and_hours(n, unit):
    every = parse_every(f"{n}{unit}")
    assert every == Every("minute", n * 60 if unit == "h" else n)
    assert parse_every(every.label) == every


@pytest.mark.parametrize("text, every", [("1d", Every("day")), ("1w", Every("week")), (" 5m ", Every("minute", 5)),
                                         ("60m", Every("minute", 60)), ("4h", Every("minute", 240))])
def test_every_named_widths(text, every):
    assert parse_every(text) == every


@given(st.text(max_size=8).filter(lambda t: t.strip() not in ("1d", "1w")
                                  and not (t.strip()[:-1].isdigit() and t.strip()[-1:] in ("m", "h"))))
def test_anything_else_is_refused(text):
    with pytest.raises(ConfigError, match="is not a bar width"):
        parse_every(text)


@pytest.mark.parametrize("text", ["0m", "2d", "1M", "1 h", "-5m", "5min", "1.5h"])
def test_refused_widths(text):
    with pytest.raises(ConfigError) as err:
        parse_every(text)
    assert err.value.one_line() == (f"--every {text!r} is not a bar width (use <n>m or <n>h such as 5m or 1h, "
                                    "1d for a bar per session, or 1w for an ISO week)")


def test_sessions_default_and_24_hour_markets():
    assert resolve_session(None, XnysCalendar(), "stocks") == "regular"
    assert resolve_session(None, EveryDayUTC(), "crypto") == "all"
    assert resolve_session("extended", XnysCalendar(), "stocks") == "extended"
    with pytest.raises(ConfigError, match="crypto has no sessions"):
        resolve_session("regular", EveryDayUTC(), "crypto")


@pytest.mark.parametrize("d", [*DST_SPRING, *EARLY_CLOSES])
def test_segments_follow_the_calendar(d):
    """Regular [open, close), extended pre + after-hours, all [04:00, close + 4 h), in New York wall time."""
    def local(ns: int) -> str:
        return oracle.to_ny(ns).strftime("%H:%M")

    close = "13:00" if d in EARLY_CLOSES else "16:00"
    post = "17:00" if d in EARLY_CLOSES else "20:00"
    want = {"regular": [("09:30", close)], "extended": [("04:00", "09:30"), (close, post)], "all": [("04:00", post)]}
    for session, windows in want.items():
        segs = segments(XnysCalendar(), d, d, session)
        assert [(local(a), local(b)) for a, b in segs.select("seg_start", "seg_end").rows()] == windows
        assert set(segs["day_start"]) == {segs["seg_start"].min()}


def test_weeks_start_at_their_first_session_in_range():
    # 2024-11-25..12-03: Thanksgiving week (Mon-Wed, Fri) and the next; the range starts on Wednesday
    segs = session_segments(calendar.session_table(dt.date(2024, 11, 27), dt.date(2024, 12, 3)), "regular")
    starts = {d: oracle.to_ny(w).strftime("%m-%d %H:%M") for d, w in segs.select("trade_date", "week_start").rows()}
    assert starts == {dt.date(2024, 11, 27): "11-27 09:30", dt.date(2024, 11, 29): "11-27 09:30",
                      dt.date(2024, 12, 2): "12-02 09:30", dt.date(2024, 12, 3): "12-02 09:30"}


def test_utc_days():
    segs = day_segments(EveryDayUTC(), dt.date(2024, 3, 9), dt.date(2024, 3, 11))  # Saturday..Monday: Sunday ends the ISO week
    assert segs["seg_end"].to_list() == [s + 1440 * NS_PER_MIN for s in segs["seg_start"]]
    assert segs["week_start"].to_list() == [segs["seg_start"][0]] * 2 + [segs["seg_start"][2]]


@st.composite
def _minutes(draw):
    length = draw(st.integers(min_value=1, max_value=960))
    offsets = sorted(draw(st.sets(st.integers(min_value=0, max_value=length + 30), min_size=1, max_size=80)))
    seg_start = draw(st.integers(min_value=0, max_value=10**6)) * NS_PER_MIN
    width = draw(st.integers(min_value=1, max_value=300))
    return seg_start, length, offsets, width


@hypothesis_settings(deadline=None)  # Polars' first call in a process can take longer than Hypothesis' 200 ms
@given(_minutes())
def test_buckets_align_to_the_segment_start_and_never_cross_its_end(case):
    seg_start, length, offsets, width = case
    d = dt.date(2024, 3, 11)
    seg_end = seg_start + length * NS_PER_MIN
    segs = pl.DataFrame({"trade_date": [d], "seg_start": [seg_start], "seg_end": [seg_end],
                         "day_start": [seg_start], "week_start": [seg_start]})
    n = len(offsets)
    minutes = pl.DataFrame({"trade_date": [d] * n, "ts": [seg_start + o * NS_PER_MIN for o in offsets],
                            "open": [float(o) for o in offsets], "high": [o + 1.0 for o in offsets],
                            "low": [o - 1.0 for o in offsets], "close": [o + 0.5 for o in offsets],
                            "volume": [1.0] * n, "transactions": [1] * n})
    bars = resample(minutes, segs, Every("minute", width))
    inside = [o for o in offsets if o < length]
    assert bars["bucket"].to_list() == sorted({seg_start + o // width * width * NS_PER_MIN for o in inside})
    assert bars["transactions"].sum() == len(inside)  # minutes past the segment's end belong to no bar
    for row in bars.iter_rows(named=True):
        first = (row["bucket"] - seg_start) // NS_PER_MIN
        assert first % width == 0
        assert row["open"] == min(o for o in inside if first <= o < first + width)
        assert row["close"] == max(o for o in inside if first <= o < first + width) + 0.5
