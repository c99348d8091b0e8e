"""Symbol universes: every file format, with a BOM and CRLF lines; problems named by line; errors name the file."""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatload.errors import ConfigError
from flatload.universe import Problem, parse_symbols, parse_universe, read_symbols, union
from tests.helpers.config import UNIVERSE_FORMATS, render_universe, suffix

ROOT = Path(__file__).resolve().parent.parent
#: what tickers are made of across the vendor's markets (BRK.B, X:BTCUSD, C:EUR-USD ...); case matters
# a ticker starts with a letter or digit (flatload.universe.TICKER): ".A" or "-" are refused, not round-tripped
SYMBOL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.:/-]{0,7}", fullmatch=True)


@pytest.mark.parametrize("fmt", UNIVERSE_FORMATS)
@pytest.mark.parametrize("bom, crlf", [(False, False), (True, True), (True, False), (False, True)])
def test_each_format_reads_with_bom_and_crlf(tmp_path, fmt, bom, crlf):
    symbols = ["AAPL", "BRK.B", "TpC", "TPC", "X:BTCUSD"]
    data, _ = render_universe(symbols, fmt, bom=bom, crlf=crlf)
    path = tmp_path / f"universe{suffix(fmt)}"
    path.write_bytes(data)
    universe = read_symbols(path)
    assert universe.symbols == tuple(symbols)  # case kept: TpC and TPC are two symbols
    assert universe.problems == ()
    assert universe.source == str(path)


@pytest.mark.parametrize("fmt", UNIVERSE_FORMATS)
def test_duplicates_are_reported_with_their_line_and_the_first_one(tmp_path, fmt):
    data, at = render_universe(["AAPL", "MSFT", "AAPL", "msft", "MSFT"], fmt, crlf=True)
    path = tmp_path / f"u{suffix(fmt)}"
    path.write_bytes(data)
    universe = read_symbols(path)
    assert universe.symbols == ("AAPL", "MSFT", "msft")
    assert universe.warnings() == [f"{path}:{at[2]}: duplicate symbol AAPL (first on line {at[0]})",
                                   f"{path}:{at[4]}: duplicate symbol MSFT (first on line {at[1]})"]


def test_lines_format_ignores_comments_and_blank_lines_and_skips_what_is_not_one_symbol():
    text = "# S&P sample\r\n\r\nAAPL\r\n   \r\nMSFT   # Microsoft\r\nBRK B\r\nGOOG,META\r\n#NVDA\r\n"
    universe = parse_universe(text, "w.txt")
    assert (universe.format, universe.symbols) == ("lines", ("AAPL", "MSFT"))
    assert universe.warnings() == ["w.txt:6: 'BRK B' is not one symbol (skipped: one symbol per entry)",
                                   "w.txt:7: 'GOOG,META' is not one symbol (skipped: one symbol per entry)"]


def test_csv_blank_cells_are_reported_and_the_symbol_column_wins_over_ticker():
    text = "Ticker,Symbol,Name\nzz,AAPL,Apple\nzz,,Nothing\n\nzz,  MSFT ,Microsoft\nzz\n"
    universe = parse_universe(text, "u.csv", "csv")
    assert universe.symbols == ("AAPL", "MSFT")
    assert universe.problems == (Problem(3, "blank symbol (skipped)"), Problem(6, "blank symbol (skipped)"))


def test_a_csv_with_a_quoted_multiline_cell_keeps_counting_lines():
    text = 'symbol,note\nAAPL,"two\nlines"\nAAPL,x\n'
    assert parse_universe(text, "u.csv", "csv").problems == (Problem(4, "duplicate symbol AAPL (first on line 3)"),)


def test_json_items_that_are_not_symbols_are_skipped_with_their_line():
    text = ('{"symbols": [\n  "AAPL",\n  "",\n  42,\n  {"name": "no symbol"},\n  {"symbol": 7},\n'
            '  {"ticker": "MSFT"},\n  ["nested"]\n]}')
    universe = parse_universe(text, "u.json")
    assert universe.symbols == ("AAPL", "MSFT")
    assert universe.warnings() == ["u.json:3: blank symbol (skipped)", "u.json:4: not a symbol: 42 (skipped)",
                                   "u.json:5: an object without a symbol or ticker field (skipped)",
                                   "u.json:6: a symbol that is not a string: 7 (skipped)",
                                   "u.json:8: not a symbol: a list (skipped)"]


