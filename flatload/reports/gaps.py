"""``gaps``: every day of each dataset in a range, as loaded (from flat files or REST), suspect, failed or missing."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from .. import datasets as registry
from ..datasets.model import Dataset
from ..settings import Settings
from ..store.store import Store
from .common import NOTHING_YET, iso, read_journal, run_files
from .runs import days_from_runs

#: worst first: a day of several datasets takes the worst state among them
CLASSES = ("failed", "suspect", "missing", "rest", "flatfile")
#: the sessions ``gaps`` shows when no --start is given
DEFAULT_GAP_DAYS = 30


def default_window(start: dt.date | None, end: dt.date | None,
                   dss: Sequence[Dataset] | None = None) -> tuple[dt.date, dt.date]:
    """``end`` defaults to the latest complete day, ``start`` to 30 days (of the calendar) before ``end``."""
    cal = (list(dss) if dss else registry.resolve(None))[0].calendar
    end = end or cal.latest_complete()
    if start is None:
        before = cal.previous(end, DEFAULT_GAP_DAYS)
        start = before[0] if before else end
    return start, end


def _section(ds: Dataset, start: dt.date, end: dt.date, known: dict[tuple[str, str], tuple]) -> dict:
    """One dataset's days: every day its calendar expects (or a file was loaded for) from its first file on."""
    first = max(start, ds.first_date)
    expected = ds.calendar.days(first, end) if first <= end else []
    extra = [dt.date.fromisoformat(d) for (name, d) in known if name == ds.name]
    days: dict[str, str] = {}
    failed, suspect = [], []
    for d in sorted(set(expected) | {d for d in extra if first <= d <= end}):
        state, detail = known.get((ds.name, d.isoformat()), ("missing", None))
        days[d.isoformat()] = state if state in CLASSES else "missing"
        if state in ("failed", "suspect"):
            (failed if state == "failed" else suspect).append({"date": d.isoformat(), "reason": detail})
    counts = {c: sum(1 for s in days.values() if s == c) for c in CLASSES}
    return {"dataset": ds.name, "calendar": ds.calendar.name, "first_date": ds.first_date.isoformat(),
            "days": days, "counts": counts, "failed": failed, "suspect": suspect,
            "complete": counts["failed"] == counts["missing"] == counts["suspect"] == 0}


def gaps(start: dt.date | None, end: dt.date | None, settings: Settings,
         dataset: str | Sequence[str] | None = None) -> dict:
    """Every day in ``[start, end]`` of each dataset (default: the stocks pair) and where it stands.

    ``end`` defaults to the latest complete day and ``start`` to 30 days before it. The
    top-level ``days`` takes, per day, the worst state among the datasets.
    """
    Store.of(settings).require_dir()
    dss = registry.resolve(dataset if isinstance(dataset, str) or dataset is None else ",".join(dataset))
    start, end = default_window(start, end, dss)
    rows, note = read_journal(settings, {"days": (
        "SELECT dataset, trade_date, status, detail FROM day_status WHERE dataset IN (SELECT unnest(?)) "
        "AND trade_date BETWEEN ? AND ?", [[d.name for d in dss], start, end])})
    if rows is not None:
        source, known = "journal", {(ds, iso(d)): (s, detail) for ds, d, s, detail in rows["days"]}
    else:
        bodies = run_files(settings)
        source = "run files" if bodies else "none"
        known = {(ds, iso(d)): (s, detail) for ds, d, s, detail, *_ in days_from_runs(bodies)}
        if bodies and note == NOTHING_YET:
            note = "no journal yet: read from the run files"
    sections = [_section(ds, start, end, known) for ds in dss]
    days: dict[str, str] = {}
    for sec in sections:
        for d, state in sec["days"].items():
            days[d] = min(days.get(d, "flatfile"), state, key=CLASSES.index)
    counts = {c: sum(1 for s in days.values() if s == c) for c in CLASSES}
    return {"start": start.isoformat(), "end": end.isoformat(), "source": source, "note": note,
            "datasets": [d.name for d in dss], "sessions": len(days), "counts": counts,
            "complete": all(sec["complete"] for sec in sections), "days": days,
            "failed": [{"dataset": sec["dataset"], **f} for sec in sections for f in sec["failed"]],
            "suspect": [{"dataset": sec["dataset"], **f} for sec in sections for f in sec["suspect"]],
            "by_dataset": sections}
