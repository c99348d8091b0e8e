"""What a new user meets on the command line: messages that name the fix, honest exit codes, bounded output."""
from __future__ import annotations

import datetime as dt
import os
import re

import click
import pytest
from click.testing import CliRunner

from flatload import calendar
from flatload.cli import cli
from flatload.cli.exits import handle_errors
from flatload.settings import cores
from tests.helpers.days import DST_SPRING
from tests.helpers.store import mkey, upload_days

D1, D2 = DST_SPRING
CLEAN_ENV = {k: None for k in os.environ if k.startswith("FLATLOAD_")} | {"MASSIVE_API_KEY": None,
                                                                          "POLYGON_API_KEY": None}


def run(*args: str, env: dict | None = None):
    return CliRunner(env={**CLEAN_ENV, **(env or {})}).invoke(cli, list(args))


def src(s3_endpoint: str, bucket: str, data) -> list[str]:
    return ["--endpoint-url", s3_endpoint, "--bucket", bucket, "--data-dir", str(data), "--workers", "1"]


@pytest.mark.parametrize("var, value, message", [
    ("FLATLOAD_WORKERS", "abc", "FLATLOAD_WORKERS: expected a whole number, got 'abc' (fix or unset FLATLOAD_WORKERS)"),
    ("FLATLOAD_LOCK_TIMEOUT", "soon", "FLATLOAD_LOCK_TIMEOUT: expected a number, got 'soon' (fix or unset "
                                      "FLATLOAD_LOCK_TIMEOUT)"),
    ("FLATLOAD_REST_RPM", "5/min", "FLATLOAD_REST_RPM: expected a whole number, got '5/min' (fix or unset "
                                   "FLATLOAD_REST_RPM)"),
])
def test_a_bad_environment_value_names_the_variable(tmp_path, var, value, message):
    result = run("load", f"--start={D1}", f"--end={D2}", "--data-dir", str(tmp_path / "d"), env={var: value})
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


@pytest.mark.parametrize("command", [["status"], ["gaps"], ["gaps", "--start", "2024-03-01", "--end", "2024-03-08"]])
def test_reports_on_a_directory_that_does_not_exist_say_so(tmp_path, command):
    typo = tmp_path / "flatlaod-data"
    result = run(*command, "--data-dir", str(typo))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {typo}: no such data directory (check --data-dir / FLATLOAD_DATA_DIR "
                             "(flatload load creates it))\n")


def test_data_dir_that_is_a_file_exits_2_naming_it(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("oops")
    result = run("load", f"--start={D1}", f"--end={D1}", "-q", *src(s3_endpoint, bucket, not_a_dir))
    assert (result.exit_code, result.stderr) == (
        2, f"Error: {not_a_dir}: the data directory is a file (point --data-dir at a directory (or move that file "
           "away))\n")


def test_symbols_that_match_nothing_are_named_with_a_case_hint(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=12)
    result = run("load", f"--start={D1}", f"--end={D2}", "--symbols", "AAPL,tpc,ZZZZ",
                 *src(s3_endpoint, bucket, tmp_path / "d"))
    assert result.exit_code == 0, result.output
    warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("warning: symbol")]
    assert warnings == [
        "warning: symbol ZZZZ matched nothing in the 2 session(s) loaded",
        "warning: symbol tpc matched nothing in the 2 session(s) loaded (did you mean TPC or TpC? tickers are "
        "case-sensitive)",
    ]


def test_more_workers_than_cores_is_accepted_with_a_reason(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)
    too_many = cores() + 2
    args = ["load", f"--start={D1}", f"--end={D1}", *src(s3_endpoint, bucket, tmp_path / "d")[:-2],
            "--workers", str(too_many)]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert (f"--workers {too_many} is more than the {cores()} core(s) here: each worker parses on a core of its "
            f"own, so extra workers only compete for them and the load runs slower; use --workers {cores()}"
            ) in result.stderr


@click.command()
@click.option("--verbose", "-v", is_flag=True)
@handle_errors
def _buggy(verbose: bool) -> None:
    """A command with a bug in it, handled like every flatload command."""
    raise RuntimeError("list index out of range")


def test_verbose_shows_the_traceback_and_does_not_ask_for_verbose():
    quiet = CliRunner().invoke(_buggy, [])
    assert (quiet.exit_code, quiet.stderr) == (1, "Error: unexpected RuntimeError: list index out of range (rerun "
                                                  "with --verbose for the traceback, and report it)\n")
    loud = CliRunner().invoke(_buggy, ["--verbose"])
    assert loud.exit_code == 1 and "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.splitlines()[-1] == ("Error: unexpected RuntimeError: list index out of range (report it "
                                            "with the traceback above)")
    assert "--verbose" not in loud.stderr


