"""One tick file (trades, quotes) of one day, streamed: gzip CSV chunks → typed, validated rows → Parquet parts.

Memory holds a few chunks (:mod:`.csvstream`) and a row group or two, whatever the file's size.
Each chunk is read with one strict, typed Polars read; only a chunk that fails it is read again
as text so that its bad rows are named by line. The checks are the aggregates' (by column role)
in the same single pass: rejects with their lines, off-date rows counted and kept out. A row
filter (``--symbols`` for stocks, ``--underlyings`` for options) is pushed down: a chunk without
a line of a wanted ticker is not even parsed, and only the wanted rows are checked and kept.
The parts replace the day's partition whole, once the file is through (:mod:`..store.swap`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..calendar import DayBounds, SessionBounds
from ..datasets.model import Dataset
from ..store.files.parts import PartWriter
from .clustering import BackgroundWriter, ClusteredWriter, bucket_count
from .csvstream import CHUNK_BYTES, Chunk, CsvStream
from .model import FileTask, Share, Task, WorkerContext
from .parse import REJECT_SCHEMA, check_header, lenient_cast, read_schema, reject_lines, row_checks, wrong_date

#: rejected rows listed (with their lines) per file; beyond, they are counted only
MAX_LISTED_REJECTS = 100_000
#: the options contract's fixed-width tail after the root: YYMMDD, C|P, 8 strike digits
_OPTION_TAIL = 15


@dataclass
class TickLoad:
    """What loading one tick file did: counts for the ledger, the listed rejects, warnings."""

    rows_read: int = 0
    rows: int = 0
    off_date: int = 0
    rejected: int = 0
    rejects: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REJECT_SCHEMA))
    warnings: list[str] = field(default_factory=list)
    nbytes: int = 0
    parts: int = 0
    #: False when the file was not ordered by ticker (its rows went through the spill buckets)
    in_order: bool = True
    #: rows that passed the checks, and the time of a first off-date row (a slice's join decides WrongDate)
    good: int = 0
    off_sample: int | None = None
    #: a slice's sealed parts (paths, or keys on object storage), for the parent's join
    sealed: tuple[str, ...] = ()


def keep_filter(ds: Dataset, keep: frozenset[str] | None) -> pl.Expr | None:
    """The rows to keep for a run limited to ``keep`` (tickers, or options underlyings); None: every row."""
    if keep is None:
        return None
    wanted = pl.Series(sorted(keep), dtype=pl.String).implode()
    if ds.row_filter == "underlyings":
        # the root is what remains once "O:" and the fixed-width tail are cut off: no regex per row
        return pl.col("ticker").str.slice(2).str.head(-_OPTION_TAIL).is_in(wanted)
    return pl.col("ticker").is_in(wanted)


def keep_pattern(ds: Dataset, keep: frozenset[str] | None) -> re.Pattern[bytes] | None:
    """A regex finding a line of a wanted ticker in raw CSV bytes: a chunk without one is skipped unparsed."""
    if keep is None:
        return None
    names = b"|".join(re.escape(k.encode()) for k in sorted(keep, key=len, reverse=True))
    if ds.row_filter == "underlyings":
        return re.compile(rb"(?m)^O:(?:" + names + rb")\d{6}[CP]\d{8},")
    return re.compile(rb"(?m)^(?:" + names + rb"),")


def _parse(chunk: Chunk, header: list[str], ds: Dataset) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The chunk's rows typed (with ``_line``), and its bad lines when it needed the lenient read."""
    try:
        frame = pl.read_csv(chunk.data, has_header=False, schema=read_schema(header, ds), null_values=None,
                            row_index_name="_line", row_index_offset=chunk.first_line)
        return frame, None
    except pl.exceptions.ComputeError:
        pass
    text = pl.read_csv(chunk.data, has_header=False, schema={c: pl.String() for c in header},
                       truncate_ragged_lines=True, row_index_name="_line", row_index_offset=chunk.first_line)
    return lenient_cast(text, header, ds, keep_extra=True)


def stored_schema(header: list[str], ds: Dataset) -> dict[str, pl.DataType]:
    """A part's columns: the dataset's (instants as naive UTC ns timestamps, derived ones), then unknown ones as
    text."""
    schema = ds.partition_schema()
    schema.update({c: pl.String() for c in header if c not in schema})
    return schema


