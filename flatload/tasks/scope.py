"""Which symbols one day of one family keeps, for each use: one value the plan, the worker and the commit share.

A run's ``--symbols`` limit the derived rows (the stocks journal) and the rows of stocks tick files;
``--underlyings`` limit options rows at parse time; REST fills minute bars only for the REST symbols.
What a loaded day covers is recorded with it (ledger and day status), so that a later run with a
wider scope loads it again and one with a narrower or equal scope skips it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..datasets.derived import DerivedTable
from ..datasets.model import Dataset
from ..settings import Settings
from ..store.database.ledger import scope_covers, scope_text


@dataclass(frozen=True)
class Scope:
    """The symbol sets of one day of one family (None: every symbol)."""

    #: the run's ``--symbols``: the derived rows and the stocks tick rows kept
    symbols: frozenset[str] | None = None
    #: the run's ``--underlyings``: options rows kept at parse time
    underlyings: frozenset[str] | None = None
    #: symbols whose minute bars REST may fill when the minute file is missing
    rest: frozenset[str] | None = None
    #: the day derives a table (the stocks journal): its aggregates are recorded with ``symbols``
    derives: bool = False

    def rows(self, ds: Dataset) -> frozenset[str] | None:
        """The rows a file of ``ds`` keeps at parse time, by its row filter."""
        if ds.row_filter == "symbols":
            return self.symbols
        if ds.row_filter == "underlyings":
            return self.underlyings
        return None

    def recorded(self, ds: Dataset) -> frozenset[str] | None:
        """What a day of ``ds`` loaded in this scope covers (its ledger and day status say so)."""
        if ds.row_filter is not None:
            return self.rows(ds)
        return self.symbols if self.derives else None

    def recorded_text(self, ds: Dataset) -> str:
        """:meth:`recorded` as the ledger stores it."""
        return scope_text(self.recorded(ds))

    def covered_by(self, ds: Dataset, stored: str) -> bool:
        """True when a day of ``ds`` loaded with the stored scope ``stored`` already holds this scope's rows."""
        return scope_covers(stored, self.recorded(ds))

    @property
    def derived_rows(self) -> frozenset[str] | None:
        """The symbols the derived table keeps (and replaces, within its day)."""
        return self.symbols if self.derives else None


def scope_for(settings: Settings, datasets: Iterable[Dataset], derived: Iterable[DerivedTable] = (),
              rest: frozenset[str] | None | type[...] = ...) -> Scope:
    """The scope of a day of ``datasets`` (one family) deriving ``derived``, under ``settings``.

    ``rest`` is the day's REST symbols when a caller names them per day (a pairs file); by default
    the run's ``--symbols``.
    """
    dss = list(datasets)
    underlyings = settings.underlyings if any(d.row_filter == "underlyings" for d in dss) else None
    return Scope(settings.symbols, underlyings, settings.symbols if rest is ... else rest,  # type: ignore[arg-type]
                 bool(tuple(derived)))
