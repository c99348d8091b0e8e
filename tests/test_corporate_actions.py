"""Splits and dividends over REST (a fake API on loopback, paging) into the store; ``refresh`` keeps them current."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from click.testing import CliRunner

import flatload
from flatload.analysis.adjust import new_york_today
from flatload.analysis.corporate_actions import REFRESH_DAYS, refresh_corporate_actions
from flatload.analysis.sql import query
from flatload.cli import cli
from flatload.errors import ConfigError, NotEntitled
from flatload.fetch.rest import RestClient
from tests.helpers.rest_server import FakeRest, Fault
from tests.helpers.store import upload_days

KEY = "ca-key"
FAST = {"backoff_factor": 0.01, "backoff_max": 0.05, "max_retries": 3, "timeout": 5.0}
SPLITS = [{"id": f"s{i}", "ticker": t, "execution_date": d, "split_from": a, "split_to": b,
           "adjustment_type": "forward_split" if b > a else "reverse_split"}
          for i, (t, d, a, b) in enumerate([("AAPL", "2020-08-31", 1, 4), ("AAPL", "2014-06-09", 1, 7),
                                            ("NVDA", "2024-06-10", 1, 10), ("GE", "2021-08-02", 8, 1),
                                            ("TpC", "2023-01-03", 1, 2)])]
BAD_SPLITS = [{"id": "bad1", "ticker": "", "execution_date": "2020-01-02", "split_from": 1, "split_to": 2},
              {"id": "bad2", "ticker": "X", "execution_date": "not a date", "split_from": 1, "split_to": 2},
              {"id": "bad3", "ticker": "X", "execution_date": "2020-01-02", "split_from": 0, "split_to": 2}]
DIVIDENDS = [{"id": f"d{i}", "ticker": t, "ex_dividend_date": d, "cash_amount": c, "currency": "USD",
              "declaration_date": "2024-01-02", "pay_date": None, "frequency": 4, "distribution_type": "recurring",
              "split_adjusted_cash_amount": c, "historical_adjustment_factor": 0.99}
             for i, (t, d, c) in enumerate([("AAPL", "2024-02-09", 0.24), ("AAPL", "2024-05-10", 0.25),
                                            ("AAPL", "2024-08-12", 0.25), ("MSFT", "2024-02-14", 0.75),
                                            ("KO", "2024-03-14", 0.485)])]


@pytest.fixture
def fake():
    with FakeRest(api_key=KEY, page_size=2, splits=SPLITS + BAD_SPLITS, dividends=DIVIDENDS) as server:
        yield server


def client(server: FakeRest) -> RestClient:
    return RestClient(server.url, KEY, **FAST)


def test_client_follows_next_url_through_every_page(fake):
    with client(fake) as c:
        splits = c.splits()
        dividends = c.dividends(["AAPL", "KO"], since=dt.date(2024, 3, 1))
    assert sorted(s["id"] for s in splits) == sorted(s["id"] for s in SPLITS + BAD_SPLITS)
    assert [d["id"] for d in dividends] == ["d4", "d1", "d2"]  # ex-date ascending: KO 03-14, AAPL 05-10, 08-12
    pages = [q for _, path, q, _ in fake.requests if path == "/stocks/v1/splits"]
    assert len(pages) == 4 and all("cursor" in q for q in pages[1:])  # 8 rows, 2 a page
    first = next(q for _, path, q, _ in fake.requests if path == "/stocks/v1/dividends")
    assert first == {"limit": "5000", "sort": "ex_dividend_date.asc", "ex_dividend_date.gte": "2024-03-01",
                     "ticker.any_of": "AAPL,KO"}


def test_client_keeps_the_key_at_home_retries_and_refuses(fake):
    fake.next_base = "http://elsewhere.invalid"  # next_url pointing away: followed on our own origin only
    fake.script("/stocks/v1/splits", [Fault(503), Fault(429, headers={"Retry-After": "0"})])
    with client(fake) as c:
        assert len(c.splits(["AAPL"])) == 2
    assert all(h["authorization"] == f"Bearer {KEY}" for _, _, _, h in fake.requests)
    with RestClient(fake.url, "wrong-key", **FAST) as c, pytest.raises(NotEntitled):
        c.dividends()


def test_ticker_batches_keep_urls_short(fake):
    with client(fake) as c:
        c.splits([f"T{i}" for i in range(250)] + ["AAPL"])
    batches = [q["ticker.any_of"].split(",") for _, p, q, _ in fake.requests if "ticker.any_of" in q]
    assert [len(b) for b in batches] == [100, 100, 51]


def test_load_replaces_the_scope_and_counts_bad_rows(fake, tmp_path):
    settings = flatload.Settings(data_dir=tmp_path / "data", api_key=KEY, rest_url=fake.url, rest_backoff=0.01,
                                 workers=1)
    result = flatload.load_corporate_actions(settings)
    assert result.line() == ("corporate actions: 5 split(s), 5 dividend(s) for all symbols; "
                             "3 row(s) without a ticker, a date or a valid ratio skipped")
    rows = query("SELECT ticker, execution_date, split_from, split_to, adjustment_type FROM splits "
                 "ORDER BY ticker, execution_date", settings).rows()
    assert rows[0] == ("AAPL", dt.date(2014, 6, 9), 1.0, 7.0, "forward_split")
    assert ("TpC", dt.date(2023, 1, 3), 1.0, 2.0, "forward_split") in rows
    div = query("SELECT * FROM dividends WHERE id = 'd0'", settings).row(0, named=True)
    assert (div["cash_amount"], div["frequency"], div["pay_date"], div["declaration_date"]) == \
        (0.24, 4, None, dt.date(2024, 1, 2))
    # the vendor withdraws AAPL's 2014 split and adds one: a reload of AAPL mirrors it, others stay
    fake.set_splits([s for s in SPLITS if s["id"] != "s1"] + [
        {"id": "s9", "ticker": "AAPL", "execution_date": "2025-01-02", "split_from": 1, "split_to": 2}])
    flatload.load_corporate_actions(settings, ["AAPL"])
    aapl = query("SELECT id FROM splits WHERE ticker = 'AAPL' ORDER BY id", settings)["id"].to_list()
    assert aapl == ["s0", "s9"]
    assert query("SELECT count(*) FROM splits", settings).item() == 5
    assert query("SELECT value FROM flatload_meta WHERE key = 'corporate_actions'", settings).item() == "*"


def test_adjustment_needs_the_symbols_corporate_actions(fake, tmp_path):
    settings = flatload.Settings(data_dir=tmp_path / "data", api_key=KEY, rest_url=fake.url, workers=1)
    flatload.load_corporate_actions(settings, ["AAPL", "MSFT"])
    flatload.load_corporate_actions(settings, ["KO"])
    assert query("SELECT value FROM flatload_meta WHERE key = 'corporate_actions'", settings).item() == "AAPL,KO,MSFT"
    from flatload.analysis import adjust
    from flatload.analysis.sql import reader

    with reader(settings) as con:
        adjust.load_factors(con, "KO", [dt.date(2024, 3, 1)], "all")
        with pytest.raises(ConfigError) as err:
            adjust.load_factors(con, "NVDA", [dt.date(2024, 3, 1)], "splits")
    assert err.value.one_line() == ("no corporate actions loaded for 'NVDA': adjusted prices would be wrong "
                                    "(run flatload corporate-actions --symbols NVDA, or without --symbols for "
                                    "every symbol)")


def test_refresh_rereads_recent_events_of_the_loaded_symbols(fake, tmp_path):
    settings = flatload.Settings(data_dir=tmp_path / "data", api_key=KEY, rest_url=fake.url, workers=1)
    assert refresh_corporate_actions(settings) is None  # nothing loaded yet: nothing to keep current
    flatload.load_corporate_actions(settings, ["AAPL"])
    fake.set_dividends([d for d in fake.served("/stocks/v1/dividends") if d["id"] != "d2"] + [
        {"id": "new", "ticker": "AAPL", "ex_dividend_date": "2024-08-30", "cash_amount": 0.3}])
    before = len(fake.requests)
    result = refresh_corporate_actions(settings, today=dt.date(2024, 9, 1))
    assert result is not None and result.since == dt.date(2024, 9, 1) - dt.timedelta(days=REFRESH_DAYS)
    assert result.line() == "corporate actions: 0 split(s), 1 dividend(s) for AAPL since 2024-08-02"
    queries = [q for _, _, q, _ in fake.requests[before:]]
    assert all(q.get("ticker.any_of") == "AAPL" for q in queries if "cursor" not in q)
    ids = query("SELECT id FROM dividends ORDER BY ex_dividend_date", settings)["id"].to_list()
    assert ids == ["d0", "d1", "new"]  # d2 (08-12), withdrawn within the window, is gone
    assert refresh_corporate_actions(settings.replace(use_rest=False)) is None
    assert refresh_corporate_actions(settings.replace(api_key=None)) is None


def run(*args: str, key: str | None = KEY):
    env = {k: None for k in os.environ if k.startswith("FLATLOAD_")} | {"MASSIVE_API_KEY": key,
                                                                      "POLYGON_API_KEY": None}
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def test_cli_corporate_actions(fake, tmp_path):
    data = str(tmp_path / "data")
    ok = run("corporate-actions", "--symbols", "AAPL,KO", "--rest-url", fake.url, "--data-dir", data)
    assert ok.exit_code == 0, ok.output
    assert ok.output == "corporate actions: 2 split(s), 4 dividend(s) for AAPL, KO\n"
    no_key = run("corporate-actions", "--rest-url", fake.url, "--data-dir", data, key=None)
    assert no_key.exit_code == 2
    assert no_key.stderr == ("Error: corporate actions come from the REST API and no API key is set "
                             "(set MASSIVE_API_KEY or POLYGON_API_KEY)\n")
    denied = run("corporate-actions", "--rest-url", fake.url, "--data-dir", data, key="wrong")
    assert denied.exit_code == 1
    assert denied.stderr.startswith("Error: /stocks/v1/splits: REST not entitled (HTTP 401)")
    empty = run("corporate-actions", "--symbols", " , ", "--rest-url", fake.url, "--data-dir", data)
    assert empty.exit_code == 2 and "--symbols names no symbol" in empty.stderr


def test_cli_refresh_keeps_corporate_actions_current(fake, tmp_path, s3_endpoint, bucket):
    day = dt.date(2024, 3, 11)
    upload_days(s3_endpoint, bucket, [day], n_tickers=10)
    data = str(tmp_path / "data")
    assert run("corporate-actions", "--rest-url", fake.url, "--data-dir", data).exit_code == 0
    result = run("refresh", "--date", str(day), "--lookback", "0", "--endpoint-url", s3_endpoint, "--bucket", bucket,
                 "--data-dir", data, "--rest-url", fake.url, "--workers", "1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("refresh: 1 day(s) loaded")
    since = new_york_today() - dt.timedelta(days=REFRESH_DAYS)
    # nothing of the fake's is that recent but the row whose date does not parse (the fake compares text)
    assert lines[1] == (f"corporate actions: 0 split(s), 0 dividend(s) for all symbols since {since}; "
                        "1 row(s) without a ticker, a date or a valid ratio skipped")
    fake.script("/stocks/v1/splits", [Fault(404, persistent=True)])
    failed = run("refresh", "--date", str(day), "--lookback", "0", "--endpoint-url", s3_endpoint, "--bucket", bucket,
                 "--data-dir", data, "--rest-url", fake.url, "--workers", "1", "--quiet")
    assert failed.exit_code == 0  # the day's load stands; the warning says what to look at
    assert "warning: corporate actions not refreshed: /stocks/v1/splits: REST endpoint not found (HTTP 404)" \
        in failed.stderr
