"""The ``journal_features`` view against the formulas computed here, on a store with holes in it.

Sessions 2024-01-02..2024-03-06 are loaded except 2024-02-27 (a hole for every symbol); 2024-02-21
is loaded for AAPL and NA only (--symbols), and NA does not trade on 2024-02-08 and 2024-02-21 (a
session that is loaded for it, without a row). AAPL splits 2-for-1 on 2024-02-15. Expected: a
previous close only across sessions the store holds for the symbol, in the shares of the row's
session; ATR over 14 true ranges; relative volume over 20 previous rows; NULL otherwise.
"""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

import flatload
from flatload import datasets, sample
from flatload.analysis.sql import query
from tests.helpers import analysis_store
from tests.helpers.bars_oracle import sessions
from tests.helpers.rest_server import FakeRest

ALL = sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 6))
HOLE = dt.date(2024, 2, 27)
SCOPED = dt.date(2024, 2, 21)
SCOPE = frozenset({"AAPL", "NA"})
NA_ABSENT = {dt.date(2024, 2, 8), SCOPED}
SPLIT = dt.date(2024, 2, 15)
FEATURES = ["prev_close", "gap_pct", "day_range_pct", "pre_range_pct", "ah_range_pct", "atr_14", "rvol_20"]


def _files() -> dict[str, bytes]:
    files = {}
    for d in ALL:
        day = sample.sample_day(d, 8, seed=3)
        minute, daily = day.minute, day.day
        if d in NA_ABSENT:
            minute, daily = minute.filter(pl.col("ticker") != "NA"), daily.filter(pl.col("ticker") != "NA")
        files[datasets.get("stocks/minute_aggs").key(d)] = sample.to_csv_gz(minute)
        files[datasets.get("stocks/day_aggs").key(d)] = sample.to_csv_gz(daily)
    return files


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("features")
    settings = analysis_store.load_store(root, _files(), [d for d in ALL if d not in (HOLE, SCOPED)])
    summary = flatload.run_days([SCOPED], settings.replace(symbols=SCOPE))
    assert summary.exit_code == 0
    split = {"id": "x", "ticker": "AAPL", "execution_date": str(SPLIT), "split_from": 1, "split_to": 2}
    with FakeRest(api_key="k", splits=[split]) as fake:
        flatload.load_corporate_actions(settings.replace(api_key="k", rest_url=fake.url))
    return settings


def _covered(symbol: str, d: dt.date) -> bool:
    return d != HOLE and (d != SCOPED or symbol in SCOPE)


def _pct(high: float | None, low: float | None, base: float | None) -> float | None:
    """100 x (high - low) / base; None when a value is missing (and so is every feature built on it)."""
    if high is None or low is None or not base:
        return None
    return 100 * (high - low) / base


def _expected(rows: list[dict]) -> list[dict]:
    """The features of one symbol's rows (sorted by date), by the formulas in the view's comment."""
    def factor(d: dt.date) -> float:  # in today's shares
        return 0.5 if rows[0]["symbol"] == "AAPL" and d < SPLIT else 1.0

    out, trs, links = [], [], []
    for i, r in enumerate(rows):
        d, prev = r["trade_date"], rows[i - 1] if i else None
        ok = prev is not None and all(_covered(r["symbol"], s) for s in ALL if prev["trade_date"] < s < d)
        pc = prev["close_price"] * factor(prev["trade_date"]) / factor(d) if ok and prev["close_price"] else None
        tr = None
        if pc is not None and r["hod"] is not None and r["lod"] is not None:
            tr = (max(r["hod"], pc) - min(r["lod"], pc)) * factor(d)
        trs.append(tr)
        links.append(ok)
        last14 = trs[-14:]
        vols = [x["day_volume"] / factor(x["trade_date"]) for x in rows[max(0, i - 20):i]
                if x["day_volume"] is not None]
        rvol = None
        if i >= 20 and all(links[-20:]) and len(vols) == 20 and sum(vols) > 0 and r["day_volume"] is not None:
            rvol = r["day_volume"] / factor(d) / (sum(vols) / 20)
        out.append({
            "prev_close": pc,
            "gap_pct": _pct(r["open_price"], pc, pc),
            "day_range_pct": _pct(r["hod"], r["lod"], pc),
            "pre_range_pct": _pct(r["pre_high"], r["pre_low"], pc),
            "ah_range_pct": _pct(r["ah_high"], r["ah_low"], r["close_price"]),
            "atr_14": sum(last14) / 14 / factor(d) if len(last14) == 14 and None not in last14 else None,
            "rvol_20": rvol,
        })
    return out


def test_features_equal_the_formulas(store):
    got = query("SELECT * FROM journal_features ORDER BY symbol, trade_date", store)
    journal = query("SELECT * FROM journal ORDER BY symbol, trade_date", store)
    assert got.height == journal.height
    checked = {c: 0 for c in FEATURES}
    for (symbol,), rows in journal.group_by(["symbol"], maintain_order=True):
        want = _expected(rows.to_dicts())
        have = got.filter(pl.col("symbol") == symbol).to_dicts()
        for w, h in zip(want, have):
            for col in FEATURES:
                a, b = h[col], w[col]
                assert (a is None) == (b is None), (symbol, h["trade_date"], col, a, b)
                if a is not None:
                    assert math.isclose(a, b, rel_tol=1e-9), (symbol, h["trade_date"], col, a, b)
                    checked[col] += 1
    assert all(n > 0 for n in checked.values()), checked  # every feature has values somewhere


def test_nulls_where_history_is_missing(store):
    def row(symbol: str, d: dt.date) -> dict:
        return query("SELECT * FROM journal_features WHERE symbol = ? AND trade_date = ?", store, [symbol, d]).row(
            0, named=True)

    after_hole = dt.date(2024, 2, 28)
    assert row("AAPL", after_hole)["prev_close"] is None  # 02-27 is not in the store
    assert row("SPY", dt.date(2024, 2, 22))["prev_close"] is None  # 02-21 was loaded for AAPL and NA only
    assert row("AAPL", dt.date(2024, 2, 22))["prev_close"] is not None
    # NA has no row on 02-21 although it was in scope: it did not trade; its previous close is 02-20's
    na = row("NA", dt.date(2024, 2, 22))
    assert na["prev_close"] == query("SELECT close_price FROM journal WHERE symbol = 'NA' AND trade_date = "
                                     "DATE '2024-02-20'", store).item()
    assert row("AAPL", ALL[0])["prev_close"] is None and row("AAPL", ALL[13])["atr_14"] is None
    assert row("AAPL", ALL[14])["atr_14"] is not None
    assert row("AAPL", ALL[19])["rvol_20"] is None and row("AAPL", ALL[20])["rvol_20"] is not None


def test_prev_close_is_in_the_shares_of_the_session_across_a_split(store):
    got = query("SELECT trade_date, prev_close FROM journal_features WHERE symbol = 'AAPL' AND trade_date = ?",
                store, [SPLIT]).row(0)
    before = query("SELECT close_price FROM journal WHERE symbol = 'AAPL' AND trade_date = DATE '2024-02-14'",
                   store).item()
    assert got[1] == pytest.approx(before / 2)
