"""What the engine hands a worker (a task) and what comes back (a result): small, picklable records.

A task is one day of one family: the files of the requested datasets for that day
(an object from the listing, or None when it is missing and REST fills it), the
day's window, the derived tables to build (the stocks journal from the pair), its scope.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from ..calendar import DayBounds, SessionBounds
from ..fetch.source import ObjectInfo, Source
from ..store.database.ledger import LedgerEntry, scope_text
from .scope import Scope

if TYPE_CHECKING:
    from ..store.store import Store

if TYPE_CHECKING:  # the parent plans tasks without Polars; results carry frames
    import polars as pl


@dataclass(frozen=True)
class FileTask:
    """One dataset's file for the task's day. ``obj`` is None when the listing lacks it (REST fills it).

    ``local`` is where the bytes already are when the worker gets the task: a file the fetch stage
    downloaded (spooled) or the mirror's own file; ``data`` the bytes of a small object; with neither,
    the worker fetches the object itself.
    """

    dataset: str
    key: str
    obj: ObjectInfo | None
    local: str | None = None
    #: the bytes themselves, for a small object the fetch stage kept in memory
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Task:
    """One day of one family: its files, its window, and what to derive."""

    date: dt.date
    family: str
    files: tuple[FileTask, ...]
    #: the day's window, computed by the parent so workers never load the calendar
    bounds: DayBounds | SessionBounds
    #: the derived tables to build from the day's files (their inputs are all in ``files``), by name
    derive: tuple[str, ...] = ()
    #: which symbols the day keeps, per use
    scope: Scope = field(default_factory=Scope)
    #: per dataset, the median rows of its trailing sessions (only for full days with history)
    expected_rows: tuple[tuple[str, int], ...] = ()
    #: the version its partitions are written as on object storage (fixed by the parent, so a retry of the
    #: task on another worker rewrites the same objects rather than leaving a second version)
    version: str = field(default_factory=lambda: _new_version())

    @property
    def key(self) -> str:
        """The first file's key: what a failure of the whole task names."""
        return self.files[0].key

    @property
    def nbytes(self) -> int:
        """Bytes to fetch."""
        return sum(f.obj.size for f in self.files if f.obj is not None)

    def file(self, dataset: str) -> FileTask | None:
        return next((f for f in self.files if f.dataset == dataset), None)


@dataclass(frozen=True)
class Share:
    """One slice of a large tick file: every slice inflates the whole gzip stream (it cannot be entered
    midway), and parses only the chunks ``n`` with ``n % count == index``: the parsing, most of the work,
    is shared among ``count`` workers. Slices number their parts apart, so that their parts join whole."""

    dataset: str
    index: int
    count: int
    #: decompressed bytes per chunk (the unit dealt round the slices)
    chunk_bytes: int

    #: part numbers a slice may use before the next slice's begin
    PART_SPAN = 100_000

    def owns(self, chunk: int) -> bool:
        """Whether this slice parses chunk number ``chunk`` (from 0) of the file."""
        return chunk % self.count == self.index

    @property
    def first_part(self) -> int:
        return self.index * self.PART_SPAN


def _new_version() -> str:
    from ..store.store import Store

    return Store.new_version()