def test_a_file_named_txt_holding_json_or_a_csv_is_sniffed():
    assert parse_universe('["AAPL"]', "u.txt").format == "json"
    assert parse_universe("# header next\nsymbol,name\nAAPL,Apple\n", "u.txt").symbols == ("AAPL",)
    assert parse_universe("AAPL\n", "u.txt").format == "lines"


def test_utf16_with_bom_as_spreadsheets_export_it(tmp_path):
    path = tmp_path / "u.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "AAPL\r\nTpC\r\n".encode("utf-16-le"))
    assert read_symbols(path).symbols == ("AAPL", "TpC")


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", b"", "{p}: no symbol in the file (lines) (write one symbol per line, a CSV with a symbol or "
                       "ticker column, or a JSON list of symbols)"),
    ("comments.txt", b"# nothing\n\n", "{p}: no symbol in the file (lines) (write one symbol per line, a CSV with a "
                                       "symbol or ticker column, or a JSON list of symbols)"),
    ("blank.csv", b"symbol\n\n ,\n", "{p}: no symbol in the file (csv) (write one symbol per line, a CSV with a "
                                     "symbol or ticker column, or a JSON list of symbols)"),
    ("cols.csv", b"name,weight\nApple,1\n", "{p}:1: no symbol or ticker column in the CSV header (columns: name, "
                                            "weight) (write one symbol per line, a CSV with a symbol or ticker "
                                            "column, or a JSON list of symbols)"),
    ("bad.json", b'{"symbols": [\n  "AAPL",,\n]}', "{p}:2:10: not valid JSON: Expecting value (write one symbol per "
                                                   "line, a CSV with a symbol or ticker column, or a JSON list of "
                                                   "symbols)"),
    ("obj.json", b'\n{"tickers": ["AAPL"]}', '{p}:2: a JSON object needs a "symbols" list (write one symbol per '
                                             'line, a CSV with a symbol or ticker column, or a JSON list of symbols)'),
    ("latin1.txt", "AAPL\nSOCIÉTÉ\n".encode("latin-1"), "{p}:2: not UTF-8 text (byte 0xc9 is not UTF-8) (save the "
                                                        "file as UTF-8)"),
])
def test_unusable_files_are_config_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        read_symbols(path)
    assert caught.value.one_line() == message.format(p=path)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_an_unreadable_path_names_the_file(tmp_path, make):
    path = tmp_path / "sp500.json"
    if make == "directory":
        path.mkdir()
    with pytest.raises(ConfigError) as caught:
        read_symbols(path)
    reason = "No such file or directory" if make == "missing" else "Is a directory"
    assert caught.value.one_line() == (f"{path}: cannot read the symbols file: {reason} (check the path given to "
                                       "--symbols-file or symbols_file)")


def test_the_shipped_sp500_sample_is_a_clean_seed_file():
    universe = read_symbols(ROOT / "examples" / "sp500-sample.json")
    assert universe.format == "json" and universe.problems == ()
    assert len(universe.symbols) == 20 and {"AAPL", "BRK.B", "MSFT"} <= universe.as_set()


def test_union_and_comma_lists():
    assert parse_symbols("AAPL, BRK.B,,TpC ") == frozenset({"AAPL", "BRK.B", "TpC"})
    assert parse_symbols(" , ") is None and parse_symbols(None) is None
    assert union(None, None) is None
    assert union(None, ("A",)) == frozenset({"A"})
    assert union(frozenset({"A", "b"}), ["B", "A"]) == frozenset({"A", "b", "B"})
    assert union(frozenset()) == frozenset()


@given(st.lists(SYMBOL, min_size=1, max_size=30), st.sampled_from(UNIVERSE_FORMATS), st.booleans(), st.booleans())
def test_any_universe_round_trips_in_every_format(symbols, fmt, bom, crlf):
    data, at = render_universe(symbols, fmt, bom=bom, crlf=crlf)
    universe = parse_universe(data.decode("utf-8"), "u", fmt.split("-")[0])
    unique = list(dict.fromkeys(symbols))
    assert universe.symbols == tuple(unique)
    first = {s: at[symbols.index(s)] for s in unique}
    assert universe.problems == tuple(Problem(at[i], f"duplicate symbol {s} (first on line {first[s]})")
                                      for i, s in enumerate(symbols) if symbols.index(s) != i)