def test_a_journal_file_that_is_not_duckdb_names_the_file(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)
    data = tmp_path / "d"
    data.mkdir()
    (data / "flatload.duckdb").write_bytes(b"this is not a database" * 100)
    result = run("load", f"--start={D1}", f"--end={D1}", "-q", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {data / 'flatload.duckdb'}: not a DuckDB database file (move it away (flatload "
                             "makes a new one) or point --data-dir at the right store)\n")


def test_dry_run_exits_as_the_real_run_would(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)  # D2 has no files
    args = ["load", f"--start={D1}", f"--end={D2}", "--no-rest", "--dry-run", *src(s3_endpoint, bucket, tmp_path / "d")]
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert f"fail    {D2}: {mkey(D2)}: no flat file in the bucket" in result.stdout
    assert not (tmp_path / "d").exists()


def test_gaps_defaults_to_the_last_30_sessions(tmp_path):
    (tmp_path / "d").mkdir()
    result = run("gaps", "--json", "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 1
    import json
    report = json.loads(result.stdout)
    latest = calendar.latest_closed_session()
    assert report["end"] == latest.isoformat() and report["sessions"] == 31
    assert report["start"] == calendar.previous_sessions(latest, 30)[0].isoformat()


def test_help_says_what_is_required_and_explains_every_option():
    load_help = run("load", "--help").stdout
    assert re.search(r"--start DATE\s+First date, YYYY-MM-DD\s+\[required unless\s+--pairs\]", load_help)
    assert re.search(r"--end DATE\s+Last date \(inclusive\), YYYY-MM-DD\s+\[required\s+unless --pairs\]", load_help)
    for command in ("demo", "load", "refresh", "status", "gaps", "datasets", "sql"):
        text = run(command, "--help").stdout
        options = re.findall(r"^  (-\w, )?(--[\w-]+)( [A-Z]+| \[[^\]]+\]| \w+)?\s*(.*)$", text, re.M)
        undocumented = [o[1] for o in options if not o[3].strip()]
        assert undocumented == [], (command, undocumented)


@pytest.mark.parametrize(("start", "end", "what"), [("2024-03-09", "2024-03-10", "a weekend"),
                                                     ("2024-07-04", "2024-07-04", "a holiday")])
def test_a_range_without_a_session_says_so(tmp_path, s3_endpoint, bucket, start, end, what):
    result = run("load", f"--start={start}", f"--end={end}", "--no-rest", "-q",
                 *src(s3_endpoint, bucket, tmp_path / "d"))
    assert result.exit_code == 0, what
    assert result.stderr == f"note: stocks: {start}..{end} holds no session (XNYS sessions, New York): nothing to load\n"
    assert result.stdout.startswith("load: 0 day(s) loaded, 0 skipped, 0 failed;")


def test_a_30_year_range_is_clipped_and_summarized(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)
    data = tmp_path / "d"
    result = run("load", "--start=1995-01-01", "--end=2030-12-31", "--no-rest", "-q", *src(s3_endpoint, bucket, data))
    assert result.exit_code == 1
    latest = calendar.latest_closed_session()
    lines = result.stderr.splitlines()
    assert lines[0] == ("note: stocks: 1995-01-01..2003-09-09 is before the first stocks flat file (2003-09-10): "
                        "not loaded")
    assert lines[1] == (f"note: stocks: {latest + dt.timedelta(days=1)}..2030-12-31 has not closed yet "
                        f"(latest complete day: {latest}): not loaded")
    failed = [ln for ln in lines if ln.startswith("failed ")]
    n_before = len(calendar.sessions(dt.date(2003, 9, 10), D1 - dt.timedelta(days=1)))
    assert failed[0] == (f"failed {n_before:,} days 2003-09-10..{calendar.previous_sessions(D1, 1)[0]}: no flat "
                         "file in the bucket (drop --no-rest to fill it from REST, or the vendor has no file for "
                         "this day; `flatload datasets --remote` shows what the bucket holds)")
    assert len(failed) == 4  # before D1; after D1 up to the two latest sessions; each of the two latest sessions
    assert "rerun after the vendor publishes it" in failed[-1] and failed[-1].startswith("failed ")
    assert len(lines) < 10
    status = run("status", "--data-dir", str(data))
    assert status.exit_code == 0 and len(status.stdout.splitlines()) < 20
    assert "days)" in status.stdout  # the failed days, as ranges
    full = run("status", "--json", "--data-dir", str(data))
    import json
    assert len(json.loads(full.stdout)["failed_days"]) == 2 * (len(calendar.sessions(dt.date(2003, 9, 10), latest)) - 1)


@pytest.mark.parametrize("symbols", ["AAPL,'; drop table journal;--", "ÄPPL", "AAPL,BRK B"])
def test_a_symbol_that_is_not_a_ticker_is_refused_as_the_api_refuses_it(tmp_path, symbols):
    from flatload.universe import ticker_problem

    bad = next(s.strip() for s in symbols.split(",") if ticker_problem(s.strip()))
    result = run("load", f"--start={D1}", f"--end={D1}", "--symbols", symbols, "--data-dir", str(tmp_path / "d"))
    assert (result.exit_code, result.stderr) == (2, f"Error: --symbols: {bad!r} is not a ticker (letters, digits and "
                                                    ". : _ / - only) (list tickers separated by commas, like "
                                                    "AAPL,BRK.B,TpC)\n")
    assert not (tmp_path / "d").exists()
    for fine in ("ABRpD,BRK.A,TpC", "O:SPY230327P00390000,I:SPX,X:BTCUSD"):
        assert ticker_problem(fine.split(",")[0]) is None
