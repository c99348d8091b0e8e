"""Arranging planner tests: a listing and what the journal holds, as plain data (no DuckDB, no S3)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flatload import datasets as registry
from flatload.engine.plan import FamilyDays, Held
from flatload.fetch.source import ObjectInfo
from flatload.store.database.ledger import LedgerEntry, scope_text

#: a time of day after which every day before it has closed (so a day's missing file is not "recent")
LATE = dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.timezone.utc)
STOCKS = ("stocks/minute_aggs", "stocks/day_aggs")


def group(days: Iterable[dt.date], names: Iterable[str] = STOCKS) -> FamilyDays:
    """The stocks family's ``names`` datasets over ``days``."""
    dss = tuple(registry.get(n) for n in names)
    return FamilyDays(dss[0].family, dss, tuple(days))


def obj(name: str, d: dt.date, etag: str = "e1", size: int = 1000) -> ObjectInfo:
    """The listing's entry for dataset ``name``'s file of ``d``."""
    return ObjectInfo(registry.get(name).key(d), f'"{etag}"', size, "2024-12-01T00:00:00Z")


def listing(*objects: ObjectInfo) -> dict[str, ObjectInfo]:
    """A listing by key."""
    return {o.key: o for o in objects}


def held(*days: tuple[str, dt.date, str, str | None], scope: frozenset[str] | None = None,
         rows: int = 100) -> Held:
    """The journal after loading each ``(dataset, date, day status, etag or None for a missing file)``."""
    ledger, status, history = {}, {}, {}
    for name, d, state, etag in days:
        key = registry.get(name).key(d)
        entry_status = "missing" if etag is None else ("failed" if state == "failed" else "loaded")
        ledger[key] = LedgerEntry(key, name, d, None if etag is None else f'"{etag}"', 1000, None, rows, 0, 0,
                                  entry_status, None, scope_text(scope))
        status[(name, d)] = (state, None, scope_text(scope))
        if state == "flatfile":
            history.setdefault(name, []).append((d, rows))
    return Held(ledger, status, {k: sorted(v) for k, v in history.items()})
