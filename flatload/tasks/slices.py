"""A large tick file loaded by several workers at once, and the slices joined back into one day.

A gzip stream cannot be entered midway, but inflating it is about ten times quicker than parsing,
checking and writing what it holds. So each of ``count`` slices inflates the whole file and parses
only its share of the chunks (:class:`.model.Share`): one day then uses every worker. The slices
seal their parts under numbers of their own; the rest of the day (the family's aggregate files and
derived tables, when the task has them) is one more job. The parent joins them (:func:`join`): the
counts and rejects add up, the day is refused as a whole when every row of the file is another
day's, the parts become the day's partition whole, and only then is the recovery record written.
Until the join, no reader sees any part: on the local disk they sit in hidden folders, on object
storage in a version no pointer names.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from .. import datasets
from ..store.store import Store
from .aggs import day_result, off_date_note, record_result, tick_outcome
from .model import Share, Task, TaskResult, WorkerContext
from .parse import REJECT_SCHEMA, wrong_date
from .ticks import MAX_LISTED_REJECTS, TickLoad, load_tick_file, unlisted_note

def process_share(ctx: WorkerContext, task: Task, share: Share) -> TickLoad:
    """Parse one slice of a tick file into sealed parts (in a worker)."""
    f = task.file(share.dataset)
    assert f is not None and f.obj is not None
    ds = datasets.get(share.dataset)
    return load_tick_file(ctx, task, f, ds, task.scope.rows(ds), share)


def process_rest(ctx: WorkerContext, task: Task, sliced: frozenset[str]) -> TaskResult:
    """The day but for its sliced files (in a worker): aggregate files, derived tables, REST fills."""
    return day_result(ctx, task, skip=sliced)


def merged(loads: Sequence[TickLoad]) -> TickLoad:
    """One file's slices as one load: counts added up, the first listed rejects of all, warnings once."""
    rejects = pl.concat([t.rejects for t in loads]).sort("line", nulls_last=True) if loads else None
    out = TickLoad(rows_read=sum(t.rows_read for t in loads), rows=sum(t.rows for t in loads),
                   off_date=sum(t.off_date for t in loads), rejected=sum(t.rejected for t in loads),
                   nbytes=loads[0].nbytes, parts=sum(t.parts for t in loads),
                   in_order=all(t.in_order for t in loads), good=sum(t.good for t in loads),
                   off_sample=next((t.off_sample for t in loads if t.off_sample is not None), None),
                   sealed=tuple(p for t in loads for p in t.sealed))
    if rejects is not None and rejects.height:
        out.rejects = rejects.head(MAX_LISTED_REJECTS)
    out.warnings = list(dict.fromkeys(w for t in loads for w in t.warnings))
    out.warnings.extend(unlisted_note(out.rejected, out.rejects.height))
    return out


def join(store: Store, task: Task, base: TaskResult, loads: dict[str, list[TickLoad]]) -> TaskResult:
    """``loads``: per sliced dataset, its slices' loads in slice order.

    The day's result from the rest of the day and its files' slices (in the parent, before the commit):
    the slices' parts made each file's partition, the recovery record written; scoped as a worker's is.

    Raises WrongDate when every row of a sliced file is another day's (its parts are then removed).
    """
    ledger, sources, warnings = list(base.ledger), dict(base.sources), list(base.warnings)
    rejects, suspects = [base.rejects], dict(base.suspect)
    rows, nbytes = base.rows, base.nbytes
    whole = {name: merged(parts) for name, parts in loads.items()}
    for name, t in whole.items():
        f = task.file(name)
        assert f is not None
        ds = datasets.get(name)
        if t.good == 0 and t.off_date > 0 and t.off_sample is not None:
            store.drop_parts(p for load in whole.values() for p in load.sealed)
            raise wrong_date(t.off_sample, ds, task.date, f.key)
    for name, t in whole.items():
        f = task.file(name)
        assert f is not None
        ds = datasets.get(name)
        store.join_parts(name, task.date, t.sealed)
        entry, _, suspect = tick_outcome(task, f, ds, t)
        ledger.append(entry)
        sources[name] = "flatfile"
        rows, nbytes = rows + t.rows_read, nbytes + t.nbytes
        warnings.extend(t.warnings)
        warnings.extend(off_date_note(f.key, t.off_date, ds))
        if t.rejects.height:
            rejects.append(t.rejects.with_columns(key=pl.lit(f.key)).select("key", *REJECT_SCHEMA))
        if suspect is not None:
            suspects[name] = suspect
    result = dataclasses.replace(base, ledger=ledger, sources=sources, rejects=pl.concat(rejects), rows=rows,
                                 nbytes=nbytes, warnings=warnings, suspect=suspects,
                                 written=(*base.written, *whole))
    record_result(store, result)
    return result.scoped(task.scope)


def discard(store: Store, loads: dict[str, list[TickLoad]]) -> None:
    """Remove the sealed parts of a day that is not joined (another of its jobs failed)."""
    store.drop_parts(p for parts in loads.values() for t in parts for p in t.sealed)
