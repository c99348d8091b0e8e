"""The library entry points behind the CLI: load, refresh, load_pairs, and the shared run_days.

The parent plans (calendar, listing, ledger), feeds at most ``workers + 1`` days
to the pool, and commits finished days to DuckDB in short batches. A date counts
as loaded only once its Parquet partitions are in place and its journal rows and
ledger entries are committed together; a crash leaves the old state or the new.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from .. import calendar
from ..errors import ConfigError
from ..fetch import open_source
from ..settings import Settings
from ..store import db, fs, journal, partitions
from ..store.lock import run_lock
from ..store.runlog import RunLog
from .pairs import read_pairs
from .plan import dry_plan, list_objects, make_plan
from .progress import NullReporter, Reporter
from .runner import Runner
from .summary import LoadSummary


def load(start: dt.date, end: dt.date, settings: Settings, reporter: Reporter | None = None, *,
         handle_signals: bool = False) -> LoadSummary:
    """Load every NYSE session in ``[start, end]``; returns what was done, skipped and failed."""
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    days = calendar.sessions(start, end)
    # a session that has not closed yet has no file to look for: not a failure
    latest = calendar.latest_closed_session()
    future = [d for d in days if d > latest]
    days = [d for d in days if d <= latest]
    args = {"start": start, "end": end}
    if future:
        args["not_closed_yet"] = [d.isoformat() for d in future]
    summary = run_days(days, settings, reporter, command="load", arguments=args, handle_signals=handle_signals)
    summary.skipped.extend((d, "session has not closed yet") for d in future)
    return summary


def refresh(settings: Settings, date: dt.date | None = None, lookback: int = 5, reporter: Reporter | None = None,
            *, now: dt.datetime | None = None, handle_signals: bool = False) -> LoadSummary:
    """Load the latest closed session (or ``date``) and re-check the ``lookback`` sessions before it.

    Re-checking reloads objects whose ETag changed and upgrades REST rows whose flat file now exists.
    """
    if date is not None and not calendar.is_session(date):
        raise ConfigError(f"{date} is not an NYSE session", hint="pick a trading day, or omit --date")
    target = date or calendar.latest_closed_session(now)
    days = calendar.previous_sessions(target, lookback) + [target]
    args = {"date": target, "lookback": lookback}
    return run_days(days, settings, reporter, command="refresh", arguments=args, handle_signals=handle_signals)


def load_pairs(path: Path, settings: Settings, reporter: Reporter | None = None, *,
               handle_signals: bool = False) -> LoadSummary:
    """Load the sessions named in a ``symbol,trade_date`` file; its symbols are the REST scope.

    Bad lines and pairs whose symbol has no row that day are listed in the summary.
    """
    pairs = read_pairs(path)
    if not pairs.pairs:
        summary = LoadSummary(run_id="-", command="load", planned=0)
        summary.bad_input.extend(pairs.error_lines())
        return summary
    summary = run_days(pairs.dates, settings, reporter, command="load", handle_signals=handle_signals,
                       arguments={"pairs": str(path), "pairs_count": len(pairs.pairs)},
                       rest_scope=pairs.symbols_by_date(), bad_input=pairs.error_lines())
    if not settings.dry_run and settings.journal_path.exists():
        con = db.connect(settings.journal_path, settings.lock_timeout, read_only=True)
        try:
            summary.pairs_without_data = journal.pairs_without_rows(con, pairs.pairs)
        finally:
            con.close()
    return summary


def run_days(days: Sequence[dt.date], settings: Settings, reporter: Reporter | None = None, *,
             command: str = "load", arguments: dict | None = None, handle_signals: bool = False,
             rest_scope: dict[dt.date, frozenset[str]] | None = None,
             bad_input: list[str] | None = None) -> LoadSummary:
    """Plan and run a load of ``days``: the shared engine of load, refresh and pairs."""
    reporter = reporter or NullReporter()
    advice = settings.advice()
    for line in advice:
        reporter.note(line)
    arguments = {**(arguments or {}), "symbols": sorted(settings.symbols) if settings.symbols else None,
                 "force": settings.force, "workers": settings.workers}
    if settings.mirror is None:
        from ..fetch.s3 import ensure_credentials

        ensure_credentials(settings)
    if not settings.dry_run:
        fs.prepare_data_dir(settings.data_dir)
    # a dry run writes nothing, not even the lock file, and leaves temp files to the next real run
    with nullcontext() if settings.dry_run else run_lock(settings.data_dir, command):
        if not settings.dry_run:
            partitions.clean_temp(settings.parquet_dir)
            # a journal written by an older flatload in a newer DuckDB format becomes readable again
            db.ensure_storage_format(settings.journal_path, settings.lock_timeout)
        listing = list_objects(open_source(settings), settings.asset, days)
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        if settings.dry_run:
            plan = dry_plan(days, settings, listing, rest_scope)
        else:
            con = db.connect(settings.journal_path, settings.lock_timeout)
            try:
                db.apply_schema(con, settings.data_dir, settings.asset)
                journal.mark_abandoned_runs(con)
                plan = make_plan(days, settings, listing, con, rest_scope)
                journal.start_run(con, run_id, command, arguments, os.getpid())
            finally:
                con.close()
        summary = LoadSummary(run_id=run_id, command=command, planned=len(days), plan=plan,
                              dry_run=settings.dry_run)
        summary.skipped = list(plan.skipped)
        summary.bad_input = list(bad_input or [])
        summary.warnings.extend(advice)
        if settings.dry_run:
            summary.failed = list(plan.failed)
            return summary
        runlog = RunLog(settings.runs_dir, run_id, command, arguments)
        Runner(settings, plan, summary, reporter, runlog).run(handle_signals)
        return summary
