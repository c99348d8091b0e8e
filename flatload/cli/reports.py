"""``flatload status`` and ``gaps``: read-only reports, as text or JSON."""
from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click

from .exits import handle_errors
from .options import dataset_option, parse_date, resolved_from, settings_from, source_options, store_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many runs, and how many lines of failed and suspect days (--json has them all)")
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def status(as_json: bool, limit: int, verbose: bool, **opts: Any) -> None:
    """Recent runs, the live progress of a running one, and the last error of each failed day."""
    from ..reports import status as status_report
    from .render import render_status

    report = status_report(settings_from(**opts), limit)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_status(report))


@click.command()
@click.option("--start", callback=parse_date, default=None, metavar="DATE",
              help="First date, YYYY-MM-DD  [30 sessions before --end]")
@click.option("--end", callback=parse_date, default=None, metavar="DATE",
              help="Last date (inclusive), YYYY-MM-DD  [the latest closed session]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@dataset_option()
@store_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def gaps(start: dt.date | None, end: dt.date | None, dataset: str | None, as_json: bool, verbose: bool,
         **opts: Any) -> None:
    """Every day in range of each dataset: from flat files, from REST, suspect, failed, or missing.

    Exits 0 when every day is loaded, 1 otherwise.
    """
    from ..reports import gaps as gaps_report
    from .render import render_gaps

    if start and end and end < start:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    resolved = resolved_from(dataset=dataset, **opts)
    report = gaps_report(start, end, resolved.settings, resolved.value("datasets"))
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_gaps(report))
    sys.exit(0 if report["complete"] else 1)



@click.command()
@click.option("--remote", is_flag=True, help="Also list what the bucket really holds (unknown folders marked)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@store_options
@source_options
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def datasets(remote: bool, as_json: bool, verbose: bool, **opts: Any) -> None:
    """The datasets flatload loads: key prefix, columns, calendar, first file, and what is loaded here."""
    from ..reports import datasets as datasets_report
    from .render import render_datasets

    settings = settings_from(**opts)
    if remote and settings.mirror is None:
        from ..fetch.s3 import ensure_credentials

        ensure_credentials(settings)
    report = datasets_report(settings, remote=remote)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render_datasets(report))
