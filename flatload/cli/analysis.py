"""``flatload sql``: read-only SQL on the store, with the views pointed at it."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from .exits import handle_errors
from .options import settings_from, store_options


@click.command()
@click.argument("sql_text", metavar="[QUERY]", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="Output format")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
              help="Seconds to wait while a load commits [60]")
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def sql(sql_text: str | None, fmt: str, verbose: bool, **opts: Any) -> None:
    """Query the store read-only (views pointed at it), or open the duckdb CLI on it.

    \b
    flatload sql "SELECT * FROM journal WHERE symbol = 'AAPL' ORDER BY trade_date"
    echo "SELECT count(*) FROM minute_bars" | flatload sql --format csv
    flatload sql            # the duckdb CLI (pip install duckdb-cli), read-only
    """
    from ..analysis.sql import query, shell_command
    from .render import frame_text

    settings = settings_from(**opts)
    if sql_text is None and not sys.stdin.isatty():
        sql_text = sys.stdin.read()
    if sql_text is None or sql_text == "-":
        argv = shell_command(settings)
        os.execv(argv[0], argv)
    click.echo(frame_text(query(sql_text, settings), fmt).rstrip("\n"))
