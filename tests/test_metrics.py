"""Session metrics: flatload's journal against the independent oracle (tests/oracle.py).

End-to-end tests load generated files from the local S3 server on both sides of
the 2024 DST switches and on early-close days, with one inline worker and with a
process pool; hand-made ``EDGE`` bars sit exactly on every window boundary so
each boundary rule is asserted by value. Hypothesis then checks
``metrics.session_metrics`` against the oracle on small generated frames.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from flatload import sample
from flatload.calendar import session_bounds
from flatload.datasets import stocks as metrics
from flatload.engine import api as pipeline
from flatload.settings import Settings
from tests.helpers import oracle
from tests.helpers.days import DST_FALL, DST_SPRING, EARLY_CLOSES
from tests.helpers.store import journal_rows, s3_client
from flatload.store.store import Store

SCHEMA = {"ticker": pl.String, "volume": pl.Int64, "open": pl.Float64, "close": pl.Float64,
          "high": pl.Float64, "low": pl.Float64, "window_start": pl.Int64, "transactions": pl.Int64}
JOURNAL_SQL_COLUMNS = 11  # journal_rows() adds `source` after the oracle's eleven columns


def _t(h: int, m: int) -> dt.time:
    return dt.time(h, m)


def _minus_minute(t: dt.time) -> dt.time:
    return (dt.datetime.combine(dt.date(2000, 1, 3), t) - dt.timedelta(minutes=1)).time()


def edge_bars(d: dt.date, ticker: str = "EDGE") -> tuple[list[dict], dict]:
    """Bars of ``ticker`` on every boundary, priced so that a misclassified bar shows in the metrics.

    Inside a window: highs 10-23, lows 8-19.5. Just outside: highs >= 900, lows <= 0.9.
    Returns (minute rows, expected {pre_high, pre_low, ah_high, ah_low}).
    """
    close, post_end = oracle.after_hours_window(d)
    bars = [  # (New York wall time on d, high, low)
        (_t(3, 59), 900.0, 0.5),  # before pre-market
        (_t(4, 0), 10.0, 9.0),  # first pre-market minute
        (_t(9, 29), 11.0, 8.0),  # last pre-market minute
        (_t(9, 30), 950.0, 0.6),  # the open: regular, not pre-market
        (_minus_minute(close), 960.0, 0.7),  # last regular minute
        (close, 20.0, 19.0),  # the close bar: after-hours
        (_minus_minute(post_end), 21.0, 18.0),  # last after-hours minute
        (post_end, 970.0, 0.8),  # after-hours are over
    ]
    expected = {"pre_high": 11.0, "pre_low": 8.0, "ah_high": 21.0, "ah_low": 18.0}
    if oracle.is_early_close(d):
        # after a 13:00 close, 16:00 and 16:30 are after-hours; 17:00 (post_end) is not
        bars += [(_t(16, 0), 22.0, 17.5), (_t(16, 30), 23.0, 17.0)]
        expected.update(ah_high=23.0, ah_low=17.0)
    rows = [{"ticker": ticker, "volume": 100, "open": lo, "close": hi, "high": hi, "low": lo,
             "window_start": oracle.et_ns(d, t), "transactions": 2} for t, hi, lo in bars]
    # bars of the neighbouring New York dates (a UTC date of d in winter) must not count for d
    for when in (dt.datetime.combine(d - dt.timedelta(days=1), _t(23, 30)),
                 dt.datetime.combine(d + dt.timedelta(days=1), _t(0, 30))):
        aware = when.replace(tzinfo=oracle.NY)
        ns = (aware - oracle.EPOCH) // dt.timedelta(microseconds=1) * 1000
        rows.append({"ticker": ticker, "volume": 7, "open": 0.1, "close": 999.0, "high": 999.0, "low": 0.1,
                     "window_start": ns, "transactions": 1})
    return rows, expected


def files_with_edges(days: list[dt.date], n_tickers: int = 20, seed: int = 0) -> dict[str, bytes]:
    """Generated files for ``days`` plus the EDGE ticker's boundary bars (and its day row)."""
    files: dict[str, bytes] = {}
    for d in days:
        day = sample.sample_day(d, n_tickers=n_tickers, seed=seed)
        rows, _ = edge_bars(d)
        minute = pl.concat([day.minute, pl.DataFrame(rows, schema=SCHEMA)])
        day_rows = pl.concat([day.day, pl.DataFrame(
            [{"ticker": "EDGE", "volume": 1234, "open": 15.0, "close": 16.0, "high": 960.0, "low": 0.6,
              "window_start": oracle.et_ns(d, dt.time(0, 0)), "transactions": 9}], schema=SCHEMA)])
        files[oracle.minute_key(d)] = sample.to_csv_gz(minute)
        files[oracle.day_key(d)] = sample.to_csv_gz(day_rows)
    return files


