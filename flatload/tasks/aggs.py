"""One day of one family's aggregate files, end to end in a worker: fetch → parse → derive → write.

Runs in a pool worker (or inline with one worker). It never opens DuckDB: it
returns a small :class:`TaskResult` (ledger entries, rejects, the journal's rows
for stocks) that the parent commits, after writing the day's partitions and the
record a rerun can commit from.
"""
from __future__ import annotations

import polars as pl

from .. import datasets
from ..datasets.model import Dataset
from ..datasets.stocks import session_metrics
from ..errors import ObjectMissing, RestUnavailable
from ..store import partitions, recovery
from ..store.ledger import LedgerEntry, scope_text
from .model import FileTask, Task, TaskResult, WorkerContext
from .parse import REJECT_SCHEMA, Parsed, read_csv_gz, validate_rows
from .quality import suspect_reason


def _entry(task: Task, f: FileTask, parsed: Parsed | None, status: str, error: str | None = None) -> LedgerEntry:
    obj = f.obj
    return LedgerEntry(key=f.key, dataset=f.dataset, trade_date=task.date, etag=obj.etag if obj else None,
                       size=obj.size if obj else None, last_modified=obj.last_modified if obj else None,
                       rows=parsed.frame.height if parsed else 0, rejected=parsed.rejects.height if parsed else 0,
                       off_date=parsed.off_date if parsed else 0, status=status, error=error,
                       scope=scope_text(task.keep if task.keep is not None else task.scope))


def read_local(f: FileTask) -> bytes:
    """The bytes of a file the fetch stage (or a mirror) put on local disk for this task."""
    try:
        with open(f.local, "rb") as fh:  # type: ignore[arg-type]
            return fh.read()
    except FileNotFoundError:
        raise ObjectMissing("the file is gone from local disk", key=f.key,
                            hint="a mirror changed during the run? rerun") from None


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
    if not task.rest_symbols:
        return None  # pre/after-hours stay NULL outside the symbol scope
    frames = client.minute_aggs_many(sorted(task.rest_symbols), task.date)
    frame = pl.concat(list(frames.values())) if frames else None
    if frame is None or frame.height == 0:
        return None
    return validate_rows(frame, f"REST minute aggs {task.date}", ds, task.bounds)


def _suspects(task: Task, parsed: dict[str, Parsed], sources: dict[str, str]) -> dict[str, str]:
    expected = dict(task.expected_rows)
    day_name = f"{task.family}/day_aggs"
    day_tickers = parsed[day_name].frame["ticker"].n_unique() if day_name in parsed else None
    out = {}
    for name, p in parsed.items():
        if sources.get(name) != "flatfile":
            continue
        reason = suspect_reason(p.frame.height, p.frame["ticker"].n_unique(),
                                day_tickers if name.endswith("/minute_aggs") else None, expected.get(name))
        if reason is not None:
            out[name] = reason
    return out


def _write(ctx: WorkerContext, task: Task, parsed: dict[str, Parsed], sources: dict[str, str]) -> None:
    for name, p in parsed.items():
        if sources[name] != "flatfile":
            continue  # REST rows feed the journal only; the partition waits for the flat file
        ds = datasets.get(name)
        partitions.write_atomic(partitions.bars_table(p.frame, ds.time_column),
                                partitions.partition_path(ctx.parquet_root, name, task.date))


def process_task(ctx: WorkerContext, task: Task) -> TaskResult:
    """Load one day of one family; raises a FlatloadError naming the key when the day cannot load."""
    parsed: dict[str, Parsed] = {}
    ledger: list[LedgerEntry] = []
    rejects: list[pl.DataFrame] = []
    warnings: list[str] = []
    sources: dict[str, str] = {}
    nbytes = rows = 0
    for f in task.files:
        ds = datasets.get(f.dataset)
        if f.obj is None:
            p = _from_rest(ctx, task, ds, f)
            sources[f.dataset] = "rest"
            ledger.append(_entry(task, f, None, "missing", "filled from REST"))
        else:
            data = f.data if f.data is not None else read_local(f) if f.local is not None else ctx.source.get(f.key)
            nbytes += len(data)
            p = read_csv_gz(data, f.key, ds, task.bounds, task.keep)
            sources[f.dataset] = "flatfile"
            ledger.append(_entry(task, f, p, "loaded"))
        if p is None:
            continue
        parsed[f.dataset] = p
        rows += p.rows_read
        warnings.extend(p.warnings)
        if p.rejects.height:
            rejects.append(p.rejects.with_columns(key=pl.lit(f.key)))
        if p.off_date:
            warnings.append(f"{f.key}: {p.off_date} row(s) dated another {ds.calendar.zone} day were not counted")
    metrics = None
    if task.journal:
        minute, day = (parsed.get(n) for n in datasets.JOURNAL_INPUTS)
        metrics = session_metrics(minute.frame if minute else None, day.frame if day else None, task.bounds)
    _write(ctx, task, parsed, sources)
    if metrics is not None:
        partitions.write_atomic(metrics, partitions.partition_path(ctx.parquet_root, partitions.METRICS, task.date))
    reject_frame = (pl.concat(rejects).select("key", *REJECT_SCHEMA) if rejects
                    else pl.DataFrame(schema={"key": pl.String(), **REJECT_SCHEMA}))
    result = TaskResult(task.date, task.family, ledger, sources, reject_frame, metrics, rows, nbytes, warnings,
                        _suspects(task, parsed, sources))
    # written last, with what the commit needs: if the commit never happens (journal
    # locked, kill -9), a rerun commits from here instead of fetching the day again
    recovery.write_record(ctx.parquet_root, task.family, task.date, result.to_record())
    return result.scoped(task.scope)
