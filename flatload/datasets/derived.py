"""Derived tables: rows flatload computes per day from datasets of one family, one registry entry each.

The stocks journal (one row per symbol and session: pre-market and after-hours high/low, daily OHLCV) is
the one there is. Its entry's name is the one name the task, the worker's result, the partition folder
(``parquet/stocks/journal/``) and the recovery record use; the DuckDB table is its :attr:`table`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .journal import JOURNAL_TYPES

if TYPE_CHECKING:
    import polars as pl

#: ``(frames by input dataset name, None for an input without rows, the day's bounds) -> the day's rows``
DeriveDay = Callable[[Mapping[str, "pl.DataFrame | None"], Any], "pl.DataFrame"]


@dataclass(frozen=True)
class DerivedTable:
    """A table derived per day from its input datasets, which are then loaded (and reloaded) together."""

    name: str
    #: the DuckDB table that holds its rows
    table: str
    #: the datasets it is derived from, all of one family
    inputs: tuple[str, ...]
    #: the columns and their stored types, by Polars name
    types: Mapping[str, str]
    derive: DeriveDay
    #: the column naming a row's symbol (a run's ``--symbols`` keep only those rows)
    symbol_column: str = "symbol"

    @property
    def family(self) -> str:
        return self.name.split("/")[0]

    def wanted(self, names: Iterable[str]) -> bool:
        """True when every input is among ``names``: the table is derived only from a day of all of them."""
        return set(self.inputs) <= set(names)


def _journal_rows(frames: Mapping[str, "pl.DataFrame | None"], bounds: Any) -> "pl.DataFrame":
    from .stocks import session_metrics  # Polars: only a worker deriving a day needs it

    return session_metrics(frames.get(_MINUTE), frames.get(_DAY), bounds)


_MINUTE, _DAY = "stocks/minute_aggs", "stocks/day_aggs"
#: the stocks journal, derived from both stocks aggregate files of each session
JOURNAL = DerivedTable("stocks/journal", "journal", (_MINUTE, _DAY), JOURNAL_TYPES, _journal_rows)


def derived_tables() -> list[DerivedTable]:
    """Every derived table, in registry order."""
    return [JOURNAL]