def _assert_matches_oracle(settings, files, days):
    got = [r[:JOURNAL_SQL_COLUMNS] for r in journal_rows(settings)]
    want = oracle.journal_from_bucket_files(files, days)
    got_by = {(r[1], r[0]): r for r in got}
    mismatched = [(w, got_by.get((w[1], w[0]))) for w in want if got_by.get((w[1], w[0])) != w]
    assert not mismatched, mismatched[:5]
    assert got == want  # same rows (no extra ones), same order


ALL_DAYS = sorted(DST_SPRING + DST_FALL + EARLY_CLOSES)


@pytest.fixture(scope="module")
def edge_load(tmp_path_factory, s3_endpoint):
    """The DST and early-close sessions (with EDGE bars) loaded once by one inline worker."""
    bucket = "flatfiles-metrics-edges"
    files = files_with_edges(ALL_DAYS, n_tickers=20)
    sample.upload(s3_client(s3_endpoint), bucket, files)
    settings = Settings(data_dir=tmp_path_factory.mktemp("edges") / "data", endpoint_url=s3_endpoint,
                        bucket=bucket, workers=1, use_rest=False, lock_timeout=2.0, s3_max_attempts=2)
    # run_days: exactly these sessions (a load over the whole span would meet file-less sessions)
    summary = pipeline.run_days(ALL_DAYS, settings)
    assert sorted(summary.done) == ALL_DAYS and not summary.failed, summary.lines()
    assert summary.exit_code == 0
    journal = {(r[0], r[1]): r for r in journal_rows(settings)}
    return journal, files, settings


def test_journal_matches_oracle_dst_and_early_closes(edge_load):
    _journal, files, settings = edge_load
    _assert_matches_oracle(settings, files, ALL_DAYS)
    assert {r[-1] for r in journal_rows(settings)} == {"flatfile"}


def test_minute_partition_holds_only_bars_of_its_new_york_date(edge_load):
    _journal, files, settings = edge_load
    for d in ALL_DAYS:
        part = Store.of(settings).parquet_root / "stocks" / "minute_aggs" / f"date={d}" / "part-0.parquet"
        ns = pl.read_parquet(part, hive_partitioning=False)["window_start"].dt.epoch("ns").to_list()
        assert {oracle.to_ny(x).date() for x in ns} == {d}
        csv_rows = oracle.read_rows(files[oracle.minute_key(d)])
        on_date = [r for r in csv_rows if oracle.window_of(d, r["window_start"]) is not None]
        assert len(on_date) == len(csv_rows) - 2  # EDGE's two neighbouring-date bars are left out
        assert sorted(ns) == sorted(r["window_start"] for r in on_date)


def test_dst_sessions_differ_by_one_hour_in_utc(edge_load):
    """The same wall-clock bars sit one hour apart in UTC across each switch, and both load the same."""
    journal, _files, _settings = edge_load
    for before, after in (DST_SPRING, DST_FALL):
        shift = (oracle.et_ns(before, dt.time(4, 0)) - oracle.et_ns(before, dt.time(0, 0))) - \
                (oracle.et_ns(after, dt.time(4, 0)) - oracle.et_ns(after, dt.time(0, 0)))
        assert shift == 0  # wall-clock arithmetic is DST-free within a session day
        utc_before = oracle.to_ny(oracle.et_ns(before, dt.time(9, 30))).astimezone(oracle.UTC).time()
        utc_after = oracle.to_ny(oracle.et_ns(after, dt.time(9, 30))).astimezone(oracle.UTC).time()
        assert {utc_before, utc_after} == {dt.time(13, 30), dt.time(14, 30)}
        for d in (before, after):
            assert journal[("EDGE", d)][2:4] == (11.0, 8.0)
            assert journal[("EDGE", d)][8:10] == (21.0, 18.0)


