"""gzip CSV bytes of one dataset → a typed, validated Polars frame plus the rows it refused.

Clean files take one strict, typed read. Only a file that fails it is read a
second time as text, so that each bad row can be named by line and reason while
the good rows still load. The dataset's columns decide the types and the checks
(by role: ticker, time, price, volume, count). Pure: bytes and bounds in, frames out.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib
from dataclasses import dataclass, field

import polars as pl

from ..calendar import DayBounds, SessionBounds
from ..datasets.model import Dataset
from ..errors import CorruptFile, SchemaError, WrongDate
from .sniff import first_line_problem

REJECT_SCHEMA = {"line": pl.Int64(), "reason": pl.String()}


@dataclass
class Parsed:
    """A file's good rows (typed, in the dataset's column order, derived columns last) and what was refused."""

    frame: pl.DataFrame
    rejects: pl.DataFrame  # line (1-based, header = 1), reason
    rows_read: int
    off_date: int = 0
    warnings: list[str] = field(default_factory=list)


_GZIP_MAGIC = b"\x1f\x8b"
CORRUPT_HINT = "rerun once the vendor regenerates it, which changes its ETag; report it if it persists"
NOT_OURS = "not the vendor's format; report it and skip this day"


def gzip_problem(data: bytes) -> str | None:
    """Why ``data`` is not a complete, intact gzip file, or None when it is.

    The stdlib reader checks every member's CRC-32 and length; reading 1 MB at a
    time keeps memory flat. Only called after a read has already failed, to name
    the fault precisely: clean files never pay for it.
    """
    if data[:2] != _GZIP_MAGIC:
        return f"not a gzip file (it starts with {bytes(data[:12])!r})"
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while fh.read(1 << 20):
                pass
    except EOFError:
        return "truncated gzip (the file ends before the gzip stream does)"
    except gzip.BadGzipFile as exc:
        return "corrupt gzip (CRC-32 mismatch)" if "CRC check failed" in str(exc) else f"corrupt gzip ({exc})"
    except zlib.error as exc:
        return f"corrupt gzip ({str(exc).split(': ', 1)[-1]})"
    return None


def _corrupt(data: bytes, key: str, exc: BaseException) -> CorruptFile:
    """The CorruptFile for a read that failed: the gzip fault when there is one, else the CSV error."""
    problem = gzip_problem(data)
    if problem is not None:
        return CorruptFile(problem, key=key, hint=CORRUPT_HINT)
    return CorruptFile(f"unreadable CSV ({_first_line(exc)})", key=key,
                       hint="the vendor may have to regenerate it; report it if it persists")


def _header(data: bytes, key: str) -> list[str]:
    if not data:
        raise CorruptFile("empty object (0 bytes)", key=key, hint="the vendor may still be writing it; rerun later")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            line = fh.readline(64 * 1024)
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(data, key, exc) from None
    return header_fields(line, key)


def header_fields(line: bytes, key: str) -> list[str]:
    """The column names of a file's first line; CorruptFile/SchemaError when it is not a vendor CSV header."""
    if not line.strip():
        raise CorruptFile("no CSV header", key=key, hint="the file is empty inside the gzip; rerun later")
    problem = first_line_problem(line)
    if problem is not None:
        raise (CorruptFile if problem.startswith("not CSV") else SchemaError)(problem, key=key, hint=NOT_OURS)
    return [c.strip() for c in line.decode("utf-8", "replace").strip().split(",")]


def check_header(header: list[str], dataset: Dataset, key: str) -> list[str]:
    """Warnings for extra columns; SchemaError when a required column is missing (or none is there)."""
    expected = dataset.csv_columns
    required = [c.name for c in dataset.columns if c.required]
    missing = [c for c in required if c not in header]
    if not set(expected) & set(header):
        found = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise SchemaError(f"not a {dataset.name} file: the header names none of its columns (found: {found[:200]})",
                          key=key, hint=NOT_OURS)
    if missing:
        raise SchemaError(f"required column {', '.join(missing)} missing from the header", key=key,
                          hint="the vendor changed the format; report it and skip this day")
    extra = [c for c in header if c not in expected]
    fate = "kept as text" if dataset.streamed else "ignored"
    return [f"{key}: extra column {', '.join(extra)} {fate}"] if extra else []


def read_csv_gz(data: bytes, key: str, dataset: Dataset, bounds: DayBounds | SessionBounds,
                keep: frozenset[str] | None = None) -> Parsed:
    """Parse one flat file of ``dataset`` for the day ``bounds.date``.

    ``keep`` limits the rows to these values of the family's row filter (options: underlyings).
    Raises CorruptFile (truncated/corrupt gzip, empty object, not CSV), SchemaError (wrong
    delimiter, a required column missing) and WrongDate (every row is another day).
    """
    header = _header(data, key)
    warnings = check_header(header, dataset, key)
    try:
        frame = _read(data, header, dataset)
        bad_lines = None
    except pl.exceptions.ComputeError:
        frame, bad_lines = _read_lenient(data, header, dataset, key)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _corrupt(data, key, exc) from None
    return validate(frame, bad_lines, key, dataset, bounds, warnings, keep)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _present(header: list[str], dataset: Dataset) -> list[str]:
    return [c.name for c in dataset.columns if c.name in header]


