"""The library entry points behind the CLI: load, refresh, load_pairs, and the shared run_days / run_groups."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .. import datasets as registry
from ..datasets.model import Dataset, Family
from ..errors import ConfigError
from ..fetch import open_source
from ..settings import Settings
from ..store.database import db, records
from ..store.files.lock import run_lock
from ..store.files.runlog import RunLog
from ..store.store import Store
from .pairs import read_pairs
from .plan import FamilyDays, dry_plan, list_objects, make_plan, read_held, with_unexpected_files
from .progress import NullReporter, Reporter
from .runner import Runner
from .summary import LoadSummary, Plan


def new_run_id() -> str:
    """``20241203T142501Z-3fa9c1``: sortable by start, unique."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def _by_family(spec: str | Sequence[str] | None) -> dict[str, tuple[Family, list[Dataset]]]:
    names = spec if isinstance(spec, str) or spec is None else ",".join(spec)
    out: dict[str, tuple[Family, list[Dataset]]] = {}
    for ds in registry.resolve(names):
        out.setdefault(ds.family.name, (ds.family, []))[1].append(ds)
    return out


def clip(family: Family, first: dt.date, start: dt.date, end: dt.date,
         now: dt.datetime | None = None) -> tuple[list[dt.date], list[str]]:
    """The days of ``family`` in ``[start, end]`` that can have a file, and a note for each part cut off."""
    latest = family.calendar.latest_complete(now)
    notes = []
    if start < first:
        notes.append(f"{family.name}: {start}..{min(end, first - dt.timedelta(days=1))} is before the first "
                     f"{family.name} flat file ({first}): not loaded")
    if end > latest:
        notes.append(f"{family.name}: {max(start, latest + dt.timedelta(days=1))}..{end} has not closed yet "
                     f"(latest complete day: {latest}): not loaded")
    lo, hi = max(start, first), min(end, latest)
    days = family.calendar.days(lo, hi) if lo <= hi else []
    if lo <= hi and not days:  # a weekend or a holiday: "0 day(s) loaded" alone would look like a failure
        notes.append(f"{family.name}: {lo}..{hi} holds no session ({family.calendar.name}): nothing to load")
    return days, notes


def load(start: dt.date, end: dt.date, settings: Settings, reporter: Reporter | None = None, *,
         datasets: str | Sequence[str] | None = None, handle_signals: bool = False,
         run_id: str | None = None) -> LoadSummary:
    """Load every day in ``[start, end]`` of ``datasets`` (default: the stocks pair and the journal).

    ``run_id`` names the run (its record and ``runs/<run_id>.json``) when the caller must know it
    beforehand, as a job API does; by default it is made from the time.
    """
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    groups, notes = [], []
    for family, dss in _by_family(datasets).values():
        days, cut = clip(family, min(d.first_date for d in dss), start, end)
        groups.append(FamilyDays(family, tuple(dss), tuple(days)))
        notes.extend(cut)
    args = {"start": start, "end": end, "datasets": [d.name for g in groups for d in g.datasets]}
    return run_groups(groups, settings, reporter, Request("load", args, handle_signals, notes=notes,
                                                         window=(start, end), run_id=run_id))


def refresh(settings: Settings, date: dt.date | None = None, lookback: int = 5, reporter: Reporter | None = None,
            *, datasets: str | Sequence[str] | None = None, now: dt.datetime | None = None,
            handle_signals: bool = False) -> LoadSummary:
    """Load the latest complete day (or ``date``) and re-check the ``lookback`` days before it, per family.

    Re-checking reloads objects whose ETag changed and upgrades REST rows whose flat file now exists.
    """
    groups = []
    for family, dss in _by_family(datasets).values():
        cal = family.calendar
        if date is not None and not cal.expects(date):
            raise ConfigError(f"{date} has no {family.name} file ({cal.name})", hint="pick another day, or omit --date")
        target = date or cal.latest_complete(now)
        groups.append(FamilyDays(family, tuple(dss), tuple(cal.previous(target, lookback) + [target])))
    args = {"date": date or max(g.days[-1] for g in groups), "lookback": lookback,
            "datasets": [d.name for g in groups for d in g.datasets]}
    return run_groups(groups, settings, reporter, Request("refresh", args, handle_signals))


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
    store = Store.of(settings)
    if not settings.dry_run and store.db_path.exists():
        con = store.reader()
        try:
            summary.pairs_without_data = records.pairs_without_rows(con, pairs.pairs)
        finally:
            con.close()
    return summary