def test_session_windows_on_boundaries(edge_load):
    journal, _files, _settings = edge_load
    for d in ALL_DAYS:
        _rows, expected = edge_bars(d)
        row = journal[("EDGE", d)]
        got = {"pre_high": row[2], "pre_low": row[3], "ah_high": row[8], "ah_low": row[9]}
        # 09:30 is not pre-market (950/0.6 would show), 03:59 neither; the close bar and
        # post_end-1 are after-hours, post_end is not (970/0.8); off-date bars (999/0.1) never count
        assert got == expected, d
        # open/high/low/close/volume come from the day file only
        assert row[4:8] == (15.0, 960.0, 0.6, 16.0) and row[10] == 1234


def test_early_close_after_hours(edge_load):
    journal, _files, _settings = edge_load
    for d in EARLY_CLOSES:
        assert oracle.after_hours_window(d) == (dt.time(13, 0), dt.time(17, 0))
        row = journal[("EDGE", d)]
        assert row[8] == 23.0  # the 16:30 bar is after-hours on an early close (< 17:00)
        assert row[9] == 17.0  # so are 16:00 (17.5) and 13:00 (19.0); 17:00 (0.8) is not
    for d in DST_SPRING + DST_FALL:
        assert oracle.after_hours_window(d) == (dt.time(16, 0), dt.time(20, 0))


def test_special_tickers_are_distinct_rows(edge_load):
    journal, _files, _settings = edge_load
    for d in ALL_DAYS:
        for ticker in ("TpC", "TPC", "NA", "ABRpD", "BRK.B"):
            assert (ticker, d) in journal, (ticker, d)
        assert journal[("TpC", d)] != journal[("TPC", d)]
    assert all(isinstance(sym, str) and sym for sym, _d in journal)


def test_generator_puts_special_tickers_on_every_boundary():
    """The oracle comparison is only as sharp as the data: check the generator's edge bars."""
    for d in (DST_SPRING[1], EARLY_CLOSES[0]):
        day = sample.sample_day(d, n_tickers=12)
        close, post_end = oracle.after_hours_window(d)
        edges = {_t(4, 0), _t(9, 29), _t(9, 30), _minus_minute(close), close, _minus_minute(post_end)}
        times: dict[str, set[dt.time]] = {}
        for ticker, ns in zip(day.minute["ticker"], day.minute["window_start"]):
            times.setdefault(ticker, set()).add(oracle.to_ny(ns).time())
        for ticker in sample.SPECIAL_TICKERS:
            assert edges <= times[ticker], (d, ticker, edges - times[ticker])
        assert not any(oracle.window_of(d, ns) in (None, "other") for ns in day.minute["window_start"])


def test_journal_matches_oracle_with_process_pool(settings, s3_endpoint, bucket):
    """workers=2: a spawn pool whose workers fetch from the S3 server over HTTP themselves."""
    days = [DST_FALL[1], EARLY_CLOSES[1]]
    files = files_with_edges(days, n_tickers=16, seed=3)
    sample.upload(s3_client(s3_endpoint), bucket, files)
    summary = pipeline.run_days(days, settings.replace(workers=2))
    assert sorted(summary.done) == days and not summary.failed, summary.lines()
    _assert_matches_oracle(settings, files, days)


# ---------------------------------------------------------------- Hypothesis: session_metrics

SESSIONS = sorted(DST_SPRING + DST_FALL + EARLY_CLOSES + [dt.date(2024, 12, 24), dt.date(2024, 1, 2)])
TICKERS = ["AAPL", "TpC", "TPC", "NA", "BRK.B", "ABRpD", "a"]
PRICE = st.floats(min_value=0.01, max_value=1000, allow_nan=False, allow_infinity=False)


