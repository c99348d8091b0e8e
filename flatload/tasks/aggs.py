"""One day of one family's files, end to end in a worker: fetch → parse → derive → write.

Aggregate files are read whole; tick files (trades, quotes) are streamed by :mod:`.ticks`.

Runs in a pool worker (or inline with one worker). It never opens DuckDB: it
returns a small :class:`TaskResult` (ledger entries, rejects, the rows of the derived
tables: the journal for stocks) that the parent commits, after writing the day's partitions and the
record a rerun can commit from.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from .. import datasets
from ..datasets.model import Dataset
from ..errors import ObjectMissing, RestUnavailable
from ..store.files import partitions
from ..store.database.ledger import LedgerEntry
from .model import FileTask, Task, TaskResult, WorkerContext
from .parse import REJECT_SCHEMA, Parsed, read_csv_gz, validate_rows
from .quality import suspect_reason

if TYPE_CHECKING:
    from ..store.store import Store
    from .ticks import TickLoad


def _entry(task: Task, f: FileTask, parsed: Parsed | None, status: str, error: str | None = None) -> LedgerEntry:
    obj = f.obj
    return LedgerEntry(key=f.key, dataset=f.dataset, trade_date=task.date, etag=obj.etag if obj else None,
                       size=obj.size if obj else None, last_modified=obj.last_modified if obj else None,
                       rows=parsed.frame.height if parsed else 0, rejected=parsed.rejects.height if parsed else 0,
                       off_date=parsed.off_date if parsed else 0, status=status, error=error,
                       scope=task.scope.recorded_text(datasets.get(f.dataset)))


def _ticks(ctx: WorkerContext, task: Task, f: FileTask, ds: Dataset) -> tuple[LedgerEntry, TickLoad, str | None]:
    """Load a tick file (streamed, its partition written): its ledger entry, what it did, why it looks incomplete."""
    from .ticks import load_tick_file  # Arrow's writer and the streaming reader: only tick days need them

    return tick_outcome(task, f, ds, load_tick_file(ctx, task, f, ds, task.scope.rows(ds)))


def tick_outcome(task: Task, f: FileTask, ds: Dataset, t: TickLoad) -> tuple[LedgerEntry, TickLoad, str | None]:
    """A loaded tick file's ledger entry and why it looks incomplete (also for a file loaded in slices)."""
    assert f.obj is not None
    keep = task.scope.rows(ds)
    entry = LedgerEntry(key=f.key, dataset=f.dataset, trade_date=task.date, etag=f.obj.etag, size=f.obj.size,
                        last_modified=f.obj.last_modified, rows=t.rows, rejected=t.rejected, off_date=t.off_date,
                        status="loaded", error=None, scope=task.scope.recorded_text(ds))
    # a filtered day is small by design (even empty): only an empty file says something then
    trailing = dict(task.expected_rows).get(f.dataset) if keep is None else None
    return entry, t, suspect_reason(t.rows if keep is None else t.rows_read, 0, None, trailing)


def read_local(f: FileTask) -> bytes:
    """The bytes of a file the fetch stage (or a mirror) put on local disk for this task."""
    try:
        with open(f.local, "rb") as fh:  # type: ignore[arg-type]
            return fh.read()
    except FileNotFoundError:
        raise ObjectMissing("the file is gone from local disk", key=f.key,
                            hint="a mirror changed during the run? rerun") from None


def off_date_note(key: str, off_date: int, ds: Dataset) -> list[str]:
    return [f"{key}: {off_date} row(s) dated another {ds.calendar.zone} day were not counted"] if off_date else []


def _rest(ctx: WorkerContext, key: str):  # -> fetch.rest.RestClient
    if ctx.rest is None:
        raise RestUnavailable("no flat file and the REST fallback is off or has no key", key=key, hint=ctx.rest_hint)
    return ctx.rest


def _from_rest(ctx: WorkerContext, task: Task, ds: Dataset, f: FileTask) -> Parsed | None:
    """The rows of a missing stocks file from REST: grouped daily for the day file, minute bars per symbol."""
    client = _rest(ctx, f.key)
    if ds.rest == "grouped_daily":
        frame = client.grouped_daily(task.date)
        # grouped daily stamps bars at another time of day than the flat file's midnight;
        # the request names the date, so the date is the request's
        frame = frame.with_columns(window_start=pl.lit(task.bounds.day_start, pl.Int64))
        return validate_rows(frame, f"REST grouped daily {task.date}", ds, task.bounds)
    if not task.scope.rest:
        return None  # pre/after-hours stay NULL outside the symbol scope
    frames = client.minute_aggs_many(sorted(task.scope.rest), task.date)
    frame = pl.concat(list(frames.values())) if frames else None
    if frame is None or frame.height == 0:
        return None
    return validate_rows(frame, f"REST minute aggs {task.date}", ds, task.bounds)


