"""The library entry point ``flatload.load`` against the local S3 server: ledger, scope, gaps, Parquet."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flatload import sample
from flatload.engine import api as pipeline
from flatload.store.database import db
from tests.helpers import oracle
from tests.helpers.days import DST_FALL, DST_SPRING, EARLY_CLOSES, HOLIDAY
from tests.helpers.store import journal_rows, query, s3_client, upload_days
from flatload.store.store import Store

N = 16
#: written out, not taken from the package: this is the contract readers of the partitions rely on
MINUTE_SCHEMA = {"ticker": pl.String, "volume": pl.Float64, "open": pl.Float64, "close": pl.Float64,
                 "high": pl.Float64, "low": pl.Float64, "window_start": pl.Datetime("ns", "UTC"),
                 "transactions": pl.Int64}
FAMILY = "stocks"


def _journal_with_loaded_at(settings) -> list[tuple]:
    return query(settings, "SELECT * FROM journal ORDER BY trade_date, symbol")


def _part(settings, dataset: str, d: dt.date) -> Path:
    return Store.of(settings).parquet_root / FAMILY / dataset / f"date={d:%Y-%m-%d}" / "part-0.parquet"


def _expected(files, days, symbols=None) -> list[tuple]:
    return oracle.journal_from_bucket_files(files, days, symbols)


def _rows(settings) -> list[tuple]:
    return [r[:11] for r in journal_rows(settings)]


def test_load_then_rerun_skips_everything(settings, s3_endpoint, bucket):
    days = DST_SPRING
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    first = pipeline.load(days[0], days[1], settings)
    assert sorted(first.done) == days and not first.failed and first.exit_code == 0
    assert first.symbols == len(_expected(files, days))
    assert _rows(settings) == _expected(files, days)
    before = _journal_with_loaded_at(settings)
    ledger = query(settings, "SELECT key, etag, status, scope FROM ledger ORDER BY key")
    assert [(k, st, sc) for k, _e, st, sc in ledger] == sorted((k, "loaded", "*") for k in files)

    second = pipeline.load(days[0], days[1], settings)
    assert second.done == [] and not second.failed and second.exit_code == 0
    assert sorted(d for d, _why in second.skipped) == days
    assert all("same ETag" in why for _d, why in second.skipped)
    assert _journal_with_loaded_at(settings) == before
    assert query(settings, "SELECT key, etag, status, scope FROM ledger ORDER BY key") == ledger

    # --force reloads; unchanged values keep their loaded_at
    forced = pipeline.load(days[0], days[1], settings.replace(force=True))
    assert sorted(forced.done) == days
    assert _journal_with_loaded_at(settings) == before


def test_changed_object_is_reloaded(settings, s3_endpoint, bucket):
    days = DST_FALL
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    pipeline.load(days[0], days[1], settings)
    old_etag = dict(query(settings, "SELECT key, etag FROM ledger"))
    # the vendor regenerates one day: different bytes under the same key, so a new ETag
    d = days[1]
    regenerated = sample.generate([d], n_tickers=N, seed=7)
    sample.upload(s3_client(s3_endpoint), bucket, regenerated)
    files.update(regenerated)
    again = pipeline.load(days[0], days[1], settings)
    assert again.done == [d] and [s for s, _ in again.skipped] == [days[0]]
    new_etag = dict(query(settings, "SELECT key, etag FROM ledger"))
    assert new_etag[oracle.minute_key(d)] != old_etag[oracle.minute_key(d)]
    assert new_etag[oracle.minute_key(days[0])] == old_etag[oracle.minute_key(days[0])]
    assert _rows(settings) == _expected(files, days)
    # the minute partition holds the new file's bars
    part = pl.read_parquet(_part(settings, "minute_aggs", d))
    assert part.height == len(oracle.read_rows(regenerated[oracle.minute_key(d)]))


def test_symbols_scope_is_case_sensitive(settings, s3_endpoint, bucket):
    days = [EARLY_CLOSES[1]]
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    scope = frozenset({"TpC", "NA"})
    summary = pipeline.load(days[0], days[0], settings.replace(symbols=scope))
    assert summary.done == days and summary.exit_code == 0
    rows = _rows(settings)
    assert [r[0] for r in rows] == ["NA", "TpC"]  # not TPC, and "NA" is a ticker, not NULL
    assert rows == _expected(files, days, scope)
    # the same scope again is skipped; a wider scope loads the other symbols and keeps these
    assert pipeline.load(days[0], days[0], settings.replace(symbols=scope)).done == []
    before = {r[0]: r for r in _journal_with_loaded_at(settings)}
    wider = pipeline.load(days[0], days[0], settings.replace(symbols=frozenset({"TPC"})))
    assert wider.done == days
    after = {r[0]: r for r in _journal_with_loaded_at(settings)}
    assert sorted(after) == ["NA", "TPC", "TpC"]
    assert after["NA"] == before["NA"] and after["TpC"] == before["TpC"]
    # a full load after scoped ones is not skipped, and yields the whole day
    full = pipeline.load(days[0], days[0], settings)
    assert full.done == days
    assert _rows(settings) == _expected(files, days)


def test_holiday_is_not_a_session(settings, s3_endpoint, bucket):
    days = [HOLIDAY - dt.timedelta(days=1), HOLIDAY + dt.timedelta(days=1)]
    files = upload_days(s3_endpoint, bucket, days + [HOLIDAY], n_tickers=N)
    assert not any(str(HOLIDAY) in k for k in files)  # the generator skips non-sessions
    # whether the vendor publishes holiday files is unknown: one in the bucket must not become a session
    ws = oracle.et_ns(HOLIDAY, dt.time(10, 0))
    stray = sample.to_csv_gz(pl.DataFrame([{"ticker": "HOL", "volume": 1, "open": 1.0, "close": 1.0, "high": 1.0,
                                            "low": 1.0, "window_start": ws, "transactions": 1}]))
    sample.upload(s3_client(s3_endpoint), bucket, {oracle.minute_key(HOLIDAY): stray,
                                                   oracle.day_key(HOLIDAY): stray})
    only = pipeline.load(HOLIDAY, HOLIDAY, settings)
    assert only.done == [] and only.failed == [] and only.exit_code == 0 and only.planned == 0
    around = pipeline.load(days[0], days[1], settings)
    assert sorted(around.done) == days and around.failed == [] and around.exit_code == 0
    assert HOLIDAY not in {r[1] for r in _rows(settings)}
    assert _rows(settings) == _expected(files, days)
    weekend = pipeline.load(dt.date(2024, 11, 30), dt.date(2024, 12, 1), settings)
    assert weekend.planned == 0 and weekend.exit_code == 0


@pytest.mark.parametrize("dataset", ["minute", "day"])
def test_missing_file_fails_that_day_only(settings, s3_endpoint, bucket, dataset):
    days = [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3)]
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    gone = days[1]
    key = oracle.minute_key(gone) if dataset == "minute" else oracle.day_key(gone)
    s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=key)
    del files[key]
    summary = pipeline.load(days[0], days[-1], settings)
    assert sorted(summary.done) == [days[0], days[2]]
    assert [(f.date, f.key) for f in summary.failed] == [(gone, key)]
    assert summary.exit_code == 1 and summary.outcome == "partial"
    assert key in summary.failed[0].line() and "--no-rest" in summary.failed[0].line()
    assert any(key in line for line in summary.lines()[1:])
    assert _rows(settings) == _expected(files, [days[0], days[2]])
    assert query(settings, "SELECT dataset, status FROM day_status WHERE trade_date = ? ORDER BY 1", [gone]) == [
        ("stocks/day_aggs", "failed"), ("stocks/minute_aggs", "failed")]
    assert query(settings, "SELECT status FROM ledger WHERE key = ?", [key]) == [("failed",)]
    assert not _part(settings, "minute_aggs", gone).exists()
    if dataset == "day":
        return
    # a rerun retries only the failed day; once published, it loads
    sample.upload(s3_client(s3_endpoint), bucket, {key: sample.generate([gone], n_tickers=N)[key]})
    files[key] = sample.generate([gone], n_tickers=N)[key]
    rerun = pipeline.load(days[0], days[-1], settings)
    assert rerun.done == [gone] and not rerun.failed and rerun.exit_code == 0
    assert _rows(settings) == _expected(files, days)


def test_parquet_partitions_typed_and_sorted(settings, s3_endpoint, bucket):
    days = [DST_FALL[1]]
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    pipeline.load(days[0], days[0], settings)
    d = days[0]
    part = pl.read_parquet(_part(settings, "minute_aggs", d), hive_partitioning=False)
    assert dict(part.schema) == MINUTE_SCHEMA
    assert part.equals(part.sort("ticker", "window_start"))
    csv_rows = oracle.read_rows(files[oracle.minute_key(d)])
    assert part.height == len(csv_rows)
    want = sorted(((r["ticker"], r["window_start"], r["volume"], r["open"], r["close"], r["high"], r["low"],
                    r["transactions"]) for r in csv_rows))
    got = [(t, int(ws.timestamp() * 1_000_000) * 1000, v, o, c, h, lo, n) for t, v, o, c, h, lo, ws, n in part.rows()]
    assert got == want  # same values as the CSV, byte-exact tickers
    assert {"TpC", "TPC", "NA"} <= set(part["ticker"])
    metrics = pl.read_parquet(_part(settings, "journal", d), hive_partitioning=False)
    assert metrics["symbol"].to_list() == [r[0] for r in _rows(settings)]
    assert [tuple(r[:11]) for r in metrics.rows()] == _rows(settings)


def test_minute_bars_view_after_second_run_from_another_directory(settings, s3_endpoint, bucket, tmp_path,
                                                                  monkeypatch):
    """Loaded with a relative --data-dir, queried from elsewhere through flatload's connection."""
    days = DST_SPRING
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    monkeypatch.chdir(tmp_path)
    relative = settings.replace(data_dir=Path("reldata"))
    pipeline.load(days[0], days[1], relative)
    pipeline.load(days[0], days[1], relative)  # the views over Parquet exist once a run found data
    _check_minute_bars_view(settings.replace(data_dir=tmp_path / "reldata"), files, days, tmp_path, monkeypatch)


