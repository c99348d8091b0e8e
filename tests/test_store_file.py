"""The DuckDB file as analysts meet it: every DuckDB opens it, its views follow the store, old stores upgrade."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flatload.cli import cli
from flatload.datasets import JOURNAL
from flatload.engine.api import load
from flatload.store.database import db
from tests.helpers import oracle
from tests.helpers.days import DST_SPRING
from tests.helpers.duckdb_cli import cli_query, duckdb_cli
from tests.helpers.faults import HOLD_DUCKDB, holder
from tests.helpers.store import journal_rows, query, upload_days
from tests.helpers.v1_store import downgrade
from flatload.store.store import Store

README = Path(__file__).resolve().parent.parent / "README.md"
D1, D2 = DST_SPRING


def readme_query() -> str:
    """The journal query the README tells analysts to run with the duckdb CLI."""
    found = re.findall(r'duckdb -readonly flatload\.duckdb "([^"]+)"', README.read_text())
    assert found, "the README shows how to open the journal with the duckdb CLI"
    return found[0]


@pytest.fixture
def loaded(settings, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=10)
    assert load(D1, D2, settings).exit_code == 0
    return settings, files


def test_the_file_is_in_the_storage_format_every_duckdb_reads(loaded):
    settings, files = loaded
    assert db.storage_version(Store.of(settings).db_path) == db.STORAGE_VERSION_NUMBER == 64
    version = subprocess.run([duckdb_cli(), "--version"], capture_output=True, text=True).stdout
    assert version.startswith("v1."), version  # an older DuckDB than the one flatload writes with
    out = cli_query(settings.data_dir, readme_query())
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.strip().splitlines()
    assert header.startswith("symbol,trade_date,")
    assert len(rows) == len([r for r in oracle.journal_from_bucket_files(files, DST_SPRING) if r[0] == "AAPL"]) == 2


def test_views_work_in_the_cli_from_the_store_or_with_the_root_variable(loaded, tmp_path):
    settings, files = loaded
    n = sum(len(oracle.read_rows(files[oracle.minute_key(d)])) for d in DST_SPRING)
    inside = cli_query(settings.data_dir, "SELECT count(*) AS n FROM minute_bars")
    assert (inside.returncode, inside.stdout.split()) == (0, ["n", str(n)]), inside.stderr
    root = settings.data_dir.resolve().as_posix()
    elsewhere = cli_query(tmp_path, "SELECT count(*) AS n FROM stocks_minute", str(Store.of(settings).db_path),
                          "-cmd", f"SET VARIABLE flatload_root = '{root}'")
    assert (elsewhere.returncode, elsewhere.stdout.split()) == (0, ["n", str(n)]), elsewhere.stderr


def test_any_client_from_any_directory_after_a_copy_and_a_move(loaded, tmp_path):
    """GUI clients (DBeaver, Metabase, R, notebooks) have no useful working directory: the views must not need one."""
    settings, files = loaded
    n = str(sum(len(oracle.read_rows(files[oracle.minute_key(d)])) for d in DST_SPRING))
    count_sql = "SELECT count(*) AS n FROM stocks_minute"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def count(path: Path | str, cwd: Path = elsewhere) -> list[str]:
        out = cli_query(cwd, count_sql, str(path))
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert count(Store.of(settings).db_path.resolve()) == ["n", n]
    assert count(Path("..") / settings.data_dir.resolve().relative_to(tmp_path) / "flatload.duckdb") == ["n", n]
    notebook = subprocess.run([sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1], "
                               f"read_only=True); print(con.execute({count_sql!r}).fetchall()[0][0])",
                               str(Store.of(settings).db_path.resolve())], cwd=elsewhere, capture_output=True, text=True)
    assert (notebook.returncode, notebook.stdout.strip()) == (0, n), notebook.stderr
    copy = tmp_path / "copy"
    shutil.copytree(settings.data_dir, copy)
    shutil.rmtree(Store.of(settings).parquet_root)  # a copy reading the original's files would now fail
    assert count(copy / "flatload.duckdb") == ["n", n]
    moved = tmp_path / "moved"
    copy.rename(moved)
    assert count(moved / "flatload.duckdb") == ["n", n]
    # ATTACHed to another database, the file cannot tell where it is: the error names the statement to run
    attach = f"ATTACH '{moved / 'flatload.duckdb'}' AS store (READ_ONLY); SELECT count(*) AS n FROM store.stocks_minute"
    in_memory = [duckdb_cli(), "-csv", "-c", attach]
    lost = subprocess.run(in_memory, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert lost.returncode == 1
    assert "run SET VARIABLE flatload_root = '" in lost.stderr and "(the store's directory) first" in lost.stderr
    pointed = subprocess.run([*in_memory[:2], "-cmd", f"SET VARIABLE flatload_root = '{moved.as_posix()}'",
                              *in_memory[2:]], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert (pointed.returncode, pointed.stdout.split()) == (0, ["n", n]), pointed.stderr


def _sql(data_dir: Path, sql: str, *extra: str):
    return CliRunner().invoke(cli, ["sql", sql, "--data-dir", str(data_dir), "--format", "csv", *extra])


def test_a_copied_store_reads_its_own_files_and_a_moved_one_keeps_working(loaded, tmp_path):
    settings, _ = loaded
    want = journal_rows(settings)
    count_sql = "SELECT count(*) AS n FROM minute_bars"
    n = _sql(settings.data_dir, count_sql).stdout
    copy = tmp_path / "copy"
    shutil.copytree(settings.data_dir, copy)
    shutil.rmtree(Store.of(settings).parquet_root)  # the original's files are gone: a copy reading them would fail
    assert _sql(copy, count_sql).stdout == n
    assert cli_query(copy, count_sql).stdout.replace("n\n", "") == n.replace("n\n", "")
    moved = tmp_path / "moved"
    copy.rename(moved)
    assert _sql(moved, count_sql).stdout == n
    assert cli_query(moved, count_sql).returncode == 0
    # and a load into the moved store works and sees its own journal
    assert journal_rows(settings.replace(data_dir=moved)) == want


def test_flatload_sql_waits_while_a_load_commits(loaded):
    settings, _ = loaded
    with holder(HOLD_DUCKDB, str(Store.of(settings).db_path)):
        busy = _sql(settings.data_dir, "SELECT 1 AS one", "--lock-timeout", "0")
    assert busy.exit_code == 3
    assert busy.stderr.startswith(f"Error: {Store.of(settings).db_path}: the journal is held by ")
    code = HOLD_DUCKDB.replace("time.sleep(120)", "time.sleep(1.5)")
    with holder(code, str(Store.of(settings).db_path)):
        waited = _sql(settings.data_dir, "SELECT 1 AS one", "--lock-timeout", "30")
    assert (waited.exit_code, waited.stdout) == (0, "one\n1\n"), waited.output


def test_sql_errors_and_a_missing_store_are_one_line_exit_2(loaded, tmp_path):
    settings, _ = loaded
    bad = _sql(settings.data_dir, "SELECT nope FROM journal")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "nope" in bad.stderr
    missing = _sql(tmp_path / "typo", "SELECT 1")
    assert missing.exit_code == 2
    assert missing.stderr == (f"Error: {tmp_path / 'typo'}: no such data directory (check --data-dir / "
                              "FLATLOAD_DATA_DIR (flatload load creates it))\n")


def test_a_dataset_not_loaded_is_named_with_the_command_that_loads_it(loaded):
    settings, _ = loaded
    ticks = _sql(settings.data_dir, "SELECT count(*) FROM stocks_trades")
    assert (ticks.exit_code, ticks.stderr) == (2, "Error: stocks_trades: the dataset stocks/trades is not loaded in "
                                                  "this store (its view appears with its first day) (flatload load "
                                                  "--datasets stocks/trades --start DATE --end DATE)\n")
    typo = _sql(settings.data_dir, "SELECT count(*) FROM stocks_trade")
    assert typo.exit_code == 2 and typo.stderr.startswith("Error: Catalog Error: Table with name stocks_trade does ")


def test_a_store_of_flatload_0_1_is_upgraded_in_place(loaded, tmp_path):
    settings, _ = loaded
    old = tmp_path / "v01"
    downgrade(settings.data_dir, old)
    assert db.storage_version(old / "flatload.duckdb") > 64  # what duckdb-cli 1.x refuses to open
    refused = cli_query(old, "SELECT 1")
    assert refused.returncode != 0 and "version number" in refused.stderr
    upgraded = settings.replace(data_dir=old)

    again = load(D1, D2, upgraded)

    assert (again.done, len(again.skipped), again.exit_code) == ([], 2, 0)  # same ETags: nothing refetched
    assert db.storage_version(old / "flatload.duckdb") == 64
    assert journal_rows(upgraded) == journal_rows(settings)
    assert query(upgraded, "SELECT DISTINCT dataset FROM day_status ORDER BY 1") == [
        ("stocks/day_aggs",), ("stocks/minute_aggs",)]
    assert query(upgraded, "SELECT DISTINCT dataset FROM ledger ORDER BY 1") == [
        ("stocks/day_aggs",), ("stocks/minute_aggs",)]
    assert query(upgraded, "SELECT data_type FROM information_schema.columns WHERE table_name = 'journal' "
                           "AND column_name = 'day_volume'") == [("DOUBLE",)]
    assert not (old / "parquet" / "us_stocks_sip").exists() and (old / "parquet" / "stocks" / "minute_aggs").is_dir()
    assert cli_query(old, "SELECT count(*) FROM minute_bars").returncode == 0
    # the upgrade kept the primary keys: upserting the same days again changes nothing
    forced = load(D1, D2, upgraded.replace(force=True))
    assert forced.exit_code == 0 and journal_rows(upgraded) == journal_rows(settings)
    con = duckdb.connect(str(old / "flatload.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'journal' "
                           "AND constraint_type = 'PRIMARY KEY'").fetchone() == (1,)
    finally:
        con.close()


def test_journal_partitions_of_an_earlier_layout_move_to_the_registry_name(loaded):
    settings, _ = loaded
    root = Store.of(settings).parquet_root / "stocks"
    want = sorted(p.relative_to(root / "journal").as_posix() for p in (root / "journal").rglob("*.parquet"))
    (root / "journal").rename(root / "metrics")  # where the journal's day rows lived before

    again = load(D1, D2, settings)

    assert (again.exit_code, len(again.skipped)) == (0, 2)
    assert f"moved 2 journal partition folder(s) from parquet/stocks/metrics/ to parquet/{JOURNAL.name}/" in again.warnings
    assert not (root / "metrics").exists()
    assert sorted(p.relative_to(root / "journal").as_posix() for p in (root / "journal").rglob("*.parquet")) == want