def _suspects(task: Task, parsed: dict[str, Parsed], sources: dict[str, str]) -> dict[str, str]:
    expected = dict(task.expected_rows)
    out = {}
    for name, p in parsed.items():
        if sources.get(name) != "flatfile":
            continue
        # a file should hold every ticker of the dataset its registry entry names (minute bars: the day file's)
        within = parsed.get(datasets.get(name).tickers_within or "")
        reason = suspect_reason(p.frame.height, p.frame["ticker"].n_unique(),
                                within.frame["ticker"].n_unique() if within is not None else None, expected.get(name))
        if reason is not None:
            out[name] = reason
    return out


def _write(ctx: WorkerContext, task: Task, parsed: dict[str, Parsed], sources: dict[str, str]) -> None:
    for name, p in parsed.items():
        if sources[name] != "flatfile":
            continue  # REST rows feed the journal only; the partition waits for the flat file
        ds = datasets.get(name)
        ctx.store.write_partition(partitions.bars_table(p.frame, ds.time_column), name, task.date, task.version)


def process_task(ctx: WorkerContext, task: Task) -> TaskResult:
    """Load one day of one family; raises a FlatloadError naming the key when the day cannot load."""
    result = day_result(ctx, task)
    record_result(ctx.store, result)
    return result.scoped(task.scope)


def record_result(store: Store, result: TaskResult) -> None:
    """Write what the commit needs, last: if the commit never happens (journal locked, kill -9), a rerun
    commits from here instead of fetching the day again."""
    store.write_record(result.family, result.date, result.to_record())


def day_result(ctx: WorkerContext, task: Task, skip: frozenset[str] = frozenset()) -> TaskResult:
    """The day loaded, its partitions written, not yet recorded nor scoped; the tick files of ``skip`` are
    left out (they are loaded in slices, and joined into this result by the parent)."""
    parsed: dict[str, Parsed] = {}
    ledger: list[LedgerEntry] = []
    rejects: list[pl.DataFrame] = []
    warnings: list[str] = []
    sources: dict[str, str] = {}
    nbytes = rows = 0
    tick_suspects: dict[str, str] = {}
    for f in task.files:
        ds = datasets.get(f.dataset)
        if f.dataset in skip:
            continue
        if f.obj is not None and ds.streamed:
            entry, t, suspect = _ticks(ctx, task, f, ds)
            ledger.append(entry)
            sources[f.dataset] = "flatfile"
            nbytes, rows = nbytes + t.nbytes, rows + t.rows_read
            warnings.extend(t.warnings + off_date_note(f.key, t.off_date, ds))
            if t.rejects.height:
                rejects.append(t.rejects.with_columns(key=pl.lit(f.key)))
            if suspect is not None:
                tick_suspects[f.dataset] = suspect
            continue
        if f.obj is None:
            p = _from_rest(ctx, task, ds, f)
            sources[f.dataset] = "rest"
            ledger.append(_entry(task, f, None, "missing", "filled from REST"))
        else:
            data = f.data if f.data is not None else read_local(f) if f.local is not None else ctx.source.get(f.key)
            nbytes += len(data)
            p = read_csv_gz(data, f.key, ds, task.bounds, task.scope.rows(ds))
            sources[f.dataset] = "flatfile"
            ledger.append(_entry(task, f, p, "loaded"))
        if p is None:
            continue
        parsed[f.dataset] = p
        rows += p.rows_read
        warnings.extend(p.warnings)
        if p.rejects.height:
            rejects.append(p.rejects.with_columns(key=pl.lit(f.key)))
        warnings.extend(off_date_note(f.key, p.off_date, ds))
    derived = {}
    for name in task.derive:
        table = datasets.DERIVED[name]
        derived[name] = table.derive({n: parsed[n].frame if n in parsed else None for n in table.inputs}, task.bounds)
    _write(ctx, task, parsed, sources)
    for name, rows_ in derived.items():
        ctx.store.write_partition(rows_, name, task.date, task.version)
    reject_frame = (pl.concat(rejects).select("key", *REJECT_SCHEMA) if rejects
                    else pl.DataFrame(schema={"key": pl.String(), **REJECT_SCHEMA}))
    written = (*(n for n, s in sources.items() if s == "flatfile"), *derived)
    return TaskResult(task.date, task.family, ledger, sources, reject_frame, derived, rows, nbytes, warnings,
                      {**_suspects(task, parsed, sources), **tick_suspects}, version=task.version,
                      written=tuple(written))
