"""``flatload sync``, and the sync that ``load``/``refresh --sync-to`` run after their commit.

Exit codes of a sync (``load --sync-to`` keeps the load's own when the load failed days):
0 synced (or nothing new); 1 the target refused the rows for another reason;
2 usage or configuration error; 3 the DuckDB journal is held by another process;
6 the target did not answer or is busy (transient: rerun later); 7 the target refused
the login or the privileges; 8 the target's database, table or columns do not fit.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from ..config.table import flag_help
from .exits import handle_errors
from .options import (
    parse_date,
    settings_from,
    setup_logging,
    store_options,
    symbols_filter_file_option,
    symbols_from,
)


@click.command()
@click.option("--to", "sync_to", default=None, metavar="URL",
              help=flag_help("sync_to", "The database: sqlite:///trading_journal.db or postgresql://user@host/db "
                                        "(password from the URL, PGPASSWORD or ~/.pgpass; never printed)"))
@click.option("--table", "sync_table", default=None, metavar="NAME",
              help=flag_help("sync_table", "Its table, schema.table on PostgreSQL"))
@click.option("--since", callback=parse_date, default=None, metavar="DATE", help="Only trade dates on or after DATE")
@click.option("--symbols", default=None, help="Only these tickers, comma-separated (case-sensitive) [all]")
@symbols_filter_file_option
@click.option("--columns", default=None, metavar="COLS",
              help="Journal columns to send, JOURNAL[=TARGET] comma-separated (symbol and trade_date always) "
                   "[all the metrics]")
@click.option("--create", is_flag=True, help="Create the table (and schema) when missing, with the journal's types")
@click.option("--full", is_flag=True, help="Send every chosen row, not only those loaded since the last sync")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Rows per target transaction [10000]")
@store_options
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
              help=flag_help("lock_timeout", "Seconds to wait while a load commits (or another program holds a "
                                             "SQLite target)"))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines, only the summary and errors")
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs")
@handle_errors
def sync(since: dt.date | None, symbols: str | None, symbols_file: Path | None, columns: str | None, create: bool,
         full: bool, batch_size: int | None, as_json: bool, quiet: bool, verbose: bool, **opts: Any) -> None:
    """Upsert the journal's new and changed rows into your own SQLite or PostgreSQL table.

    \b
    flatload sync --to sqlite:///trading_journal.db --table backfill_data --create
    flatload sync --to postgresql://trader@db/app --table journal.backfill_data --since 2024-01-01
    """
    from ..sync import DEFAULT_BATCH_SIZE
    from ..sync import sync as run_sync

    setup_logging(quiet, verbose)
    settings = settings_from(**opts)
    if not settings.sync_to:
        raise click.UsageError("give --to URL (or set FLATLOAD_SYNC_TO, or sync.to in flatload.toml)")
    wanted = symbols_from(symbols, symbols_file)
    summary = run_sync(settings.sync_to, settings.sync_table, settings, columns=columns, since=since,
                       symbols=wanted, create=create, full=full, batch_size=batch_size or DEFAULT_BATCH_SIZE)
    click.echo(json.dumps(summary.to_dict()) if as_json else summary.line())


def sync_options(fn: Any) -> Any:
    """``--sync-to`` / ``--sync-table`` for the commands that load."""
    fn = click.option("--sync-table", default=None, metavar="NAME",
                      help=flag_help("sync_table", "The table --sync-to writes"))(fn)
    return click.option("--sync-to", default=None, metavar="URL",
                        help=flag_help("sync_to", "After the load, sync the journal's new rows into this database "
                                                  "(as flatload sync --to)"))(fn)
