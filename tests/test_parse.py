"""gz CSV → typed frame: tickers verbatim, rejects named by line, file-level faults as domain errors."""
from __future__ import annotations

import datetime as dt
import gzip

import polars as pl
import pytest

from flatload import datasets
from flatload.calendar import session_bounds
from flatload.errors import CorruptFile, SchemaError, WrongDate
from flatload.tasks import parse

D = dt.date(2024, 3, 11)
B = session_bounds(D)
STOCKS = datasets.get("stocks/minute_aggs")
KEY = STOCKS.key(D)
HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
WS = B.open  # 09:30 ET
#: the parsed frame's types: the stored ones, but the time still integer ns (the partition writer converts it)
FRAME_SCHEMA = {**STOCKS.partition_schema(), "window_start": pl.Int64()}
CSV_COLUMNS = STOCKS.csv_columns


def gz(lines: list[str], header: str = HEADER) -> bytes:
    return gzip.compress(("\n".join([header, *lines]) + "\n").encode())


def read_csv_gz(data: bytes, key: str, b, dataset=STOCKS, keep=None) -> parse.Parsed:
    return parse.read_csv_gz(data, key, dataset, b, keep)


def test_header_is_the_vendors():
    assert ",".join(CSV_COLUMNS) == HEADER


def test_tickers_kept_verbatim():
    tickers = ["NA", "TpC", "TPC", "ABRpD", "BRK.A", "null", "NaN", "None", "N/A", "nan", "TRUE", "1E5"]
    parsed = read_csv_gz(gz([f"{t},100,1.5,1.5,1.5,1.5,{WS},3" for t in tickers]), KEY, B)
    assert parsed.frame["ticker"].to_list() == tickers  # no NA guessing, no case folding, no number parsing
    assert parsed.frame["ticker"].null_count() == 0
    assert parsed.rejects.height == 0 and parsed.rows_read == len(tickers)
    assert dict(parsed.frame.schema) == FRAME_SCHEMA
    assert list(parsed.frame.columns) == CSV_COLUMNS


def test_values_typed_exactly():
    big = 2**40 + 7  # beyond 32 bits
    parsed = read_csv_gz(gz([f"AAPL,{big},170.1234,170.5,171.0001,169.9999,{WS},123456"]), KEY, B)
    row = parsed.frame.row(0, named=True)
    assert row == {"ticker": "AAPL", "volume": big, "open": 170.1234, "close": 170.5, "high": 171.0001,
                   "low": 169.9999, "window_start": WS, "transactions": 123456}


def test_rejects_carry_line_numbers():
    lines = [
        f"NA,100,1,1,1,1,{WS},3",  # line 2: good
        f"TpC,abc,1,1,1,1,{WS},3",  # 3: non-numeric volume
        f"TPC,100,1,1,1,1,{WS},3",  # 4: good
        f"XX,100,1,1,1,2,{WS},3",  # 5: low above high
        f"YY,100,1,1,1,1,{B.day_end},3",  # 6: next New York day
        f",100,1,1,1,1,{WS},3",  # 7: blank ticker
        f"ZZ,100,-1,1,1,1,{WS},3",  # 8: negative price
        "WW,100,1,1,1,1,,3",  # 9: no window_start
    ]
    parsed = read_csv_gz(gz(lines), KEY, B)
    assert parsed.frame["ticker"].to_list() == ["NA", "TPC"]
    assert parsed.rejects.columns == ["line", "reason"]
    reasons = dict(parsed.rejects.iter_rows())
    assert sorted(reasons) == [3, 5, 6, 7, 8, 9]
    assert "volume" in reasons[3]
    assert reasons[5] == "low above high"
    assert str(D) in reasons[6] and str(B.day_end) in reasons[6]
    assert reasons[7] == "blank ticker"
    assert reasons[8] == "negative price"
    assert "window_start" in reasons[9]
    assert parsed.rows_read == len(lines) and parsed.off_date == 1


