"""plan: for each family and day, the files the listing shows and what the ledger already holds → tasks.

Runs in the parent. A day whose files are loaded with the same ETag is skipped; a
missing file fails its day now unless REST can fill it; a day an earlier run finished
but did not commit is recovered from its record and partitions. The stocks pair is
planned together: the journal is derived from both files of a session.
"""
from __future__ import annotations


import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property


from .. import datasets as registry
from ..datasets.derived import DerivedTable
from ..datasets.model import Dataset, Family
from ..fetch.source import ObjectInfo, Source
from ..settings import Settings
from ..store.database import records
from ..store.store import Store
from ..store.database.ledger import LedgerEntry
from ..tasks.model import FileTask, Task, TaskResult
from ..tasks.scope import Scope, scope_for
from .summary import DayFailure, Plan


#: the trailing sessions whose median row count a new file is held against
TRAILING = 5


@dataclass(frozen=True)
class FamilyDays:
    """What to plan for one family: its requested datasets and the days to look at."""

    family: Family
    datasets: tuple[Dataset, ...]
    days: tuple[dt.date, ...]

    @cached_property
    def derived(self) -> tuple[DerivedTable, ...]:
        """The tables derived from this family's requested datasets (stocks: the journal from the pair)."""
        return registry.derived_for(self.datasets)

    @cached_property
    def paired(self) -> frozenset[str]:
        """The datasets loaded together because a derived table needs all of them each day."""
        return frozenset(n for t in self.derived for n in t.inputs)


def list_objects(source: Source, groups: Sequence[FamilyDays]) -> dict[str, ObjectInfo]:
    """The listing of every requested dataset for the months its days touch, by key."""
    listing: dict[str, ObjectInfo] = {}
    for g in groups:
        for ds in g.datasets:
            for prefix in ds.month_prefixes(g.days):
                for obj in source.list(prefix):
                    listing[obj.key] = obj
    return listing


def with_unexpected_files(group: FamilyDays, listing: dict[str, ObjectInfo], start: dt.date,
                          end: dt.date) -> FamilyDays:
    """Add the days in ``[start, end]`` the listing has a file for though the calendar expects none (indices)."""
    if not group.family.calendar.loads_unexpected:
        return group
    extra = set()
    for ds in group.datasets:
        for key in listing:
            if key.startswith(ds.folder + "/"):
                d = dt.date.fromisoformat(key.rsplit("/", 1)[-1][:10])
                if start <= d <= end:
                    extra.add(d)
    return FamilyDays(group.family, group.datasets, tuple(sorted(set(group.days) | extra)))


def _unchanged(entry: LedgerEntry | None, obj: ObjectInfo | None) -> bool:
    """The ledger already holds this object as listed (a still-missing one counts if REST filled it)."""
    if entry is None:
        return False
    if obj is None:
        return entry.status == "missing"
    return entry.status == "loaded" and entry.etag == obj.etag


@dataclass(frozen=True)
class Held:
    """What the journal holds about the days being planned, as plain data (so planning is a pure function of it)."""

    #: ledger rows by object key
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    #: ``(dataset, date) → (status, detail, scope)``
    status: dict[tuple[str, dt.date], tuple[str, str | None, str]] = field(default_factory=dict)
    #: per dataset, ``(date, rows)`` of the days loaded cleanly from a flat file, oldest first
    history: dict[str, list[tuple[dt.date, int]]] = field(default_factory=dict)


def read_held(con, groups: Sequence[FamilyDays]) -> Held:
    """What the journal on ``con`` holds about ``groups``' datasets and days."""
    names = [ds.name for g in groups for ds in g.datasets]
    all_days = [d for g in groups for d in g.days]
    if not all_days:
        return Held()
    return Held(records.read_ledger(con, [ds.key(d) for g in groups for ds in g.datasets for d in g.days]),
                records.read_day_status(con, names, min(all_days), max(all_days)),
                records.clean_rows(con, names, max(all_days)))


@dataclass
class _Context:
    settings: Settings
    listing: dict[str, ObjectInfo]
    held: Held
    rest_scope: dict[dt.date, frozenset[str]] | None
    #: the latest days of each family: a file missing there may simply not be published yet
    recent: dict[str, set[dt.date]]
    store: Store

    @property
    def rest_ok(self) -> bool:
        return self.settings.use_rest and bool(self.settings.api_key)


def make_plan(groups: Sequence[FamilyDays], settings: Settings, listing: dict[str, ObjectInfo], held: Held,
              rest_scope: dict[dt.date, frozenset[str]] | None = None, now: dt.datetime | None = None) -> Plan:
    """Decide per family and day: load (and from where), skip (already loaded), or fail now (no file, no REST).

    ``held`` is what the journal holds (:func:`read_held`); ``rest_scope`` gives, per date, the symbols
    whose minute bars may come from REST (default: ``settings.symbols``); ``now`` decides which days
    are recent enough that a missing file may not be published yet. Reads nothing but the recovery
    records of days an earlier run finished.
    """
    plan = Plan(days=sorted({d for g in groups for d in g.days}))
    ctx = _Context(settings, listing, held, rest_scope, {g.family.name: _recent(g.family, now) for g in groups},
                   Store.of(settings))
    for g in groups:
        for d in g.days:
            _plan_day(plan, ctx, g, d)
    return plan


def _recent(family: Family, now: dt.datetime | None) -> set[dt.date]:
    latest = family.calendar.latest_complete(now)
    return set(family.calendar.previous(latest, 1)) | {latest}


