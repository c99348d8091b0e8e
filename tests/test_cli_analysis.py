"""``flatload bars``: formats, files, exact exit codes and messages; its output equals the DuckDB macro's."""
from __future__ import annotations

import datetime as dt
import io
import json
import math
import os

import polars as pl
import pytest
from click.testing import CliRunner

import flatload
from flatload.analysis.sql import query
from flatload.cli import cli
from tests.helpers.analysis_store import DAYS

CLEAN_ENV = {k: None for k in os.environ if k.startswith("FLATLOAD_")} | {"MASSIVE_API_KEY": None,
                                                                          "POLYGON_API_KEY": None}
D1, D2 = "2024-03-08", "2024-03-11"


@pytest.fixture
def data(bars_store) -> str:
    return str(bars_store[0].data_dir)


def run(*args: str):
    return CliRunner(env=CLEAN_ENV).invoke(cli, list(args), catch_exceptions=False)


def test_csv_with_iso_offsets_is_the_default_in_a_pipe(data):
    result = run("bars", "AAPL", "--start", D1, "--end", D2, "--every", "1h", "--data-dir", data)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "symbol,window_start,open,high,low,close,volume,vwap,transactions"
    assert lines[1].startswith("AAPL,2024-03-08T09:30:00-05:00,")
    assert any(line.startswith("AAPL,2024-03-11T09:30:00-04:00,") for line in lines)
    assert len(lines) == 1 + 7 + 7


def test_cli_output_equals_the_duckdb_macro(bars_store, data):
    result = run("bars", "BRK.B", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--every", "30m",
                 "--session", "extended", "--data-dir", data)
    cli_rows = pl.read_csv(io.StringIO(result.output))
    sql = query(f"SELECT * FROM bars('BRK.B', DATE '{DAYS[0]}', DATE '{DAYS[-1]}', INTERVAL 30 MINUTE, 'extended')",
                bars_store[0])
    assert cli_rows.height == sql.height > 0
    instants = pl.Series(cli_rows["window_start"]).str.to_datetime("%Y-%m-%dT%H:%M:%S%:z").dt.epoch("us")
    assert instants.to_list() == sql["window_start"].dt.epoch("us").to_list()
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        for a, b in zip(cli_rows[col].to_list(), sql[col].to_list()):
            assert math.isclose(a, b, rel_tol=1e-12), (col, a, b)
    assert cli_rows["transactions"].to_list() == sql["transactions"].to_list()


def test_json_records_and_indicator_columns(data):
    result = run("bars", "AAPL", "--start", D1, "--every", "1d", "--format", "json", "--indicators", "sma:2,vwap",
                 "--data-dir", data)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)  # stderr says where the 1d bars come from
    assert list(records[0]) == ["symbol", "window_start", "open", "high", "low", "close", "volume", "vwap",
                                "transactions", "sma_2", "session_vwap"]
    assert records[0]["window_start"] == "2024-03-08T09:30:00-05:00"
    assert records[0]["sma_2"] is not None  # 2024-03-07 is loaded: history before --start


@pytest.mark.parametrize("suffix, reader", [(".csv", pl.read_csv), (".json", pl.read_json),
                                            (".parquet", pl.read_parquet)])
def test_out_file_takes_the_format_of_its_suffix(bars_store, data, tmp_path, suffix, reader):
    out = tmp_path / f"aapl{suffix}"
    result = run("bars", "AAPL", "--start", D1, "--end", D2, "--every", "15m", "--out", str(out), "--data-dir", data)
    assert result.exit_code == 0, result.output
    want = flatload.bars("AAPL", dt.date(2024, 3, 8), dt.date(2024, 3, 11), every="15m", settings=bars_store[0])
    assert result.stdout == ""
    assert result.stderr == f"{want.height} bar(s) written to {out}\n"
    got = reader(out)
    assert got.height == want.height > 0
    if suffix == ".parquet":
        assert got.schema["window_start"] == pl.Datetime("ns", "America/New_York")
        assert got.equals(want)