def test_minute_bars_view_after_first_load(settings, s3_endpoint, bucket, tmp_path, monkeypatch):
    days = DST_SPRING
    files = upload_days(s3_endpoint, bucket, days, n_tickers=N)
    pipeline.load(days[0], days[1], settings)
    _check_minute_bars_view(settings, files, days, tmp_path, monkeypatch)


def _check_minute_bars_view(settings, files, days, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    journal_file = Store.of(settings).db_path.resolve()
    con = db.connect(journal_file, read_only=True)  # points the views at the file's own store
    try:
        # epoch_ns: fetching TIMESTAMPTZ values into Python would need pytz, which is not a dependency
        rows = con.execute("SELECT ticker, trade_date, epoch_ns(window_start), window_start_et, "
                           "typeof(window_start) FROM minute_bars").fetchall()
    finally:
        con.close()
    want = [(r["ticker"], d, r["window_start"]) for d in days for r in oracle.read_rows(files[oracle.minute_key(d)])]
    assert len(rows) == len(want)
    assert {r[4] for r in rows} <= {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS"}  # an instant, UTC-based
    for ticker, trade_date, ns, ws_et, _type in rows[:: max(1, len(rows) // 500)]:
        local = oracle.to_ny(ns)
        assert ws_et == local.replace(tzinfo=None)  # New York wall time
        assert local.date() == trade_date
    assert sorted(r[:3] for r in rows) == sorted(want)


def test_no_temp_files_left(settings, s3_endpoint, bucket):
    days = DST_SPRING
    upload_days(s3_endpoint, bucket, days, n_tickers=N)
    # a temp file left by a killed run is cleaned by the next run
    stale = Store.of(settings).parquet_root / FAMILY / "minute_aggs" / "date=2024-03-08" / ".part-0.parquet.tmp-999-deadbeef"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")
    pipeline.load(days[0], days[1], settings)
    leftovers = [p for p in settings.data_dir.rglob("*") if p.is_file() and (
        ".tmp" in p.name or p.name.endswith((".tmp", ".wal")))]
    assert leftovers == []
    parts = sorted(p.relative_to(Store.of(settings).parquet_root).as_posix() for p in Store.of(settings).parquet_root.rglob("*.parquet"))
    assert parts == sorted(f"{FAMILY}/{ds}/date={d}/part-0.parquet" for d in days
                           for ds in ("minute_aggs", "day_aggs", "journal"))
    assert not any(p.name.startswith(".") for p in Store.of(settings).parquet_root.rglob("*"))
