"""The ``flatload`` command: thin Click commands, each calling one library function.

Exit codes: 0 all requested sessions loaded; 1 some days failed (the rest loaded);
2 usage or configuration error; 3 the DuckDB journal is held by another process;
4 another flatload run holds the data directory; 130/143 interrupted by
SIGINT/SIGTERM after committing finished days.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import FlatloadError
from .settings import Settings, parse_symbols

EXIT_CODES = {0: "every requested session loaded", 1: "partial: some days failed, the rest loaded",
              2: "usage or configuration error", 3: "the DuckDB journal is held by another process",
              4: "another flatload run holds the data directory", 130: "interrupted (SIGINT)",
              143: "terminated (SIGTERM)"}


class FlatloadClickError(click.ClickException):
    """A domain error shown as one line, with the exit code its class documents."""

    def __init__(self, err: FlatloadError) -> None:
        super().__init__(err.one_line())
        self.exit_code = err.exit_code


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one-line Click errors; ``--verbose`` adds the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = kwargs.get("verbose", False)
        try:
            return fn(*args, **kwargs)
        except FlatloadError as err:
            if verbose:
                traceback.print_exc()
            raise FlatloadClickError(err) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug or an environment failure (disk full): still one line
            if verbose:
                traceback.print_exc()
            raise click.ClickException(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                       " (rerun with --verbose for the traceback, and report it)") from None
    return wrapper


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-11", param=param) from None


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir."""
    return click.option("--data-dir", type=click.Path(path_type=Path), envvar="FLATLOAD_DATA_DIR",
                        default=None, help="Holds flatload.duckdb and parquet/ [env FLATLOAD_DATA_DIR; ./flatload-data]")(fn)


