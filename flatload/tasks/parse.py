"""gzip CSV bytes → a typed, validated Polars frame plus the rows it refused.

Clean files take one strict, typed read. Only a file that fails it is read a
second time as text, so that each bad row can be named by line and reason while
the good rows still load. Pure: bytes and bounds in, frames out.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib
from dataclasses import dataclass, field

import polars as pl

from ..calendar import NY, SessionBounds
from ..errors import CorruptFile, SchemaError, WrongDate

CSV_COLUMNS = ["ticker", "volume", "open", "close", "high", "low", "window_start", "transactions"]
PRICES = ["open", "close", "high", "low"]
#: volume is read as float: fractional volume has been seen on the REST API and must not sink a file
READ_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(), "volume": pl.Float64(), "open": pl.Float64(), "close": pl.Float64(),
    "high": pl.Float64(), "low": pl.Float64(), "window_start": pl.Int64(), "transactions": pl.Int64(),
}
FRAME_SCHEMA: dict[str, pl.DataType] = {**READ_SCHEMA, "volume": pl.Int64()}
REJECT_SCHEMA = {"line": pl.Int64(), "reason": pl.String()}


@dataclass
class Parsed:
    """A file's good rows (typed, in CSV column order) and what was refused."""

    frame: pl.DataFrame
    rejects: pl.DataFrame  # line (1-based, header = 1), reason
    rows_read: int
    off_date: int = 0
    warnings: list[str] = field(default_factory=list)


_GZIP_MAGIC = b"\x1f\x8b"
_CORRUPT_HINT = "rerun once the vendor regenerates it, which changes its ETag; report it if it persists"


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
        return CorruptFile(problem, key=key, hint=_CORRUPT_HINT)
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
    if not line.strip():
        raise CorruptFile("no CSV header", key=key, hint="the file is empty inside the gzip; rerun later")
    problem = _not_csv(line)
    if problem is not None:
        raise CorruptFile(problem, key=key, hint="not a flat file the vendor ships; report it and skip this day")
    text = line.decode("utf-8", "replace").strip()
    delimiter = _foreign_delimiter(text)
    if delimiter is not None:
        raise SchemaError(f"wrong delimiter: the header is separated by {delimiter!r}, not ','", key=key,
                          hint="not the vendor's format; report it and skip this day")
    return [c.strip() for c in text.split(",")]


#: bytes of text: printable ASCII, tab, CR/LF, and anything from UTF-8 multi-byte sequences
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\r\n" + bytes(range(0x80, 0x100))


def _not_csv(line: bytes) -> str | None:
    """Why the first line is not CSV text (binary content inside the gzip), or None."""
    sample = line[:4096]
    binary = len(sample.translate(None, _TEXT_BYTES))
    if b"\0" in sample or binary > len(sample) * 0.05:
        return f"not CSV text: the gzip holds binary data (it starts with {bytes(sample[:12])!r})"
    return None


def _foreign_delimiter(header: str) -> str | None:
    """The separator of a header that is not comma-separated but splits on ';', tab or '|' into columns."""
    if "," in header:
        return None
    for sep in (";", "\t", "|"):
        if len(header.split(sep)) >= 3:
            return sep
    return None


def read_csv_gz(data: bytes, key: str, bounds: SessionBounds) -> Parsed:
    """Parse one flat file for session ``bounds.date``.

    Raises CorruptFile (truncated/corrupt gzip, empty object), SchemaError (a
    required column is missing) and WrongDate (every row is another NY date).
    """
    header = _header(data, key)
    missing = [c for c in CSV_COLUMNS if c not in header]
    if len(missing) == len(CSV_COLUMNS):
        found = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise SchemaError(f"not a flat file: the header names none of the expected columns (found: {found[:200]})",
                          key=key, hint="not the vendor's format; report it and skip this day")
    if missing:
        raise SchemaError(f"required column {', '.join(missing)} missing from the header", key=key,
                          hint="the vendor changed the format; report it and skip this day")
    warnings = []
    extra = [c for c in header if c not in CSV_COLUMNS]
    if extra:
        warnings.append(f"{key}: extra column {', '.join(extra)} ignored")
    try:
        frame = _read(data, header, strict=True)
        bad_lines = None
    except pl.exceptions.ComputeError:
        frame, bad_lines = _read_lenient(data, header, key)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _corrupt(data, key, exc) from None
    return _validate(frame, bad_lines, key, bounds, warnings)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _read(data: bytes, header: list[str], strict: bool) -> pl.DataFrame:
    schema = {c: READ_SCHEMA.get(c, pl.String()) for c in header}
    frame = pl.read_csv(data, schema=schema, has_header=True, null_values=None,
                        row_index_name="_line", row_index_offset=2)
    return frame.select("_line", *CSV_COLUMNS)