@pytest.mark.parametrize("args, code, message", [
    (["aapl", "--start", D1], 1, "Error: no stocks/minute_aggs bars for 'aapl' on 2024-03-08 "
                                 "(tickers are case-sensitive: AAPL has bars then)\n"),
    (["AAPL", "--start", D1, "--every", "90s"], 2,
     "Error: --every '90s' is not a bar width (use <n>m or <n>h such as 5m or 1h, 1d for a bar per session, "
     "or 1w for an ISO week)\n"),
    (["AAPL", "--start", D1, "--adjust", "splits"], 2,
     "Error: no corporate actions loaded for 'AAPL': adjusted prices would be wrong (run flatload "
     "corporate-actions --symbols AAPL, or without --symbols for every symbol)\n"),
    (["AAPL", "--start", D2, "--end", D1], 2, "Error: --end 2024-03-08 is before --start 2024-03-11\n"),
    (["AAPL", "--start", D1, "--dataset", "crypto"], 2,
     "Error: this store has no crypto/minute_aggs partitions yet (load them first: flatload load --dataset "
     "crypto/minute_aggs --start DATE --end DATE)\n"),
    (["AAPL", "--start", D1, "--indicators", "rsi:1"], 2,
     "Error: 'rsi:1': the period must be a whole number from 2 to 100000 (use sma:N, ema:N, rsi:N, macd, "
     "bbands:N, atr:N or vwap, comma-separated: sma:20,rsi:14,macd)\n"),
])
def test_errors_exit_codes_and_messages(data, args, code, message):
    result = run("bars", *args, "--data-dir", data)
    assert result.exit_code == code, result.output
    assert result.stderr == message
    assert result.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["AAPL"], "Missing option '--start'"),
    (["AAPL", "--start", "2024-3-8x"], "'2024-3-8x' is not a date like 2024-03-11"),
    (["AAPL", "--start", D1, "--session", "night"], "'night' is not one of 'regular', 'extended', 'all'"),
    (["AAPL", "--start", D1, "--format", "parquet"], "--format parquet writes a file: add --out FILE.parquet"),
    (["AAPL", "--start", D1, "--out", "a.xlsx"], "--out a.xlsx: bars writes .csv, .json, .parquet, .pq, .txt files, "
                                                 "not .xlsx; name the file with one of those suffixes, or say "
                                                 "--format csv to write CSV under that name"),
])
def test_usage_errors_exit_2(data, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a refused --out must leave no file behind
    result = run("bars", *args, "--data-dir", data)
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_store(tmp_path):
    result = run("bars", "AAPL", "--start", D1, "--data-dir", str(tmp_path / "nothing"))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path / 'nothing'}: no such data directory (check --data-dir / "
                             "FLATLOAD_DATA_DIR (flatload load creates it))\n")


def test_day_bars_say_which_source_they_come_from(data):
    minutes = run("bars", "AAPL", "--start", D1, "--every", "1d", "--format", "csv", "--data-dir", data)
    assert minutes.exit_code == 0
    assert minutes.stderr == ("note: 1d bars from the default session's minute bars (--day-source day-file for the "
                              "vendor's day bars, as in the journal)\n")
    day_file = run("bars", "AAPL", "--start", D1, "--every", "1d", "--format", "csv", "--day-source", "day-file",
                   "--data-dir", data)
    assert (day_file.exit_code, day_file.stderr) == (0, "note: 1d bars from the vendor's day file\n")
    assert day_file.stdout.splitlines()[0] == minutes.stdout.splitlines()[0]  # the same columns
    assert day_file.stdout != minutes.stdout
    hourly = run("bars", "AAPL", "--start", D1, "--every", "1h", "--format", "csv", "--data-dir", data)
    assert hourly.stderr == ""
