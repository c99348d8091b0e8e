"""What a dataset is: its family (key prefix, calendar), its CSV columns and their roles, its partitions."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..calendar import DayCalendar

if TYPE_CHECKING:
    import polars as pl

#: the roles a column plays in validation: a ticker must not be blank, a time must fall in the file's
#: day, prices must be present and non-negative (low <= high), volumes and counts non-negative;
#: a timestamp is another instant in integer ns (stored as a timestamp, not checked against the
#: day), a code an integer identifier (exchange, tape) only checked to parse; a date the row's trading
#: date as YYYY-MM-DD (futures' ``session_end_date``): where a dataset has one, it decides the row's day,
#: not the calendar date of its time (a futures session starts the evening before)
ROLES = ("ticker", "time", "price", "volume", "count", "text", "timestamp", "code", "date")
#: the roles whose integer nanoseconds are stored as timestamps (ns)
INSTANT_ROLES = ("time", "timestamp")
#: the stored type of a UTC timestamp in nanoseconds (an instant column's type in an aggregates partition)
UTC_NANOS = "Datetime[ns, UTC]"
#: a nanosecond timestamp without a time zone holding UTC (Parquet ``isAdjustedToUTC=false``): the tick
#: datasets' instants. DuckDB 1.x reads it as an exact TIMESTAMP_NS, where it truncates UTC-adjusted
#: nanoseconds to microseconds; Polars and pyarrow read every digit either way.
NAIVE_UTC_NANOS = "Datetime[ns]"


def polars_type(name: str) -> "pl.DataType":
    """The Polars type named ``name`` ("Float64", "Int64", "String", "Date", ``UTC_NANOS``, ``NAIVE_UTC_NANOS``).

    Types are named, not Polars objects, so that the registry can be read (planning, a no-op run)
    without importing Polars.
    """
    import polars as pl

    if name == UTC_NANOS:
        return pl.Datetime("ns", "UTC")
    if name == NAIVE_UTC_NANOS:
        return pl.Datetime("ns")
    return getattr(pl, name)()


@dataclass(frozen=True)
class Column:
    """One CSV column: its stored type, whether a file may lack it, and its role in validation."""

    name: str
    #: the stored type, by Polars name ("Float64", "Int64", "String", ...)
    dtype: str
    role: str
    required: bool = True
    #: a price or volume that may be below zero (futures spreads and butterflies trade at negative prices)
    signed: bool = False

    @property
    def whole(self) -> bool:
        """True when the stored type holds whole numbers only (a fractional value rejects its row)."""
        return self.dtype in ("Int64", "Int32", "UInt64", "UInt32")

    @property
    def read_dtype(self) -> "pl.DataType":
        """How the CSV text is read: times as integer ns, volumes as float (so fractional volume never sinks a
        file; a whole-number column then refuses fractional rows), counts as integers."""
        if self.role in INSTANT_ROLES:
            return polars_type("Int64")
        if self.role == "volume":
            return polars_type("Float64")
        if self.role == "date":
            return polars_type("Date")
        return polars_type(self.dtype)


@dataclass(frozen=True)
class Family:
    """A vendor asset class: its key prefix and its calendar (which days have files, and their bounds)."""

    name: str
    prefix: str
    calendar: DayCalendar
    #: the row filter this family's files accept at parse time (options: "underlyings")
    row_filter: str | None = None


#: derived columns: ``(frame with a _line column) -> (frame with the new columns, rejects: line, reason)``
Derive = Callable[[Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Dataset:
    """One registry entry: everything flatload needs to know to load one kind of the vendor's files."""

    family: Family
    kind: str
    columns: tuple[Column, ...]
    first_date: dt.date
    #: False where the vendor's first date is not documented: the listing decides, the date is a hint
    first_date_known: bool
    description: str
    #: a whole day's rows per ticker (day_aggs): one row stamped at the day's local midnight
    daily: bool = False
    derive: Derive | None = None
    #: the columns ``derive`` adds, with their stored types by Polars name (for the contract and the docs)
    derived_columns: tuple[tuple[str, str], ...] = ()
    #: the REST endpoint that can fill a missing file ("grouped_daily" | "minute_aggs"), or None
    rest: str | None = None
    sort_by: tuple[str, ...] = ("ticker", "window_start")
    #: tick data (trades, quotes): too large for memory, read in batches and written as several parts;
    #: loaded only when named (a family name such as ``stocks`` means its aggregates), unknown columns kept
    streamed: bool = False
    #: how the instant columns are stored: ``UTC_NANOS`` (aggregates: whole minutes, any reader is exact)
    #: or ``NAIVE_UTC_NANOS`` (tick data, whose nanoseconds DuckDB 1.x would otherwise truncate)
    instant_type: str = UTC_NANOS
    #: the dataset (of the same day) whose tickers a file of this one should all have: a minute file
    #: lacking many of the day file's tickers looks cut short
    tickers_within: str | None = None

    @property
    def name(self) -> str:
        """``stocks/minute_aggs``."""
        return f"{self.family.name}/{self.kind}"

    @property
    def folder(self) -> str:
        """The bucket folder: ``us_stocks_sip/minute_aggs_v1``."""
        return f"{self.family.prefix}/{self.kind}_v1"

    @property
    def calendar(self) -> DayCalendar:
        return self.family.calendar

    @property
    def view(self) -> str:
        """The DuckDB view over its partitions: ``stocks_minute``."""
        return f"{self.family.name}_{self.kind.split('_')[0]}"

    @property
    def csv_columns(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def time_column(self) -> str:
        return next(c.name for c in self.columns if c.role == "time")

    @property
    def date_column(self) -> str | None:
        """The column holding each row's trading date (futures' ``session_end_date``), or None: the time decides."""
        return next((c.name for c in self.columns if c.role == "date"), None)

    @property
    def instant_columns(self) -> list[str]:
        """The columns holding integer-ns instants (the time column first): stored as :attr:`instant_type`."""
        return [self.time_column] + [c.name for c in self.columns if c.role == "timestamp"]

    @property
    def row_filter(self) -> str | None:
        """The run option that limits the rows kept at parse time: ``"underlyings"`` (options), ``"symbols"``
        (stocks tick data: the tickers themselves), or None (every row is kept)."""
        if self.family.row_filter is None and self.streamed:
            return "symbols"
        return self.family.row_filter

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def key(self, d: dt.date) -> str:
        """``us_stocks_sip/minute_aggs_v1/2024/03/2024-03-11.csv.gz``."""
        return f"{self.folder}/{d:%Y}/{d:%m}/{d:%Y-%m-%d}.csv.gz"

    def month_prefixes(self, days: Iterable[dt.date]) -> list[str]:
        """One listing prefix per month touched by ``days`` (a month is < 1,000 keys: one page)."""
        return sorted({f"{self.folder}/{d:%Y}/{d:%m}/" for d in days})

    def stored_types(self) -> dict[str, str]:
        """Each partition column's type by name (derived columns last)."""
        out = {c.name: self.instant_type if c.role in INSTANT_ROLES else c.dtype for c in self.columns}
        out.update(dict(self.derived_columns))
        return out

    def partition_schema(self) -> "dict[str, pl.DataType]":
        """The typed Parquet schema of one partition (derived columns last)."""
        return {name: polars_type(t) for name, t in self.stored_types().items()}
