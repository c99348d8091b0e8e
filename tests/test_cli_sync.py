"""``flatload sync`` and ``load --sync-to``: exit codes and the exact lines users read."""
from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from flatload.cli import cli
from flatload.datasets.stocks import JOURNAL_COLUMNS
from flatload.settings import Settings
from tests.helpers.days import DST_SPRING
from tests.helpers.filesystems import Step, flatload, read_only_bind, run_in_namespace
from tests.helpers.postgres import PgDatabase, free_port
from tests.helpers.store import upload_days
from tests.helpers.sync import (
    FRACTIONAL_DAY,
    N_TICKERS,
    NO_CLOSE,
    TargetDb,
    backfill_ddl,
    journal_values,
    load_fractional_day,
    sqlite_values,
    trader_ddl,
)

D1, D2 = DST_SPRING
TABLE = "backfill_data"
CLEAN_ENV = {k: None for k in os.environ if k.startswith(("FLATLOAD_", "PG"))} | {"MASSIVE_API_KEY": None,
                                                                                 "POLYGON_API_KEY": None}
SECONDS = r"in \d+\.\ds"


def run(*args: str, env: dict | None = None):
    return CliRunner(env=CLEAN_ENV | (env or {})).invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def store(two_day_store: Settings) -> Settings:
    return two_day_store


def sync_args(store: Settings, url: str, *more: str) -> list[str]:
    return ["sync", "--to", url, "--table", TABLE, "--data-dir", str(store.data_dir), "-q", *more]


def test_help_lists_sync_and_load_has_sync_to():
    assert re.search(r"^  sync\s", run("--help").output, re.M)
    assert "--sync-to URL" in run("load", "--help").output
    assert "--sync-to URL" in run("refresh", "--help").output
    help_text = run("sync", "--help").output
    for opt in ("--to", "--table", "--since", "--symbols", "--columns", "--create", "--full", "--data-dir",
                "--lock-timeout", "--batch-size", "--json"):
        assert opt in help_text, opt