def test_line_numbers_without_a_bad_cast():
    parsed = read_csv_gz(gz([f"A,1,1,1,1,1,{WS},1", f"B,1,1,1,1,1,{WS},1", f"C,1,1,1,1,2,{WS},1"]), KEY, B)
    assert parsed.rejects.rows() == [(4, "low above high")]


def test_columns_found_by_name_extra_ignored():
    header = "window_start,ticker,vwap,transactions,low,high,close,open,volume"
    parsed = read_csv_gz(gz([f"{WS},TpC,9.9,3,1.0,2.0,1.5,1.2,77"], header), KEY, B)
    assert parsed.frame.row(0) == ("TpC", 77, 1.2, 1.5, 2.0, 1.0, WS, 3)
    assert any("vwap" in w for w in parsed.warnings)


def test_fractional_stock_volume_kept_exact():
    # fractional shares trade on the SIP since 2026-02-23: stocks volume is DOUBLE, never rounded
    parsed = read_csv_gz(gz([f"A,100.618093,1,1,1,1,{WS},1"]), KEY, B)
    assert parsed.frame["volume"].to_list() == [100.618093]
    assert parsed.frame.schema["volume"] == pl.Float64 and parsed.rejects.height == 0


def test_fractional_options_volume_is_a_reject():
    options = datasets.get("options/minute_aggs")
    lines = [f"O:SPY240315C00500000,3,1,1,1,1,{WS},1", f"O:SPY240315C00505000,2.5,1,1,1,1,{WS},1"]
    parsed = read_csv_gz(gz(lines), options.key(D), B, options)
    assert parsed.frame.schema["volume"] == pl.Int64 and parsed.frame["volume"].to_list() == [3]
    assert parsed.rejects.rows() == [(3, "fractional volume")]


@pytest.mark.parametrize("data, error, message", [
    (gzip.compress(bytes(range(1, 256)) * 20), CorruptFile,
     "not CSV text: the gzip holds binary data (it starts with b'\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\t\\n')"),
    (gz([f"A;1;1;1;1;1;{WS};1"], HEADER.replace(",", ";")), SchemaError,
     "wrong delimiter: the header is separated by ';', not ','"),
    (gz(["1\t2"], "a\tb\tc"), SchemaError, "wrong delimiter: the header is separated by '\\t', not ','"),
    (gz(["1,2"], "name,price"), SchemaError, "not a stocks/minute_aggs file: the header names none of its columns "
                                            "(found: name, price)"),
], ids=["random-bytes", "semicolons", "tabs", "another-csv"])
def test_not_a_flat_file_says_what_it_is(data, error, message):
    with pytest.raises(error) as err:
        read_csv_gz(data, KEY, B)
    assert err.value.message == message and err.value.key == KEY
    assert "required column" not in err.value.one_line()


def test_wrong_date_file_refused():
    tomorrow = B.day_end + (B.open - B.day_start)
    with pytest.raises(WrongDate) as err:
        read_csv_gz(gz([f"A,1,1,1,1,1,{tomorrow},1", f"B,1,1,1,1,1,{tomorrow},1"]), KEY, B)
    assert err.value.key == KEY and "2024-03-12" in str(err.value)


def test_missing_column_is_schema_error():
    with pytest.raises(SchemaError) as err:
        read_csv_gz(gz([f"A,1,1,1,1,{WS},1"], "ticker,volume,open,close,low,window_start,transactions"), KEY, B)
    assert err.value.key == KEY and "high" in str(err.value)


@pytest.mark.parametrize("data", [b"", b"not gzip at all", gz([f"A,1,1,1,1,1,{WS},1"] * 2000)[:-40]],
                         ids=["empty", "not-gzip", "truncated"])
def test_corrupt_files(data):
    with pytest.raises(CorruptFile) as err:
        read_csv_gz(data, KEY, B)
    assert err.value.key == KEY and not err.value.transient