@dataclass(frozen=True)
class Request:
    """What a load was asked for, besides its days and settings: how it is recorded and what it reports."""

    command: str = "load"
    #: the arguments recorded with the run (the settings that matter are added)
    arguments: dict = field(default_factory=dict)
    handle_signals: bool = False
    #: per date, the symbols whose minute bars may come from REST (default: ``--symbols``)
    rest_scope: dict[dt.date, frozenset[str]] | None = None
    #: input lines that could not be used (a pairs file's), reported with the summary
    bad_input: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the requested range: files the listing has there beyond the calendar's days are loaded too (indices)
    window: tuple[dt.date, dt.date] | None = None
    run_id: str | None = None


def run_days(days: Sequence[dt.date], settings: Settings, reporter: Reporter | None = None, *,
             datasets: str | Sequence[str] | None = None, **request: object) -> LoadSummary:
    """Plan and run a load of exactly ``days`` (sessions) for ``datasets`` (default: stocks); ``request``
    holds :class:`Request`'s fields."""
    groups = [FamilyDays(family, tuple(dss), tuple(days)) for family, dss in _by_family(datasets).values()]
    return run_groups(groups, settings, reporter, Request(**request))  # type: ignore[arg-type]


def _prepare(settings: Settings, reporter: Reporter) -> list[str]:
    """Checks before anything is written: settings that look wrong, credentials, the data dir."""
    advice = settings.advice()
    for line in advice:
        reporter.note(line)
    if settings.mirror is None:
        from ..fetch.s3 import ensure_credentials

        ensure_credentials(settings)
    if not settings.dry_run:
        Store.of(settings).prepare()
    return advice


def upkeep(store: Store, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Store upkeep under the run lock, before planning: the schema and its migrations are brought up to date,
    runs that died are recorded as killed. What was done, one line each."""
    with store.writing("prepare the journal"):
        done = store.apply_schema(con)
        records.mark_abandoned_runs(con)
        swept = store.upkeep(con)
    if swept:
        done.append(f"removed {swept} object(s) of partition versions that no commit names (left by an "
                    f"unfinished run)")
    return done


def plan_run(groups: Sequence[FamilyDays], settings: Settings, request: Request, listing: dict) -> tuple[Plan, list[str]]:
    """Upkeep, then the plan against what the ledger holds, and the run recorded as started: the plan and the
    upkeep's lines. A dry run plans against a read-only journal and writes nothing."""
    if settings.dry_run:
        return dry_plan(groups, settings, listing, request.rest_scope), []
    store = Store.of(settings)
    store.clean_temp()  # what killed writers left
    # a journal written by an older flatload in a newer DuckDB format becomes readable again
    db.ensure_storage_format(store.db_path, store.lock_timeout)
    con = store.writer()  # one connection for the three steps: a run with nothing to do stays cheap
    try:
        done = upkeep(store, con)
        plan = make_plan(groups, settings, listing, read_held(con, groups), request.rest_scope)
        with store.writing("record the run's start"):
            records.start_run(con, request.run_id, request.command, request.arguments, os.getpid())
    finally:
        con.close()
    return plan, done


def run_groups(groups: Sequence[FamilyDays], settings: Settings, reporter: Reporter | None = None,
               request: Request = Request()) -> LoadSummary:
    """Plan and run a load of each family's days: the shared engine of load, refresh and pairs."""
    reporter = reporter or NullReporter()
    advice = _prepare(settings, reporter)
    request = dataclasses.replace(request, run_id=request.run_id or new_run_id(), arguments={
        **request.arguments, "symbols": sorted(settings.symbols) if settings.symbols else None,
        "force": settings.force, "workers": settings.workers})
    store = Store.of(settings)
    # a dry run writes nothing, not even the lock file, and leaves temp files to the next real run
    lock = nullcontext() if settings.dry_run else run_lock(settings.data_dir, request.command)
    with lock as held, ExitStack() as stack:
        if not settings.dry_run:
            stack.enter_context(store.room_reserved())
        listing = list_objects(open_source(settings), groups)
        if request.window is not None:
            groups = [with_unexpected_files(g, listing, *request.window) for g in groups]
        if held is not None:
            held.note(run_id=request.run_id)  # status tells this run's planning from its end
        plan, done = plan_run(groups, settings, request, listing)
        plan.notes.extend(request.notes)
        summary = LoadSummary(run_id=request.run_id, command=request.command, planned=sum(len(g.days) for g in groups),
                              plan=plan, dry_run=settings.dry_run, datasets=[d.name for g in groups for d in g.datasets],
                              skipped=list(plan.skipped), notes=list(plan.notes), bad_input=list(request.bad_input),
                              warnings=advice + done)
        if settings.dry_run:
            summary.failed = list(plan.failed)
            return summary
        Runner(settings, plan, summary, reporter, RunLog(store.runs_dir, request.run_id, request.command,
                                                         request.arguments)).run(request.handle_signals)
        return summary
