"""Futures sessions are dated by ``session_end_date``: across a weekend, a holiday CME trades on, and one it does not.

Files come from the package's sample generator, are served by moto and loaded with ``flatload.load``; the
expected rows are read from the same files with the csv module and grouped by their ``session_end_date``.
"""
from __future__ import annotations

import datetime as dt
import gzip

import pytest

from flatload import bars, datasets, reports, sample
from flatload.engine.api import load
from tests.helpers import csv_reading
from tests.helpers.store import query, s3_client

MLK = dt.date(2024, 1, 15)  # NYSE closed; CME open Sunday evening, halted at noon: Tuesday's session
FRIDAY, TUESDAY = dt.date(2024, 1, 12), dt.date(2024, 1, 16)
GOOD_FRIDAY = dt.date(2024, 3, 29)  # CME closed too


def _chicago_date(ns: int) -> dt.date:
    return csv_reading.local_date(ns, "America/Chicago")


def _rows(files: dict[str, bytes], ds) -> list[dict]:
    types = csv_reading.python_types(ds)
    return [r for key, gz in files.items() if key.startswith(ds.folder + "/") for r in csv_reading.rows(gz, types)]


def _upload(s3_endpoint: str, bucket: str, files: dict[str, bytes]) -> None:
    sample.upload(s3_client(s3_endpoint), bucket, files)


def test_a_session_after_a_weekend_and_a_holiday_holds_the_days_before_it(s3_endpoint, bucket, settings):
    days = [FRIDAY + dt.timedelta(days=i) for i in range(5)]
    files = sample.generate(days, names="futures_cme")
    minute = datasets.get("futures_cme/minute_aggs")
    assert minute.key(MLK) not in files  # no session ends on the holiday: its trading is Tuesday's
    _upload(s3_endpoint, bucket, files)

    summary = load(FRIDAY, TUESDAY, settings, datasets="futures_cme")

    assert (summary.exit_code, sorted(summary.done), summary.failed) == (0, [FRIDAY, TUESDAY], []), summary.lines()
    gp = reports.gaps(FRIDAY, TUESDAY, settings, "futures_cme")
    assert gp["complete"] and set(gp["days"]) == {FRIDAY.isoformat(), TUESDAY.isoformat()}
    stored = query(settings, "SELECT trade_date, session_end_date, epoch_ns(window_start), volume "
                             "FROM futures_cme_minute")
    assert all(trade == session for trade, session, _, _ in stored)
    # Tuesday's file starts on Sunday evening: three calendar days, one session
    assert {_chicago_date(ns) for trade, _, ns, _ in stored if trade == TUESDAY} == {
        dt.date(2024, 1, 14), MLK, TUESDAY}
    # Friday's holds Thursday's evening, and its pre-open bar at 16:55 Chicago the day before
    friday_starts = sorted(ns for trade, _, ns, _ in stored if trade == FRIDAY)
    assert _chicago_date(friday_starts[0]) == dt.date(2024, 1, 11)
    expected = sorted((r["session_end_date"], r["window_start"], r["volume"]) for r in _rows(files, minute))
    assert sorted((s, ns, v) for _, s, ns, v in stored) == expected


