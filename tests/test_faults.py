"""Faults a real load meets, injected through real channels only.

S3 is moto's server (conftest); bad objects are put into it, HTTP faults come from a
proxy on 127.0.0.1 in front of it (tests/fakes/s3_proxy.py), locks are held by a
second process. DuckDB and Parquet are real files. Nothing in flatload is patched.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import re

import polars as pl
import pytest
from click.testing import CliRunner

from flatload import calendar, reports, sample
from flatload.datasets import JOURNAL
from flatload.cli import cli
from flatload.engine.api import load
from flatload.engine.runner import AHEAD
from flatload.store.files import partitions as parquet
from flatload.store.files.lock import read_holder
from tests.helpers.faults import (
    HOLD_DUCKDB,
    HOLD_RUN_LOCK,
    JournalTakenOnFirstFetch,
    by_date,
    cli_load,
    closed_port,
    crc_only_corruption,
    csv_gz,
    csv_lines,
    duckdb_holder_name,
    files_for,
    flipped_mid_stream,
    holder,
    journal_value,
    parquet_files,
    pre_market,
    put,
)
from tests.helpers.s3_proxy import Fault, S3FaultProxy
from tests.helpers.store import dkey, journal_rows, mkey, query
from flatload.store.store import Store

HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
WEEK = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7), dt.date(2024, 3, 8),
        dt.date(2024, 3, 11)]
NS_MIN = 60 * 10**9


# ---- 1. broken gzip objects --------------------------------------------------------------------

def test_broken_gzip_objects_fail_their_day_and_load_once_replaced(s3_endpoint, bucket, settings):
    d1, d2, d3, d4, d5, d6 = WEEK
    good = files_for(WEEK)
    put(s3_endpoint, bucket, good)
    header_only = csv_gz([HEADER])
    put(s3_endpoint, bucket, {
        mkey(d1): good[mkey(d1)][: len(good[mkey(d1)]) // 2],  # truncated
        dkey(d2): crc_only_corruption(good[dkey(d2)]),  # deep change only the CRC-32 catches
        mkey(d3): flipped_mid_stream(good[mkey(d3)]),  # garbage in the middle of the deflate stream
        mkey(d4): b"",  # 0-byte object
        mkey(d5): header_only,  # no rows: loaded, but flagged suspect (no market day is empty)
    })

    summary = load(d1, d6, settings)

    assert sorted(summary.done) == [d5, d6]
    assert summary.exit_code == 1
    [suspect] = summary.suspect
    assert (suspect.date, suspect.key, suspect.message, suspect.datasets) == (
        d5, mkey(d5), "the file holds a header and no rows", ("stocks/minute_aggs",))
    failed = by_date(summary.failed)
    assert sorted(failed) == [d1, d2, d3, d4]
    assert (failed[d1].key, failed[d1].message) == (mkey(d1), "truncated gzip (the file ends before the gzip stream does)")
    assert (failed[d2].key, failed[d2].message) == (dkey(d2), "corrupt gzip (CRC-32 mismatch)")
    assert failed[d3].key == mkey(d3)
    assert re.fullmatch(r"corrupt gzip \((CRC-32 mismatch|invalid [a-z ]+)\)", failed[d3].message), failed[d3]
    assert (failed[d4].key, failed[d4].message) == (mkey(d4), "empty object (0 bytes)")
    for f in failed.values():
        assert not f.transient
        assert "\n" not in f.line() and f.line().startswith(f"{f.key}: ")
    # the failures are recorded; nothing of theirs reached the journal or the Parquet store
    status = dict(query(settings, "SELECT trade_date, status FROM day_status WHERE dataset = 'stocks/minute_aggs'"))
    assert status == {d1: "failed", d2: "failed", d3: "failed", d4: "failed", d5: "suspect", d6: "flatfile"}
    # the day file of d1 is fine: its status names the dataset whose file is bad, not the minute file as its own
    detail = dict(query(settings, "SELECT dataset, detail FROM day_status WHERE trade_date = ?", [d1]))
    assert detail["stocks/minute_aggs"] == failed[d1].line()
    assert detail["stocks/day_aggs"] == f"not loaded: stocks/minute_aggs failed: {failed[d1].line()}"
    assert journal_rows(settings, f"trade_date < DATE '{d5}'") == []
    assert not any(f"date={d}" in p for p in parquet_files(settings) for d in (d1, d2, d3, d4))
    # the header-only minute file: the day's rows come from the day file, extended hours stay NULL
    d5_rows = journal_rows(settings, f"trade_date = DATE '{d5}'")
    day_tickers = pl.read_csv(good[dkey(d5)], schema_overrides={"ticker": pl.String})["ticker"]
    assert sorted(r[0] for r in d5_rows) == sorted(day_tickers)
    assert all(r[2] is None and r[3] is None and r[8] is None for r in d5_rows)

    # the vendor regenerates the broken objects: a rerun WITHOUT --force loads exactly those days, and
    # the suspect day again (same ETag: still suspect, still exit 1)
    put(s3_endpoint, bucket, {k: good[k] for k in (mkey(d1), dkey(d2), mkey(d3), mkey(d4))})
    again = cli_load(d1, d6, settings)
    assert again.exit_code == 1, again.output
    assert again.stdout.startswith("load: 5 day(s) loaded, 1 skipped, 0 failed, 1 suspect;"), again.output
    assert again.stderr == (f"suspect {d5}: {mkey(d5)}: the file holds a header and no rows (kept and flagged; "
                            "the next run loads it again, or report it if it persists)\n")
    status = dict(query(settings, "SELECT trade_date, status FROM day_status WHERE dataset = 'stocks/minute_aggs'"))
    assert status == {d: "flatfile" for d in WEEK} | {d5: "suspect"}

    # the header-only file is replaced by a full one: its ETag changed, so it reloads
    put(s3_endpoint, bucket, {mkey(d5): good[mkey(d5)]})
    third = load(d1, d6, settings)
    assert (third.done, third.exit_code) == ([d5], 0)
    minute_d5 = pl.read_csv(good[mkey(d5)], schema_overrides={"ticker": pl.String})
    assert journal_value(settings, "pre_high", "AAPL", d5) == pre_market(minute_d5, "AAPL", d5)[0]


# ---- 2. bad rows -------------------------------------------------------------------------------

def test_bad_rows_are_rejected_counted_stored_and_excluded(s3_endpoint, bucket, settings):
    d = WEEK[1]
    day = sample.sample_day(d, n_tickers=10)
    b = calendar.session_bounds(d)
    ws = b.pre_start + 5 * NS_MIN  # a pre-market minute: a bad high/low would move pre_high/pre_low
    bad = [  # (line, reason); each would move AAPL's pre-market high or low if it were loaded
        (f"AAPL,12x,1.0,1.0,9999.0,0.5,{ws},3", "non-numeric volume"),
        ("AAPL,100,1.0,1.0,9999.0", "missing low"),
        (f"AAPL,100,1.0,1.0,9999.0,0.5,{-NS_MIN},3", "negative window_start"),
        (f"AAPL,100,1.0,1.0,0.01,0.02,{ws},3", "low above high"),
        (f"AAPL,100,-1.0,1.0,9999.0,0.5,{ws},3", "negative price"),
        (f"AAPL,-100,1.0,1.0,9999.0,0.5,{ws},3", "negative volume"),
        (f"AAPL,,1.0,1.0,9999.0,0.5,{ws},3", "missing volume"),
    ]
    lines = csv_lines(day.minute)
    cut = 11  # the bad rows become file lines 12.. (the header is line 1)
    minute_lines = lines[:cut] + [row for row, _ in bad] + lines[cut:]
    # the day file parses cleanly (the strict path) but one row is impossible: a new ticker with low > high
    day_lines = csv_lines(day.day) + [f"ZZZZ,500,10.0,10.0,9.0,11.0,{b.day_start},4"]
    put(s3_endpoint, bucket, {mkey(d): csv_gz(minute_lines), dkey(d): csv_gz(day_lines)})

    summary = load(d, d, settings)

    assert (summary.done, summary.failed, summary.exit_code) == ([d], [], 0)
    assert summary.rejected == len(bad) + 1
    assert f", {len(bad) + 1} rejected" in summary.lines()[0]
    expected = [(mkey(d), cut + 1 + i, reason) for i, (_, reason) in enumerate(bad)]
    expected.append((dkey(d), len(day_lines), "low above high"))
    assert query(settings, "SELECT key, line, reason FROM rejects WHERE trade_date = ? ORDER BY key DESC, line",
                 [d]) == expected
    # the rest of the file loaded, and the metrics ignore the bad rows
    assert query(settings, "SELECT key, rows, rejected, status FROM ledger ORDER BY key") == [
        (dkey(d), day.day.height, 1, "loaded"), (mkey(d), day.minute.height, len(bad), "loaded")]
    high, low = pre_market(day.minute, "AAPL", d)
    assert journal_value(settings, "pre_high", "AAPL", d) == high
    assert journal_value(settings, "pre_low", "AAPL", d) == low
    assert query(settings, "SELECT count(*) FROM journal WHERE symbol = 'ZZZZ'") == [(0,)]
    stored = pl.read_parquet(parquet.partition_path(Store.of(settings).parquet_root, "stocks/minute_aggs", d))
    assert stored.height == day.minute.height


# ---- 3. rows of another date -------------------------------------------------------------------

def test_day_file_dated_the_next_day_is_refused_and_off_date_minutes_are_not_loaded(s3_endpoint, bucket, settings):
    d, nxt = dt.date(2019, 8, 12), dt.date(2019, 8, 13)
    files = files_for([d, nxt])
    wrong = sample.sample_day(d, n_tickers=10).day.with_columns(
        window_start=pl.lit(calendar.ny_midnight_ns(nxt), pl.Int64))  # the vendor's 2019-08-12 defect
    files[dkey(d)] = sample.to_csv_gz(wrong)
    minute_nxt = sample.sample_day(nxt, n_tickers=10).minute
    stray_ws = calendar.session_bounds(nxt + dt.timedelta(days=1)).pre_start  # 2019-08-14 04:00 ET
    stray = [f"AAPL,100,1.0,1.0,9999.0,0.5,{stray_ws + i * NS_MIN},3" for i in range(3)]
    files[mkey(nxt)] = csv_gz(csv_lines(minute_nxt) + stray)
    put(s3_endpoint, bucket, files)

    summary = load(d, nxt, settings)

    assert (summary.done, summary.exit_code) == ([nxt], 1)
    [failure] = summary.failed
    assert (failure.date, failure.key, failure.transient) == (d, dkey(d), False)
    assert failure.message == ("every row is dated 2019-08-13 (New York), not 2019-08-12; "
                               "refusing to load it as 2019-08-12")
    assert journal_rows(settings, f"trade_date = DATE '{d}'") == []
    assert not any("date=2019-08-12" in p for p in parquet_files(settings))
    # the next day loads from its own files; its stray 08-14 rows are counted, kept out, and listed
    assert summary.off_date == 3
    assert any(w.startswith(f"{mkey(nxt)}: 3 row(s) dated another New York day") for w in summary.warnings)
    assert journal_value(settings, "pre_high", "AAPL", nxt) == pre_market(minute_nxt, "AAPL", nxt)[0]
    reasons = query(settings, "SELECT reason FROM rejects WHERE key = ? ORDER BY line", [mkey(nxt)])
    assert reasons == [(f"window_start not on 2019-08-13 (New York): {stray_ws + i * NS_MIN}",) for i in range(3)]
    assert query(settings, "SELECT off_date FROM ledger WHERE key = ?", [mkey(nxt)]) == [(3,)]


def test_off_date_rows_are_not_also_counted_as_rejected(s3_endpoint, bucket, settings):
    d = WEEK[0]
    files = files_for([d])
    stray_ws = calendar.session_bounds(WEEK[1]).pre_start
    files[mkey(d)] = csv_gz(csv_lines(sample.sample_day(d, n_tickers=10).minute)
                            + [f"AAPL,100,1.0,1.0,2.0,0.5,{stray_ws},3"])
    put(s3_endpoint, bucket, files)
    summary = load(d, d, settings)
    assert (summary.off_date, summary.rejected) == (1, 0)


# ---- 4. schema drift ---------------------------------------------------------------------------

def test_extra_column_warns_and_missing_column_fails_the_day(s3_endpoint, bucket, settings):
    d1, d2 = WEEK[:2]
    files = files_for([d1, d2])
    minute1 = sample.sample_day(d1, n_tickers=10).minute
    with_vwap = minute1.with_columns(vwap=((pl.col("high") + pl.col("low")) / 2).round(4)).select(
        "ticker", "volume", "open", "close", "vwap", "high", "low", "window_start", "transactions")
    files[mkey(d1)] = gzip.compress(with_vwap.write_csv().encode())
    no_volume = sample.sample_day(d2, n_tickers=10).day.drop("volume")
    files[dkey(d2)] = gzip.compress(no_volume.write_csv().encode())
    put(s3_endpoint, bucket, files)

    summary = load(d1, d2, settings)

    assert (summary.done, summary.exit_code) == ([d1], 1)
    assert f"{mkey(d1)}: extra column vwap ignored" in summary.warnings
    [failure] = summary.failed
    assert (failure.date, failure.key, failure.transient) == (d2, dkey(d2), False)
    assert failure.message == "required column volume missing from the header"
    stored = pl.read_parquet(parquet.partition_path(Store.of(settings).parquet_root, "stocks/minute_aggs", d1))
    assert stored.columns == sample.CSV_COLUMNS and stored.height == minute1.height
    assert journal_value(settings, "pre_high", "AAPL", d1) == pre_market(minute1, "AAPL", d1)[0]


# ---- 5. S3 faults ------------------------------------------------------------------------------

def test_403_is_not_entitled_and_never_retried(s3_endpoint, bucket, settings):
    d1, d2 = WEEK[:2]
    put(s3_endpoint, bucket, files_for([d1, d2]))
    faults = [Fault(mkey(d1), status=403, code="AccessDenied", message="Access Denied", times=None)]
    with S3FaultProxy(s3_endpoint, faults) as proxy:
        summary = load(d1, d2, settings.replace(endpoint_url=proxy.url, s3_max_attempts=4))
        assert proxy.count(mkey(d1)) == 1
    assert (summary.done, summary.exit_code) == ([d2], 1)
    [failure] = summary.failed
    assert (failure.date, failure.key, failure.transient) == (d1, mkey(d1), False)
    assert failure.message == f"not entitled to this dataset (HTTP 403 from {proxy.url})"


def test_a_dataset_outside_the_plan_fails_once_not_a_request_per_day(s3_endpoint, bucket, settings):
    days = WEEK
    put(s3_endpoint, bucket, files_for(days) | sample.generate(days, names="options"))
    refuse = [Fault(prefix="us_options_opra/", status=403, code="AccessDenied", message="Access Denied", times=None)]
    with S3FaultProxy(s3_endpoint, refuse) as proxy:
        summary = load(days[0], days[-1], settings.replace(endpoint_url=proxy.url), datasets="stocks,options")
        options_gets = [r for r in proxy.object_requests() if "us_options_opra/" in r.path]
    # the days already being fetched, then the latest (a plan may reach back only so far): all refused, so
    # the other days are not asked for
    assert len(options_gets) <= settings.workers + AHEAD + 1 < len(days)
    assert options_gets[-1].path.endswith(f"{days[-1]}.csv.gz")
    assert sorted(summary.done) == days  # the stocks days
    assert sorted(f.date for f in summary.failed) == days and summary.exit_code == 1
    assert {f.message for f in summary.failed} == {f"not entitled to this dataset (HTTP 403 from {proxy.url})"}
    lines = summary.lines()
    assert lines[1] == (f"failed 6 days {days[0]}..{days[-1]}: not entitled to this dataset (HTTP 403 from "
                        f"{proxy.url}) (check that your plan covers it and the S3 keys are the flat-files keys)")
    assert len(lines) == 2
    gp = reports.gaps(days[0], days[-1], settings, "options")
    assert gp["counts"]["failed"] == 6 and all("not entitled" in f["reason"] for f in gp["failed"])


def test_403_on_old_days_only_still_loads_the_recent_ones(s3_endpoint, bucket, settings):
    days = WEEK[:4]
    put(s3_endpoint, bucket, files_for(days))
    old = [Fault(key, status=403, code="AccessDenied", message="Access Denied", times=None)
           for d in days[:2] for key in (mkey(d), dkey(d))]
    with S3FaultProxy(s3_endpoint, old) as proxy:
        summary = load(days[0], days[-1], settings.replace(endpoint_url=proxy.url))
    assert sorted(summary.done) == days[2:] and sorted(f.date for f in summary.failed) == days[:2]


@pytest.mark.parametrize("fault", [
    Fault(status=503, code="SlowDown", times=2),
    Fault(status=500, code="InternalError", message="We encountered an internal error.", times=2),
    Fault(action="drop", times=2),  # the socket closes before any answer
    Fault(action="truncate", times=2),  # headers promise the whole body, half of it arrives
], ids=["503-slowdown", "500", "dropped", "cut-mid-body"])
def test_transient_s3_faults_are_retried_then_succeed(s3_endpoint, bucket, settings, fault):
    d = WEEK[2]
    put(s3_endpoint, bucket, files_for([d]))
    fault = dataclasses.replace(fault, key=mkey(d))
    with S3FaultProxy(s3_endpoint, [fault]) as proxy:
        summary = load(d, d, settings.replace(endpoint_url=proxy.url, s3_max_attempts=3))
        assert proxy.count(mkey(d)) == 3  # two faults, then the real object
        assert proxy.count(dkey(d)) == 1
    assert (summary.done, summary.failed, summary.exit_code) == ([d], [], 0)


@pytest.mark.parametrize("fault, message", [
    (Fault(status=503, code="SlowDown", times=None), "S3 answered HTTP 503 SlowDown on each of 3 attempt(s)"),
    (Fault(action="drop", times=None), "download failed on each of 3 attempt(s): connection closed before a response"),
], ids=["503", "dropped"])
def test_persistent_s3_fault_fails_the_day_after_the_configured_attempts(s3_endpoint, bucket, settings, fault,
                                                                          message):
    d1, d2 = WEEK[2:4]
    put(s3_endpoint, bucket, files_for([d1, d2]))
    fault = dataclasses.replace(fault, key=dkey(d1))
    with S3FaultProxy(s3_endpoint, [fault]) as proxy:
        summary = load(d1, d2, settings.replace(endpoint_url=proxy.url, s3_max_attempts=3))
        assert proxy.count(dkey(d1)) == 3
    assert (summary.done, summary.exit_code) == ([d2], 1)
    [failure] = summary.failed
    assert (failure.date, failure.key, failure.message, failure.transient) == (d1, dkey(d1), message, True)
    assert "\n" not in failure.line()
    assert query(settings, "SELECT dataset, status FROM day_status WHERE trade_date = ? ORDER BY 1", [d1]) == [
        ("stocks/day_aggs", "failed"), ("stocks/minute_aggs", "failed")]


@pytest.mark.slow
def test_unreachable_endpoint_fails_fast_with_one_line_naming_it(tmp_path):
    # decided: the listing cannot be made, so nothing can be planned; the run ends at once with
    # the endpoint in one line and exit 1 (a failed run; EndpointUnreachable is transient, so
    # not the configuration code 2: the same command may work once the network is back)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["load", "--start", "2024-03-04", "--end", "2024-03-05", "--endpoint-url",
                                      endpoint, "--bucket", "flatfiles", "--data-dir", str(data), "--workers", "1",
                                      "--no-rest", "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"Error: cannot reach the S3 endpoint {endpoint} (connection refused) "
                             "(check --endpoint-url / FLATLOAD_ENDPOINT_URL and the network)\n")
    assert result.stdout == ""
    assert not (data / "flatload.duckdb").exists()


# ---- 6. DuckDB held by another process ---------------------------------------------------------

def test_journal_held_before_the_run_exits_3_before_fetching(s3_endpoint, bucket, settings):
    d1, d2 = WEEK[:2]
    put(s3_endpoint, bucket, files_for([d1, d2]))
    settings.data_dir.mkdir(parents=True)
    with S3FaultProxy(s3_endpoint) as proxy, holder(HOLD_DUCKDB, str(Store.of(settings).db_path)) as other:
        s = settings.replace(endpoint_url=proxy.url)
        result = cli_load(d1, d2, s, "--lock-timeout", "1")
        who = duckdb_holder_name(other.pid)
        assert proxy.object_requests() == []  # listed, never fetched
    assert result.exit_code == 3, result.output
    assert result.stderr == (f"Error: {Store.of(settings).db_path}: the journal is held by {who} (close that DuckDB "
                             "session (or pass a longer --lock-timeout) and rerun; finished Parquet partitions "
                             "are kept)\n")
    assert parquet_files(settings) == []


def test_journal_taken_during_the_run_exits_3_and_keeps_the_partitions(s3_endpoint, bucket, settings):
    d1, d2 = WEEK[:2]
    put(s3_endpoint, bucket, files_for([d1, d2]))
    analyst = JournalTakenOnFirstFetch(Store.of(settings).db_path)
    try:
        with S3FaultProxy(s3_endpoint, on_request=analyst) as proxy:
            result = cli_load(d1, d2, settings.replace(endpoint_url=proxy.url), "--lock-timeout", "1")
            assert len(proxy.object_requests()) == 4  # every day was fetched
        assert analyst.taken, "the proxy never saw a fetch"
        assert result.exit_code == 3, result.output
        assert f"the journal is held by {duckdb_holder_name(analyst.taken[0].pid)}" in result.stderr
    finally:
        analyst.release()
    # nothing was committed, but both days' partitions are in place for the rerun
    expected = sorted(f"{ds}/date={d}/part-0.parquet" for d in (d1, d2)
                      for ds in ("stocks/minute_aggs", "stocks/day_aggs", JOURNAL.name))
    assert parquet_files(settings) == expected
    assert query(settings, "SELECT count(*) FROM journal") == [(0,)]
    again = cli_load(d1, d2, settings)
    assert again.exit_code == 0, again.output
    assert {r[1] for r in journal_rows(settings)} == {d1, d2}


# ---- 7. two runs on one data directory ---------------------------------------------------------

def test_second_run_on_the_same_data_dir_exits_4_touching_nothing(s3_endpoint, bucket, settings):
    d1 = WEEK[0]
    put(s3_endpoint, bucket, files_for([d1]))
    with S3FaultProxy(s3_endpoint) as proxy, holder(HOLD_RUN_LOCK, str(settings.data_dir)) as other:
        result = cli_load(d1, d1, settings.replace(endpoint_url=proxy.url))
        started = read_holder(settings.data_dir)["started"]
        assert proxy.seen == []  # not even a listing
    assert result.exit_code == 4, result.output
    assert result.stderr == (f"Error: another flatload run holds {settings.data_dir}: PID {other.pid} (load, started "
                             f"{started}) (wait for it to finish (flatload status shows its progress))\n")
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [".flatload.lock"]  # no DuckDB, no Parquet
