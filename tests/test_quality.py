"""Suspicious input is not a clean day: files with far fewer rows than they should have are kept, flagged
``suspect`` in the summary, status and gaps, and loaded again by the next run without --force."""
from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from flatload import reports, sample
from flatload.engine.api import load
from flatload.tasks.quality import MIN_SHARE_OF_DAY_TICKERS, MIN_SHARE_OF_TRAILING, suspect_reason
from tests.helpers.store import mkey, query, s3_client

WEEK = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7), dt.date(2024, 3, 8)]


@given(st.integers(0, 10**7), st.integers(0, 20_000), st.one_of(st.none(), st.integers(0, 20_000)),
       st.one_of(st.none(), st.integers(1, 10**7)))
def test_suspect_exactly_when_a_yardstick_says_so(rows, tickers, day_tickers, trailing):
    tickers = min(tickers, rows)
    why = suspect_reason(rows, tickers, day_tickers, trailing)
    expected = (rows == 0
                or (day_tickers is not None and day_tickers >= 20 and tickers < day_tickers * MIN_SHARE_OF_DAY_TICKERS)
                or (trailing is not None and rows < trailing * MIN_SHARE_OF_TRAILING))
    assert (why is not None) == expected


def test_an_early_close_is_not_suspect():
    # an early close has about half a day's rows; the trailing check allows for it
    assert suspect_reason(rows=1_100_000, tickers=10_500, day_tickers=10_800, trailing_rows=2_000_000) is None


def _thin(files: dict[str, bytes], d: dt.date, keep_tickers: int) -> None:
    minute = sample.sample_day(d, n_tickers=40).minute
    kept = minute.filter(pl.col("ticker").is_in(minute["ticker"].unique().sort().head(keep_tickers).implode()))
    files[mkey(d)] = sample.to_csv_gz(kept)


def test_a_minute_file_missing_most_tickers_is_suspect_and_reloaded(s3_endpoint, bucket, settings):
    files = sample.generate(WEEK, n_tickers=40)
    _thin(files, WEEK[2], keep_tickers=5)  # 5 of 40 tickers: the vendor was still writing it
    client = s3_client(s3_endpoint)
    sample.upload(client, bucket, files)

    first = load(WEEK[0], WEEK[-1], settings)

    assert first.exit_code == 1 and sorted(first.done) == WEEK and first.failed == []
    [s] = first.suspect
    assert (s.date, s.key, s.message) == (WEEK[2], mkey(WEEK[2]), "only 5 tickers, but 40 in the day file")
    assert "suspect" in first.lines()[0]
    st = reports.status(settings)
    assert [(d["dataset"], d["date"]) for d in st["suspect_days"]] == [("stocks/minute_aggs", str(WEEK[2]))]
    gp = reports.gaps(WEEK[0], WEEK[-1], settings)
    assert gp["days"][str(WEEK[2])] == "suspect" and not gp["complete"]
    # the rows are kept meanwhile: the day's journal exists, from what the file had
    assert query(settings, "SELECT count(*) FROM journal WHERE trade_date = ?", [WEEK[2]])[0][0] > 0

    second = load(WEEK[0], WEEK[-1], settings)  # no --force: the suspect day is loaded again
    assert second.done == [WEEK[2]] and len(second.skipped) == 4 and second.exit_code == 1

    sample.upload(client, bucket, {mkey(WEEK[2]): sample.generate([WEEK[2]], n_tickers=40)[mkey(WEEK[2])]})
    fixed = load(WEEK[0], WEEK[-1], settings)
    assert (fixed.done, fixed.suspect, fixed.exit_code) == ([WEEK[2]], [], 0)
    assert reports.gaps(WEEK[0], WEEK[-1], settings)["complete"]


def test_far_fewer_rows_than_the_trailing_sessions_is_suspect(s3_endpoint, bucket, settings):
    days = WEEK + [dt.date(2024, 3, 11)]
    files = sample.generate(days, n_tickers=40)
    last = days[-1]
    # every ticker is there, but a tenth of the bars: the day file cannot tell, the trailing sessions can
    minute = sample.sample_day(last, n_tickers=40).minute
    files[mkey(last)] = sample.to_csv_gz(minute.gather_every(10))
    client = s3_client(s3_endpoint)
    sample.upload(client, bucket, {k: v for k, v in files.items() if str(last) not in k})
    assert load(days[0], days[-2], settings).exit_code == 0  # five clean sessions of history
    sample.upload(client, bucket, {k: v for k, v in files.items() if str(last) in k})

    summary = load(last, last, settings)

    [s] = summary.suspect
    assert s.date == last and s.message.startswith("only ") and "against a median of" in s.message
    assert summary.exit_code == 1