def _group(*options: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator applying ``options`` so that --help lists them in the order given."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


#: where flat files come from
source_options = _group(
    click.option("--endpoint-url", default=None, help="S3 endpoint [env FLATLOAD_ENDPOINT_URL; https://files.massive.com]"),
    click.option("--bucket", default=None, help="S3 bucket [env FLATLOAD_BUCKET; flatfiles]"),
    click.option("--profile", default=None, help="AWS profile holding the flat-files keys"),
    click.option("--mirror", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Read a local directory laid out like the bucket instead of S3"),
)

#: the REST fallback
rest_options = _group(
    click.option("--rest-url", default=None, help="REST base URL [env FLATLOAD_REST_URL; https://api.massive.com]"),
    click.option("--no-rest", is_flag=True, help="Never fall back to the REST API for missing files"),
    click.option("--rest-rpm", type=click.IntRange(min=1), default=None,
                 help="Client-side REST rate limit, requests/minute (free tier: 5)"),
)

#: how a load runs
run_options = _group(
    click.option("--symbols", default=None, help="Comma-separated tickers (case-sensitive) [env FLATLOAD_SYMBOLS]"),
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes [cores, capped by memory]"),
    click.option("--force", is_flag=True, help="Reload even when the ledger has the same ETag"),
    click.option("--dry-run", is_flag=True, help="Print the plan and write nothing"),
    click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
                 help="Seconds to wait for a DuckDB file held by another process [60]"),
    click.option("--quiet", "-q", is_flag=True, help="No progress, only the summary and errors"),
    click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs"),
)


def _settings(**opts: Any) -> Settings:
    symbols = parse_symbols(opts.pop("symbols", None))
    no_rest = opts.pop("no_rest", False)
    return Settings.from_env(symbols=symbols, use_rest=False if no_rest else None, **opts)


def _setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s flatload %(levelname)s %(message)s")
    if not verbose:
        for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _finish(summary: Any, dry_run: bool, quiet: bool) -> None:
    """Print the plan (dry run) or the summary, and exit with the run's code."""
    if dry_run:
        click.echo("\n".join(summary.plan.lines() if summary.plan else []))
        for line in summary.bad_input:
            click.echo(f"bad input {line}", err=True)
        return
    _report(summary, quiet)
    sys.exit(summary.exit_code)


def _report(summary: Any, quiet: bool) -> None:
    lines = summary.lines()
    click.echo(lines[0])
    for line in lines[1:]:
        click.echo(line, err=True)
    if not quiet:
        for w in summary.warnings[:20]:
            click.echo(f"warning: {w}", err=True)
        if len(summary.warnings) > 20:
            click.echo(f"warning: … and {len(summary.warnings) - 20} more (see flatload status --json)", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flatload")
def cli() -> None:
    """Load Polygon.io / Massive S3 flat files into Parquet and a DuckDB journal.

    \b
    Exit codes: 0 all loaded; 1 some days failed; 2 usage/config error;
    3 DuckDB journal locked by another process; 4 another run holds the data dir;
    130/143 interrupted (rerun to resume).
    """


@cli.command()
@click.option("--start", callback=_date, default=None, help="First date, YYYY-MM-DD")
@click.option("--end", callback=_date, default=None, help="Last date (inclusive), YYYY-MM-DD")
@click.option("--pairs", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="CSV with symbol,trade_date: load those sessions; its symbols are the REST scope")
@store_options
@source_options
@rest_options
@run_options
@handle_errors
def load(start: dt.date | None, end: dt.date | None, pairs: Path | None, quiet: bool, verbose: bool,
         **opts: Any) -> None:
    """Load every NYSE session from --start to --end (minute + day aggregates), or those in --pairs."""
    from .pipeline import load as load_days
    from .pipeline import load_pairs
    from .progress import default_reporter

    if pairs is None and (start is None or end is None):
        raise click.UsageError("give --start and --end, or --pairs FILE")
    if pairs is not None and (start is not None or end is not None):
        raise click.UsageError("--pairs names its own dates: drop --start/--end")
    _setup_logging(quiet, verbose)
    settings = _settings(**opts)
    if pairs is not None:
        summary = load_pairs(pairs, settings, default_reporter(quiet), handle_signals=True)
    else:
        summary = load_days(start, end, settings, default_reporter(quiet), handle_signals=True)
    _finish(summary, settings.dry_run, quiet)


@cli.command()
@click.option("--date", "date_", callback=_date, default=None, help="Session to load [the latest closed session]")
@click.option("--lookback", type=click.IntRange(min=0), default=5, show_default=True,
              help="Also re-check this many sessions before it")
@store_options
@source_options
@rest_options
@run_options
@handle_errors
def refresh(date_: dt.date | None, lookback: int, quiet: bool, verbose: bool, **opts: Any) -> None:
    """Load the latest closed session and re-check recent ones (for cron)."""
    from .pipeline import refresh as refresh_days
    from .progress import default_reporter

    _setup_logging(quiet, verbose)
    settings = _settings(**opts)
    # cron wants one summary line: a bar only on a terminal, no periodic log lines
    reporter = default_reporter(quiet) if sys.stderr.isatty() else None
    summary = refresh_days(settings, date_, lookback, reporter, handle_signals=True)
    _finish(summary, settings.dry_run, quiet)


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("flatload-demo"), show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
@click.option("--verbose", "-v", is_flag=True)
@handle_errors
def demo(data_dir: Path, workers: int, quiet: bool, verbose: bool) -> None:
    """Load generated sample files from a local S3 server (no credentials, no network)."""
    from .demo import run_demo
    from .progress import default_reporter

    _setup_logging(quiet, verbose)
    result = run_demo(data_dir, workers, reporter=default_reporter(quiet))
    _report(result.summary, quiet)
    click.echo(f"sessions: {', '.join(map(str, result.sessions))} (early close: {result.early_close})")
    click.echo(f"journal:  {result.data_dir / 'flatload.duckdb'}")
    click.echo(f"parquet:  {result.data_dir / 'parquet'}")
    click.echo("\nexample query:\n" + result.query + "\n" + result.table)
    sys.exit(result.summary.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs")
@store_options
@click.option("--verbose", "-v", is_flag=True)
@handle_errors
def status(as_json: bool, limit: int, verbose: bool, **opts: Any) -> None:
    """Recent runs, the live progress of a running one, and the last error of each failed day."""
    from .report import render_status, status as status_report

    report = status_report(_settings(**opts), limit)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_status(report))


@cli.command()
@click.option("--start", required=True, callback=_date, help="First date, YYYY-MM-DD")
@click.option("--end", required=True, callback=_date, help="Last date (inclusive), YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@store_options
@click.option("--verbose", "-v", is_flag=True)
@handle_errors
def gaps(start: dt.date, end: dt.date, as_json: bool, verbose: bool, **opts: Any) -> None:
    """Every NYSE session in range: loaded from flat files, from REST, failed, or missing.

    Exits 0 when every session is loaded, 1 otherwise.
    """
    from .report import gaps as gaps_report, render_gaps

    if end < start:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    report = gaps_report(start, end, _settings(**opts))
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_gaps(report))
    sys.exit(0 if report["complete"] else 1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="flatload")


if __name__ == "__main__":
    main()
