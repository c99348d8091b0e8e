"""Tick data (trades, quotes) end to end: the view equals an independent reading of the CSV, filters,
rejects with their lines, off-date rows, unsorted input, a cheap one-ticker query, the DuckDB 1.x CLI,
every instant's nanoseconds in every reader, and days stored by the previous release."""
from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flatload import datasets, sample
from flatload.engine.api import load
from tests.helpers import csv_reading
from tests.helpers.duckdb_cli import cli_query
from tests.helpers.store import query, s3_client
from tests.helpers.ticks import (DAY, as_previous_release, bytes_read, cli_instants, csv_instants, edit_lines,
                                 expected_rows, expected_view_instants, large_day, mirror_settings, part_files,
                                 partition_bytes, polars_instants, pyarrow_instants, small_day, spread_bad_rows, utc_adjusted,
                                 view_instants, view_query, view_rows)
from flatload.store.store import Store

SYMBOLS = frozenset({"AAPL", "NA", "TpC"})
DAY2 = DAY + dt.timedelta(days=1)
TICKS = ["stocks/trades", "stocks/quotes", "options/trades", "options/quotes"]


def _load(settings, name):
    summary = load(DAY, DAY, settings, datasets=name)
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("symbols", [None, SYMBOLS], ids=["all", "symbols"])
@pytest.mark.parametrize("name", ["stocks/trades", "stocks/quotes"])
def test_a_generated_day_equals_an_independent_reading_of_the_csv(tmp_path, name, symbols):
    path = small_day(tmp_path, name)
    settings = mirror_settings(tmp_path, symbols=symbols)
    summary = _load(settings, name)
    assert (summary.exit_code, summary.done, summary.failed) == (0, [DAY], []), summary.lines()
    keep = (lambda r: r["ticker"] in symbols) if symbols else (lambda r: True)
    expected = expected_rows(name, path, keep)
    assert expected and view_rows(settings, name) == expected
    scope = query(settings, "SELECT scope, rows FROM ledger")
    assert scope == [("*" if symbols is None else ",".join(sorted(symbols)), len(expected))]


@pytest.mark.slow
def test_a_load_limited_to_symbols_is_completed_by_a_load_of_all(tmp_path):
    path = small_day(tmp_path, "stocks/trades")
    assert _load(mirror_settings(tmp_path, symbols=SYMBOLS), "stocks/trades").exit_code == 0
    again = _load(mirror_settings(tmp_path), "stocks/trades")
    assert again.done == [DAY]  # not skipped: the partition held only the symbols' rows
    assert view_rows(mirror_settings(tmp_path), "stocks/trades") == expected_rows("stocks/trades", path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["options/trades", "options/quotes"])
def test_options_underlyings_keep_only_their_contracts(tmp_path, name):
    path = small_day(tmp_path, name, n_tickers=16)
    settings = mirror_settings(tmp_path, underlyings=frozenset({"SPY", "AAPL1"}))
    assert _load(settings, name).exit_code == 0
    expected = expected_rows(name, path, lambda r: csv_reading.option_contract(r["ticker"])[0] in ("SPY", "AAPL1"))
    assert expected and view_rows(settings, name) == expected


def test_a_family_name_means_its_aggregates_and_tick_data_loads_only_when_named():
    assert [d.name for d in datasets.resolve("stocks")] == ["stocks/minute_aggs", "stocks/day_aggs"]
    assert [d.name for d in datasets.resolve("options,stocks/quotes")] == [
        "options/minute_aggs", "options/day_aggs", "stocks/quotes"]


@pytest.mark.slow
def test_rejects_are_named_by_line_across_chunks_and_off_date_rows_are_kept_out(tmp_path):
    name = "stocks/trades"
    path = large_day(tmp_path, name, 420_000)
    picked, off_ns = spread_bad_rows(path)
    a, b, c, d, e = picked
    settings = mirror_settings(tmp_path)
    summary = _load(settings, name)
    assert (summary.exit_code, summary.done) == (0, [DAY]), summary.lines()
    assert query(settings, "SELECT line, reason FROM rejects ORDER BY line") == [
        (a, "non-numeric price"), (b, "negative size"), (c, "blank ticker"),
        (d, f"sip_timestamp not on {DAY} (New York): {off_ns}"), (e, "missing price or volume")]
    assert query(settings, "SELECT rejected, off_date FROM ledger") == [(4 + 1, 1)]
    assert view_rows(settings, name) == expected_rows(name, path, skip_lines=frozenset(picked))


