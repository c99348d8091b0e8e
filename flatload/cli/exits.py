"""Where library errors become exit codes and one-line messages; the summary printer.

Exit codes: 0 all requested sessions loaded; 1 some days failed (the rest loaded);
2 usage or configuration error; 3 the DuckDB journal is held by another process;
4 another flatload run holds the data directory; 5 the data directory cannot be
written (read-only, permission denied, disk full); 6 the sync target did not
answer or is busy (rerun later); 7 the sync target refused the login or the
privileges; 8 the sync target's database, table or columns do not fit the journal;
130/143 interrupted by SIGINT/SIGTERM after committing finished days.
"""
from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from ..errors import FlatloadError

EXIT_CODES = {0: "every requested session loaded", 1: "partial: some days failed, the rest loaded",
              2: "usage or configuration error", 3: "the DuckDB journal is held by another process",
              4: "another flatload run holds the data directory",
              5: "the data directory cannot be written (read-only, permission denied, disk full)",
              6: "sync: the target did not answer or is busy (rerun later)",
              7: "sync: the target refused the login (bad credentials) or the privileges",
              8: "sync: the target's database, table or columns do not fit the journal",
              130: "interrupted (SIGINT)",
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
        except OSError as exc:  # the environment, not flatload: say which file and what the system said
            if verbose:
                traceback.print_exc()
            where = f"{exc.filename}: " if exc.filename else ""
            err = click.ClickException(f"{where}{exc.strerror or exc} (a file-system problem: fix it and rerun)")
            err.exit_code = 5
            raise err from None
        except Exception as exc:  # a bug: still one line
            if verbose:
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else ""
            next_step = "report it with the traceback above" if verbose else \
                "rerun with --verbose for the traceback, and report it"
            raise click.ClickException(f"unexpected {type(exc).__name__}: {first} ({next_step})") from None
    return wrapper


def finish(summary: Any, dry_run: bool, quiet: bool, followups: Any = None) -> None:
    """Print the plan (dry run) or the summary and what followed the load, then exit: with the run's code (a
    dry run: the code the run would have), or, when the load loaded everything, a failed sync's."""
    if dry_run:
        click.echo("\n".join(summary.plan.lines() if summary.plan else []))
        for line in summary.bad_input:
            click.echo(f"bad input {line}", err=True)
        sys.exit(summary.exit_code)
    report(summary, quiet)
    if followups is None:
        sys.exit(summary.exit_code)
    for line in followups.lines:
        click.echo(line)
    for line in followups.warnings:
        click.echo(f"warning: {line}", err=True)
    if followups.sync_error is not None:
        click.echo(f"Error: {followups.sync_error.one_line()}", err=True)
        sys.exit(summary.exit_code or followups.sync_error.exit_code)
    sys.exit(summary.exit_code)


def report(summary: Any, quiet: bool) -> None:
    """The summary: the headline on stdout, failures and warnings on stderr."""
    lines = summary.lines()
    click.echo(lines[0])
    for line in lines[1:]:
        click.echo(line, err=True)
    if not quiet:
        for w in summary.warnings[:20]:
            click.echo(f"warning: {w}", err=True)
        if len(summary.warnings) > 20:
            click.echo(f"warning: … and {len(summary.warnings) - 20} more (see flatload status --json)", err=True)
