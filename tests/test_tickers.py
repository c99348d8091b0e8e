"""Who a ticker is: the reference and ticker changes over REST (a fake API on loopback: pages, 429s, 404s),
``symbol_history``, bars and the journal followed across a rename, a recycled ticker kept apart, a delisted
name in a past universe, and ``refresh`` reading only what changed."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import flatload
from flatload.analysis import identity
from flatload.analysis.sql import query, reader
from flatload.analysis.tickers import ticker_rows
from flatload.engine.api import load
from flatload.errors import ConfigError
from tests.helpers import identity as ref
from tests.helpers.rest_server import FakeRest, Fault
from tests.helpers.store import s3_client
from flatload import sample

KEY = "ref-key"
START, END = ref.DAYS[0], ref.DAYS[-1]


@pytest.fixture
def fake():
    with FakeRest(api_key=KEY, page_size=3, splits=[ref.SPLIT]) as server:
        ref.serve(server)
        yield server


@pytest.fixture
def loaded(fake, s3_endpoint, bucket, settings):
    """The week loaded from moto, the reference and the split loaded from the fake API."""
    sample.upload(s3_client(s3_endpoint), bucket, ref.stock_files())
    assert load(START, END, settings).exit_code == 0
    settings = settings.replace(api_key=KEY, rest_url=fake.url, rest_backoff=0.01)
    flatload.load_corporate_actions(settings)
    return settings


def _history(settings) -> set[tuple]:
    rows = query("SELECT entity, ticker, first_date, last_date, current_ticker FROM symbol_history", settings)
    return set(rows.rows())


def test_reference_pages_retries_and_reads_events_by_figi(fake, loaded):
    fake.script("/v3/reference/tickers", [Fault(429, headers={"Retry-After": "0"})])
    fake.script("/vX/reference/tickers/BBG_META/events", [Fault(503)])

    result = flatload.load_tickers(loaded)

    assert result.line() == ("tickers: 11 (3 delisted), 5 ticker change(s) of 10 share class(es) read "
                             "for all share classes")
    pages = [q for _, p, q, _ in fake.requests if p == "/v3/reference/tickers"]
    assert len(pages) == 1 + 3 + 1  # the 429, then 8 active rows in pages of 3, then 3 delisted in one
    events = {p for _, p, _, _ in fake.requests if p.endswith("/events")}
    assert "/vX/reference/tickers/BBG_X/events" in events and "/vX/reference/tickers/ABC/events" not in events
    assert {
        ("SC_BBG_META", "FB", dt.date(2012, 5, 18), dt.date(2024, 3, 12), "META"),
        ("SC_BBG_META", "META", dt.date(2024, 3, 13), None, "META"),
        ("SC_BBG_X", "ABC", dt.date(2001, 6, 1), ref.X_DELISTED, "ABC"),
        ("SC_BBG_Y", "ABC", ref.Y_LISTED, None, "ABC"),
        ("SC_BBG_OLD", "OLDCO", dt.date(2010, 1, 4), ref.OLDCO_DELISTED, "OLDCO"),
        ("ticker:GONE:2020-01-31", "GONE", None, dt.date(2020, 1, 31), "GONE"),
    } <= _history(loaded)


def test_bars_follow_a_rename_adjusted_and_never_join_a_recycled_ticker(loaded):
    flatload.load_tickers(loaded)
    raw = flatload.bars("FB", START, END, every="1d", settings=loaded).vstack(
        flatload.bars("META", START, END, every="1d", settings=loaded))
    followed = flatload.bars("META", START, END, every="1d", settings=loaded, follow_renames=True)
    assert followed["symbol"].unique().to_list() == ["META"]
    assert followed["traded_as"].to_list() == ["FB", "FB", "FB", "META", "META", "META"]
    assert followed.drop("symbol", "traded_as").equals(raw.drop("symbol"))
    # the split of 2024-03-12, executed under FB, adjusts the days before it under either name
    adjusted = flatload.bars("META", START, END, every="1d", adjust="splits", settings=loaded, follow_renames=True)
    factor = pl.Series([0.5, 0.5, 1.0, 1.0, 1.0, 1.0])
    assert (adjusted["close"] - raw["close"] * factor).abs().max() < 1e-9
    assert (adjusted["volume"] - raw["volume"] / factor).abs().max() < 1e-6
    # ABC was X on 03-08 and Y from 03-12: followed, it is Y only; as a plain ticker, both
    followed_abc = flatload.bars("ABC", START, END, every="1d", settings=loaded, follow_renames=True)
    assert [w.date() for w in followed_abc["window_start"]] == [d for d in ref.DAYS if d >= ref.Y_LISTED]
    plain = flatload.bars("ABC", START, END, every="1d", settings=loaded)
    assert plain["window_start"][0].date() == ref.X_DELISTED


def test_indicators_follow_the_company_with_its_history(loaded):
    flatload.load_tickers(loaded)
    late = flatload.bars("META", ref.DAYS[4], END, every="1d", indicators="sma:3", settings=loaded,
                         follow_renames=True)
    whole = flatload.bars("META", START, END, every="1d", settings=loaded, follow_renames=True)
    closes = whole["close"].to_list()
    assert late["sma_3"].to_list() == pytest.approx([sum(closes[2:5]) / 3, sum(closes[3:6]) / 3])


def test_the_journal_by_company_is_continuous_and_keeps_recycled_tickers_apart(loaded):
    flatload.load_tickers(loaded)
    rows = query("SELECT entity, company_ticker, symbol, trade_date FROM journal_by_company "
                 "WHERE symbol IN ('FB', 'META', 'ABC') ORDER BY symbol, trade_date", loaded).rows()
    meta = [(e, c, s) for e, c, s, d in rows if s in ("FB", "META")]
    assert {(e, c) for e, c, _ in meta} == {("SC_BBG_META", "META")} and len(meta) == len(ref.DAYS)
    abc = {d: e for e, _, s, d in rows if s == "ABC"}
    assert abc == {ref.X_DELISTED: "SC_BBG_X", **{d: "SC_BBG_Y" for d in ref.DAYS if d >= ref.Y_LISTED}}
    # every journal row appears once: no span of two companies overlaps
    counts = query("SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM journal_by_company), "
                   "(SELECT count(*) FROM journal_features)", loaded).row(0)
    assert counts[0] == counts[1] == counts[2]
    # Y's first session has no previous close: X's (03-08, the session before 03-11 is loaded) is another company's
    prev = dict(query("SELECT trade_date, prev_close FROM journal_features WHERE symbol = 'ABC'", loaded).rows())
    assert prev[ref.Y_LISTED] is None and prev[ref.DAYS[3]] is not None


def test_a_past_universe_holds_the_delisted_and_the_old_names(loaded):
    flatload.load_tickers(loaded)
    on = identity.members(loaded, START, END)
    assert "OLDCO" in on[START] and "OLDCO" in on[ref.OLDCO_DELISTED] and "OLDCO" not in on[END]
    assert "FB" in on[START] and "META" not in on[START] and "META" in on[END] and "FB" not in on[END]
    assert "ABC" in on[START] and "ABC" not in on[ref.OLDCO_DELISTED] and "ABC" in on[END]
    assert "SPYX" not in on[START]  # an ETF, not a common stock
    named = identity.members(loaded, START, END, symbols=["META", "OLDCO", "NOPE"])
    assert named[START] == ["FB", "NOPE", "OLDCO"] and named[END] == ["META", "NOPE"]


def test_refresh_reads_the_events_of_what_changed_only(fake, loaded):
    flatload.load_tickers(loaded)
    rows, _ = ref.reference()
    rows = [r | {"ticker": "ABCD", "last_updated_utc": "2024-03-16T00:00:00Z"} if r.get("composite_figi") == "BBG_Y"
            else r for r in rows]
    fake.set_tickers(rows)
    fake.set_events("BBG_Y", "Y Corp", [(ref.Y_LISTED.isoformat(), "ABC"), ("2024-03-15", "ABCD")])
    before = len(fake.requests)
    result = flatload.refresh_tickers(loaded.replace(use_rest=True))  # the fixture's loads keep REST off
    assert result is not None and (result.checked, result.events) == (1, 2)
    assert [p for _, p, _, _ in fake.requests[before:] if p.endswith("/events")] == [
        "/vX/reference/tickers/BBG_Y/events"]
    assert {("SC_BBG_Y", "ABC", ref.Y_LISTED, dt.date(2024, 3, 14), "ABCD"),
            ("SC_BBG_Y", "ABCD", dt.date(2024, 3, 15), None, "ABCD")} <= _history(loaded)
    assert flatload.refresh_tickers(loaded) is None  # REST off: nothing to keep current


def test_following_needs_the_reference_and_a_holder(loaded):
    with pytest.raises(ConfigError, match="this store has no ticker reference"):
        flatload.bars("META", START, END, settings=loaded, follow_renames=True)
    flatload.load_tickers(loaded, ["META"])
    with reader(loaded) as con:
        assert identity.company(con, "FB", START, END).ticker == "META"  # the old name finds the company
        with pytest.raises(ConfigError) as err:
            identity.company(con, "META", dt.date(2020, 1, 2), dt.date(2020, 12, 31))
    assert err.value.one_line() == ("no share class in the ticker reference traded as 'META' between 2020-01-02 "
                                    "and 2020-12-31 (check the symbol and the dates, or reload the reference: "
                                    "flatload tickers)")
    # --symbols reads the events of those share classes only
    assert query("SELECT DISTINCT entity FROM ticker_events", loaded)["entity"].to_list() == ["SC_BBG_META"]


def test_reference_rows_the_vendor_sends_incomplete():
    frame, bad = ticker_rows([{"ticker": "", "active": True}, {"ticker": "ZZ", "active": False},
                              {"ticker": "ZZ", "active": False, "delisted_utc": "2021-05-04T04:00:00Z"},
                              {"name": "no ticker"}], "stocks")
    assert bad == 2
    assert sorted(frame.select("entity", "delisted_date").rows(), key=str) == [
        ("ticker:ZZ:2021-05-04", dt.date(2021, 5, 4)), ("ticker:ZZ:active", None)]
