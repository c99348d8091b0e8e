"""The ``flatload`` command: exit codes and the exact text of the lines users act on."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flatload.cli import cli
from flatload.settings import Settings
from tests.helpers import oracle
from tests.helpers.days import DST_SPRING
from tests.helpers.store import journal_rows, query, s3_client, upload_days

N = 12
D1, D2 = DST_SPRING
START, END = f"--start={D1}", f"--end={D2}"
#: an old day: no "rerun after the vendor publishes it", which only fits the latest sessions
GAP_AT_VENDOR = "the vendor has no file for this day; `flatload datasets --remote` shows what the bucket holds"
MISSING_HINT_NO_REST = f"drop --no-rest to fill it from REST, or {GAP_AT_VENDOR}"
MISSING_HINT_REST = f"set MASSIVE_API_KEY to fill it from REST, or {GAP_AT_VENDOR}"
#: no FLATLOAD_* or API key variable of the caller's shell may steer these runs
CLEAN_ENV = {k: None for k in os.environ if k.startswith("FLATLOAD_")} | {"MASSIVE_API_KEY": None,
                                                                          "POLYGON_API_KEY": None}


def run(*args: str):
    return CliRunner(env=CLEAN_ENV).invoke(cli, list(args), catch_exceptions=False)


def src(s3_endpoint: str, bucket: str, data_dir: Path, workers: int = 1) -> list[str]:
    """Where to load from and to; one inline worker (the default would start a process pool)."""
    return ["--endpoint-url", s3_endpoint, "--bucket", bucket, "--data-dir", str(data_dir),
            "--workers", str(workers)]


def headline(done: int, skipped: int, failed: int, journal: int, rows: int) -> re.Pattern:
    return re.compile(rf"load: {done} day\(s\) loaded, {skipped} skipped, {failed} failed; "
                      rf"{journal:,} journal rows from {rows:,} CSV rows in \d+\.\ds")


def csv_rows(files: dict[str, bytes]) -> int:
    return sum(len(oracle.read_rows(b)) for b in files.values())


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    commands = set(re.findall(r"^  (\w+)\s", result.output.split("Commands:")[1], re.M))
    assert {"load", "refresh", "demo"} <= commands
    load_help = run("load", "--help")
    assert load_help.exit_code == 0
    for opt in ("--start", "--end", "--symbols", "--workers", "--force", "--dry-run", "--quiet", "--verbose",
                "--endpoint-url", "--bucket", "--data-dir", "--no-rest"):
        assert opt in load_help.output, opt


@pytest.mark.parametrize("args, message", [
    ([START, "--end=2024-13-01"], "'2024-13-01' is not a date like 2024-03-11"),
    (["--start=yesterday", END], "'yesterday' is not a date like 2024-03-11"),
    ([f"--start={D2}", f"--end={D1}"], f"--end {D1} is before --start {D2}"),
    ([START, END, "--workers", "0"], "0 is not in the range x>=1"),
    ([START, END, "--frobnicate"], "No such option"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    data = tmp_path / "data"
    result = run("load", *args, "--endpoint-url", "http://127.0.0.1:9", "--data-dir", str(data))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "--frobnicate" not in args or "--frobnicate" in result.stderr
    assert result.stderr.count("\n") <= 6  # a short message, no traceback
    assert "Traceback" not in result.output
    assert not data.exists()  # refused before touching anything


def test_load_exit_0_then_rerun_skips(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N)
    data = tmp_path / "data"
    result = run("load", START, END, "--quiet", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 0, result.output
    n_journal = len(oracle.journal_from_bucket_files(files, DST_SPRING))
    assert headline(2, 0, 0, n_journal, csv_rows(files)).fullmatch(result.stdout.strip()), result.stdout
    assert result.stderr == ""

    again = run("load", START, END, "--verbose", *src(s3_endpoint, bucket, data))
    assert again.exit_code == 0, again.output
    assert headline(0, 2, 0, 0, 0).fullmatch(again.stdout.strip()), again.stdout


def test_symbols_option(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, [D1], n_tickers=N)
    data = tmp_path / "data"
    result = run("load", START, f"--end={D1}", "--symbols", "TpC, NA", "-q", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 0, result.output
    rows = [r[:11] for r in journal_rows(_Settings(data))]
    assert [r[0] for r in rows] == ["NA", "TpC"]
    assert rows == oracle.journal_from_bucket_files(files, [D1], {"NA", "TpC"})


def _Settings(data_dir: Path) -> Settings:
    """The settings of a data dir a CLI test loaded, for the helpers that read a store back."""
    return Settings(data_dir=data_dir, lock_timeout=2.0)


@pytest.mark.parametrize("no_rest", [True, False])
def test_missing_day_exit_1_names_key_and_rest_fallback(tmp_path, s3_endpoint, bucket, no_rest):
    files = upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N)
    key = oracle.minute_key(D2)
    s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=key)
    del files[key]
    data = tmp_path / "data"
    flags = ["--no-rest"] if no_rest else []
    result = run("load", START, END, "-q", *flags, *src(s3_endpoint, bucket, data))
    assert result.exit_code == 1, result.output
    n_journal = len(oracle.journal_from_bucket_files(files, [D1]))
    rows = len(oracle.read_rows(files[oracle.minute_key(D1)])) + len(oracle.read_rows(files[oracle.day_key(D1)]))
    assert headline(1, 0, 1, n_journal, rows).fullmatch(result.stdout.strip()), result.stdout
    hint = MISSING_HINT_NO_REST if no_rest else MISSING_HINT_REST
    assert result.stderr.splitlines() == [f"failed {D2}: {key}: no flat file in the bucket ({hint})"]


def _plan_fetch_lines(files: dict[str, bytes], days: list[dt.date]) -> list[str]:
    out = []
    for d in days:
        for key in (oracle.minute_key(d), oracle.day_key(d)):
            data = files[key]
            out.append(f"fetch   {key} ({len(data):,} bytes, ETag {hashlib.md5(data).hexdigest()})")
    return out


def test_dry_run_prints_plan_and_writes_nothing(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N)
    data = tmp_path / "data"
    result = run("load", START, END, "--dry-run", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "2 day(s): 2 to load, 0 already loaded, 0 cannot load",
        *_plan_fetch_lines(files, DST_SPRING),
    ]
    assert not list(data.rglob("*.parquet")) and not (data / "runs").exists()
    if (data / "flatload.duckdb").exists():
        for table in ("journal", "ledger", "day_status", "runs"):
            assert query(_Settings(data), f"SELECT count(*) FROM {table}") == [(0,)], table

    # after a load: the plan lists the days as loaded and nothing to fetch
    assert run("load", START, END, "-q", *src(s3_endpoint, bucket, data)).exit_code == 0
    parquet_before = {p: p.read_bytes() for p in data.rglob("*.parquet")}
    runs_before = query(_Settings(data), "SELECT * FROM runs ORDER BY run_id")
    result = run("load", START, END, "--dry-run", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "2 day(s): 0 to load, 2 already loaded, 0 cannot load",
        f"skip    {D1} (already loaded, same ETag)",
        f"skip    {D2} (already loaded, same ETag)",
    ]
    forced = run("load", START, END, "--dry-run", "--force", *src(s3_endpoint, bucket, data))
    assert forced.exit_code == 0
    root = (data / "parquet" / "stocks").as_posix()
    replace = [f"replace {root}/{ds}/date={d}/part-0.parquet" for d in DST_SPRING
               for ds in ("minute_aggs", "journal")]
    assert forced.stdout.splitlines()[0] == "2 day(s): 2 to load, 0 already loaded, 0 cannot load"
    assert forced.stdout.splitlines()[1:5] == _plan_fetch_lines(files, DST_SPRING)
    assert set(replace) <= set(forced.stdout.splitlines()[5:])
    assert {p: p.read_bytes() for p in data.rglob("*.parquet")} == parquet_before
    assert query(_Settings(data), "SELECT * FROM runs ORDER BY run_id") == runs_before


def test_dry_run_leaves_duckdb_file_unchanged(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N)
    data = tmp_path / "data"
    assert run("load", START, END, "-q", *src(s3_endpoint, bucket, data)).exit_code == 0
    before = (data / "flatload.duckdb").read_bytes()
    result = run("load", START, END, "--dry-run", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 0
    assert (data / "flatload.duckdb").read_bytes() == before


def test_console_script_with_process_pool(tmp_path, s3_endpoint, bucket):
    """The installed ``flatload`` entry point, two worker processes fetching from the S3 server."""
    files = upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=N)
    exe = Path(sys.executable).with_name("flatload")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "flatload.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLATLOAD_")
           and k not in ("MASSIVE_API_KEY", "POLYGON_API_KEY")}
    data = tmp_path / "data"
    proc = subprocess.run([*cmd, "load", START, END, "--quiet", *src(s3_endpoint, bucket, data, workers=2)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    n_journal = len(oracle.journal_from_bucket_files(files, DST_SPRING))
    assert headline(2, 0, 0, n_journal, csv_rows(files)).fullmatch(proc.stdout.strip()), proc.stdout
    assert [r[:11] for r in journal_rows(_Settings(data))] == oracle.journal_from_bucket_files(files, DST_SPRING)


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    data = tmp_path / "demo"
    result = run("demo", "--data-dir", str(data), "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^demo: \d+ day\(s\) loaded, 0 skipped, 0 failed; ", out, re.M), out
    assert f"journal:  {data / 'flatload.duckdb'}" in out
    assert "example query:" in out
    table = out.split("example query:", 1)[1]
    # polars' table: rows between "│" borders, cells split by "┆"
    cells = [[c.strip() for c in line.strip().strip("│").split("┆")] for line in table.splitlines()
             if line.startswith("│")]
    assert cells[0][:2] == ["symbol", "trade_date"], table
    symbols = {row[0] for row in cells[1:]}
    assert {"TpC", "TPC", "AAPL", "BRK.B"} <= symbols, table
    sessions = re.search(r"^sessions: (.*) \(early close: (\S+)\)$", out, re.M)
    assert sessions, out
    days = sessions.group(1).split(", ")
    assert sessions.group(2) in days
    for sym in ("TpC", "TPC"):
        assert sorted(row[1] for row in cells[1:] if row[0] == sym) == sorted(days)
    assert (data / "flatload.duckdb").exists() and list((data / "parquet").rglob("part-0.parquet"))