def test_session_bars_and_the_settlement_price(s3_endpoint, bucket, settings):
    days = [FRIDAY + dt.timedelta(days=i) for i in range(5)]
    files = sample.generate(days, names="futures_cme")
    _upload(s3_endpoint, bucket, files)
    assert load(FRIDAY, TUESDAY, settings, datasets="futures_cme").exit_code == 0

    session = datasets.get("futures_cme/session_aggs")
    got = query(settings, "SELECT ticker, trade_date, epoch_ns(window_start), settlement_price, exchange, low "
                          "FROM futures_cme_session ORDER BY ALL")
    want = sorted((r["ticker"], r["session_end_date"], r["window_start"], r["settlement_price"], None, r["low"])
                  for r in _rows(files, session))
    assert got == want
    assert any(low < 0 for *_, low in got)  # spreads trade below zero and are kept
    # a 1d bar from the minutes is one session, Sunday and the holiday included in Tuesday's
    minute_rows = [r for r in _rows(files, datasets.get("futures_cme/minute_aggs")) if r["ticker"] == "ESH4"]
    daily = bars("ESH4", FRIDAY, TUESDAY, every="1d", dataset="futures_cme", settings=settings)
    assert daily["volume"].to_list() == [
        sum(r["volume"] for r in minute_rows if r["session_end_date"] == d) for d in (FRIDAY, TUESDAY)]
    assert [w.date() for w in daily["window_start"]] == [dt.date(2024, 1, 11), FRIDAY]  # 16:00 the session before


def test_no_file_on_a_day_cme_is_closed_and_monday_starts_on_sunday(s3_endpoint, bucket, settings):
    start, end = dt.date(2024, 3, 28), dt.date(2024, 4, 1)
    files = sample.generate([start + dt.timedelta(days=i) for i in range(5)], names="futures_nymex")
    assert not any(GOOD_FRIDAY.isoformat() in k for k in files)
    _upload(s3_endpoint, bucket, files)
    summary = load(start, end, settings, datasets="futures_nymex")
    assert (summary.exit_code, sorted(summary.done)) == (0, [start, end]), summary.lines()
    assert reports.gaps(start, end, settings, "futures_nymex")["complete"]
    monday = query(settings, "SELECT min(epoch_ns(window_start)) FROM futures_nymex_minute WHERE trade_date = ?",
                   [end])[0][0]
    assert _chicago_date(monday) == dt.date(2024, 3, 31)


def _rewrite(gz: bytes, change) -> bytes:
    lines = gzip.decompress(gz).decode().splitlines()
    return gzip.compress(("\n".join([lines[0], *change(lines[1:])]) + "\n").encode())


def test_a_row_of_another_session_is_refused_and_a_file_of_another_session_fails(s3_endpoint, bucket, settings):
    files = sample.generate([FRIDAY, TUESDAY], names="futures_cme/minute_aggs")
    minute = datasets.get("futures_cme/minute_aggs")
    # one of Tuesday's rows claims Friday's session; every row of Friday's file claims Thursday's
    files[minute.key(TUESDAY)] = _rewrite(files[minute.key(TUESDAY)], lambda rows: [
        rows[0].replace(TUESDAY.isoformat(), FRIDAY.isoformat()), *rows[1:]])
    files[minute.key(FRIDAY)] = _rewrite(files[minute.key(FRIDAY)], lambda rows: [
        r.replace(FRIDAY.isoformat(), "2024-01-11") for r in rows])
    _upload(s3_endpoint, bucket, files)

    summary = load(FRIDAY, TUESDAY, settings, datasets="futures_cme/minute_aggs")

    assert summary.done == [TUESDAY] and [f.date for f in summary.failed] == [FRIDAY]
    assert summary.failed[0].message == ("every row is dated 2024-01-11 (Chicago), not 2024-01-12; "
                                         "refusing to load it as 2024-01-12")
    rejects = query(settings, "SELECT line, reason FROM rejects WHERE trade_date = ?", [TUESDAY])
    assert rejects == [(2, "session_end_date is not 2024-01-16: 2024-01-12")]


@pytest.mark.parametrize("name", [n for n in datasets.names() if n.startswith("futures_")])
def test_futures_files_name_every_session_by_its_end(name):
    ds = datasets.get(name)
    assert ds.date_column == "session_end_date" and ds.calendar.zone == "Chicago"
    b = ds.calendar.bounds(dt.date(2024, 3, 11))  # Monday, the day after the DST switch
    assert (_chicago_date(b.day_start), _chicago_date(b.day_end - 1)) == (dt.date(2024, 3, 8), dt.date(2024, 3, 11))
