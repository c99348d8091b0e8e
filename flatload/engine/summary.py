"""What a run planned and did: plain data the CLI prints and the run log stores."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..tasks.model import Task, TaskResult

EXIT_OK = 0
EXIT_PARTIAL = 1
#: contiguous failures with the same cause are shown as one line once there are this many
GROUP_FROM = 3


@dataclass(frozen=True)
class DayFailure:
    """A day that did not load, with the object that failed and the reason; ``datasets`` it left unloaded."""

    date: dt.date
    key: str
    message: str
    transient: bool
    hint: str | None = None
    datasets: tuple[str, ...] = ()

    def line(self) -> str:
        """``key: message (hint)`` on one line."""
        text = f"{self.key}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def cause(self) -> tuple[str, str | None, tuple[str, ...]]:
        """What failures share when they fail for the same reason (the key differs day by day)."""
        return self.message, self.hint, self.datasets

    def to_dict(self) -> dict:
        return {"date": self.date.isoformat(), "key": self.key, "error": self.message, "hint": self.hint,
                "transient": self.transient, "datasets": list(self.datasets)}


@dataclass(frozen=True)
class FailureRange:
    """Contiguous days (in the order planned) that failed for the same reason."""

    first: DayFailure
    last: DayFailure
    count: int

    def line(self) -> str:
        """One day as ``D: key: message (hint)``; a range as ``N days A..B: message (hint)``."""
        if self.count == 1:
            return f"{self.first.date}: {self.first.line()}"
        head = f"{self.count:,} days {self.first.date}..{self.last.date}: {self.first.message}"
        return f"{head} ({self.first.hint})" if self.first.hint else head


def group_failures(failures: Iterable[DayFailure], order: Sequence[dt.date]) -> list[FailureRange]:
    """Runs of failures that share a cause and follow each other in ``order`` (the days planned)."""
    index = {d: i for i, d in enumerate(order)}
    out: list[FailureRange] = []
    for f in sorted(failures, key=lambda f: (f.datasets, f.date)):
        prev = out[-1] if out else None
        if (prev is not None and prev.last.cause() == f.cause()
                and index.get(f.date, -2) - index.get(prev.last.date, -9) == 1):
            out[-1] = FailureRange(prev.first, f, prev.count + 1)
        else:
            out.append(FailureRange(f, f, 1))
    return sorted(out, key=lambda r: r.first.date)


def failure_lines(failures: Sequence[DayFailure], order: Sequence[dt.date], prefix: str = "failed ") -> list[str]:
    """Failures one line each, but long runs of the same cause as one line (a 30-year range is readable)."""
    out = []
    for r in group_failures(failures, order):
        if r.count < GROUP_FROM:
            days = [f for f in failures if r.first.date <= f.date <= r.last.date and f.cause() == r.first.cause()]
            out.extend(f"{prefix}{f.date}: {f.line()}" for f in sorted(days, key=lambda f: f.date))
        else:
            out.append(prefix + r.line())
    return out


@dataclass
class Plan:
    """Per family and day: a task, a skip with its reason, or a failure known before fetching."""

    days: list[dt.date]
    tasks: list[Task] = field(default_factory=list)
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)
    failed: list[DayFailure] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    #: days whose partitions an earlier run finished but did not commit
    recovered: list[TaskResult] = field(default_factory=list)
    #: what the range lost before planning (before the first file, not closed yet), one line each
    notes: list[str] = field(default_factory=list)

    @property
    def units(self) -> int:
        """Family-days this run accounts for: to load, recovered, or failing now."""
        return len(self.tasks) + len(self.recovered) + len({(f.date, f.datasets) for f in self.failed})

    def lines(self) -> list[str]:
        """The dry-run listing: keys to fetch, partitions to replace, days already loaded."""
        out = [f"{len(self.days)} day(s): {len(self.tasks) + len(self.recovered)} to load, "
               f"{len(self.skipped)} already loaded, {len(self.failed)} cannot load"]
        out.extend(f"note    {n}" for n in self.notes)
        for t in self.tasks:
            for f in t.files:
                out.append(f"fetch   {f.key} ({f.obj.size:,} bytes, ETag {f.obj.etag})" if f.obj
                           else f"rest    {f.key} is missing: fill from the REST API")
        out.extend(f"commit  {r.date} {r.family} (finished by an earlier run, not yet committed)"
                   for r in self.recovered)
        out.extend(f"replace {p}" for p in self.replaces)
        out.extend(f"skip    {d} ({why})" for d, why in self.skipped)
        out.extend(failure_lines(self.failed, self.days, prefix="fail    "))
        return out


@dataclass
class LoadSummary:
    """The outcome of a load/refresh run."""

    run_id: str
    command: str
    planned: int
    plan: Plan | None = None
    dry_run: bool = False
    #: the datasets this run loads (registry names)
    datasets: list[str] = field(default_factory=list)
    done: list[dt.date] = field(default_factory=list)
    #: per date, where its rows came from: 'rest' when any of its files came from REST
    sources: dict[dt.date, str] = field(default_factory=dict)
    #: per committed day, each dataset's status (flatfile / rest / suspect): the run file's record of it
    loaded: list[tuple[dt.date, dict[str, str]]] = field(default_factory=list)
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)
    failed: list[DayFailure] = field(default_factory=list)
    #: days loaded but flagged: their file looks incomplete (kept, and loaded again by the next run)
    suspect: list[DayFailure] = field(default_factory=list)
    not_started: list[dt.date] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: what the range lost before planning (before the first file, not closed yet)
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    symbols: int = 0
    nbytes: int = 0
    rejected: int = 0
    off_date: int = 0
    seconds: float = 0.0
    interrupted: int | None = None
    #: why the run stopped taking days before the end (a full disk), and the exit code that says so
    stopped_by: str | None = None
    stop_code: int | None = None
    #: lines of an input file (pairs) that could not be used, "file:line: reason"
    bad_input: list[str] = field(default_factory=list)
    pairs_without_data: list[tuple[str, dt.date]] = field(default_factory=list)
    #: scope symbols with no row on any day committed so far, with the symbols that differ only in case
    unmatched: dict[str, set[str]] | None = None

    def record_done(self, result: TaskResult) -> None:
        """Count a committed day (and its suspect files)."""
        self.done.append(result.date)
        if self.sources.get(result.date) != "rest":
            self.sources[result.date] = result.source
        self.rows += result.rows
        self.symbols += result.symbols
        self.nbytes += result.nbytes
        self.rejected += result.rejected
        self.off_date += result.off_date
        self.loaded.append((result.date, {ds: "suspect" if ds in result.suspect else src
                                          for ds, src in result.sources.items()}))
        keys = {e.dataset: e.key for e in result.ledger}
        self.suspect.extend(DayFailure(result.date, keys.get(ds, ds), why, True, SUSPECT_HINT, (ds,))
                            for ds, why in sorted(result.suspect.items()))
        if not result.derived:
            return
        if self.unmatched is None:
            self.unmatched = {sym: set(alts) for sym, alts in result.unmatched.items()}
        else:
            self.unmatched = {sym: alts | set(result.unmatched[sym]) for sym, alts in self.unmatched.items()
                              if sym in result.unmatched}

    def symbol_warnings(self) -> list[str]:
        """One line per requested symbol that matched nothing in the days loaded, with a case hint."""
        out = []
        for sym, alts in sorted((self.unmatched or {}).items()):
            hint = f" (did you mean {' or '.join(sorted(alts))}? tickers are case-sensitive)" if alts else ""
            out.append(f"symbol {sym} matched nothing in the {len(self.done)} session(s) loaded{hint}")
        return out

    @property
    def outcome(self) -> str:
        """ok | partial | failed | interrupted."""
        if self.interrupted:
            return "interrupted"
        if self.failed or self.bad_input or self.suspect or self.stopped_by:
            return "partial" if self.done or self.skipped else "failed"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 all loaded, 1 partial (failed or suspect days), 5 stopped by the file system, 128 + signal."""
        if self.interrupted:
            return 128 + self.interrupted
        if self.stop_code is not None:
            return self.stop_code
        return EXIT_PARTIAL if self.failed or self.bad_input or self.suspect else EXIT_OK

    def counts(self) -> dict[str, int]:
        """The counts the runs table keeps."""
        return {"planned": self.planned, "done": len(self.done), "failed": len(self.failed),
                "skipped": len(self.skipped), "rows": self.rows}

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "command": self.command, "outcome": self.outcome, **self.counts(),
                "done": [d.isoformat() for d in sorted(self.done)],
                "sources": {d.isoformat(): s for d, s in sorted(self.sources.items())},
                "loaded": [{"date": d.isoformat(), "datasets": st} for d, st in self.loaded],
                "skipped": [{"date": d.isoformat(), "reason": r} for d, r in self.skipped],
                "failed": [f.to_dict() for f in self.failed],
                "suspect": [f.to_dict() for f in self.suspect],
                "not_started": [d.isoformat() for d in self.not_started],
                "journal_rows": self.symbols, "bytes": self.nbytes, "rejected_rows": self.rejected,
                "off_date_rows": self.off_date, "seconds": round(self.seconds, 3), "notes": self.notes,
                "warnings": self.warnings, "interrupted_by_signal": self.interrupted, "stopped_by": self.stopped_by,
                "bad_input": self.bad_input,
                "pairs_without_data": [{"symbol": s, "date": d.isoformat()} for s, d in self.pairs_without_data]}

    def lines(self) -> list[str]:
        """The human summary: one headline, then failures (long runs of one cause as one line), suspects."""
        rest = sum(1 for s in self.sources.values() if s == "rest")
        head = (f"{self.command}: {len(self.done)} day(s) loaded"
                + (f" ({rest} from REST)" if rest else "")
                + f", {len(self.skipped)} skipped, {len(self.failed)} failed"
                + (f", {len(self.suspect)} suspect" if self.suspect else "")
                + f"; {self.symbols:,} journal rows from {self.rows:,} CSV rows"
                + (f", {self.rejected:,} rejected" if self.rejected else "")
                + (f", {self.off_date:,} off-date" if self.off_date else "")
                + f" in {self.seconds:.1f}s")
        order = self.plan.days if self.plan is not None else sorted({f.date for f in self.failed})
        out = [head, *(f"note: {n}" for n in self.notes)]
        out.extend(failure_lines(self.failed, order))
        out.extend(failure_lines(self.suspect, order, prefix="suspect "))
        out.extend(f"bad input {line}" for line in self.bad_input)
        out.extend(f"no data: {sym} on {d}" for sym, d in self.pairs_without_data)
        if self.stopped_by:
            out.append(f"stopped: {self.stopped_by}; {len(self.not_started)} day(s) not started; "
                       "fix that and rerun the same command to resume")
        if self.interrupted:
            out.append(f"interrupted by signal {self.interrupted}: {len(self.not_started)} day(s) not started; "
                       "rerun the same command to resume")
        return out


SUSPECT_HINT = "kept and flagged; the next run loads it again, or report it if it persists"
