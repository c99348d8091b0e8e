"""``flatload.bars`` against an independent computation (pandas over the raw CSV rows), and the DuckDB macros.

Sessions: both sides of the spring DST switch (2024-03-08 EST, 2024-03-11 EDT), two early closes
(2024-07-03 and the day after Thanksgiving 2024-11-29, with the holidays 07-04 and 11-28 between
sessions), a sparse ticker (EDGE) that trades only around window boundaries, and the generated
tickers whose bars sit on every session edge.
"""
from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import flatload
from flatload.analysis.minutes import NoBars
from flatload.analysis.sql import query
from flatload.cli.render import iso_times
from flatload.errors import ConfigError
from tests.helpers import analysis_store, bars_oracle, oracle
from tests.helpers.days import DST_SPRING, EARLY_CLOSES

DAYS = analysis_store.DAYS
EVERY = ["1m", "5m", "15m", "1h", "4h", "45m", "1d", "1w"]
INTERVAL = {"1m": "INTERVAL 1 MINUTE", "5m": "INTERVAL 5 MINUTE", "15m": "INTERVAL 15 MINUTE",
            "1h": "INTERVAL 1 HOUR", "4h": "INTERVAL 4 HOUR", "45m": "INTERVAL 45 MINUTE",
            "1d": "INTERVAL 1 DAY", "1w": "INTERVAL 1 WEEK"}
PRICES = ["open", "high", "low", "close", "volume", "vwap"]


@pytest.fixture
def store(bars_store):
    return bars_store


def assert_same(got: pl.DataFrame, want, label: str = "") -> None:
    """flatload's bars (window_start as ISO text) equal the oracle's, floats to 1e-9 relative."""
    got = iso_times(got)
    assert got["window_start"].to_list() == list(want["window_start"]), label
    for col in PRICES:
        for a, b in zip(got[col].to_list(), list(want[col])):
            assert math.isclose(a, b, rel_tol=1e-9), (label, col, a, b)
    assert got["transactions"].to_list() == [int(x) for x in want["transactions"]], label


@pytest.mark.parametrize("every", EVERY)
@pytest.mark.parametrize("session", ["regular", "extended", "all"])
@pytest.mark.parametrize("ticker", ["AAPL", analysis_store.EDGE])
def test_bars_equal_an_independent_computation(store, every, session, ticker):
    settings, files = store
    for start, end in ((DST_SPRING[0], DST_SPRING[1]), (EARLY_CLOSES[0], dt.date(2024, 7, 5)),
                       (dt.date(2024, 11, 27), dt.date(2024, 12, 2))):
        got = flatload.bars(ticker, start, end, every=every, session=session, settings=settings)
        want = bars_oracle.bars(files, ticker, start, end, every, session)
        assert len(want) > 0
        assert_same(got, want, f"{ticker} {every} {session} {start}")


def test_columns_types_and_zone(store):
    settings, _ = store
    got = flatload.bars("AAPL", "2024-03-08", "2024-03-11", every="5m", settings=settings)
    assert got.columns == ["symbol", "window_start", "open", "high", "low", "close", "volume", "vwap", "transactions"]
    assert got.schema["window_start"] == pl.Datetime("ns", "America/New_York")
    assert got.schema["transactions"] == pl.Int64
    assert set(got["symbol"]) == {"AAPL"}


def test_dst_switch_keeps_local_alignment(store):
    """Both sides of the switch open at 09:30 New York: 14:30Z in winter, 13:30Z in summer."""
    settings, _ = store
    got = iso_times(flatload.bars("AAPL", DST_SPRING[0], DST_SPRING[1], every="1h", settings=settings))
    starts = got["window_start"].to_list()
    assert starts[0] == "2024-03-08T09:30:00-05:00"
    assert "2024-03-11T09:30:00-04:00" in starts
    # 09:30-16:00 in 1h bars: the last one is 15:30-16:00, short
    assert [s[11:16] for s in starts if s.startswith("2024-03-11")] == \
        ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]


def test_early_close_ends_regular_at_13_and_after_hours_at_17(store):
    settings, _ = store
    day = EARLY_CLOSES[1]
    regular = iso_times(flatload.bars(analysis_store.EDGE, day, day, every="1m", settings=settings))
    assert regular["window_start"].to_list() == [f"{day}T{t}:00-05:00" for t in ("09:30", "09:31", "09:34", "09:35",
                                                                               "11:00", "12:59")]
    extended = iso_times(flatload.bars(analysis_store.EDGE, day, day, every="1m", session="extended",
                                       settings=settings))
    assert [s[11:16] for s in extended["window_start"]] == ["04:00", "04:01", "09:29", "13:00", "13:01", "16:59"]
    daily = iso_times(flatload.bars(analysis_store.EDGE, day, day, every="1d", session="all", settings=settings))
    assert daily["window_start"].to_list() == [f"{day}T04:00:00-05:00"]


