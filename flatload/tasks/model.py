"""What the engine hands a worker (a task) and what comes back (a result): small, picklable records."""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from ..calendar import SessionBounds
from ..fetch.source import ObjectInfo, Source
from ..store.ledger import LedgerEntry, scope_text
from .parse import REJECT_SCHEMA


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
    bounds: SessionBounds | None = None


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
    #: symbols of the scope with no row this day, each with the symbols that differ from it only in case
    unmatched: dict[str, list[str]] = field(default_factory=dict)

    def scoped(self, scope: frozenset[str] | None) -> "DayResult":
        """This result limited to the symbols in ``scope`` (None: all), ledger scope set to match."""
        if scope is None:
            return self
        wanted = pl.Series(sorted(scope), dtype=pl.String).implode()
        text = scope_text(scope)
        return DayResult(self.date, self.metrics.filter(pl.col("symbol").is_in(wanted)), self.source,
                         [dataclasses.replace(e, scope=text) for e in self.ledger], self.rejects, self.rows,
                         self.nbytes, self.warnings, _unmatched(scope, self.metrics["symbol"]))

    @property
    def rejected(self) -> int:
        """Rows refused by validation; off-date rows are counted apart (both are in ``rejects``)."""
        return self.rejects.height - self.off_date

    @property
    def off_date(self) -> int:
        """Rows dated another New York day."""
        return sum(e.off_date for e in self.ledger)

    #: rejects beyond this many make a day's recovery record too large to keep; it is then refetched
    MAX_RECORDED_REJECTS = 20_000

    def to_record(self) -> dict:
        """What a rerun needs to commit this result without refetching (JSON-serializable)."""
        rejects = self.rejects.rows() if self.rejects.height <= self.MAX_RECORDED_REJECTS else None
        return {"source": self.source, "rows": self.rows, "nbytes": self.nbytes, "warnings": self.warnings,
                "rejects": rejects,
                "ledger": [{**dataclasses.asdict(e), "trade_date": e.trade_date.isoformat()} for e in self.ledger]}

    @classmethod
    def from_record(cls, d: dt.date, metrics: pl.DataFrame, record: dict) -> "DayResult | None":
        """The result :meth:`to_record` described (scope '*'), or None when the record cannot be used."""
        if record.get("source") != "flatfile" or record.get("rejects") is None:
            return None
        ledger = [LedgerEntry(**{**e, "trade_date": dt.date.fromisoformat(e["trade_date"]), "scope": "*"})
                  for e in record["ledger"]]
        rejects = pl.DataFrame(record["rejects"], schema={"key": pl.String(), **REJECT_SCHEMA}, orient="row")
        return cls(d, metrics, "flatfile", ledger, rejects, record["rows"], 0, record["warnings"])


def _unmatched(scope: frozenset[str], present: pl.Series) -> dict[str, list[str]]:
    """Scope symbols absent from ``present``, each with the present symbols equal to it but for case."""
    missing = scope.difference(present.to_list())
    if not missing:
        return {}
    by_lower: dict[str, list[str]] = {}
    for sym in present.filter(present.str.to_lowercase().is_in(sorted(s.lower() for s in missing))).to_list():
        by_lower.setdefault(sym.lower(), []).append(sym)
    return {sym: sorted(by_lower.get(sym.lower(), [])) for sym in missing}


@dataclass
class WorkerContext:
    """Per-process state, built once by the pool initializer."""

    source: Source
    parquet_root: str
    asset: str
    rest: object | None = None  # fetch.rest.RestClient when the fallback is on and a key is set
    rest_hint: str = "set MASSIVE_API_KEY to fill missing days from the REST API"
