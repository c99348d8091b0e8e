"""``flatload load``, ``refresh`` and ``demo``: each parses its options and calls one library function."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from .exits import finish, handle_errors, report
from .options import (
    option_group,
    dataset_option,
    parse_date,
    resolved_from,
    rest_options,
    run_options,
    setup_logging,
    source_options,
    store_options,
)
from .sync import sync_options

#: what a load takes: the datasets, the store, the source, REST, how it runs, the sync after it
load_options = option_group(dataset_option(), store_options, source_options, rest_options, run_options, sync_options)


@click.command()
@click.option("--start", callback=parse_date, default=None, metavar="DATE",
              help="First date, YYYY-MM-DD  [required unless --pairs]")
@click.option("--end", callback=parse_date, default=None, metavar="DATE",
              help="Last date (inclusive), YYYY-MM-DD  [required unless --pairs]")
@click.option("--pairs", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="CSV with symbol,trade_date: load those sessions instead; its symbols are the REST scope")
@load_options
@click.option("--run-id", default=None, hidden=True, help="Name the run (for a program that starts it and follows it)")
@handle_errors
def load(start: dt.date | None, end: dt.date | None, pairs: Path | None, dataset: str | None, quiet: bool,
         verbose: bool, run_id: str | None, **opts: Any) -> None:
    """Load every day from --start to --end of the datasets (default: stocks minute + day aggregates and the
    journal), or the sessions in --pairs."""
    from ..engine.api import load as load_days
    from ..engine.api import load_pairs
    from .progress import default_reporter

    if pairs is None and (start is None or end is None):
        raise click.UsageError("give --start and --end, or --pairs FILE")
    if pairs is not None and (start is not None or end is not None):
        raise click.UsageError("--pairs names its own dates: drop --start/--end")
    if pairs is not None and dataset not in (None, "stocks/minute_aggs,stocks/day_aggs"):
        raise click.UsageError("--pairs loads the stocks journal: drop --dataset")
    setup_logging(quiet, verbose)
    resolved = resolved_from(scope=True, dataset=dataset, **opts)
    settings = resolved.settings
    if pairs is not None:  # the stocks journal, whatever run.datasets says
        summary = load_pairs(pairs, settings, default_reporter(quiet), handle_signals=True)
    else:
        summary = load_days(start, end, settings, default_reporter(quiet), datasets=resolved.value("datasets"),
                            handle_signals=True, run_id=run_id)
    from ..followups import after_load

    finish(summary, settings.dry_run, quiet, after_load(summary, settings))


@click.command()
@click.option("--date", "date_", callback=parse_date, default=None, help="Session to load [the latest closed session]")
@click.option("--lookback", type=click.IntRange(min=0), default=5, show_default=True,
              help="Also re-check this many days before it")
@load_options
@handle_errors
def refresh(date_: dt.date | None, lookback: int, dataset: str | None, quiet: bool, verbose: bool,
            **opts: Any) -> None:
    """Load the latest complete day (the latest closed session for stocks) and re-check recent ones (for cron)."""
    from ..engine.api import refresh as refresh_days
    from .progress import default_reporter

    setup_logging(quiet, verbose)
    resolved = resolved_from(scope=True, dataset=dataset, **opts)
    settings = resolved.settings
    # cron wants one summary line: a bar only on a terminal, no periodic log lines
    reporter = default_reporter(quiet) if sys.stderr.isatty() else None
    summary = refresh_days(settings, date_, lookback, reporter, datasets=resolved.value("datasets"),
                           handle_signals=True)
    from ..followups import after_load

    finish(summary, settings.dry_run, quiet, after_load(summary, settings, corporate_actions=True))


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("flatload-demo"), show_default=True,
              help="Where the demo store goes (a fresh directory is best)")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes")
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the summary")
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs")
@handle_errors
def demo(data_dir: Path, workers: int, quiet: bool, verbose: bool) -> None:
    """Load generated sample files from a local S3 server (no credentials, no network)."""
    from ..demo import run_demo
    from ..store.store import Store
    from .progress import default_reporter

    setup_logging(quiet, verbose)
    result = run_demo(data_dir, workers, reporter=default_reporter(quiet))
    report(result.summary, quiet)
    click.echo(f"sessions: {', '.join(map(str, result.sessions))} (early close: {result.early_close})")
    store = Store(result.data_dir)
    click.echo(f"journal:  {store.db_path}")
    click.echo(f"parquet:  {store.parquet_root}")
    click.echo("\nexample query:\n" + result.query + "\n" + result.table)
    sys.exit(result.summary.exit_code)