class _Day:
    """The running state of one file: checks each chunk, hands the good rows on, counts and keeps rejects."""

    def __init__(self, ds: Dataset, bounds: DayBounds | SessionBounds, header: list[str], out: BackgroundWriter,
                 keep: frozenset[str] | None, load: TickLoad) -> None:
        self.ds, self.bounds, self.header, self.out, self.load = ds, bounds, header, out, load
        self.keep = keep_filter(ds, keep)
        self.pattern = keep_pattern(ds, keep)
        self.schema = stored_schema(header, ds)
        self.good = 0
        self.off_sample: int | None = None
        self._rejects: list[pl.DataFrame] = []
        self._listed = 0

    def add(self, chunk: Chunk) -> None:
        self.load.rows_read += chunk.lines
        if self.pattern is not None and self.pattern.search(chunk.data) is None:
            return  # no wanted ticker in these lines: not parsed at all
        frame, bad = _parse(chunk, self.header, self.ds)
        if bad is not None:
            self._reject(bad)
        if self.keep is not None:
            frame = frame.filter(self.keep)
        checked = frame.with_columns(_reason=pl.coalesce(row_checks(frame, self.ds, self.bounds)))
        refused = checked.filter(pl.col("_reason").is_not_null())
        good = checked.filter(pl.col("_reason").is_null()).drop("_reason")
        if refused.height:
            off = refused.filter(pl.col("_reason") == "off_date")
            if off.height and self.off_sample is None:
                self.off_sample = off[self.ds.time_column][0]
            self.load.off_date += off.height
            self._reject(reject_lines(refused, self.ds, self.bounds))
        self.good += good.height
        if self.ds.derive is not None:
            good, derive_rejects = self.ds.derive(good)
            self._reject(derive_rejects)
        self.out.add(self._typed(good))

    def _typed(self, good: pl.DataFrame) -> pl.DataFrame:
        cols = [pl.col(n).cast(t) if n in good.columns else pl.lit(None, t).alias(n) for n, t in self.schema.items()]
        return good.select(cols)

    def _reject(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        self.load.rejected += rows.height
        room = MAX_LISTED_REJECTS - self._listed
        if room > 0:
            self._rejects.append(rows.head(room).cast(REJECT_SCHEMA))
            self._listed += min(room, rows.height)

    def finish(self) -> None:
        if self._rejects:
            self.load.rejects = pl.concat(self._rejects).sort("line", nulls_last=True)
        self.load.good, self.load.off_sample = self.good, self.off_sample


def unlisted_note(rejected: int, listed: int) -> list[str]:
    """The warning for rejected rows beyond those listed with their lines."""
    if rejected <= listed:
        return []
    return [f"{rejected - listed:,} more rejected rows not listed (the first {MAX_LISTED_REJECTS:,} are)"]


def _encodings(ds: Dataset, schema: dict[str, pl.DataType]) -> tuple[list[str], list[str]]:
    """Columns to dictionary-encode (few distinct values) and to delta-encode (integer-ns times, sequences)."""
    roles = {c.name: c.role for c in ds.columns}
    dictionary = [n for n in schema if roles.get(n, "text") in ("ticker", "code", "text") and n != "id"]
    dictionary += [n for n, _ in ds.derived_columns]
    delta = [n for n in schema if roles.get(n) in ("time", "timestamp", "count")]
    return dictionary, delta


def load_tick_file(ctx: WorkerContext, task: Task, f: FileTask, ds: Dataset,
                   keep: frozenset[str] | None, share: Share | None = None) -> TickLoad:
    """Load one tick file into its day's partition (replaced whole at the end); what it did.

    With ``share``, only that slice's chunks are parsed (the others are inflated and skipped) and its
    parts are sealed, not published: the parent joins the slices (:mod:`.slices`).

    Raises CorruptFile, SchemaError, WrongDate (every row of the file is another day) and
    StorageError; the partition is then left as it was.
    """
    load = TickLoad()
    whole = share is None  # the whole file is one share that this call publishes itself
    part = share or Share(f.dataset, 0, 1, CHUNK_BYTES)
    with _local_file(ctx, f) as path, CsvStream(path, f.key, part.chunk_bytes) as stream, \
            ctx.store.build_partition(ds.name, task.date, task.version, part.first_part) as build:
        load.nbytes = path.stat().st_size
        load.warnings.extend(check_header(stream.header, ds, f.key))
        schema = stored_schema(stream.header, ds)
        out = BackgroundWriter(ClusteredWriter(PartWriter(build, *_encodings(ds, schema)), build.scratch(),
                                               bucket_count(load.nbytes // part.count)))
        day = _Day(ds, task.bounds, stream.header, out, keep, load)
        try:
            for n, chunk in enumerate(stream):
                if part.owns(n):
                    day.add(chunk)
            day.finish()
            if whole:  # a slice's join counts the listed rejects and decides about the date of all slices
                load.warnings.extend(unlisted_note(load.rejected, load.rejects.height))
                if day.good == 0 and load.off_date > 0 and day.off_sample is not None:
                    raise wrong_date(day.off_sample, ds, task.date, f.key)
            load.rows = out.finish()
        except BaseException:
            out.abort()
            raise
        load.in_order, load.parts = out.in_order, len(build.parts)
        if not load.in_order:
            load.warnings.append(f"{f.key}: not ordered by ticker: its rows were clustered through spill files "
                                 "on disk (slower than a sorted file)")
        if whole:
            build.publish()
        else:
            load.sealed = build.seal()
    return load


@contextmanager
def _local_file(ctx: WorkerContext, f: FileTask) -> Iterator[Path]:
    """Where the file's bytes are: the fetch stage's spooled file or a mirror's own (``f.local``), else (a task
    run without the fetch stage) a download to the spool, removed after."""
    local = f.local or ctx.source.local_path(f.key)
    if local is not None:
        yield Path(local)
        return
    path = ctx.store.spool_path(f.key)
    try:
        ctx.source.download(f.key, f.obj.size if f.obj else None, f.obj.etag if f.obj else None, dest=path)
        yield path
    finally:
        ctx.store.remove_spooled(path)