def test_sparse_intervals_without_minutes_have_no_row(store):
    settings, _ = store
    got = iso_times(flatload.bars(analysis_store.EDGE, DST_SPRING[0], DST_SPRING[0], every="5m", settings=settings))
    # 09:30, 09:31, 09:34 fall in the 09:30 bar; 09:35 opens the next; 11:00; 15:59 in the 15:55 bar
    assert [s[11:16] for s in got["window_start"]] == ["09:30", "09:35", "11:00", "15:55"]
    first = got.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (24.0, 26.5, 23.5, 26.25)
    assert (first["volume"], first["transactions"]) == (100.0 * (5 + 6 + 7), 5 + 6 + 7)


def test_weeks_group_sessions_by_iso_week_from_the_first_session_in_range(store):
    settings, _ = store
    got = iso_times(flatload.bars("AAPL", dt.date(2024, 3, 8), dt.date(2024, 3, 12), every="1w", settings=settings))
    assert got["window_start"].to_list() == ["2024-03-08T09:30:00-05:00", "2024-03-11T09:30:00-04:00"]


@pytest.mark.parametrize("adjust", ["none"])
@pytest.mark.parametrize("every", EVERY)
@pytest.mark.parametrize("session", ["regular", "extended", "all"])
def test_duckdb_macro_equals_the_library(store, every, session, adjust):
    settings, _ = store
    for ticker in ("AAPL", "BRK.B", analysis_store.EDGE):
        lib = flatload.bars(ticker, DAYS[0], DAYS[-1], every=every, session=session, settings=settings)
        sql = query(f"SELECT * FROM bars(?, DATE '{DAYS[0]}', DATE '{DAYS[-1]}', {INTERVAL[every]}, "
                    f"'{session}', adjust := '{adjust}')", settings, [ticker])
        assert_frames_equal(lib, sql)


def assert_frames_equal(lib: pl.DataFrame, sql: pl.DataFrame) -> None:
    """Same bars: the same instants, the same numbers (floats to 1e-12 relative)."""
    assert lib.columns == sql.columns
    assert lib["window_start"].dt.epoch("us").to_list() == sql["window_start"].dt.epoch("us").to_list()
    for col in PRICES:
        for a, b in zip(lib[col].to_list(), sql[col].to_list()):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12), (col, a, b)
    assert lib["transactions"].to_list() == sql["transactions"].to_list()


def _duckdb_cli() -> str:
    exe = shutil.which("duckdb") or str(Path(sys.executable).with_name("duckdb"))
    if not Path(exe).exists():
        pytest.skip("the duckdb CLI is not installed (pip install duckdb-cli)")
    return exe