@dataclass
class TaskResult:
    """What a worker hands back: small enough to pickle cheaply (never the bars themselves)."""

    date: dt.date
    family: str
    ledger: list[LedgerEntry]
    #: per dataset: where its rows came from, 'flatfile' or 'rest'
    sources: dict[str, str]
    rejects: pl.DataFrame  # key, line, reason
    #: the rows of each derived table, by its name (every symbol before :meth:`scoped`)
    derived: dict[str, pl.DataFrame] = field(default_factory=dict)
    rows: int = 0
    nbytes: int = 0
    warnings: list[str] = field(default_factory=list)
    #: per dataset: why its file looks incomplete (kept, flagged, reloaded by the next run)
    suspect: dict[str, str] = field(default_factory=dict)
    #: symbols of the scope with no journal row this day, each with the symbols that differ only in case
    unmatched: dict[str, list[str]] = field(default_factory=dict)
    #: the scope the derived rows were limited to (:meth:`scoped`)
    scope: Scope = field(default_factory=Scope)
    #: the task's version and the partitions written as it (the pointers its commit sets on object storage)
    version: str | None = None
    written: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """'flatfile' when every file came from the bucket, else 'rest' (the journal's ``source``)."""
        return "flatfile" if all(s == "flatfile" for s in self.sources.values()) else "rest"

    @property
    def symbols(self) -> int:
        """Rows of the derived tables (symbols with a journal row this day)."""
        return sum(f.height for f in self.derived.values())

    def scoped(self, scope: Scope) -> "TaskResult":
        """This result with its derived rows limited to ``scope``'s symbols, ledger scope set to match."""
        if scope.derived_rows is None or not self.derived:
            return dataclasses.replace(self, scope=scope)
        import polars as pl

        from ..datasets import DERIVED

        wanted = pl.Series(sorted(scope.derived_rows), dtype=pl.String).implode()
        text = scope_text(scope.derived_rows)
        derived = {n: f.filter(pl.col(DERIVED[n].symbol_column).is_in(wanted)) for n, f in self.derived.items()}
        present = pl.concat([f[DERIVED[n].symbol_column] for n, f in self.derived.items()])
        return dataclasses.replace(self, derived=derived, scope=scope,
                                   ledger=[dataclasses.replace(e, scope=text) for e in self.ledger],
                                   unmatched=_unmatched(scope.derived_rows, present))

    @property
    def rejected(self) -> int:
        """Rows refused by validation; off-date rows are counted apart (both are in ``rejects``)."""
        return self.rejects.height - self.off_date

    @property
    def off_date(self) -> int:
        """Rows dated another day."""
        return sum(e.off_date for e in self.ledger)

    #: rejects beyond this many make a day's recovery record too large to keep; it is then refetched
    MAX_RECORDED_REJECTS = 20_000

    def to_record(self) -> dict:
        """What a rerun needs to commit this result without refetching (JSON-serializable; the derived rows
        are read back from their partitions)."""
        rejects = self.rejects.rows() if self.rejects.height <= self.MAX_RECORDED_REJECTS else None
        return {"family": self.family, "sources": self.sources, "rows": self.rows, "nbytes": self.nbytes,
                "warnings": self.warnings, "suspect": self.suspect, "rejects": rejects,
                "version": self.version, "written": list(self.written),
                "ledger": [{**dataclasses.asdict(e), "trade_date": e.trade_date.isoformat()} for e in self.ledger]}

    @classmethod
    def from_record(cls, d: dt.date, record: dict, derived: dict[str, pl.DataFrame]) -> "TaskResult | None":
        """The result :meth:`to_record` described (ledger scope '*'), or None when the record cannot be used."""
        if record.get("rejects") is None or any(s != "flatfile" for s in record.get("sources", {}).values()):
            return None
        ledger = [LedgerEntry(**{**e, "trade_date": dt.date.fromisoformat(e["trade_date"]), "scope": "*"})
                  for e in record["ledger"]]
        import polars as pl

        from .parse import REJECT_SCHEMA

        rejects = pl.DataFrame(record["rejects"], schema={"key": pl.String(), **REJECT_SCHEMA}, orient="row")
        return cls(d, record["family"], ledger, record["sources"], rejects, derived, record["rows"], 0,
                   record["warnings"], record.get("suspect", {}), version=record.get("version"),
                   written=tuple(record.get("written", ())))


def _unmatched(scope: frozenset[str], present: "pl.Series") -> dict[str, list[str]]:
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
    store: Store
    rest: object | None = None  # fetch.rest.RestClient when the fallback is on and a key is set
    rest_hint: str = "set MASSIVE_API_KEY to fill missing days from the REST API"
