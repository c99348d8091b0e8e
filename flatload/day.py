"""One session, end to end in a worker: fetch → parse → metrics → Parquet partitions.

Runs in a pool worker (or inline with one worker). It never opens DuckDB: it
returns a small :class:`DayResult` (the day's metrics, ledger entries, rejects)
that the parent commits.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import polars as pl

from . import calendar, parquet
from .errors import RestUnavailable
from .ledger import LedgerEntry, scope_text
from .metrics import session_metrics
from .parse import REJECT_SCHEMA, Parsed, read_csv_gz, validate_frame
from .s3 import DAY, MINUTE, ObjectInfo, Store


@dataclass(frozen=True)
class DayTask:
    """What to load for one session. ``minute``/``day`` are None when the object is not in the listing."""

    date: dt.date
    minute_key: str
    day_key: str
    minute: ObjectInfo | None
    day: ObjectInfo | None
    scope: frozenset[str] | None = None
    #: symbols whose minute bars may come from REST when the minute file is missing
    rest_symbols: frozenset[str] | None = None
    #: the session windows, computed by the parent so workers never load the calendar
    bounds: calendar.SessionBounds | None = None


@dataclass
class DayResult:
    """What a worker hands back: small enough to pickle cheaply."""

    date: dt.date
    metrics: pl.DataFrame
    source: str  # flatfile | rest
    ledger: list[LedgerEntry]
    rejects: pl.DataFrame  # key, line, reason
    rows: int = 0
    nbytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def scoped(self, scope: frozenset[str] | None) -> "DayResult":
        """This result limited to the symbols in ``scope`` (None: all), ledger scope set to match."""
        if scope is None:
            return self
        wanted = pl.Series(sorted(scope), dtype=pl.String).implode()
        text = scope_text(scope)
        return DayResult(self.date, self.metrics.filter(pl.col("symbol").is_in(wanted)), self.source,
                         [dataclasses.replace(e, scope=text) for e in self.ledger], self.rejects, self.rows,
                         self.nbytes, self.warnings)

    @property
    def rejected(self) -> int:
        """Rows refused by validation; off-date rows are counted apart (both are in ``rejects``)."""
        return self.rejects.height - self.off_date

    @property
    def off_date(self) -> int:
        """Rows dated another New York day."""
        return sum(e.off_date for e in self.ledger)


@dataclass
class WorkerContext:
    """Per-process state, built once by the pool initializer."""

    store: Store
    parquet_root: str
    asset: str
    rest: object | None = None  # rest.RestClient when the fallback is on and a key is set
    rest_hint: str = "set MASSIVE_API_KEY to fill missing days from the REST API"


COMMIT_RECORD = "flatload_commit"
#: rejects beyond this many make a day's commit record too large to keep; it is then refetched
_MAX_RECORDED_REJECTS = 20_000


def _commit_record(result: DayResult) -> str:
    rejects = result.rejects.rows() if result.rejects.height <= _MAX_RECORDED_REJECTS else None
    return json.dumps({"source": result.source, "rows": result.rows, "nbytes": result.nbytes,
                       "warnings": result.warnings, "rejects": rejects,
                       "ledger": [{**dataclasses.asdict(e), "trade_date": e.trade_date.isoformat()}
                                  for e in result.ledger]})


def recover_result(parquet_root: str, asset: str, d: dt.date, minute: ObjectInfo | None, day: ObjectInfo | None,
                   scope: frozenset[str] | None) -> DayResult | None:
    """A finished but uncommitted day, rebuilt from its metrics partition, if it matches the listing.

    Only flat-file days whose recorded ETags equal the listed ones qualify.
    """
    if minute is None or day is None:
        return None
    path = parquet.partition_path(parquet_root, asset, parquet.METRICS, d)
    if not path.exists():
        return None
    try:
        record = json.loads(pl.read_parquet_metadata(path).get(COMMIT_RECORD, "null"))
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    if not record or record.get("source") != "flatfile" or record.get("rejects") is None:
        return None
    ledger = [LedgerEntry(**{**e, "trade_date": dt.date.fromisoformat(e["trade_date"])}) for e in record["ledger"]]
    etags = {e.key: e.etag for e in ledger}
    if etags.get(minute.key) != minute.etag or etags.get(day.key) != day.etag:
        return None
    metrics = pl.read_parquet(path).drop("source")
    rejects = pl.DataFrame(record["rejects"], schema={"key": pl.String(), **REJECT_SCHEMA}, orient="row")
    result = DayResult(d, metrics, "flatfile", [dataclasses.replace(e, scope="*") for e in ledger], rejects,
                       record["rows"], 0, record["warnings"])
    return result.scoped(scope)


def _entry(key: str, dataset: str, d: dt.date, obj: ObjectInfo | None, parsed: Parsed | None, status: str,
           scope: str, error: str | None = None) -> LedgerEntry:
    return LedgerEntry(key=key, dataset=dataset, trade_date=d, etag=obj.etag if obj else None,
                       size=obj.size if obj else None, last_modified=obj.last_modified if obj else None,
                       rows=parsed.frame.height if parsed else 0, rejected=parsed.rejects.height if parsed else 0,
                       off_date=parsed.off_date if parsed else 0, status=status, error=error, scope=scope)


def _fetch_file(ctx: WorkerContext, obj: ObjectInfo, b: calendar.SessionBounds) -> tuple[Parsed, int]:
    data = ctx.store.get(obj.key)
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
        parquet.write_atomic(parquet.bars_table(minute.frame),
                             parquet.partition_path(root, ctx.asset, parquet.MINUTE_BARS, task.date))
    if task.day is not None:
        parquet.write_atomic(parquet.bars_table(day.frame),
                             parquet.partition_path(root, ctx.asset, parquet.DAY_BARS, task.date))
    reject_frame = (pl.concat(rejects).select("key", *REJECT_SCHEMA) if rejects
                    else pl.DataFrame(schema={"key": pl.String(), **REJECT_SCHEMA}))
    result = DayResult(task.date, all_metrics, source, ledger, reject_frame, rows, nbytes, warnings)
    # written last, with what the commit needs: if the commit never happens (journal
    # locked, kill -9), a rerun commits from here instead of fetching the day again
    parquet.write_atomic(all_metrics.with_columns(source=pl.lit(source)),
                         parquet.partition_path(root, ctx.asset, parquet.METRICS, task.date),
                         metadata={COMMIT_RECORD: _commit_record(result)})
    return result.scoped(task.scope)