def _plan_day(plan: Plan, ctx: _Context, g: FamilyDays, d: dt.date) -> None:
    s = ctx.settings
    scope = scope_for(s, g.datasets, g.derived, ctx.rest_scope.get(d) if ctx.rest_scope is not None else ...)
    todo = [ds for ds in g.datasets if s.force or not _done(ctx, ds, d, scope)]
    if any(ds.name in g.paired for ds in todo):
        # a derived table needs all its inputs: reload them together (tick files stay as they are)
        todo = [ds for ds in g.datasets if ds in todo or ds.name in g.paired]
    if not todo:
        states = {ctx.held.status[(ds.name, d)][0] for ds in g.datasets}
        plan.skipped.append((d, "already loaded, same ETag" if states == {"flatfile"}
                             else "loaded from REST; flat file still missing"))
        return
    expected = g.family.calendar.expects(d)
    files, failures = [], []
    for ds in todo:
        key, obj = ds.key(d), ctx.listing.get(ds.key(d))
        if obj is None and not expected:
            continue  # a day without a session: only files that exist are loaded (index holiday files)
        if obj is None and not (ds.rest and ctx.rest_ok):
            failures.append(_missing(ctx, g.family, ds, d, key))
            continue
        files.append(FileTask(ds.name, key, obj))
    if failures and g.derived:  # the other file of the pair cannot make a journal alone
        f = failures[0]
        plan.failed.append(DayFailure(d, f.key, f.message, f.transient, f.hint, tuple(x.name for x in todo)))
        return
    plan.failed.extend(failures)
    if not files:
        return
    task = Task(d, g.family.name, tuple(files), g.family.calendar.bounds(d), tuple(t.name for t in g.derived), scope,
                _expected_rows(ctx, g, d, files, expected))
    recovered = None if s.force else recover(s, task)
    if recovered is not None:
        plan.recovered.append(recovered)
        return
    plan.tasks.append(task)
    replaced = [ctx.store.existing(name, d) for name in [f.dataset for f in files] + list(task.derive)]
    plan.replaces.extend(p for p in replaced if p is not None)


def _done(ctx: _Context, ds: Dataset, d: dt.date, scope: Scope) -> bool:
    state = ctx.held.status.get((ds.name, d))
    if state is None or state[0] not in ("flatfile", "rest") or not scope.covered_by(ds, state[2]):
        return False  # failed or suspect days are loaded again
    return _unchanged(ctx.held.ledger.get(ds.key(d)), ctx.listing.get(ds.key(d)))


def _missing(ctx: _Context, family: Family, ds: Dataset, d: dt.date, key: str) -> DayFailure:
    """The failure for a file the listing lacks, with a next step that fits its age and its source."""
    where = "the mirror" if ctx.settings.mirror is not None else "the bucket"
    if d in ctx.recent[family.name]:
        hint = "rerun after the vendor publishes it (about 11:00 ET the next day)"
    elif ctx.settings.mirror is not None:
        hint = "copy it into the mirror from the bucket, or load from S3 (drop --mirror)"
    else:
        hint = "the vendor has no file for this day; `flatload datasets --remote` shows what the bucket holds"
    if ds.rest:
        hint = ("set MASSIVE_API_KEY to fill it from REST, or " if ctx.settings.use_rest
                else "drop --no-rest to fill it from REST, or ") + hint
    return DayFailure(d, key, f"no flat file in {where}", True, hint, (ds.name,))


def _expected_rows(ctx: _Context, g: FamilyDays, d: dt.date, files: list[FileTask],
                   expected: bool) -> tuple[tuple[str, int], ...]:
    """Per file, the median rows of the trailing clean days (none on partial days, or without history)."""
    if not expected or g.family.calendar.partial(d):
        return ()
    out = []
    for f in files:
        prior = [n for day, n in ctx.held.history.get(f.dataset, []) if day < d][-TRAILING:]
        if len(prior) >= 3:
            out.append((f.dataset, int(statistics.median(prior))))
    return tuple(out)


def recover(settings: Settings, task: Task) -> TaskResult | None:
    """A finished but uncommitted day, rebuilt from its record, if its ETags match the listing."""

    if any(f.obj is None for f in task.files):
        return None
    store = Store.of(settings)
    record = store.read_record(task.family, task.date)
    if record is None:
        return None
    derived = {}
    for name in task.derive:
        frame = store.read_partition(name, task.date, record.get("version"))
        if frame is None:
            return None
        derived[name] = frame
    result = TaskResult.from_record(task.date, record, derived)
    if result is None:
        return None
    etags = {e.key: e.etag for e in result.ledger}
    if any(etags.get(f.key) != f.obj.etag for f in task.files if f.obj is not None):
        return None
    if set(result.sources) != {f.dataset for f in task.files}:
        return None
    return result.scoped(task.scope)


def dry_plan(groups: Sequence[FamilyDays], settings: Settings, listing: dict[str, ObjectInfo],
             rest_scope: dict[dt.date, frozenset[str]] | None) -> Plan:
    """The plan against a read-only journal (or an empty one in memory): a dry run writes nothing."""
    import duckdb

    from ..store.database import db

    store = Store.of(settings)
    if store.db_path.exists():
        con = store.reader()
    else:
        con = duckdb.connect(":memory:")
        db.set_root(con, settings.data_dir)
        store.apply_schema(con, migrations=False)
    try:
        return make_plan(groups, settings, listing, read_held(con, groups), rest_scope)
    finally:
        con.close()
