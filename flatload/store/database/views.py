"""The DuckDB views over the Parquet partitions, made from the dataset registry.

One view per dataset (``stocks_minute``, ``options_day``, ...) with the partition's
columns, ``trade_date`` from the partition folder, ``window_start`` as a UTC timestamp
and ``window_start_local`` in the dataset's time zone; ``minute_bars`` and ``day_bars``
stay as the stocks views they always were. Tick views (``stocks_trades``, ...) show each
instant as TIMESTAMPTZ (microseconds), exact integer nanoseconds (``<name>_ns``) and New York
time (``<name>_local``), then any column a file brought that the registry does not know. A view
is made once its dataset has files: a glob that matches nothing cannot be bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...datasets import REGISTRY, Dataset
from ..files import partitions


@dataclass(frozen=True)
class Layout:
    """Where a store's partitions are, as its views read them.

    ``root``: the SQL expression for the folder the dataset folders are in (a constant a table function
    takes); ``versioned``: partitions are versions on object storage (``date=D/version=V/``), read through
    ``partition_versions``; ``have``: the datasets (and derived tables) with partitions.
    """

    root: str
    have: frozenset[str]
    versioned: bool = False

#: the views of earlier releases, kept for the queries people already have
COMPAT_VIEWS = {
    "minute_bars": ("stocks_minute", "window_start_local AS window_start_et"),
    "day_bars": ("stocks_day", None),
}


def _columns(ds: Dataset, versioned: bool = False) -> list[str]:
    if ds.streamed:
        return _tick_columns(ds, versioned)
    out = []
    for name in ds.stored_types():
        if name == ds.time_column:
            # TIMESTAMPTZ (microseconds), not DuckDB 2's TIMESTAMPTZ_NS: a view keeps its column types, and
            # DuckDB 1.x clients cannot open a file whose catalog names a type they do not know.
            # Bars start on whole minutes, so nothing is lost.
            out.append(f"CAST({name} AS TIMESTAMPTZ) AS {name}")
            out.append(f"timezone('{ds.calendar.tz.key}', CAST({name} AS TIMESTAMPTZ)) AS {name}_local")
        else:
            out.append(name)
    return out


def _tick_instant(name: str, tz: str) -> list[str]:
    """One tick instant three ways, the same in DuckDB 2.x and 1.x and whatever the session's TimeZone.

    The partitions store naive nanosecond timestamps holding UTC (``NAIVE_UTC_NANOS``), which every DuckDB
    reads as an exact TIMESTAMP_NS: ``epoch_ns`` is the vendor's integer. The readable instant is built from
    its whole microseconds (``epoch_us`` truncates; DuckDB 2's casts round, which would move a trade at
    15:59:59.9999996 into the 16:00 close) and named UTC with ``timezone('UTC', ...)``: a bare CAST to
    TIMESTAMPTZ would read the naive value in the client's TimeZone. Every result type (TIMESTAMPTZ, BIGINT,
    TIMESTAMP) is one DuckDB 1.x knows, so 1.x clients open the file and bind the view alike.
    """
    instant = f"timezone('UTC', make_timestamp(epoch_us({name})))"
    return [f"{instant} AS {name}", f"epoch_ns({name}) AS {name}_ns", f"timezone('{tz}', {instant}) AS {name}_local"]


def _tick_columns(ds: Dataset, versioned: bool = False) -> list[str]:
    """Each instant three ways (:func:`_tick_instant`); then columns the registry does not know, which a file's
    header brought (kept as text)."""
    out, instants = [], set(ds.instant_columns)
    for name in ds.stored_types():
        out += _tick_instant(name, ds.calendar.tz.key) if name in instants else [name]
    # every part holds every registry column (NULL where a file lacks one), so the exclusion always binds
    hive = ["date", "version"] if versioned else ["date"]
    out.append(f"* EXCLUDE ({', '.join([*ds.stored_types(), *hive])})")
    return out


def view_ns(ds: Dataset, name: str) -> str:
    """The SQL, over ``ds``'s view, giving the exact integer nanoseconds of its instant column ``name``.

    Tick views carry them as ``<name>_ns``, exact in every DuckDB (1.x included: the partitions' naive
    nanosecond timestamps read as TIMESTAMP_NS there); aggregates start on whole minutes, where
    ``epoch_ns`` of the view's TIMESTAMPTZ is exact.
    """
    return f"{name}_ns" if ds.streamed else f"epoch_ns({name})"


def dataset_view(ds: Dataset, layout: Layout) -> str:
    """``CREATE OR REPLACE VIEW`` for one dataset, reading ``<root>/<family>/<kind>/`` (on object storage only
    the versions the journal points at: a version being written, or superseded, is never read)."""
    cols = ",\n    ".join(["ticker", "CAST(date AS DATE) AS trade_date",
                           *(c for c in _columns(ds, layout.versioned) if c != "ticker")])
    glob = f"{ds.name}/date=*/version=*/*.parquet" if layout.versioned else partitions.glob(ds.name)
    body = (f"CREATE OR REPLACE VIEW {ds.view} AS\nSELECT\n    {cols}\n"
            f"FROM read_parquet({layout.root} || '/{glob}', hive_partitioning = true, union_by_name = true)")
    if layout.versioned:
        body += (f"\nWHERE (CAST(date AS DATE), CAST(version AS VARCHAR)) IN "
                 f"(SELECT trade_date, version FROM partition_versions WHERE dataset = '{ds.name}')")
    return body


def compat_view(name: str, base: str, extra: str | None) -> str:
    """``minute_bars`` / ``day_bars``: the stocks views under their old names (plus ``window_start_et``)."""
    select = "*" if extra is None else f"*, {extra}"
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {base}"


def wanted(layout: Layout) -> set[str]:
    """The dataset views a store with these partitions has once its schema is applied."""
    return {ds.view for ds in REGISTRY.values() if ds.name in layout.have}


def view_statements(layout: Layout) -> list[str]:
    """The statements for every dataset that has partitions in ``layout``."""
    out, made = [], set()
    for ds in REGISTRY.values():
        if ds.name in layout.have:
            out.append(dataset_view(ds, layout))
            made.add(ds.view)
    out += [compat_view(name, base, extra) for name, (base, extra) in COMPAT_VIEWS.items() if base in made]
    return out