def _read_lenient(data: bytes, header: list[str], key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read as text, cast column by column; a value that does not cast rejects its row."""
    try:
        text = pl.read_csv(data, schema={c: pl.String() for c in header}, has_header=True,
                           truncate_ragged_lines=True, row_index_name="_line", row_index_offset=2)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _corrupt(data, key, exc) from None
    casts, reasons = [], []
    for col in CSV_COLUMNS:
        if col == "ticker":
            casts.append(pl.col(col))
            continue
        dtype = READ_SCHEMA[col]
        cast = pl.col(col).str.strip_chars().cast(dtype, strict=False)
        casts.append(cast)
        optional = col == "transactions"
        bad = pl.col(col).is_not_null() & cast.is_null()
        if not optional:
            reasons.append(pl.when(pl.col(col).is_null()).then(pl.lit(f"missing {col}")))
        reasons.append(pl.when(bad).then(pl.lit(f"non-numeric {col}")))
    out = text.select(pl.col("_line"), *casts, pl.coalesce(reasons).alias("_reason"))
    bad_lines = out.filter(pl.col("_reason").is_not_null()).select(line=pl.col("_line"), reason=pl.col("_reason"))
    return out.filter(pl.col("_reason").is_null()).drop("_reason"), bad_lines


def validate_frame(frame: pl.DataFrame, key: str, b: SessionBounds) -> Parsed:
    """Apply the file checks to a frame from another source (the REST fallback); ``line`` is the row number."""
    lined = frame.select(CSV_COLUMNS).cast(READ_SCHEMA).with_row_index("_line", offset=1)
    return _validate(lined.with_columns(pl.col("_line").cast(pl.Int64)), None, key, b, [])


def _validate(frame: pl.DataFrame, bad_lines: pl.DataFrame | None, key: str, b: SessionBounds,
              warnings: list[str]) -> Parsed:
    rows_read = frame.height + (bad_lines.height if bad_lines is not None else 0)
    ws = pl.col("window_start")
    reason = pl.coalesce(
        pl.when(pl.col("ticker").is_null() | (pl.col("ticker") == "")).then(pl.lit("blank ticker")),
        pl.when(ws.is_null()).then(pl.lit("missing window_start")),
        pl.when(ws < 0).then(pl.lit("negative window_start")),
        pl.when(pl.any_horizontal(pl.col(p).is_null() for p in PRICES) | pl.col("volume").is_null())
        .then(pl.lit("missing price or volume")),
        pl.when(pl.any_horizontal(pl.col(p) < 0 for p in PRICES)).then(pl.lit("negative price")),
        pl.when(pl.col("volume") < 0).then(pl.lit("negative volume")),
        pl.when(pl.col("low") > pl.col("high")).then(pl.lit("low above high")),
        pl.when((ws < b.day_start) | (ws >= b.day_end)).then(pl.lit("off_date")),
    )
    checked = frame.with_columns(_reason=reason)
    refused = checked.filter(pl.col("_reason").is_not_null())
    good = checked.filter(pl.col("_reason").is_null())
    off = refused.filter(pl.col("_reason") == "off_date")
    if good.height == 0 and off.height > 0:
        other = dt.datetime.fromtimestamp(off["window_start"][0] / 1e9, NY).date()
        raise WrongDate(f"every row is dated {other} (New York), not {b.date}; refusing to load it as {b.date}",
                        key=key, hint="a known vendor defect; skip this day or ask the vendor to regenerate it")
    rejects = refused.select(
        line=pl.col("_line"),
        reason=pl.when(pl.col("_reason") == "off_date")
        .then(pl.lit(f"window_start not on {b.date} (New York): ") + ws.cast(pl.String))
        .otherwise(pl.col("_reason")),
    )
    if bad_lines is not None and bad_lines.height:
        rejects = pl.concat([bad_lines.cast(REJECT_SCHEMA), rejects.cast(REJECT_SCHEMA)]).sort("line")
    frame = good.drop("_line", "_reason")
    fractional = frame.select((pl.col("volume") != pl.col("volume").round()).sum()).item()
    if fractional:
        warnings.append(f"{key}: {fractional} rows with fractional volume rounded to whole shares")
    frame = frame.with_columns(pl.col("volume").round().cast(pl.Int64))
    return Parsed(frame, rejects.cast(REJECT_SCHEMA), rows_read, off.height, warnings)