def test_duckdb_1x_cli_opens_the_store_and_runs_the_macro(store):
    """The file stays readable by DuckDB 1.x: its CLI runs the macro from the data dir, views read './parquet'."""
    settings, _ = store
    exe = _duckdb_cli()
    version = subprocess.run([exe, "-version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1."), version
    sql = (f"SELECT epoch_ms(window_start) AS ms, open, high, low, close, volume, vwap, transactions "
           f"FROM bars('AAPL', DATE '{DAYS[0]}', DATE '{DAYS[-1]}', INTERVAL 15 MINUTE, 'all')")
    run = subprocess.run([exe, "-readonly", "-csv", "flatload.duckdb", sql], cwd=settings.data_dir,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    cli = pl.read_csv(run.stdout.encode())
    lib = flatload.bars("AAPL", DAYS[0], DAYS[-1], every="15m", session="all", settings=settings)
    assert cli["ms"].to_list() == lib["window_start"].dt.epoch("ms").to_list()
    for col in PRICES:
        for a, b in zip(lib[col].to_list(), cli[col].to_list()):
            assert math.isclose(a, b, rel_tol=1e-9), (col, a, b)
    for view in ("journal_features", "journal_adjusted", "stocks_minute", "minute_bars"):
        run = subprocess.run([exe, "-readonly", "-csv", "flatload.duckdb", f"SELECT count(*) AS n FROM {view}"],
                             cwd=settings.data_dir, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and int(run.stdout.split()[1]) > 0, (view, run.stderr)


def test_macro_rejects_bad_arguments(store):
    settings, _ = store
    bad = [("INTERVAL 1 DAY", "'overnight'", "session must be regular, extended or all, not overnight"),
           ("INTERVAL 90 SECOND", "'regular'", "every must be whole minutes or hours"),
           ("INTERVAL '1 day 2 hours'", "'regular'", "every must be whole minutes or hours"),
           ("INTERVAL 1 MONTH", "'regular'", "every must be whole minutes or hours")]
    for every, session, message in bad:
        with pytest.raises(Exception, match=message):
            query(f"SELECT * FROM bars('AAPL', DATE '2024-03-08', DATE '2024-03-08', {every}, {session})", settings)


def test_no_bars_names_the_ticker_that_differs_in_case(store):
    settings, _ = store
    with pytest.raises(NoBars) as err:
        flatload.bars("aapl", DST_SPRING[0], DST_SPRING[1], settings=settings)
    assert err.value.one_line() == ("no stocks/minute_aggs bars for 'aapl' on 2024-03-08..2024-03-11 "
                                    "(tickers are case-sensitive: AAPL has bars then)")


def test_a_range_without_sessions_has_no_bars(store):
    settings, _ = store
    with pytest.raises(NoBars, match="no stocks/minute_aggs bars for 'AAPL' on 2024-03-09..2024-03-10"):
        flatload.bars("AAPL", dt.date(2024, 3, 9), dt.date(2024, 3, 10), settings=settings)


@pytest.mark.parametrize("kwargs, message", [
    ({"every": "7x"}, "--every '7x' is not a bar width"),
    ({"every": "0m"}, "--every '0m' is not a bar width"),
    ({"session": "night"}, "--session 'night' is not a session"),
    ({"adjust": "dividends"}, "--adjust 'dividends' is not an adjustment"),
    ({"dataset": "crypto", "session": "regular"}, "crypto has no sessions"),
    ({"dataset": "crypto", "adjust": "splits", "session": "all"}, "adjustment is for stocks only, not crypto"),
    ({"dataset": "stocks/day_aggs"}, "bars are made from minute aggregates, not stocks/day_aggs"),
    ({"dataset": "options"}, "this store has no options/minute_aggs partitions yet"),
    ({"start": "03/08/2024"}, "start '03/08/2024' is not a date like 2024-03-11"),
])
def test_bad_arguments_are_config_errors(store, kwargs, message):
    settings, _ = store
    args = {"start": DST_SPRING[0], "end": DST_SPRING[1], **kwargs}
    with pytest.raises(ConfigError) as err:
        flatload.bars("AAPL", settings=settings, **args)
    assert message in err.value.one_line()


def test_day_bars_from_the_day_file_are_the_vendors_day_bars(store):
    """--day-source day-file: the day file's values as they are (the journal's close and volume), one bar per
    session starting where a 1d bar of the minutes starts."""
    settings, files = store
    start, end = DST_SPRING[0], dt.date(2024, 3, 12)
    got = iso_times(flatload.bars("AAPL", start, end, every="1d", day_source="day-file", settings=settings))
    from_minutes = iso_times(flatload.bars("AAPL", start, end, every="1d", settings=settings))
    days = [d for d in DAYS if start <= d <= end]
    want = [next(r for r in oracle.read_rows(files[oracle.day_key(d)]) if r["ticker"] == "AAPL") for d in days]
    assert got["window_start"].to_list() == from_minutes["window_start"].to_list()
    assert len(want) == got.height == 3
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == [float(r[col]) for r in want], col
    assert got["transactions"].to_list() == [r["transactions"] for r in want]
    assert got["vwap"].null_count() == got.height  # day files carry no VWAP
    journal = query("SELECT close_price, day_volume FROM journal WHERE symbol = 'AAPL' AND trade_date "
                    f"BETWEEN DATE '{start}' AND DATE '{end}' ORDER BY trade_date", settings)
    assert journal["close_price"].to_list() == got["close"].to_list()
    assert journal["day_volume"].to_list() == got["volume"].to_list()


@pytest.mark.parametrize("kwargs, message", [
    ({"every": "1h", "day_source": "day-file"}, "the day file holds one bar per day: --day-source day-file needs "
                                                "--every 1d"),
    ({"every": "1d", "day_source": "day-file", "session": "all"}, "a day file's bar covers the vendor's whole day: "
                                                                 "--session does not apply to it"),
    ({"every": "1d", "day_source": "hourly"}, "day source 'hourly' is not one of minutes, day-file"),
])
def test_day_source_misuse(store, kwargs, message):
    with pytest.raises(ConfigError) as exc:
        flatload.bars("AAPL", DST_SPRING[0], DST_SPRING[0], settings=store[0], **kwargs)
    assert exc.value.message == message
