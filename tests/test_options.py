"""Options tickers, parsed from the right: roots with digits and dots, odd strikes, bad tickers rejected by line."""
from __future__ import annotations

import datetime as dt
import gzip

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from flatload import datasets, reports, sample
from flatload.calendar import session_bounds
from flatload.datasets.options import derive_contracts
from flatload.engine.api import load
from flatload.store.database import db
from flatload.tasks.parse import read_csv_gz
from tests.helpers.store import s3_client
from flatload.store.store import Store

D = dt.date(2024, 3, 8)
B = session_bounds(D)
MINUTE = datasets.get("options/minute_aggs")
ROOT = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.", min_size=1, max_size=6).filter(lambda r: not r.isdigit())
EXPIRY = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
STRIKE = st.integers(0, 99_999_999)  # strike x 1000, 8 digits: $0.001 steps up to $99,999.999


def _ticker(root: str, expiry: dt.date, call: bool, strike: int) -> str:
    return f"O:{root}{expiry:%y%m%d}{'C' if call else 'P'}{strike:08d}"


@given(ROOT, EXPIRY, st.booleans(), STRIKE)
def test_any_well_formed_ticker_parses_back(root, expiry, call, strike):
    frame = pl.DataFrame({"_line": [2], "ticker": [_ticker(root, expiry, call, strike)]})
    good, rejects = derive_contracts(frame)
    assert rejects.height == 0
    assert good.row(0, named=True) == {"_line": 2, "ticker": _ticker(root, expiry, call, strike), "underlying": root,
                                       "expiration": expiry, "contract_type": "call" if call else "put",
                                       "strike": strike / 1000}


@given(st.text(min_size=0, max_size=30))
def test_anything_else_is_rejected_with_its_line_or_parses_consistently(text):
    frame = pl.DataFrame({"_line": [7], "ticker": [text]})
    good, rejects = derive_contracts(frame)
    assert good.height + rejects.height == 1
    if good.height:  # then it really is O:<root><YYMMDD><C|P><8 digits> with a real date
        row = good.row(0, named=True)
        assert text == _ticker(row["underlying"], row["expiration"], row["contract_type"] == "call",
                               round(row["strike"] * 1000))
    else:
        assert rejects.rows() == [(7, f"not an options ticker (O:<root><YYMMDD><C|P><strike x1000, 8 digits>): {text}")]


def test_roots_with_digits_and_impossible_dates():
    tickers = ["O:AAPL1240119C00150500", "O:SPY240230C00500000", "O:BRK.B240621P00400000", "SPY", "O:SPY240621X00400000"]
    good, rejects = derive_contracts(pl.DataFrame({"_line": [2, 3, 4, 5, 6], "ticker": tickers}))
    assert good.select("underlying", "strike").rows() == [("AAPL1", 150.5), ("BRK.B", 400.0)]
    assert rejects["line"].to_list() == [3, 5, 6]  # Feb 30th, not an option, neither C nor P


def test_bad_tickers_are_rejects_named_by_line_and_underlyings_filter_at_parse_time():
    ws = B.open
    lines = ["ticker,volume,open,close,high,low,window_start,transactions",
             f"O:SPY240315C00500000,3,1,1,1,1,{ws},1", f"O:QQQ240315C00400000,4,1,1,1,1,{ws},1",
             f"BOGUS,5,1,1,1,1,{ws},1", f"O:SPY240315P00495500,6,1,1,1,1,{ws},1"]
    parsed = read_csv_gz(gzip.compress("\n".join(lines).encode()), MINUTE.key(D), MINUTE, B, frozenset({"SPY"}))
    assert parsed.frame["ticker"].to_list() == ["O:SPY240315C00500000", "O:SPY240315P00495500"]
    assert parsed.frame.schema["expiration"] == pl.Date and parsed.frame.schema["strike"] == pl.Float64
    assert parsed.rejects.rows() == [(4, "not an options ticker (O:<root><YYMMDD><C|P><strike x1000, 8 digits>): "
                                         "BOGUS")]


def test_underlyings_load_only_their_contracts_and_a_wider_load_reloads(s3_endpoint, bucket, settings):
    files = sample.generate([D], names="options")
    sample.upload(s3_client(s3_endpoint), bucket, files)
    narrow = load(D, D, settings.replace(underlyings=frozenset({"SPY"})), datasets="options")
    assert narrow.exit_code == 0
    con = db.connect(Store.of(settings).db_path, read_only=True)
    try:
        assert con.execute("SELECT DISTINCT underlying FROM options_minute").fetchall() == [("SPY",)]
        assert con.execute("SELECT DISTINCT scope FROM ledger").fetchall() == [("SPY",)]
    finally:
        con.close()
    # the same underlyings again: nothing to do; all underlyings: the partitions are reloaded in full
    assert load(D, D, settings.replace(underlyings=frozenset({"SPY"})), datasets="options").done == []
    wide = load(D, D, settings, datasets="options")
    assert wide.done == [D]
    con = db.connect(Store.of(settings).db_path, read_only=True)
    try:
        roots = {r[0] for r in con.execute("SELECT DISTINCT underlying FROM options_day").fetchall()}
    finally:
        con.close()
    assert {"SPY", "QQQ", "AAPL1", "BRK.B"} <= roots
    assert reports.gaps(D, D, settings, "options")["complete"]