def test_sync_to_sqlite_then_nothing_new(store, tmp_path):
    path = tmp_path / "trading_journal.db"
    n = len(journal_values(store))
    first = run(*sync_args(store, f"sqlite:///{path}", "--create"))
    assert first.exit_code == 0, first.output
    assert re.fullmatch(rf"sync: {n} row\(s\) sent to sqlite:///{path} {TABLE} \(table created\): {n} inserted, "
                        rf"0 updated, 0 unchanged {SECONDS}\n", first.stdout), first.stdout
    assert first.stderr == ""
    assert sqlite_values(path, TABLE) == journal_values(store)
    again = run(*sync_args(store, f"sqlite:///{path}"))
    assert again.exit_code == 0
    assert re.fullmatch(rf"sync: sqlite:///{path} {TABLE} is up to date: no journal rows changed since "
                        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC; nothing sent {SECONDS}\n", again.stdout), again.stdout


def test_relative_sqlite_path_and_options(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*sync_args(store, "sqlite:///trading_journal.db", "--create", "--since", str(D2), "--symbols",
                            "AAPL,TpC", "--columns", "hod,lod", "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["target"] == "sqlite:///trading_journal.db"  # as typed
    assert (summary["sent"], summary["inserted"], summary["created"]) == (2, 2, True)
    assert sqlite_values(tmp_path / "trading_journal.db", TABLE, ["symbol", "trade_date", "hod", "lod"]) == \
        journal_values(store, ["symbol", "trade_date", "hod", "lod"], f"trade_date = '{D2}' AND symbol IN "
                                                                      f"('AAPL', 'TpC')")


def test_missing_table_exit_8_one_line(store, tmp_path):
    path = tmp_path / "app.db"
    path.touch()
    result = run(*sync_args(store, f"sqlite:///{path}"))
    assert result.exit_code == 8
    assert result.stdout == ""
    assert result.stderr == (f"Error: sqlite:///{path}: table {TABLE} does not exist (pass --create to make it "
                             f"(the journal's types, PRIMARY KEY (symbol, trade_date)), or fix --table)\n")


def test_missing_column_exit_8(store, tmp_path):
    path = tmp_path / "app.db"
    run(*sync_args(store, f"sqlite:///{path}", "--create", "--columns", "hod"))
    result = run(*sync_args(store, f"sqlite:///{path}"))
    assert result.exit_code == 8
    assert result.stderr.startswith(f"Error: sqlite:///{path}: table {TABLE} has no column pre_high, pre_low, "
                                    f"open_price, lod, close_price, ah_high, ah_low, day_volume (add it, or leave "
                                    f"it out: --columns symbol,trade_date,hod)")


def test_wrong_password_exit_7_never_printed(store, pg_db: PgDatabase):
    secret = "Cli-Wrong-Pw-5"
    result = run(*sync_args(store, pg_db.url(password=secret), "--create", "--verbose"))
    assert result.exit_code == 7
    port, name = pg_db.server.port, pg_db.name
    assert result.stderr.splitlines()[-1] == (
        f"Error: postgresql://trader:***@127.0.0.1:{port}/{name}: login refused: password authentication "
        f"failed for user \"trader\" (check the user and password (in the URL, PGPASSWORD or ~/.pgpass))")
    assert secret not in result.output


def test_target_down_exit_6(store):
    secret = "Cli-Down-Pw-8"
    result = run(*sync_args(store, f"postgresql://trader:{secret}@127.0.0.1:{free_port()}/journal"))
    assert result.exit_code == 6
    assert "the server did not answer: Connection refused" in result.stderr
    assert result.stderr.count("\n") == 1 and secret not in result.output


def test_sync_to_postgres_with_pgpassword(store, pg_db: PgDatabase):
    url = pg_db.url(password=None)
    result = run(*sync_args(store, url, "--create"), "--table", "journal.backfill_data",
                 env={"PGPASSWORD": pg_db.password})
    assert result.exit_code == 0, result.output
    assert f"to postgresql://trader@127.0.0.1:{pg_db.server.port}/{pg_db.name} journal.backfill_data" \
           in result.stdout
    assert pg_db.execute("SELECT count(*) FROM journal.backfill_data")[0][0] == len(journal_values(store))


@pytest.mark.parametrize("args, message", [
    (["--to", "mysql://u:Usage-Pw-1@h/db"], "Error: --to 'mysql://u:***@h/db': flatload syncs to SQLite or "
                                            "PostgreSQL (write the URL like sqlite:///trading_journal.db or "
                                            "postgresql://user@host/db)"),
    (["--to", "sqlite:///x.db", "--since", "soon"], "'soon' is not a date like 2024-03-11"),
    (["--to", "sqlite:///x.db", "--batch-size", "0"], "0 is not in the range x>=1"),
    ([], "Error: give --to URL (or set FLATLOAD_SYNC_TO, or sync.to in flatload.toml)"),
])
def test_usage_errors_exit_2(store, args, message):
    result = run("sync", "--data-dir", str(store.data_dir), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Usage-Pw-1" not in result.output


def test_env_names_the_target_and_table(store, tmp_path):
    path = tmp_path / "env.db"
    env = {"FLATLOAD_SYNC_TO": f"sqlite:///{path}", "FLATLOAD_SYNC_TABLE": "journal_rows",
           "FLATLOAD_DATA_DIR": str(store.data_dir)}
    result = run("sync", "--create", env=env)
    assert result.exit_code == 0, result.output
    assert f"sqlite:///{path} journal_rows (table created)" in result.stdout


def test_load_with_sync_to(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N_TICKERS)
    data, path = tmp_path / "data", tmp_path / "trading_journal.db"
    path.touch()  # the app's database exists; the table is made by the first sync
    args = ["load", f"--start={D1}", f"--end={D2}", "-q", "--endpoint-url", s3_endpoint, "--bucket", bucket,
            "--data-dir", str(data), "--workers", "1", "--sync-to", f"sqlite:///{path}"]
    missing = run(*args)
    assert missing.exit_code == 8  # loaded, but the table is not there: the sync's code
    assert missing.stdout.startswith("load: 2 day(s) loaded")
    assert missing.stderr == (f"Error: sqlite:///{path}: table {TABLE} does not exist (pass --create to make it "
                              f"(the journal's types, PRIMARY KEY (symbol, trade_date)), or fix --table)\n")
    metrics = ", ".join(f"{c} REAL" for c in JOURNAL_COLUMNS[2:])
    TargetDb.sqlite(path).execute(f"CREATE TABLE {TABLE} (symbol TEXT, trade_date DATE, {metrics}, "
                                  f"PRIMARY KEY (symbol, trade_date))")
    again = run(*args, "--sync-table", TABLE)  # nothing to load; the rows the failed sync missed go now
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    assert lines[0].startswith("load: 0 day(s) loaded, 2 skipped")
    assert re.fullmatch(rf"sync: (\d+) row\(s\) sent to sqlite:///{path} {TABLE}: \1 inserted, 0 updated, "
                        rf"0 unchanged {SECONDS}", lines[1]), lines[1]
    assert sqlite_values(path, TABLE) == journal_values(Settings(data_dir=data))


def test_refresh_with_sync_to(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N_TICKERS)
    path = tmp_path / "j.db"
    path.touch()
    TargetDb.sqlite(path).execute(f"CREATE TABLE {TABLE} (symbol TEXT, trade_date DATE, hod REAL, "
                                  f"PRIMARY KEY (symbol, trade_date))")
    result = run("refresh", f"--date={D2}", "--lookback=1", "-q", "--endpoint-url", s3_endpoint, "--bucket", bucket,
                 "--data-dir", str(tmp_path / "data"), "--workers", "1",
                 env={"FLATLOAD_SYNC_TO": f"sqlite:///{path}"})
    assert result.exit_code == 8  # the env's sync sends every metric: the table lacks some
    assert "has no column pre_high" in result.stderr


def test_load_failing_days_keeps_its_exit_code_and_still_syncs(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=N_TICKERS)  # D2 is missing: exit 1
    data, path = tmp_path / "data", tmp_path / "j.db"
    args = ["load", f"--start={D1}", f"--end={D2}", "-q", "--no-rest", "--endpoint-url", s3_endpoint, "--bucket",
            bucket, "--data-dir", str(data), "--workers", "1"]
    run(*args)
    run(*sync_args(Settings(data_dir=data), f"sqlite:///{path}", "--create"))
    result = run(*args, env={"FLATLOAD_SYNC_TO": f"sqlite:///{path}"})
    assert result.exit_code == 1
    assert "is up to date" in result.stdout.splitlines()[-1]


def test_dry_run_does_not_sync(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=N_TICKERS)
    path = tmp_path / "j.db"
    result = run("load", f"--start={D1}", f"--end={D1}", "--dry-run", "--endpoint-url", s3_endpoint, "--bucket",
                 bucket, "--data-dir", str(tmp_path / "data"), "--workers", "1", "--sync-to", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert "sync:" not in result.output and not path.exists()


def test_no_journal_exit_2(tmp_path):
    (tmp_path / "data").mkdir()
    result = run("sync", "--to", f"sqlite:///{tmp_path}/x.db", "--data-dir", str(tmp_path / "data"), "--create")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'data'}: no journal in this data directory yet (run flatload load " \
                            f"first)\n"


def test_quiet_is_not_needed_for_clean_stderr(store, tmp_path):
    result = run("sync", "--to", f"sqlite:///{tmp_path}/x.db", "--data-dir", str(store.data_dir), "--create")
    assert result.exit_code == 0 and result.stderr == ""
    assert Path(tmp_path / "x.db").exists()


def test_the_traders_own_table_exit_0(store, tmp_path):
    path = tmp_path / "trading_journal.db"
    sqlite3.connect(path).executescript(trader_ddl("sqlite"))
    result = run(*sync_args(store, f"sqlite:///{path}", "--columns", ",".join(NO_CLOSE)))
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    rows = sqlite3.connect(path).execute("SELECT trade_date, typeof(trade_date), typeof(day_volume) FROM "
                                         f"{TABLE} WHERE day_volume IS NOT NULL").fetchall()
    assert rows and {r[1:] for r in rows} == {("text", "integer")}
    assert {r[0] for r in rows} == {str(D) for D in DST_SPRING}


def test_a_fractional_volume_for_an_integer_column_exit_8_names_it(settings, s3_endpoint, bucket, tmp_path):
    load_fractional_day(settings, s3_endpoint, bucket, FRACTIONAL_DAY)
    path = tmp_path / "trading_journal.db"
    TargetDb.sqlite(path).execute(trader_ddl("sqlite"))
    result = run(*sync_args(settings, f"sqlite:///{path}", "--columns", ",".join(NO_CLOSE)))
    symbol, volume = journal_values(settings, ["symbol", "day_volume"], "day_volume <> floor(day_volume)")[0]
    assert result.exit_code == 8 and result.stdout == ""
    assert result.stderr == (
        f"Error: sqlite:///{path}: {symbol} {FRACTIONAL_DAY}: day_volume {volume!r} is not a whole number, and "
        f"backfill_data.day_volume is INTEGER (nothing was written) (make the column REAL / DOUBLE PRECISION (the "
        f"SIP reports fractional volume since 2026-02-23), or leave it out with --columns)\n")
    assert sqlite_values(path, TABLE, ["symbol"]) == []


def test_a_read_only_sqlite_file_exit_7_before_its_types(store, tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    path = target / "trading_journal.db"
    TargetDb.sqlite(path).execute(backfill_ddl(real="REAL", extra=", close_price INTEGER"))  # a mismatch too
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATLOAD_", "PG", "MASSIVE", "POLYGON"))}
    # a read-only mount: chmod does not stop root, who runs these tests in CI containers
    ran = run_in_namespace([*read_only_bind(target), Step(flatload(*sync_args(store, f"sqlite:///{path}")), "sync")],
                           tmp_path / "out", env)
    code, out, err = ran["sync"]
    assert (code, out) == (7, "")
    assert err == (f"Error: sqlite:///{path}: cannot write the SQLite file: it (or its directory, where SQLite keeps "
                   f"its journal) is read-only for this user (make the file and its directory writable by this "
                   f"user)\n")


def test_a_table_the_user_cannot_write_exit_7_before_its_types(store, pg_db: PgDatabase):
    pg_db.execute(backfill_ddl(extra=", close_price INTEGER"))  # a mismatch too: the permission is said first
    pg_db.server.create_role("viewer", "viewer-pw-7Qz")
    pg_db.execute("GRANT SELECT ON backfill_data TO viewer")
    result = run(*sync_args(store, pg_db.url(user="viewer", password="viewer-pw-7Qz")))
    assert result.exit_code == 7 and result.stdout == ""
    assert result.stderr == (
        f"Error: postgresql://viewer:***@127.0.0.1:{pg_db.server.port}/{pg_db.name}: permission denied for table "
        f"backfill_data (GRANT SELECT, INSERT, UPDATE ON backfill_data TO viewer (and USAGE, CREATE on its schema "
        f"for --create))\n")
    assert "viewer-pw-7Qz" not in result.output


def test_a_schema_the_user_cannot_use_exit_7(store, pg_db: PgDatabase):
    pg_db.execute(f"CREATE SCHEMA journal; {backfill_ddl('journal.backfill_data', extra=', close_price INTEGER')}")
    pg_db.server.create_role("viewer", "viewer-pw-7Qz")
    pg_db.execute("GRANT SELECT, INSERT, UPDATE ON journal.backfill_data TO viewer")  # but no USAGE on journal
    result = run(*sync_args(store, pg_db.url(user="viewer", password="viewer-pw-7Qz")), "--table",
                 "journal.backfill_data")
    assert result.exit_code == 7
    assert result.stderr == (
        f"Error: postgresql://viewer:***@127.0.0.1:{pg_db.server.port}/{pg_db.name}: permission denied for schema "
        f"journal (GRANT USAGE ON SCHEMA journal TO viewer)\n")
