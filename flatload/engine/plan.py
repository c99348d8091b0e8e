"""plan: for each session, the objects the listing shows and what the ledger already holds → tasks.

Runs in the parent. A session whose objects are loaded with the same ETag is
skipped; a missing object fails the session now unless REST can fill it; a day an
earlier run finished but did not commit is recovered from its partitions.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from .. import calendar
from ..datasets import DAY, MINUTE, month_prefixes, object_key
from ..fetch.source import ObjectInfo, Source
from ..settings import Settings
from ..store import db, journal, partitions, recovery
from ..store.ledger import LedgerEntry, scope_covers
from ..tasks.model import DayResult, DayTask
from .summary import DayFailure, Plan


def list_objects(source: Source, asset: str, days: Sequence[dt.date]) -> dict[str, ObjectInfo]:
    """The listing of both datasets for the months ``days`` touch, by key."""
    listing: dict[str, ObjectInfo] = {}
    for dataset in (MINUTE, DAY):
        for prefix in month_prefixes(asset, dataset, days):
            for obj in source.list(prefix):
                listing[obj.key] = obj
    return listing


def recover_result(parquet_root: str, asset: str, d: dt.date, minute: ObjectInfo | None, day: ObjectInfo | None,
                   scope: frozenset[str] | None) -> DayResult | None:
    """A finished but uncommitted day, rebuilt from its metrics partition, if it matches the listing.

    Only flat-file days whose recorded ETags equal the listed ones qualify.
    """
    if minute is None or day is None:
        return None
    found = recovery.read_record(partitions.partition_path(parquet_root, asset, partitions.METRICS, d))
    if found is None:
        return None
    frame, record = found
    result = DayResult.from_record(d, frame.drop("source"), record)
    if result is None:
        return None
    etags = {e.key: e.etag for e in result.ledger}
    if etags.get(minute.key) != minute.etag or etags.get(day.key) != day.etag:
        return None
    return result.scoped(scope)


def make_plan(days: Sequence[dt.date], settings: Settings, listing: dict[str, ObjectInfo], con,
              rest_scope: dict[dt.date, frozenset[str]] | None = None) -> Plan:
    """Decide per session: load (and from where), skip (already loaded), or fail now (no file, no REST).

    ``rest_scope`` gives, per date, the symbols whose minute bars may come from REST
    (default: ``settings.symbols``).
    """
    plan = Plan(days=list(days))
    keys = [object_key(settings.asset, ds, d) for d in days for ds in (MINUTE, DAY)]
    ledger = journal.read_ledger(con, keys)
    status = journal.read_day_status(con, min(days), max(days)) if days else {}
    rest_ok = settings.use_rest and bool(settings.api_key)
    for d in days:
        mk, dk = object_key(settings.asset, MINUTE, d), object_key(settings.asset, DAY, d)
        m, dy = listing.get(mk), listing.get(dk)
        state = status.get(d)
        covered = state is not None and scope_covers(state[2], settings.symbols)
        if not settings.force and state and state[0] in ("flatfile", "rest") and covered:
            if _unchanged(ledger.get(mk), m) and _unchanged(ledger.get(dk), dy):
                why = "already loaded, same ETag" if state[0] == "flatfile" else \
                    "loaded from REST; flat file still missing"
                plan.skipped.append((d, why))
                continue
        if (m is None or dy is None) and not rest_ok:
            missing = mk if m is None else dk
            hint = ("set MASSIVE_API_KEY to fill it from REST, or rerun after the vendor publishes it "
                    "(about 11:00 ET the next day)") if settings.use_rest else \
                "rerun after the vendor publishes it (about 11:00 ET the next day), or drop --no-rest"
            plan.failed.append(DayFailure(d, missing, "no flat file in the bucket", True, hint))
            continue
        if not settings.force:
            recovered = recover_result(str(settings.parquet_dir), settings.asset, d, m, dy, settings.symbols)
            if recovered is not None:
                plan.recovered.append(recovered)
                continue
        replaced = [p for p in (partitions.partition_path(settings.parquet_dir, settings.asset, ds, d)
                                for ds in (partitions.MINUTE_BARS, partitions.METRICS)) if p.exists()]
        rest_symbols = rest_scope.get(d) if rest_scope is not None else settings.symbols
        plan.tasks.append(DayTask(d, mk, dk, m, dy, settings.symbols, rest_symbols, calendar.session_bounds(d)))
        plan.replaces.extend(str(p) for p in replaced)
    return plan


def _unchanged(entry: LedgerEntry | None, obj: ObjectInfo | None) -> bool:
    """The ledger already holds this object as listed (a still-missing one counts if REST filled it)."""
    if entry is None:
        return False
    if obj is None:
        return entry.status == "missing"
    return entry.status == "loaded" and entry.etag == obj.etag


def dry_plan(days: Sequence[dt.date], settings: Settings, listing: dict[str, ObjectInfo],
             rest_scope: dict[dt.date, frozenset[str]] | None) -> Plan:
    """The plan against a read-only journal (or an empty one in memory): a dry run writes nothing."""
    import duckdb

    if settings.journal_path.exists():
        con = db.connect(settings.journal_path, settings.lock_timeout, read_only=True)
    else:
        con = duckdb.connect(":memory:")
        db.set_root(con, settings.data_dir)
        db.apply_schema(con, settings.data_dir, settings.asset)
    try:
        return make_plan(days, settings, listing, con, rest_scope)
    finally:
        con.close()
