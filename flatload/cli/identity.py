"""``flatload tickers`` and ``flatload universe``: who a ticker is, and a universe as it was on each date."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from ..config.table import flag_help
from .exits import handle_errors
from .options import parse_date, settings_from, store_options, symbols_filter_file_option, symbols_from


@click.command()
@click.option("--symbols", default=None, help="Read the ticker changes of these tickers' share classes only "
                                              "(comma-separated, case-sensitive) [all]")
@symbols_filter_file_option
@click.option("--market", type=click.Choice(["stocks", "otc", "indices", "crypto", "fx"]), default="stocks",
              show_default=True, help="Whose tickers")
@click.option("--no-events", is_flag=True,
              help="The reference only (one listing, no call per share class): delistings and recycled tickers "
                   "are kept apart, renames are not followed")
@click.option("--rest-url", default=None, help=flag_help("rest_url", "REST base URL"))
@click.option("--rest-rpm", type=click.IntRange(min=1), default=None,
              help=flag_help("rest_rpm", "Client-side REST rate limit, requests/minute (free tier: 5)"))
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def tickers(symbols: str | None, symbols_file: Path | None, market: str, no_events: bool, verbose: bool,
            **opts: Any) -> None:
    """Load the ticker reference (active and delisted) and ticker changes from the REST API (MASSIVE_API_KEY).

    \b
    Tables: tickers, ticker_events; views: symbol_history (each share class's ticker on each date),
    journal_by_company (the journal with each row's company). `flatload refresh` keeps them current.
    """
    from ..analysis.tickers import load_tickers

    wanted = symbols_from(symbols, symbols_file)
    if symbols is not None and wanted is None:
        raise click.UsageError("--symbols names no symbol")
    click.echo(load_tickers(settings_from(**opts), wanted, market, events=not no_events).line())


@click.command()
@click.option("--on", "on_date", callback=parse_date, default=None, metavar="DATE", help="The members on this date")
@click.option("--start", callback=parse_date, default=None, metavar="DATE",
              help="With --end: everyone who was a member on any session of the range (a symbols file for a load)")
@click.option("--end", callback=parse_date, default=None, metavar="DATE", help="Last date of the range [--start]")
@click.option("--symbols", default=None, help="Today's names of the companies (comma-separated): what they were "
                                              "named then [every listing of --type]")
@symbols_filter_file_option
@click.option("--type", "types", default="CS", show_default=True,
              help="Without symbols: the listings' types, comma-separated (CS common stock, ETF, ADRC, PFD)")
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def universe(on_date: dt.date | None, start: dt.date | None, end: dt.date | None, symbols: str | None,
             symbols_file: Path | None, types: str, verbose: bool, **opts: Any) -> None:
    """Print a universe as it was, one symbol per line, delisted names included (needs flatload tickers).

    \b
    flatload universe --on 2020-03-02                     # every common stock listed that day
    flatload universe --start 2020-01-02 --end 2024-12-31 > members.txt
    flatload load --start 2020-01-02 --end 2024-12-31 --symbols-file members.txt
    flatload universe --on 2022-01-03 --symbols META      # FB
    """
    from ..analysis.identity import members

    if (on_date is None) == (start is None):
        raise click.UsageError("give --on DATE, or --start DATE [--end DATE]")
    lo, hi = (on_date, on_date) if on_date is not None else (start, end or start)
    if hi < lo:  # type: ignore[operator]
        raise click.UsageError(f"--end {hi} is before --start {lo}")
    wanted = symbols_from(symbols, symbols_file)
    kinds = [t.strip() for t in types.split(",") if t.strip()]
    days = [on_date] if on_date is not None else None
    found = members(settings_from(**opts), lo, hi, wanted, kinds, days)  # type: ignore[arg-type]
    for symbol in sorted({s for names in found.values() for s in names}):
        click.echo(symbol)
