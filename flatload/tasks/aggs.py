"""One session of the aggregate datasets, end to end in a worker: fetch → parse → derive → write.

Runs in a pool worker (or inline with one worker). It never opens DuckDB: it
returns a small :class:`DayResult` (the day's metrics, ledger entries, rejects)
that the parent commits.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar
from ..datasets import DAY, MINUTE
from ..datasets.stocks import session_metrics
from ..errors import RestUnavailable
from ..fetch.source import ObjectInfo
from ..store import partitions, recovery
from ..store.ledger import LedgerEntry, scope_text
from .model import DayResult, DayTask, WorkerContext
from .parse import REJECT_SCHEMA, Parsed, read_csv_gz, validate_frame


def _entry(key: str, dataset: str, d: dt.date, obj: ObjectInfo | None, parsed: Parsed | None, status: str,
           scope: str, error: str | None = None) -> LedgerEntry:
    return LedgerEntry(key=key, dataset=dataset, trade_date=d, etag=obj.etag if obj else None,
                       size=obj.size if obj else None, last_modified=obj.last_modified if obj else None,
                       rows=parsed.frame.height if parsed else 0, rejected=parsed.rejects.height if parsed else 0,
                       off_date=parsed.off_date if parsed else 0, status=status, error=error, scope=scope)


def _fetch_file(ctx: WorkerContext, obj: ObjectInfo, b: calendar.SessionBounds) -> tuple[Parsed, int]:
    data = ctx.source.get(obj.key)
    return read_csv_gz(data, obj.key, b), len(data)


def _rest(ctx: WorkerContext, key: str):  # -> rest.RestClient
    if ctx.rest is None:
        raise RestUnavailable("no flat file and the REST fallback is off or has no key", key=key, hint=ctx.rest_hint)
    return ctx.rest


def _rest_day(ctx: WorkerContext, task: DayTask, b: calendar.SessionBounds) -> Parsed:
    frame = _rest(ctx, task.day_key).grouped_daily(task.date)
    # grouped-daily stamps bars at another time of day than the flat file's NY midnight;
    # the request names the date, so the date is the request's
    frame = frame.with_columns(window_start=pl.lit(b.day_start, pl.Int64))
    return validate_frame(frame, f"REST grouped daily {task.date}", b)


def _rest_minutes(ctx: WorkerContext, task: DayTask, b: calendar.SessionBounds) -> Parsed | None:
    client = _rest(ctx, task.minute_key)
    if not task.rest_symbols:
        return None  # pre/after-hours stay NULL outside the symbol scope
    frames = client.minute_aggs_many(sorted(task.rest_symbols), task.date)
    frame = pl.concat(list(frames.values())) if frames else None
    if frame is None or frame.height == 0:
        return None
    return validate_frame(frame, f"REST minute aggs {task.date}", b)


def process_day(ctx: WorkerContext, task: DayTask) -> DayResult:
    """Load one session; raises a FlatloadError naming the key when the day cannot load."""
    b = task.bounds or calendar.session_bounds(task.date)
    scope = scope_text(task.scope)
    ledger: list[LedgerEntry] = []
    rejects: list[pl.DataFrame] = []
    warnings: list[str] = []
    nbytes = rows = 0
    root = ctx.parquet_root

    def source_of(obj: ObjectInfo | None, key: str, dataset: str, from_rest) -> Parsed | None:
        nonlocal nbytes
        if obj is None:
            ledger.append(_entry(key, dataset, task.date, None, None, "missing", scope, "filled from REST"))
            return from_rest(ctx, task, b)
        parsed, n = _fetch_file(ctx, obj, b)
        nbytes += n
        ledger.append(_entry(key, dataset, task.date, obj, parsed, "loaded", scope))
        return parsed

    minute = source_of(task.minute, task.minute_key, MINUTE, _rest_minutes)
    day = source_of(task.day, task.day_key, DAY, _rest_day)
    source = "flatfile" if task.minute is not None and task.day is not None else "rest"

    for parsed, key in ((minute, task.minute_key), (day, task.day_key)):
        if parsed is None:
            continue
        rows += parsed.rows_read
        warnings.extend(parsed.warnings)
        if parsed.rejects.height:
            rejects.append(parsed.rejects.with_columns(key=pl.lit(key)))
        if parsed.off_date:
            warnings.append(f"{key}: {parsed.off_date} row(s) dated another New York day were not counted")

    all_metrics = session_metrics(minute.frame if minute else None, day.frame if day else None, b)
    if task.minute is not None:
        partitions.write_atomic(partitions.bars_table(minute.frame),
                             partitions.partition_path(root, ctx.asset, partitions.MINUTE_BARS, task.date))
    if task.day is not None:
        partitions.write_atomic(partitions.bars_table(day.frame),
                             partitions.partition_path(root, ctx.asset, partitions.DAY_BARS, task.date))
    reject_frame = (pl.concat(rejects).select("key", *REJECT_SCHEMA) if rejects
                    else pl.DataFrame(schema={"key": pl.String(), **REJECT_SCHEMA}))
    result = DayResult(task.date, all_metrics, source, ledger, reject_frame, rows, nbytes, warnings)
    # written last, with what the commit needs: if the commit never happens (journal
    # locked, kill -9), a rerun commits from here instead of fetching the day again
    recovery.write_with_record(all_metrics.with_columns(source=pl.lit(source)),
                               partitions.partition_path(root, ctx.asset, partitions.METRICS, task.date),
                               result.to_record())
    return result.scoped(task.scope)
