"""One symbol's minute bars out of a dataset's view, read-only through the store's DuckDB file."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import polars as pl

from ..datasets import Dataset
from ..errors import ConfigError, TerminalError
from .sql import frame

#: what :func:`read_minutes` returns; volume and transactions are null where the dataset has none (indices)
MINUTE_SCHEMA: dict[str, pl.DataType] = {
    "trade_date": pl.Date(), "ts": pl.Int64(), "open": pl.Float64(), "high": pl.Float64(), "low": pl.Float64(),
    "close": pl.Float64(), "volume": pl.Float64(), "transactions": pl.Int64(),
}


class NoBars(TerminalError):
    """The store has no minute bars of the symbol in the range asked for."""


def require_view(con: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    """ConfigError naming the load to run when the store has no partitions of ``ds`` yet."""
    found = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal",
                        [ds.view]).fetchall()[0][0]
    if not found:
        raise ConfigError(f"this store has no {ds.name} partitions yet",
                          hint=f"load them first: flatload load --dataset {ds.name} --start DATE --end DATE")


#: a ticker and the trade dates it is read on (inclusive; None: open): one name of a company
Name = tuple[str, "dt.date | None", "dt.date | None"]


def of_names(names: Sequence[Name], column: str = "ticker", date_column: str = "trade_date",
             slack: int = 0) -> tuple[str, list[object]]:
    """A WHERE clause (and its parameters) keeping the rows of a company's names, each on its dates; ``slack``
    days past a name's last date (an event on the day of a rename may carry either name)."""
    sql = " OR ".join(f"({column} = ? AND {date_column} BETWEEN ? AND ?)" for _ in names) or "FALSE"
    params: list[object] = []
    for t, lo, hi in names:
        params += [t, lo or dt.date.min, (hi + dt.timedelta(days=slack)) if hi else dt.date.max]
    return f"({sql})", params


def read_minutes(con: duckdb.DuckDBPyConnection, ds: Dataset, symbol: str | Sequence[Name], start: dt.date | None,
                 end: dt.date) -> pl.DataFrame:
    """The minute bars of ``symbol`` with trade dates in ``[start, end]`` (``start`` None: from the first), by time.

    ``symbol``: a ticker, or a company's names (each ticker on its dates: a company followed across its
    renames, never another company that used one of its tickers). ``ts`` is the window start in UTC ns.
    """
    volume = "CAST(volume AS DOUBLE)" if ds.column("volume") is not None else "CAST(NULL AS DOUBLE)"
    transactions = "transactions" if ds.column("transactions") is not None else "CAST(NULL AS BIGINT)"
    lower = "AND trade_date >= ?" if start is not None else ""
    who, params = of_names([(symbol, None, None)] if isinstance(symbol, str) else symbol)
    sql = (f"SELECT trade_date, epoch_ns(CAST(window_start AS TIMESTAMPTZ)) AS ts, open, high, low, close, "
           f"{volume} AS volume, CAST({transactions} AS BIGINT) AS transactions FROM {ds.view} "
           f"WHERE {who} AND trade_date <= ? {lower} ORDER BY window_start")
    params += [end] + ([start] if start is not None else [])
    return frame(con, sql, params).cast(MINUTE_SCHEMA)  # type: ignore[arg-type]


def no_bars(con: duckdb.DuckDBPyConnection, ds: Dataset, symbol: str, start: dt.date, end: dt.date) -> NoBars:
    """The error for a symbol without minute bars in range, naming tickers that differ only in case."""
    others = [r[0] for r in con.execute(
        f"SELECT DISTINCT ticker FROM {ds.view} WHERE lower(ticker) = lower(?) AND ticker <> ? "
        "AND trade_date BETWEEN ? AND ? ORDER BY ticker LIMIT 5", [symbol, symbol, start, end]).fetchall()]
    where = f"{start}" if start == end else f"{start}..{end}"
    if others:
        hint = f"tickers are case-sensitive: {', '.join(others)} has bars then"
    else:
        hint = (f"check the symbol, and what is loaded: flatload gaps --dataset {ds.name} "
                f"--start {start} --end {end}")
    return NoBars(f"no {ds.name} bars for {symbol!r} on {where}", hint=hint)
