"""``flatload sql``, ``bars`` and ``corporate-actions``: the analyst's commands."""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..datasets import REGISTRY
from .exits import handle_errors
from ..config.table import flag_help
from .options import parse_date, settings_from, store_options, symbols_filter_file_option, symbols_from

FORMATS = ["table", "csv", "json", "parquet"]
#: the families with minute bars, from the registry (a dataset added there is a --dataset choice at once)
FAMILIES = list(dict.fromkeys(d.family.name for d in REGISTRY.values() if d.kind == "minute_aggs"))
lock_option = click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
                           help=flag_help("lock_timeout", "Seconds to wait while a load commits"))


@click.command()
@click.argument("sql_text", metavar="[QUERY]", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="Output format")
@lock_option
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def sql(sql_text: str | None, fmt: str, verbose: bool, **opts: Any) -> None:
    """Query the store read-only (views pointed at it), or open the duckdb CLI on it.

    \b
    flatload sql "SELECT * FROM journal_features WHERE symbol = 'AAPL' ORDER BY trade_date"
    flatload sql "SELECT * FROM bars('AAPL', DATE '2024-03-04', DATE '2024-03-08', INTERVAL 5 MINUTE, 'regular')"
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


def _format(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else the one ``--out``'s suffix names, else a table on a terminal and CSV in a pipe."""
    from .render import SUFFIX_FORMATS

    if fmt is not None:
        if fmt == "parquet" and out is None:
            raise click.UsageError("--format parquet writes a file: add --out FILE.parquet")
        return fmt
    if out is not None:
        if out.suffix and out.suffix.lower() not in SUFFIX_FORMATS:  # CSV in a.xlsx would open as garbage
            known = ", ".join(sorted(SUFFIX_FORMATS))
            raise click.UsageError(f"--out {out}: bars writes {known} files, not {out.suffix}; name the file with "
                                   f"one of those suffixes, or say --format csv to write CSV under that name")
        return SUFFIX_FORMATS.get(out.suffix.lower(), "csv")
    return "table" if sys.stdout.isatty() else "csv"


@click.command()
@click.argument("symbol")
@click.option("--start", callback=parse_date, required=True, metavar="DATE", help="First trade date, YYYY-MM-DD")
@click.option("--end", callback=parse_date, default=None, metavar="DATE",
              help="Last trade date (inclusive) [--start]")
@click.option("--every", default="1m", show_default=True, metavar="WIDTH",
              help="Bar width: <n>m or <n>h (1m 5m 15m 30m 1h 4h), 1d (a bar per session) or 1w (ISO week)")
@click.option("--session", type=click.Choice(["regular", "extended", "all"]), default=None,
              help="regular [open, close); extended: pre-market and after-hours; all [04:00, close + 4 h) "
                   "[regular; all for crypto and forex]")
@click.option("--adjust", type=click.Choice(["none", "splits", "all"]), default="none", show_default=True,
              help="Stocks: adjust for splits, or splits and cash dividends (needs flatload corporate-actions)")
@click.option("--indicators", default=None, metavar="SPEC",
              help="TA-Lib indicators, e.g. sma:20,ema:9,rsi:14,macd,bbands:20,atr:14,vwap")
@click.option("--dataset", type=click.Choice(FAMILIES), default="stocks", show_default=True,
              help="Whose minute bars")
@click.option("--day-source", type=click.Choice(["minutes", "day-file"]), default="minutes", show_default=True,
              help="1d bars from the session's minute bars, or the vendor's day file (official close, the whole "
                   "day's volume: the journal's values)")
@click.option("--follow-renames", is_flag=True,
              help="SYMBOL is a company: its bars under every ticker it had (FB, then META), never another "
                   "company's that reused one (needs flatload tickers)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format [table on a terminal, else csv; with --out, the file's suffix]")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write to this file instead of the terminal")
@lock_option
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def bars(symbol: str, start: dt.date, end: dt.date | None, every: str, session: str | None, adjust: str,
         indicators: str | None, dataset: str, day_source: str, follow_renames: bool, fmt: str | None,
         out: Path | None, verbose: bool, **opts: Any) -> None:
    """Bars of SYMBOL at any timeframe from the loaded minute bars.

    \b
    flatload bars AAPL --start 2024-03-04 --end 2024-03-08 --every 5m
    flatload bars AAPL --start 2024-01-02 --end 2024-06-28 --every 1d --adjust splits \\
        --indicators sma:20,rsi:14,atr:14 --out aapl.csv
    flatload bars X:BTCUSD --dataset crypto --start 2024-03-09 --every 1h

    Times are the bar's start in the dataset's zone (New York; UTC for crypto and forex).
    vwap = sum(typical x volume) / sum(volume) over the bar's minutes, typical = (high+low+close)/3:
    flat files carry no per-minute VWAP.
    """
    from ..analysis.bars import bars as make_bars
    from .render import frame_text, iso_times, write_frame

    fmt = _format(fmt, out)
    settings = settings_from(**opts)
    frame = make_bars(symbol, start, end or start, every=every, session=session, adjust=adjust,
                      indicators=indicators, dataset=dataset, settings=settings, day_source=day_source,
                      follow_renames=follow_renames)
    if every == "1d":  # the two sources differ by design (close, volume): say which one this is
        click.echo("note: 1d bars from the vendor's day file" if day_source == "day-file" else
                   f"note: 1d bars from the {session or 'default'} session's minute bars (--day-source day-file for "
                   f"the vendor's day bars, as in the journal)", err=True)
    if out is not None:
        write_frame(frame, fmt, out)
        click.echo(f"{frame.height} bar(s) written to {out}", err=True)
        return
    click.echo(frame_text(iso_times(frame), fmt).rstrip("\n"))


@click.command("corporate-actions")
@click.option("--symbols", default=None, help="Comma-separated tickers (case-sensitive) [all]")
@symbols_filter_file_option
@click.option("--rest-url", default=None, help=flag_help("rest_url", "REST base URL"))
@click.option("--rest-rpm", type=click.IntRange(min=1), default=None,
              help=flag_help("rest_rpm", "Client-side REST rate limit, requests/minute (free tier: 5)"))
@lock_option
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def corporate_actions(symbols: str | None, symbols_file: Path | None, verbose: bool, **opts: Any) -> None:
    """Load splits and dividends from the REST API (MASSIVE_API_KEY) into the store, for --adjust.

    What the store held for these symbols is replaced, so the vendor's corrections arrive too;
    `flatload refresh` keeps them current afterwards.
    """
    from ..analysis.corporate_actions import load_corporate_actions

    wanted = symbols_from(symbols, symbols_file)
    if symbols is not None and wanted is None:
        raise click.UsageError("--symbols names no symbol")
    result = load_corporate_actions(settings_from(**opts), wanted)
    click.echo(result.line())