def read_schema(header: list[str], dataset: Dataset) -> dict[str, pl.DataType]:
    """How each column of ``header`` is read: the dataset's read types, text for columns it does not know."""
    types = {c.name: c.read_dtype for c in dataset.columns}
    return {c: types.get(c, pl.String()) for c in header}


def _read(data: bytes, header: list[str], dataset: Dataset) -> pl.DataFrame:
    frame = pl.read_csv(data, schema=read_schema(header, dataset), has_header=True, null_values=None,
                        row_index_name="_line", row_index_offset=2)
    return frame.select("_line", *_present(header, dataset))


def _read_lenient(data: bytes, header: list[str], dataset: Dataset, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read as text, cast column by column; a value that does not cast rejects its row."""
    try:
        text = pl.read_csv(data, schema={c: pl.String() for c in header}, has_header=True,
                           truncate_ragged_lines=True, row_index_name="_line", row_index_offset=2)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _corrupt(data, key, exc) from None
    return lenient_cast(text, header, dataset)


def lenient_cast(text: pl.DataFrame, header: list[str], dataset: Dataset,
                 keep_extra: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast a frame read as text (with ``_line``) to the read types; a value that does not cast rejects its row.

    Returns the good rows and the bad lines (``line, reason``). ``keep_extra`` keeps columns the
    dataset does not know (as text) after its own.
    """
    casts, reasons = [], []
    for col in dataset.columns:
        if col.name not in header:
            continue
        if col.role in ("ticker", "text"):
            casts.append(pl.col(col.name))
            continue
        text_value = pl.col(col.name).str.strip_chars()
        # Polars 2 casts no text to dates: a date is parsed, strictly ISO
        cast = (text_value.str.to_date("%Y-%m-%d", strict=False) if col.role == "date"
                else text_value.cast(col.read_dtype, strict=False))
        casts.append(cast)
        if col.required:
            reasons.append(pl.when(pl.col(col.name).is_null()).then(pl.lit(f"missing {col.name}")))
        what = "not a date (YYYY-MM-DD)" if col.role == "date" else "non-numeric"
        reasons.append(pl.when(pl.col(col.name).is_not_null() & cast.is_null())
                       .then(pl.lit(f"{what} {col.name}")))
    known = {c.name for c in dataset.columns}
    extra = [pl.col(c) for c in header if keep_extra and c not in known]
    out = text.select(pl.col("_line"), *casts, *extra, pl.coalesce(reasons).alias("_reason"))
    bad_lines = out.filter(pl.col("_reason").is_not_null()).select(line=pl.col("_line"), reason=pl.col("_reason"))
    return out.filter(pl.col("_reason").is_null()).drop("_reason"), bad_lines


def row_checks(frame: pl.DataFrame, dataset: Dataset, b: DayBounds | SessionBounds) -> list[pl.Expr]:
    """One expression per check, each the reason when the row fails it (checked in this order)."""
    present = [c for c in dataset.columns if c.name in frame.columns]
    prices = [c.name for c in present if c.role == "price"]
    ts = pl.col(dataset.time_column)
    checks = [pl.when(pl.col(c.name).is_null() | (pl.col(c.name) == "")).then(pl.lit(f"blank {c.name}"))
              for c in present if c.role == "ticker"]
    checks += [pl.when(ts.is_null()).then(pl.lit(f"missing {dataset.time_column}")),
               pl.when(ts < 0).then(pl.lit(f"negative {dataset.time_column}"))]
    required = [pl.col(c.name).is_null() for c in present if c.required and c.role in ("price", "volume")]
    if required:
        checks.append(pl.when(pl.any_horizontal(required)).then(pl.lit("missing price or volume")))
    unsigned = [c.name for c in present if c.role == "price" and not c.signed]
    if unsigned:
        checks.append(pl.when(pl.any_horizontal(pl.col(p) < 0 for p in unsigned)).then(pl.lit("negative price")))
    for c in present:
        if c.role in ("volume", "count") and not c.signed:
            checks.append(pl.when(pl.col(c.name) < 0).then(pl.lit(f"negative {c.name}")))
        if c.role == "volume" and c.whole:
            checks.append(pl.when(pl.col(c.name) != pl.col(c.name).round()).then(pl.lit(f"fractional {c.name}")))
    if {"low", "high"} <= set(prices):
        checks.append(pl.when(pl.col("low") > pl.col("high")).then(pl.lit("low above high")))
    return checks + _day_checks(dataset, ts, b)


#: how far before its session's end a row dated by its date column may start: a sanity bound only
_DATED_SLACK_NS = 7 * 86_400 * 10**9


def _day_checks(dataset: Dataset, ts: pl.Expr, b: DayBounds | SessionBounds) -> list[pl.Expr]:
    """Whether a row is of the file's day: its time within the day's window, or, where the dataset has a date
    column (futures), that date; the time then only has to be within a week before the window's end, because
    a session that absorbs a holiday's trading starts before the window the calendar expects."""
    date = dataset.date_column
    if date is None:
        return [pl.when((ts < b.day_start) | (ts >= b.day_end)).then(pl.lit("off_date"))]
    return [pl.when(pl.col(date).is_null()).then(pl.lit(f"missing {date}")),
            pl.when(pl.col(date) != pl.lit(b.date, pl.Date)).then(pl.lit("off_date")),
            pl.when((ts < b.day_end - _DATED_SLACK_NS) | (ts >= b.day_end)).then(
                pl.lit(f"{dataset.time_column} outside the week before the end of the session of {b.date}"))]


def validate(frame: pl.DataFrame, bad_lines: pl.DataFrame | None, key: str, dataset: Dataset,
             b: DayBounds | SessionBounds, warnings: list[str] | None = None,
             keep: frozenset[str] | None = None) -> Parsed:
    """Check a typed frame (with a ``_line`` column) row by row; derive, filter and type what passes."""
    warnings = list(warnings or [])
    rows_read = frame.height + (bad_lines.height if bad_lines is not None else 0)
    checked = frame.with_columns(_reason=pl.coalesce(row_checks(frame, dataset, b)))
    refused = checked.filter(pl.col("_reason").is_not_null())
    good = checked.filter(pl.col("_reason").is_null()).drop("_reason")
    off = refused.filter(pl.col("_reason") == "off_date")
    if good.height == 0 and off.height > 0:
        raise wrong_date(off[dataset.date_column or dataset.time_column][0], dataset, b.date, key)
    parts = [reject_lines(refused, dataset, b)]
    if bad_lines is not None and bad_lines.height:
        parts.append(bad_lines)
    if dataset.derive is not None:
        good, derive_rejects = dataset.derive(good)
        parts.append(derive_rejects)
    if keep is not None and dataset.family.row_filter == "underlyings":
        good = good.filter(pl.col("underlying").is_in(pl.Series(sorted(keep), dtype=pl.String).implode()))
    rejects = pl.concat([p.cast(REJECT_SCHEMA) for p in parts]).sort("line")
    return Parsed(_typed(good.drop("_line"), dataset), rejects, rows_read, off.height, warnings)


def reject_lines(refused: pl.DataFrame, dataset: Dataset, b: DayBounds | SessionBounds) -> pl.DataFrame:
    """``line, reason`` of rows refused by :func:`row_checks` (their ``_reason``), off-date rows with their time."""
    if dataset.date_column is not None:
        off = pl.lit(f"{dataset.date_column} is not {b.date}: ") + pl.col(dataset.date_column).cast(pl.String)
    else:
        off = (pl.lit(f"{dataset.time_column} not on {b.date} ({dataset.calendar.zone}): ")
               + pl.col(dataset.time_column).cast(pl.String))
    return refused.select(line=pl.col("_line"), reason=pl.when(pl.col("_reason") == "off_date").then(off)
                          .otherwise(pl.col("_reason")))


def wrong_date(when: int | dt.date, dataset: Dataset, d: dt.date, key: str) -> WrongDate:
    """The error for a file none of whose rows is dated ``d`` (``when``: the time in ns, or the date column's
    value, of one of them)."""
    other = when if isinstance(when, dt.date) else dt.datetime.fromtimestamp(when / 1e9, dataset.calendar.tz).date()
    return WrongDate(f"every row is dated {other} ({dataset.calendar.zone}), not {d}; refusing to load it as {d}",
                     key=key, hint="a known vendor defect; skip this day or ask the vendor to regenerate it")


def _typed(frame: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """The stored types (a whole-number volume column as integers), columns in the dataset's order."""
    schema = dataset.partition_schema()
    casts = [pl.col(n).cast(t) for n, t in schema.items() if n in frame.columns and t != pl.Datetime("ns", "UTC")]
    # an optional column a file lacks is stored as nulls: a view names every column, and one that no
    # partition holds (futures session files have no exchange) could not be bound
    absent = [pl.lit(None, t).alias(n) for n, t in schema.items() if n not in frame.columns]
    return frame.with_columns(casts).with_columns(absent).select(list(schema))


def validate_rows(frame: pl.DataFrame, key: str, dataset: Dataset, b: DayBounds | SessionBounds) -> Parsed:
    """Apply the file checks to a frame from another source (the REST fallback); ``line`` is the row number."""
    lined = frame.select(dataset.csv_columns).cast({c.name: c.read_dtype for c in dataset.columns})
    lined = lined.with_row_index("_line", offset=1).with_columns(pl.col("_line").cast(pl.Int64))
    return validate(lined, None, key, dataset, b)
