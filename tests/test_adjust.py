"""Split and dividend adjustment against hand-computed factors: library, SQL views and the bars macro.

Corporate actions reach the store the way users get them: ``flatload.load_corporate_actions``
from a fake REST API (paging two rows at a time). The events:

- AAPL 4-for-1 executed 2024-03-11 (listed twice by the vendor) and 2-for-1 executed 2024-11-29;
  a 3-for-1 announced for 2099 (not executed: not applied);
- SPY 1-for-10 reverse split executed 2024-07-03;
- AAPL dividends ex 2024-07-05 (previous session 07-03: 07-04 is a holiday), ex 2024-11-29 (previous
  session 11-27: Thanksgiving) and ex 2025-02-10 (after the store's last session: not applied);
- QQQ dividend ex 2024-07-02, whose previous session (07-01) is not loaded: no factor, NULL prices;
- TPC dividend paid in CAD: no factor.
"""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

import flatload
from flatload.analysis import adjust
from flatload.analysis.sql import query
from tests.helpers import analysis_store, bars_oracle
from tests.helpers.rest_server import FakeRest
from tests.test_bars import DAYS, INTERVAL, assert_frames_equal, assert_same

KEY = "adjust-key"
D = dt.date
SPLITS = [
    {"id": "s1", "ticker": "AAPL", "execution_date": "2024-03-11", "split_from": 1, "split_to": 4,
     "adjustment_type": "forward_split", "historical_adjustment_factor": 0.125},
    {"id": "s1-dup", "ticker": "AAPL", "execution_date": "2024-03-11", "split_from": 1, "split_to": 4,
     "adjustment_type": "forward_split"},
    {"id": "s2", "ticker": "AAPL", "execution_date": "2024-11-29", "split_from": 1, "split_to": 2,
     "adjustment_type": "forward_split"},
    {"id": "s3", "ticker": "AAPL", "execution_date": "2099-01-02", "split_from": 1, "split_to": 3,
     "adjustment_type": "forward_split"},
    {"id": "s4", "ticker": "SPY", "execution_date": "2024-07-03", "split_from": 10, "split_to": 1,
     "adjustment_type": "reverse_split"},
]
DIVIDENDS = [
    {"id": "d1", "ticker": "AAPL", "ex_dividend_date": "2024-07-05", "cash_amount": 0.24, "currency": "USD",
     "distribution_type": "recurring", "frequency": 4, "pay_date": "2024-07-20"},
    {"id": "d2", "ticker": "AAPL", "ex_dividend_date": "2024-11-29", "cash_amount": 0.25, "currency": "USD"},
    {"id": "d3", "ticker": "AAPL", "ex_dividend_date": "2025-02-10", "cash_amount": 0.25, "currency": "USD"},
    {"id": "d4", "ticker": "QQQ", "ex_dividend_date": "2024-07-02", "cash_amount": 0.5, "currency": "USD"},
    {"id": "d5", "ticker": "TPC", "ex_dividend_date": "2024-03-08", "cash_amount": 0.1, "currency": "CAD"},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    files = analysis_store.stock_files(DAYS)
    settings = analysis_store.load_store(tmp_path_factory.mktemp("adjust"), files, DAYS)
    with FakeRest(api_key=KEY, page_size=2, splits=SPLITS, dividends=DIVIDENDS) as fake:
        rest = settings.replace(api_key=KEY, rest_url=fake.url, use_rest=True, rest_backoff=0.01)
        result = flatload.load_corporate_actions(rest)
    assert (result.splits, result.dividends) == (5, 5)
    return settings, files


def close(settings, symbol: str, d: dt.date) -> float:
    return query("SELECT close_price FROM journal WHERE symbol = ? AND trade_date = ?", settings, [symbol, d]).item()


def aapl_factors(settings) -> dict[dt.date, tuple[float, float, float]]:
    """By hand: (split factor, dividend factor, volume factor) of every loaded AAPL session."""
    f1 = 1 - 0.24 / close(settings, "AAPL", D(2024, 7, 3))
    f2 = 1 - 0.25 / close(settings, "AAPL", D(2024, 11, 27))
    out = {}
    for d in DAYS:
        split = (0.25 if d < D(2024, 3, 11) else 1.0) * (0.5 if d < D(2024, 11, 29) else 1.0)
        div = (f1 if d < D(2024, 7, 5) else 1.0) * (f2 if d < D(2024, 11, 29) else 1.0)
        out[d] = (split, div, 1 / split)
    return out


def test_pure_factors_by_hand():
    splits = pl.DataFrame({"execution_date": [D(2024, 3, 11), D(2024, 7, 3), D(2099, 1, 1)],
                           "split_from": [1.0, 10.0, 1.0], "split_to": [4.0, 1.0, 3.0]})
    divs = pl.DataFrame({"ex_dividend_date": [D(2024, 3, 8), D(2024, 7, 5)], "factor": [0.99, None]},
                        schema={"ex_dividend_date": pl.Date, "factor": pl.Float64})
    days = [D(2024, 3, 7), D(2024, 3, 8), D(2024, 3, 11), D(2024, 7, 2), D(2024, 7, 3), D(2024, 7, 5)]
    t = adjust.factor_table(days, "all", splits, divs, today=D(2024, 12, 31), anchor=D(2024, 7, 5))
    # the execution date itself is post-split; the day before it pre-split
    assert t["price_factor"].to_list() == [None] * 5 + [1.0]  # before 07-05: a dividend without a factor
    s = adjust.factor_table(days, "splits", splits, divs, today=D(2024, 12, 31), anchor=D(2024, 7, 5))
    assert s["price_factor"].to_list() == [2.5, 2.5, 10.0, 10.0, 1.0, 1.0]
    assert s["volume_factor"].to_list() == [0.4, 0.4, 0.1, 0.1, 1.0, 1.0]
    early = adjust.factor_table(days, "all", splits, divs.head(1), today=D(2024, 12, 31), anchor=D(2024, 7, 5))
    assert early["price_factor"].to_list() == [2.5 * 0.99, 2.5, 10.0, 10.0, 1.0, 1.0]
    # an anchor before the ex-date: not applied yet; 'today' before a split: not applied either
    later = adjust.factor_table(days, "all", splits, divs.head(1), today=D(2024, 7, 1), anchor=D(2024, 3, 7))
    assert later["price_factor"].to_list() == [0.25, 0.25, 1.0, 1.0, 1.0, 1.0]


def test_dividend_event_factor_rules():
    divs = pl.DataFrame({"cash_amount": [0.5, 0.5, 0.5, 2.0], "currency": ["USD", None, "CAD", "USD"],
                         "prev_close": [50.0, None, 50.0, 2.0]})
    assert adjust.dividend_event_factors(divs).to_list() == [0.99, None, None, None]


def test_library_factors_equal_the_hand_computed(store):
    settings, _ = store
    from flatload.analysis.sql import reader

    want = aapl_factors(settings)
    with reader(settings) as con:
        got = adjust.load_factors(con, "AAPL", DAYS, "all")
        spy = adjust.load_factors(con, "SPY", DAYS, "splits")
        qqq = adjust.load_factors(con, "QQQ", DAYS, "all")
    for row in got.iter_rows(named=True):
        split, div, vol = want[row["trade_date"]]
        assert math.isclose(row["price_factor"], split * div, rel_tol=1e-12)
        assert math.isclose(row["volume_factor"], vol, rel_tol=1e-12)
    assert spy["price_factor"].to_list() == [10.0 if d < D(2024, 7, 3) else 1.0 for d in DAYS]
    assert qqq["price_factor"].to_list() == [None if d < D(2024, 7, 2) else 1.0 for d in DAYS]


def test_sql_views_use_the_same_factors(store):
    settings, _ = store
    want = aapl_factors(settings)
    rows = query("SELECT trade_date, split_factor, dividend_factor, volume_factor FROM adjustment_factors "
                 "WHERE symbol = 'AAPL' ORDER BY trade_date", settings)
    for d, split, div, vol in rows.iter_rows():
        assert math.isclose(split, want[d][0], rel_tol=1e-12) and math.isclose(div, want[d][1], rel_tol=1e-12)
        assert math.isclose(vol, want[d][2], rel_tol=1e-12)
    divs = query("SELECT ticker, ex_dividend_date, prev_date, factor FROM dividend_factors ORDER BY ticker, "
                 "ex_dividend_date", settings)
    assert divs.select("ticker", "ex_dividend_date", "prev_date").rows() == [
        ("AAPL", D(2024, 7, 5), D(2024, 7, 3)), ("AAPL", D(2024, 11, 29), D(2024, 11, 27)),
        ("AAPL", D(2025, 2, 10), D(2025, 2, 7)), ("QQQ", D(2024, 7, 2), D(2024, 7, 1)),
        ("TPC", D(2024, 3, 8), D(2024, 3, 7))]
    assert divs["factor"].to_list()[2:] == [None, None, None]  # not loaded, not loaded, not USD
    adj = query("SELECT a.close_price, j.close_price AS raw_close, a.day_volume, j.day_volume AS raw_volume, "
                "a.split_factor FROM "
                "journal_adjusted a JOIN journal j USING (symbol, trade_date) WHERE symbol = 'SPY' "
                "AND trade_date = DATE '2024-07-02'", settings).row(0)
    assert adj[0] == pytest.approx(adj[1] * 10) and adj[2] == pytest.approx(adj[3] / 10) and adj[4] == 10.0


@pytest.mark.parametrize("every, session", [("1h", "all"), ("5m", "regular"), ("1d", "regular"),
                                            ("1w", "extended")])
def test_adjusted_bars_equal_raw_bars_times_the_factors(store, every, session):
    settings, files = store
    want = aapl_factors(settings)
    for mode in ("splits", "all"):
        factors = {d: ((f[0] * f[1]) if mode == "all" else f[0], f[2]) for d, f in want.items()}
        got = flatload.bars("AAPL", DAYS[0], DAYS[-1], every=every, session=session, adjust=mode, settings=settings)
        assert_same(got, bars_oracle.bars(files, "AAPL", DAYS[0], DAYS[-1], every, session, factors), f"{mode} {every}")
        sql = query(f"SELECT * FROM bars('AAPL', DATE '{DAYS[0]}', DATE '{DAYS[-1]}', {INTERVAL[every]}, "
                    f"'{session}', adjust := '{mode}')", settings)
        assert_frames_equal(got, sql)


def test_execution_date_rule_after_hours_before_is_pre_split_pre_market_on_it_is_post(store):
    settings, _ = store
    raw = flatload.bars("AAPL", D(2024, 3, 8), D(2024, 3, 11), every="1h", session="all", settings=settings)
    adj = flatload.bars("AAPL", D(2024, 3, 8), D(2024, 3, 11), every="1h", session="all", adjust="splits",
                        settings=settings)
    both = raw.join(adj, on="window_start", suffix="_adj").with_columns(
        ratio=pl.col("close_adj") / pl.col("close"), vratio=pl.col("volume_adj") / pl.col("volume"))
    local = both["window_start"].dt.strftime("%Y-%m-%d %H:%M")
    last_ah = both.filter(local == "2024-03-08 19:00").row(0, named=True)
    first_pre = both.filter(local == "2024-03-11 04:00").row(0, named=True)
    # the 4-for-1 of 03-11 and the 2-for-1 of 11-29 before it: 1/8; on 03-11 only the later one: 1/2
    assert (last_ah["ratio"], last_ah["vratio"]) == (pytest.approx(0.125), pytest.approx(8.0))
    assert (first_pre["ratio"], first_pre["vratio"]) == (pytest.approx(0.5), pytest.approx(2.0))


def test_a_dividend_without_its_previous_close_makes_prices_null_not_wrong(store):
    settings, _ = store
    got = flatload.bars("QQQ", D(2024, 3, 7), D(2024, 7, 3), every="1d", adjust="all", settings=settings)
    before = got.filter(pl.col("window_start").dt.date() < D(2024, 7, 2))
    after = got.filter(pl.col("window_start").dt.date() >= D(2024, 7, 2))
    assert before.height == 4 and before["close"].null_count() == 4 and before["vwap"].null_count() == 4
    assert before["volume"].null_count() == 0  # dividends never touch volume
    assert after["close"].null_count() == 0
    sql = query("SELECT * FROM bars('QQQ', DATE '2024-03-07', DATE '2024-07-03', INTERVAL 1 DAY, 'regular', "
                "adjust := 'all')", settings)
    assert_frames_equal(got, sql)
    splits_only = flatload.bars("QQQ", D(2024, 3, 7), D(2024, 7, 3), every="1d", adjust="splits", settings=settings)
    assert splits_only["close"].null_count() == 0