@pytest.mark.slow
def test_a_file_with_every_row_off_date_fails_and_the_loaded_partition_stays(tmp_path):
    name = "stocks/trades"
    path = small_day(tmp_path, name)
    settings = mirror_settings(tmp_path)
    assert _load(settings, name).exit_code == 0
    before = view_rows(settings, name)

    def shift(lines: list[str]) -> list[str]:
        col = lines[0].split(",").index("sip_timestamp")
        out = [lines[0]]
        for ln in lines[1:]:  # conditions may be quoted: shift the field by position from the quoted-aware split
            rec = next(iter(__import__("csv").reader([ln])))
            rec[col] = str(int(rec[col]) + 86_400 * 10**9)
            out.append(",".join(f'"{v}"' if "," in v else v for v in rec))
        return out

    edit_lines(path, shift)
    summary = load(DAY, DAY, settings.replace(force=True), datasets=name)
    assert summary.exit_code != 0 and [f.message for f in summary.failed] == [
        "every row is dated 2024-03-12 (New York), not 2024-03-11; refusing to load it as 2024-03-11"]
    assert view_rows(settings, name) == before


@pytest.mark.slow
def test_a_truncated_file_fails_with_its_problem(tmp_path):
    path = large_day(tmp_path, "stocks/trades", 60_000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    summary = _load(mirror_settings(tmp_path), "stocks/trades")
    assert [f.message for f in summary.failed] == ["truncated gzip (the file ends before the gzip stream does)"]
    assert not list((tmp_path / "data" / "parquet").rglob("*.parquet"))  # no part of it became visible


def _parts_sorted_by_ticker(settings, name) -> bool:
    folder = Store.of(settings).parquet_root / name / f"date={DAY}"
    for part in sorted(folder.glob("*.parquet")):
        tickers = pq.read_table(part, columns=["ticker"])["ticker"].to_pylist()
        if tickers != sorted(tickers):
            return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("moved", [None, 40], ids=["shuffled", "a-few-rows-out-of-order"])
def test_input_not_sorted_by_ticker_loads_the_same_rows_clustered(tmp_path, moved):
    name = "stocks/trades"
    path = large_day(tmp_path, name, 300_000, n_tickers=200)

    def disorder(lines: list[str]) -> list[str]:
        body = lines[1:]
        if moved is None:
            random.Random(1).shuffle(body)
        else:  # the file is sorted but for a few rows moved to its end (after the first chunks went through)
            picks = set(random.Random(1).sample(range(len(body) // 4), moved))
            body = [ln for i, ln in enumerate(body) if i not in picks] + [body[i] for i in sorted(picks)]
        return [lines[0], *body]

    edit_lines(path, disorder)
    settings = mirror_settings(tmp_path)
    summary = _load(settings, name)
    assert summary.exit_code == 0
    assert any("not ordered by ticker" in w for w in summary.warnings), summary.warnings
    assert view_rows(settings, name) == expected_rows(name, path)
    assert _parts_sorted_by_ticker(settings, name)


@pytest.fixture(scope="module")
def big_day(tmp_path_factory):
    """A 2 M-row trades day over 2,000 tickers, loaded once for the layout tests."""
    tmp = tmp_path_factory.mktemp("big")
    large_day(tmp, "stocks/trades", 2_000_000, n_tickers=2_000)
    settings = mirror_settings(tmp)
    assert _load(settings, "stocks/trades").exit_code == 0
    return settings


def test_one_ticker_of_a_day_reads_a_small_fraction_of_its_bytes(big_day):
    settings = big_day
    counts = view_query(settings, "SELECT ticker, count(*) AS n FROM stocks_trades GROUP BY ticker ORDER BY n, ticker")
    total_rows, total_bytes = sum(n for _, n in counts), partition_bytes(settings, "stocks/trades")
    sql = "SELECT * FROM stocks_trades WHERE ticker = ? AND trade_date = ?"
    median, largest = counts[len(counts) // 2], counts[-1]
    median_fraction = bytes_read(settings, sql, [median[0], DAY]) / total_bytes
    largest_fraction = bytes_read(settings, sql, [largest[0], DAY]) / total_bytes
    assert median_fraction < 0.05, median_fraction
    # the busiest ticker holds a few percent of the day's rows: it reads little more than its own rows
    assert largest[1] / total_rows < 0.05 and largest_fraction < 0.10, (largest, largest_fraction)


def test_the_duckdb_1x_cli_reads_the_tick_view(big_day):
    settings = big_day
    out = cli_query(settings.data_dir, "SELECT count(*), count(DISTINCT ticker), min(sip_timestamp_local) >= "
                                       f"DATE '{DAY}' FROM stocks_trades WHERE trade_date = DATE '{DAY}'")
    assert out.returncode == 0, out.stderr
    n = view_query(settings, "SELECT count(*), count(DISTINCT ticker) FROM stocks_trades")[0]
    assert out.stdout.strip().splitlines()[1:] == [f"{n[0]},{n[1]},true"]


def test_tick_files_from_s3_go_through_the_spool_which_is_emptied(s3_endpoint, bucket, settings):
    files = sample.generate([DAY], n_tickers=20, names="stocks/quotes")
    sample.upload(s3_client(s3_endpoint), bucket, files)
    assert _load(settings, "stocks/quotes").exit_code == 0
    spool = settings.data_dir / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []
    assert view_query(settings, "SELECT count(*) FROM stocks_quotes")[0][0] == len(csv_reading.rows(
        next(iter(files.values())), csv_reading.python_types(datasets.get("stocks/quotes"))))


@pytest.mark.slow
def test_the_stocks_pair_and_its_trades_load_together_and_then_skip(tmp_path):
    files = sample.generate([DAY], n_tickers=12, names="stocks,stocks/trades")
    sample.write_mirror(tmp_path / "mirror", files)
    settings = mirror_settings(tmp_path)
    summary = load(DAY, DAY, settings, datasets="stocks,stocks/trades")
    assert (summary.exit_code, summary.done) == (0, [DAY]), summary.lines()
    assert query(settings, "SELECT count(*) FROM journal")[0][0] > 0
    trades = tmp_path / "mirror" / datasets.get("stocks/trades").key(DAY)
    assert view_rows(settings, "stocks/trades") == expected_rows("stocks/trades", trades)
    again = load(DAY, DAY, settings, datasets="stocks,stocks/trades")
    assert (again.done, len(again.skipped), again.exit_code) == ([], 1, 0)


@pytest.mark.slow
def test_trades_for_symbols_beside_aggregates_loaded_whole_keep_their_own_scope(tmp_path):
    files = sample.generate([DAY], n_tickers=12, names="stocks/day_aggs,stocks/trades")
    sample.write_mirror(tmp_path / "mirror", files)
    names = "stocks/day_aggs,stocks/trades"
    assert load(DAY, DAY, mirror_settings(tmp_path, symbols=frozenset({"ZZZZ"})), datasets=names).exit_code == 0
    assert query(mirror_settings(tmp_path), "SELECT dataset, status, scope FROM day_status ORDER BY 1") == [
        ("stocks/day_aggs", "flatfile", "*"), ("stocks/trades", "flatfile", "ZZZZ")]  # no such ticker: not suspect
    again = load(DAY, DAY, mirror_settings(tmp_path), datasets=names)
    reloaded = query(mirror_settings(tmp_path), "SELECT dataset FROM ledger WHERE run_id = ?", [again.run_id])
    assert again.done == [DAY] and reloaded == [("stocks/trades",)]  # the day file stayed as it was
    trades = tmp_path / "mirror" / datasets.get("stocks/trades").key(DAY)
    assert view_rows(mirror_settings(tmp_path), "stocks/trades") == expected_rows("stocks/trades", trades)


@pytest.mark.slow
@pytest.mark.parametrize("name", TICKS)
def test_every_instant_keeps_its_nanoseconds_in_the_parquet_and_in_every_duckdb(tmp_path, name):
    path = small_day(tmp_path, name, n_tickers=16)
    settings = mirror_settings(tmp_path)
    assert _load(settings, name).exit_code == 0
    oracle = csv_instants(name, path)
    sip = [r[1] for r in oracle]
    # the generator's times carry digits below the microsecond: else this test could not tell
    assert len(sip) > 500 and sum(ns % 1000 != 0 for ns in sip) > 0.95 * len(sip)
    by_polars, polars_types = polars_instants(settings, name)
    assert polars_types == {pl.Datetime("ns")} and by_polars == oracle  # a naive ns instant, UTC by convention
    by_pyarrow, pyarrow_types = pyarrow_instants(settings, name)
    assert pyarrow_types == {pa.timestamp("ns")} and by_pyarrow == oracle
    # <x>_ns exact; <x> and <x>_local truncated to the microsecond (never rounded into the next one), whatever
    # the client's TimeZone, in flatload's DuckDB and in the 1.x CLI alike
    expected = expected_view_instants(oracle)
    assert view_instants(settings, name) == expected
    assert cli_instants(settings, name) == expected


@pytest.mark.slow
def test_the_tick_views_instant_types_are_the_same_in_duckdb_2_and_the_1x_cli(tmp_path):
    small_day(tmp_path, "stocks/trades", n_tickers=8)
    settings = mirror_settings(tmp_path)
    assert _load(settings, "stocks/trades").exit_code == 0
    sql = ("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'stocks_trades' "
           "AND column_name LIKE 'sip_timestamp%' ORDER BY ordinal_position")
    expected = [("sip_timestamp", "TIMESTAMP WITH TIME ZONE"), ("sip_timestamp_ns", "BIGINT"),
                ("sip_timestamp_local", "TIMESTAMP")]
    assert view_query(settings, sql) == expected
    out = cli_query(settings.data_dir, f"SELECT * FROM stocks_trades LIMIT 0; {sql}")  # binds the view in 1.x
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-3:] == [f"{n},{t}" for n, t in expected]


@pytest.mark.slow
def test_a_day_stored_by_the_previous_release_is_rewritten_exact_and_reads_beside_a_new_one(tmp_path):
    name = "stocks/trades"
    old_csv, new_csv = small_day(tmp_path, name), small_day(tmp_path, name, d=DAY2)
    settings = mirror_settings(tmp_path)
    assert load(DAY, DAY, settings, datasets=name).exit_code == 0
    as_previous_release(settings, name)
    groups = [pq.ParquetFile(p).metadata.num_row_groups for p in part_files(settings, name)]
    assert all(all(utc_adjusted(p)) for p in part_files(settings, name))

    summary = load(DAY, DAY2, settings, datasets=name)

    assert (summary.exit_code, summary.done, len(summary.skipped)) == (0, [DAY2], 1), summary.lines()
    assert any("rewrote 1 tick partition" in w for w in summary.warnings), summary.warnings
    for d, path in ((DAY, old_csv), (DAY2, new_csv)):
        parts = part_files(settings, name, d)
        assert parts and not any(any(utc_adjusted(p)) for p in parts)
        oracle = csv_instants(name, path)
        assert polars_instants(settings, name, d) == (oracle, {pl.Datetime("ns")})
        assert pyarrow_instants(settings, name, d) == (oracle, {pa.timestamp("ns")})
        expected = expected_view_instants(oracle)
        assert view_instants(settings, name, d) == expected
        assert cli_instants(settings, name, d) == expected
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in part_files(settings, name)] == groups
    assert _parts_sorted_by_ticker(settings, name)
    everything = expected_rows(name, old_csv) + expected_rows(name, new_csv, d=DAY2)
    assert view_rows(settings, name) == sorted(everything, key=csv_reading.null_last)
    again = load(DAY, DAY2, settings, datasets=name)
    assert again.exit_code == 0 and not any("rewrote" in w for w in again.warnings)  # once
