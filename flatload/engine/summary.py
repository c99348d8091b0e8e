"""What a run planned and did: plain data the CLI prints and the run log stores."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..tasks.model import DayResult, DayTask

EXIT_OK = 0
EXIT_PARTIAL = 1


@dataclass(frozen=True)
class DayFailure:
    """A session that did not load, with the object and the reason."""

    date: dt.date
    key: str
    message: str
    transient: bool
    hint: str | None = None

    def line(self) -> str:
        """``key: message (hint)`` on one line."""
        text = f"{self.key}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict:
        return {"date": self.date.isoformat(), "key": self.key, "error": self.message, "hint": self.hint,
                "transient": self.transient}


@dataclass
class Plan:
    """Per session: a task, a skip with its reason, or a failure known before fetching."""

    days: list[dt.date]
    tasks: list[DayTask] = field(default_factory=list)
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)
    failed: list[DayFailure] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    #: days whose Parquet partitions an earlier run finished but did not commit
    recovered: list[DayResult] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The dry-run listing: keys to fetch, partitions to replace, days already loaded."""
        out = [f"{len(self.days)} session(s): {len(self.tasks) + len(self.recovered)} to load, "
               f"{len(self.skipped)} already loaded, "
               f"{len(self.failed)} cannot load"]
        for t in self.tasks:
            for obj, key in ((t.minute, t.minute_key), (t.day, t.day_key)):
                out.append(f"fetch   {key} ({obj.size:,} bytes, ETag {obj.etag})" if obj
                           else f"rest    {key} is missing: fill from the REST API")
        out.extend(f"commit  {r.date} (finished by an earlier run, not yet committed)" for r in self.recovered)
        out.extend(f"replace {p}" for p in self.replaces)
        out.extend(f"skip    {d} ({why})" for d, why in self.skipped)
        out.extend(f"fail    {f.date} {f.line()}" for f in self.failed)
        return out


@dataclass
class LoadSummary:
    """The outcome of a load/refresh run."""

    run_id: str
    command: str
    planned: int
    plan: Plan | None = None
    dry_run: bool = False
    done: list[dt.date] = field(default_factory=list)
    sources: dict[dt.date, str] = field(default_factory=dict)
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)
    failed: list[DayFailure] = field(default_factory=list)
    not_started: list[dt.date] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
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

    def record_done(self, result: DayResult) -> None:
        """Count a committed day."""
        self.done.append(result.date)
        self.sources[result.date] = result.source
        self.rows += result.rows
        self.symbols += result.metrics.height
        self.nbytes += result.nbytes
        self.rejected += result.rejected
        self.off_date += result.off_date
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
        if self.failed or self.bad_input:
            return "partial" if self.done or self.skipped else "failed"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 all loaded, 1 partial, 128 + signal when interrupted."""
        if self.interrupted:
            return 128 + self.interrupted
        if self.stop_code is not None:
            return self.stop_code
        return EXIT_PARTIAL if self.failed or self.bad_input else EXIT_OK

    def counts(self) -> dict[str, int]:
        """The counts the runs table keeps."""
        return {"planned": self.planned, "done": len(self.done), "failed": len(self.failed),
                "skipped": len(self.skipped), "rows": self.rows}

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "command": self.command, "outcome": self.outcome, **self.counts(),
                "done": [d.isoformat() for d in sorted(self.done)],
                "sources": {d.isoformat(): s for d, s in sorted(self.sources.items())},
                "skipped": [{"date": d.isoformat(), "reason": r} for d, r in self.skipped],
                "failed": [f.to_dict() for f in self.failed],
                "not_started": [d.isoformat() for d in self.not_started],
                "journal_rows": self.symbols, "bytes": self.nbytes, "rejected_rows": self.rejected,
                "off_date_rows": self.off_date, "seconds": round(self.seconds, 3),
                "warnings": self.warnings, "interrupted_by_signal": self.interrupted, "stopped_by": self.stopped_by,
                "bad_input": self.bad_input,
                "pairs_without_data": [{"symbol": s, "date": d.isoformat()} for s, d in self.pairs_without_data]}

    def lines(self) -> list[str]:
        """The human summary: one headline, then each failure with its key and reason."""
        rest = sum(1 for s in self.sources.values() if s == "rest")
        head = (f"{self.command}: {len(self.done)} day(s) loaded"
                + (f" ({rest} from REST)" if rest else "")
                + f", {len(self.skipped)} skipped, {len(self.failed)} failed; "
                f"{self.symbols:,} journal rows from {self.rows:,} CSV rows"
                + (f", {self.rejected:,} rejected" if self.rejected else "")
                + (f", {self.off_date:,} off-date" if self.off_date else "")
                + f" in {self.seconds:.1f}s")
        out = [head]
        out.extend(f"failed {f.date}: {f.line()}" for f in sorted(self.failed, key=lambda f: f.date))
        out.extend(f"bad input {line}" for line in self.bad_input)
        out.extend(f"no data: {sym} on {d}" for sym, d in self.pairs_without_data)
        if self.stopped_by:
            out.append(f"stopped: {self.stopped_by}; {len(self.not_started)} day(s) not started; "
                       "fix that and rerun the same command to resume")
        if self.interrupted:
            out.append(f"interrupted by signal {self.interrupted}: {len(self.not_started)} day(s) not started; "
                       "rerun the same command to resume")
        return out
