"""REST fallback, upgrades to flat files, refresh and --pairs, against real local servers.

S3 is moto's server on loopback; REST is tests/fakes/rest_server.FakeRest, a real
HTTP server serving the same generated bars as the flat files.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from click.testing import CliRunner

from flatload import sample
from flatload.cli import cli
from flatload.engine.api import load, load_pairs, refresh
from flatload.settings import Settings
from tests.helpers.rest_server import FakeRest, Fault
from tests.helpers.store import journal_rows, query, s3_client, upload_days

NY = ZoneInfo("America/New_York")
KEY = "test-key"
D = dt.date(2024, 3, 11)  # first Monday after the spring DST switch
EARLY = dt.date(2024, 11, 29)
SCOPE = frozenset({"AAPL", "TpC", "TPC", "NA"})


@pytest.fixture
def fake_rest() -> Iterator[FakeRest]:
    days = [sample.sample_day(d, n_tickers=20) for d in (dt.date(2024, 3, 8), D, EARLY)]
    with FakeRest(minute=pl.concat([s.minute for s in days]), day=pl.concat([s.day for s in days]),
                  api_key=KEY) as server:
        yield server


def _rest_settings(settings: Settings, server: FakeRest, **kw: object) -> Settings:
    return settings.replace(use_rest=True, api_key=KEY, rest_url=server.url, rest_backoff=0.01,
                            rest_max_retries=3, **kw)


def _by_symbol(rows: list[tuple]) -> dict[str, tuple]:
    return {r[0]: r for r in rows}


def test_missing_day_filled_from_rest_then_upgraded_to_flatfile(settings: Settings, s3_endpoint: str,
                                                               bucket: str, fake_rest: FakeRest) -> None:
    upload_days(s3_endpoint, bucket, [dt.date(2024, 3, 8)], n_tickers=20)  # D itself is not published
    s = _rest_settings(settings, fake_rest, symbols=SCOPE)
    summary = load(dt.date(2024, 3, 8), D, s)
    assert summary.exit_code == 0, summary.lines()
    assert summary.sources == {dt.date(2024, 3, 8): "flatfile", D: "rest"}
    rest_rows = _by_symbol(journal_rows(s, f"trade_date = DATE '{D}'"))
    assert set(rest_rows) == SCOPE
    assert {r[-1] for r in rest_rows.values()} == {"rest"}

    # every REST request asked for unadjusted prices and carried the key as a Bearer header
    assert fake_rest.requests
    for _method, path, q, headers in fake_rest.requests:
        if "cursor" not in q:
            assert q.get("adjusted") == "false", path
        assert headers.get("authorization") == f"Bearer {KEY}"
    assert any(p.startswith("/v2/aggs/grouped/locale/us/market/stocks/2024-03-11") for p in fake_rest.paths())

    # the flat files appear: the next load upgrades the day to flat-file rows, same values
    upload_days(s3_endpoint, bucket, [D], n_tickers=20)
    summary = load(dt.date(2024, 3, 8), D, s)
    assert summary.done == [D] and summary.sources == {D: "flatfile"}
    file_rows = _by_symbol(journal_rows(s, f"trade_date = DATE '{D}'"))
    assert set(file_rows) == SCOPE
    for sym in SCOPE:
        assert file_rows[sym][-1] == "flatfile"
        assert file_rows[sym][:-1] == pytest.approx(rest_rows[sym][:-1]), sym


def test_rest_day_skipped_while_file_still_missing(settings: Settings, fake_rest: FakeRest) -> None:
    s = _rest_settings(settings, fake_rest, symbols=SCOPE)
    assert load(D, D, s).sources == {D: "rest"}
    n = len(fake_rest.requests)
    again = load(D, D, s)
    assert again.skipped == [(D, "loaded from REST; flat file still missing")]
    assert len(fake_rest.requests) == n  # nothing fetched again


def test_all_tickers_get_daily_columns_scope_gets_extended_hours(settings: Settings, fake_rest: FakeRest) -> None:
    s = _rest_settings(settings.replace(), fake_rest)
    s = s.replace(symbols=None)
    day = sample.sample_day(D, n_tickers=20)
    # no scope: grouped daily for all tickers, no per-ticker minute calls, NULL pre/after-hours
    summary = load_pairs_free = load(D, D, s)
    assert summary.exit_code == 0
    rows = journal_rows(s, f"trade_date = DATE '{D}'")
    assert {r[0] for r in rows} == set(day.day["ticker"].to_list())
    assert all(r[2] is None and r[8] is None for r in rows)
    assert not any(p.startswith("/v2/aggs/ticker/") for p in fake_rest.paths())
    assert load_pairs_free.sources == {D: "rest"}


def _naive_after_hours(frame: pl.DataFrame, ticker: str, d: dt.date, start: dt.time, end: dt.time) -> float | None:
    highs = [r["high"] for r in frame.iter_rows(named=True)
             if r["ticker"] == ticker
             and dt.datetime.fromtimestamp(r["window_start"] / 1e9, NY).date() == d
             and start <= dt.datetime.fromtimestamp(r["window_start"] / 1e9, NY).time() < end]
    return max(highs) if highs else None


def test_early_close_rest_uses_13_to_17(settings: Settings, fake_rest: FakeRest) -> None:
    s = _rest_settings(settings, fake_rest, symbols=frozenset({"AAPL", "SPY"}))
    assert load(EARLY, EARLY, s).exit_code == 0
    minute = sample.sample_day(EARLY, n_tickers=20).minute
    rows = _by_symbol(journal_rows(s))
    for sym in ("AAPL", "SPY"):
        expected = _naive_after_hours(minute, sym, EARLY, dt.time(13), dt.time(17))
        assert expected is not None
        assert rows[sym][8] == pytest.approx(expected)


def test_rest_pagination_and_transient_faults(settings: Settings, fake_rest: FakeRest) -> None:
    fake_rest.page_size = 100  # several next_url pages per ticker
    fake_rest.script("/v2/aggs/grouped", [Fault(status=429, headers={"Retry-After": "0"}), Fault(status=503),
                                         Fault(status=200, body={"status": "OK", "queryCount": 0,
                                                                 "resultsCount": 0, "results": None})])
    s = _rest_settings(settings, fake_rest, symbols=frozenset({"SPY"}))  # SPY: > 500 bars that day
    assert load(D, D, s).exit_code == 0
    assert sum(p.startswith("/v2/aggs/grouped") for p in fake_rest.paths()) == 4
    assert sum("cursor" in q for _m, _p, q, _h in fake_rest.requests) >= 5
    expected = _naive_after_hours(sample.sample_day(D, n_tickers=20).minute, "SPY", D, dt.time(16), dt.time(20))
    assert _by_symbol(journal_rows(s))["SPY"][8] == pytest.approx(expected)


def test_rest_403_is_terminal_and_not_retried(settings: Settings, fake_rest: FakeRest) -> None:
    fake_rest.script("/v2/aggs/grouped", [Fault(status=403, persistent=True)])
    s = _rest_settings(settings, fake_rest)
    summary = load(D, D, s)
    assert summary.exit_code == 1
    (failure,) = summary.failed
    assert "not entitled" in failure.message and not failure.transient
    assert sum(p.startswith("/v2/aggs/grouped") for p in fake_rest.paths()) == 1


def test_missing_day_without_key_says_how_to_enable(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    result = CliRunner().invoke(cli, ["load", "--start", str(D), "--end", str(D), "--endpoint-url", s3_endpoint,
                                      "--bucket", bucket, "--data-dir", str(settings.data_dir)],
                                env={"MASSIVE_API_KEY": "", "POLYGON_API_KEY": ""})
    assert result.exit_code == 1
    assert (f"failed {D}: us_stocks_sip/minute_aggs_v1/2024/03/{D}.csv.gz: no flat file in the bucket "
            "(set MASSIVE_API_KEY to fill it from REST") in result.output


def test_refresh_reloads_changed_etag_and_skips_the_rest(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    days = [dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7), dt.date(2024, 3, 8)]
    upload_days(s3_endpoint, bucket, days, n_tickers=10)
    first = refresh(settings, date=days[-1], lookback=3)
    assert sorted(first.done) == days
    # the vendor regenerates 03-06's minute file: new bytes, new ETag
    regenerated = sample.sample_day(days[1], n_tickers=10, seed=7)
    sample.upload(s3_client(s3_endpoint), bucket, {k: v for k, v in sample.day_files(regenerated).items()
                                                    if "minute_aggs" in k})
    second = refresh(settings, date=days[-1], lookback=3)
    assert second.done == [days[1]]
    assert sorted(d for d, _ in second.skipped) == [days[0], days[2], days[3]]
    assert second.exit_code == 0


def test_refresh_cli_one_summary_line(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, [D], n_tickers=10)
    result = CliRunner().invoke(cli, ["refresh", "--date", str(D), "--lookback", "0", "--endpoint-url",
                                      s3_endpoint, "--bucket", bucket, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("refresh: 1 day(s) loaded, 0 skipped, 0 failed;")


def test_pairs_file_scope_bad_lines_and_pairs_without_data(settings: Settings, fake_rest: FakeRest,
                                                           s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    upload_days(s3_endpoint, bucket, [dt.date(2024, 3, 8)], n_tickers=20)
    pairs = tmp_path / "journal.csv"
    pairs.write_text("symbol,trade_date\n"
                     "AAPL,2024-03-08\n"
                     "TpC,2024-03-11\n"
                     "NOPE,2024-03-11\n"
                     ",2024-03-11\n"
                     "AAPL,2024-03-09\n"
                     "AAPL,11 March\n"
                     "TPC,03/11/2024\n")
    s = _rest_settings(settings, fake_rest)
    summary = load_pairs(pairs, s)
    assert sorted(summary.done) == [dt.date(2024, 3, 8), D]
    assert summary.sources[D] == "rest"
    assert summary.bad_input == [f"{pairs}:5: blank symbol", f"{pairs}:6: 2024-03-09 is a Saturday: no session",
                                 f"{pairs}:7: unknown date format '11 March' (use YYYY-MM-DD)"]
    assert summary.pairs_without_data == [("NOPE", D)]
    assert summary.exit_code == 1
    # the pairs' symbols were the REST scope for 03-11: their extended hours are filled
    rest_calls = sorted(p for p in fake_rest.paths() if p.startswith("/v2/aggs/ticker/"))
    assert {p.split("/")[4] for p in rest_calls} == {"NOPE", "TPC", "TpC"}
    rows = _by_symbol(journal_rows(s, f"trade_date = DATE '{D}'"))
    assert rows["TpC"][2] is not None and rows["TPC"][2] is not None
    assert rows["AAPL"][2] is None  # outside the scope that day: NULL, not an error
    assert query(s, "SELECT count(*) FROM day_status WHERE status = 'failed'") == [(0,)]