@st.composite
def session_frames(draw):
    d = draw(st.sampled_from(SESSIONS))
    close, post_end = oracle.after_hours_window(d)
    day0 = dt.datetime.combine(d, dt.time(0, 0))
    # wall-clock minutes to probe: every boundary ±1 minute, plus anywhere in the day and the neighbours
    marks = [dt.time(4, 0), dt.time(9, 30), close, post_end, dt.time(16, 0), dt.time(0, 0)]
    near = [dt.datetime.combine(d, m) + dt.timedelta(minutes=k) for m in marks for k in (-1, 0, 1)]
    anywhere = st.integers(min_value=-6 * 60, max_value=30 * 60).map(lambda m: day0 + dt.timedelta(minutes=m))
    when = st.one_of(st.sampled_from(near), anywhere)

    def bar(t: str, local: dt.datetime, lo: float, spread: float, vol: int) -> dict:
        ns = oracle.et_ns(local.date(), local.time())
        return {"ticker": t, "volume": vol, "open": lo, "close": lo + spread, "high": lo + spread, "low": lo,
                "window_start": ns, "transactions": 1}

    minute_rows = draw(st.lists(st.builds(bar, st.sampled_from(TICKERS), when, PRICE,
                                          st.floats(0, 50, allow_nan=False), st.integers(1, 10**12)),
                                max_size=40))
    day_tickers = draw(st.lists(st.sampled_from(TICKERS + ["ONLYDAY"]), unique=True, max_size=5))
    # volumes are DOUBLE (fractional shares): whole numbers stay exact up to 2**53, far above any real day
    day_rows = [{"ticker": t, "volume": draw(st.integers(0, 2**53)), "open": draw(PRICE), "close": draw(PRICE),
                 "high": draw(PRICE), "low": draw(PRICE), "window_start": oracle.et_ns(d, dt.time(0, 0)),
                 "transactions": 1} for t in day_tickers]
    minute_none = draw(st.booleans()) and not minute_rows
    return d, (None if minute_none else minute_rows), (day_rows if day_rows or draw(st.booleans()) else None)


def _frame(rows: list[dict] | None) -> pl.DataFrame | None:
    return None if rows is None else pl.DataFrame(rows, schema=SCHEMA)


def _on_date(d: dt.date, rows: list[dict] | None) -> list[dict] | None:
    """What parse hands to the metrics: only bars of New York date d."""
    return None if rows is None else [r for r in rows if oracle.window_of(d, r["window_start"]) is not None]


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_frames(), st.one_of(st.none(), st.sets(st.sampled_from(TICKERS + ["ONLYDAY", "ZZZ"]))))
def test_session_metrics_matches_oracle(case, symbols):
    d, minute_rows, day_rows = case
    b = session_bounds(d)
    minute_rows = _on_date(d, minute_rows)
    out = metrics.session_metrics(_frame(minute_rows), _frame(day_rows), b, symbols)
    assert list(out.columns) == metrics.JOURNAL_COLUMNS
    assert dict(out.schema) == metrics.METRICS_SCHEMA
    assert out.select(pl.struct("symbol", "trade_date").is_unique().all()).item()
    assert out["symbol"].to_list() == sorted(out["symbol"].to_list())
    want = oracle.journal(d, minute_rows, day_rows, symbols)
    assert [tuple(r) for r in out.rows()] == [want[s] for s in sorted(want)]


@hsettings(max_examples=60, deadline=None)
@given(session_frames())
def test_session_metrics_ignores_bars_of_other_dates(case):
    """Bars of neighbouring New York dates never land in a window of d, even unfiltered."""
    d, minute_rows, _day_rows = case
    if not minute_rows:
        return
    b = session_bounds(d)
    all_rows = metrics.session_metrics(_frame(minute_rows), None, b)
    for sym, pre_high, ah_high in zip(all_rows["symbol"], all_rows["pre_high"], all_rows["ah_high"]):
        on_d = [r for r in minute_rows if r["ticker"] == sym]
        pre = [r["high"] for r in on_d if oracle.window_of(d, r["window_start"]) == "pre"]
        ah = [r["high"] for r in on_d if oracle.window_of(d, r["window_start"]) == "ah"]
        assert pre_high == (max(pre) if pre else None)
        assert ah_high == (max(ah) if ah else None)


def test_session_metrics_without_files_is_empty_and_typed():
    out = metrics.session_metrics(None, None, session_bounds(DST_SPRING[0]))
    assert out.height == 0 and dict(out.schema) == metrics.METRICS_SCHEMA
