"""plan → pool → commit: the library entry points behind the CLI.

The parent plans (calendar, listing, ledger), feeds at most ``workers + 1`` days
to the pool, and commits finished days to DuckDB in short batches. A date counts
as loaded only once its Parquet partitions are in place and its journal rows and
ledger entries are committed together; a crash leaves the old state or the new.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from . import calendar, journal, parquet
from .day import DayResult, DayTask, process_day, recover_result
from .errors import ConfigError, FlatloadError, JournalLocked
from .lock import run_lock
from .pairs import read_pairs
from .pool import make_pool
from .progress import NullReporter, Reporter
from .runlog import RunLog
from .s3 import DAY, MINUTE, ObjectInfo, Store, ensure_credentials, month_prefixes, object_key, open_store
from .settings import Settings
from .summary import DayFailure, LoadSummary, Plan

#: commit at least this often (seconds) so a long load makes steady, resumable progress
COMMIT_EVERY = 5.0


def load(start: dt.date, end: dt.date, settings: Settings, reporter: Reporter | None = None, *,
         handle_signals: bool = False) -> LoadSummary:
    """Load every NYSE session in ``[start, end]``; returns what was done, skipped and failed."""
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    days = calendar.sessions(start, end)
    # a session that has not closed yet has no file to look for: not a failure
    latest = calendar.latest_closed_session()
    future = [d for d in days if d > latest]
    days = [d for d in days if d <= latest]
    args = {"start": start, "end": end}
    if future:
        args["not_closed_yet"] = [d.isoformat() for d in future]
    summary = run_days(days, settings, reporter, command="load", arguments=args, handle_signals=handle_signals)
    summary.skipped.extend((d, "session has not closed yet") for d in future)
    return summary


def refresh(settings: Settings, date: dt.date | None = None, lookback: int = 5, reporter: Reporter | None = None,
            *, now: dt.datetime | None = None, handle_signals: bool = False) -> LoadSummary:
    """Load the latest closed session (or ``date``) and re-check the ``lookback`` sessions before it.

    Re-checking reloads objects whose ETag changed and upgrades REST rows whose flat file now exists.
    """
    if date is not None and not calendar.is_session(date):
        raise ConfigError(f"{date} is not an NYSE session", hint="pick a trading day, or omit --date")
    target = date or calendar.latest_closed_session(now)
    days = calendar.previous_sessions(target, lookback) + [target]
    args = {"date": target, "lookback": lookback}
    return run_days(days, settings, reporter, command="refresh", arguments=args, handle_signals=handle_signals)


def list_objects(store: Store, asset: str, days: Sequence[dt.date]) -> dict[str, ObjectInfo]:
    """The listing of both datasets for the months ``days`` touch, by key."""
    listing: dict[str, ObjectInfo] = {}
    for dataset in (MINUTE, DAY):
        for prefix in month_prefixes(asset, dataset, days):
            for obj in store.list(prefix):
                listing[obj.key] = obj
    return listing


def make_plan(days: Sequence[dt.date], settings: Settings, listing: dict[str, ObjectInfo], con,
              rest_scope: dict[dt.date, frozenset[str]] | None = None) -> Plan:
    """Decide per session: load (and from where), skip (already loaded), or fail now (no file, no REST).

    ``rest_scope`` gives, per date, the symbols whose minute bars may come from REST
    (default: ``settings.symbols``).
    """
    plan = Plan(days=list(days))
    keys = [object_key(settings.asset, ds, d) for d in days for ds in (MINUTE, DAY)]
    ledger = journal.read_ledger(con, keys)
    status = journal.read_day_status(con, min(days), max(days)) if days else {}
    rest_ok = settings.use_rest and bool(settings.api_key)
    for d in days:
        mk, dk = object_key(settings.asset, MINUTE, d), object_key(settings.asset, DAY, d)
        m, dy = listing.get(mk), listing.get(dk)
        state = status.get(d)
        covered = state is not None and journal.scope_covers(state[2], settings.symbols)
        if not settings.force and state and state[0] in ("flatfile", "rest") and covered:
            if _unchanged(ledger.get(mk), m) and _unchanged(ledger.get(dk), dy):
                why = "already loaded, same ETag" if state[0] == "flatfile" else \
                    "loaded from REST; flat file still missing"
                plan.skipped.append((d, why))
                continue
        if (m is None or dy is None) and not rest_ok:
            missing = mk if m is None else dk
            hint = ("set MASSIVE_API_KEY to fill it from REST, or rerun after the vendor publishes it "
                    "(about 11:00 ET the next day)") if settings.use_rest else \
                "rerun after the vendor publishes it (about 11:00 ET the next day), or drop --no-rest"
            plan.failed.append(DayFailure(d, missing, "no flat file in the bucket", True, hint))
            continue
        if not settings.force:
            recovered = recover_result(str(settings.parquet_dir), settings.asset, d, m, dy, settings.symbols)
            if recovered is not None:
                plan.recovered.append(recovered)
                continue
        replaced = [p for p in (parquet.partition_path(settings.parquet_dir, settings.asset, ds, d)
                                for ds in (parquet.MINUTE_BARS, parquet.METRICS)) if p.exists()]
        rest_symbols = rest_scope.get(d) if rest_scope is not None else settings.symbols
        plan.tasks.append(DayTask(d, mk, dk, m, dy, settings.symbols, rest_symbols, calendar.session_bounds(d)))
        plan.replaces.extend(str(p) for p in replaced)
    return plan


def _unchanged(entry: journal.LedgerEntry | None, obj: ObjectInfo | None) -> bool:
    """The ledger already holds this object as listed (a still-missing one counts if REST filled it)."""
    if entry is None:
        return False
    if obj is None:
        return entry.status == "missing"
    return entry.status == "loaded" and entry.etag == obj.etag


def _dry_plan(days: Sequence[dt.date], settings: Settings, listing: dict[str, ObjectInfo],
              rest_scope: dict[dt.date, frozenset[str]] | None) -> Plan:
    """The plan against a read-only journal (or an empty one in memory): a dry run writes nothing."""
    import duckdb

    if settings.journal_path.exists():
        con = journal.connect(settings.journal_path, settings.lock_timeout, read_only=True)
    else:
        con = duckdb.connect(":memory:")
        journal.apply_schema(con, settings.parquet_dir, settings.asset)
    try:
        return make_plan(days, settings, listing, con, rest_scope)
    finally:
        con.close()


@contextmanager
def _signals(enabled: bool) -> Iterator[list[int]]:
    """Record SIGINT/SIGTERM instead of dying: the loop stops feeding days and commits what is done.

    Held until the run is recorded, final commit included: a second Ctrl-C must not cut a
    commit or the run's record short. (Python's handler also replaces the native SIGINT
    handler Polars installs at import, which would raise KeyboardInterrupt inside a query.)
    """
    got: list[int] = []
    if not enabled:
        yield got
        return

    def handler(signum, _frame) -> None:
        got.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def load_pairs(path: Path, settings: Settings, reporter: Reporter | None = None, *,
               handle_signals: bool = False) -> LoadSummary:
    """Load the sessions named in a ``symbol,trade_date`` file; its symbols are the REST scope.

    Bad lines and pairs whose symbol has no row that day are listed in the summary.
    """
    pairs = read_pairs(path)
    if not pairs.pairs:
        summary = LoadSummary(run_id="-", command="load", planned=0)
        summary.bad_input.extend(pairs.error_lines())
        return summary
    summary = run_days(pairs.dates, settings, reporter, command="load", handle_signals=handle_signals,
                       arguments={"pairs": str(path), "pairs_count": len(pairs.pairs)},
                       rest_scope=pairs.symbols_by_date(), bad_input=pairs.error_lines())
    if not settings.dry_run and settings.journal_path.exists():
        con = journal.connect(settings.journal_path, settings.lock_timeout, read_only=True)
        try:
            summary.pairs_without_data = journal.pairs_without_rows(con, pairs.pairs)
        finally:
            con.close()
    return summary


def run_days(days: Sequence[dt.date], settings: Settings, reporter: Reporter | None = None, *,
             command: str = "load", arguments: dict | None = None, handle_signals: bool = False,
             rest_scope: dict[dt.date, frozenset[str]] | None = None,
             bad_input: list[str] | None = None) -> LoadSummary:
    """Plan and run a load of ``days``: the shared engine of load, refresh and pairs."""
    reporter = reporter or NullReporter()
    arguments = {**(arguments or {}), "symbols": sorted(settings.symbols) if settings.symbols else None,
                 "force": settings.force, "workers": settings.workers}
    ensure_credentials(settings)
    if not settings.dry_run:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # a dry run writes nothing, not even the lock file, and leaves temp files to the next real run
    with nullcontext() if settings.dry_run else run_lock(settings.data_dir, command):
        if not settings.dry_run:
            parquet.clean_temp(settings.parquet_dir)
        store = open_store(settings)
        listing = list_objects(store, settings.asset, days)
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        if settings.dry_run:
            plan = _dry_plan(days, settings, listing, rest_scope)
        else:
            con = journal.connect(settings.journal_path, settings.lock_timeout)
            try:
                journal.apply_schema(con, settings.parquet_dir, settings.asset)
                journal.mark_abandoned_runs(con)
                plan = make_plan(days, settings, listing, con, rest_scope)
                journal.start_run(con, run_id, command, arguments, os.getpid())
            finally:
                con.close()
        summary = LoadSummary(run_id=run_id, command=command, planned=len(days), plan=plan,
                              dry_run=settings.dry_run)
        summary.skipped = list(plan.skipped)
        summary.bad_input = list(bad_input or [])
        if settings.dry_run:
            summary.failed = list(plan.failed)
            return summary
        runlog = RunLog(settings.runs_dir, run_id, command, arguments)
        _Runner(settings, plan, summary, reporter, runlog).run(handle_signals)
        return summary


@dataclass
class _Runner:
    settings: Settings
    plan: Plan
    summary: LoadSummary
    reporter: Reporter
    runlog: RunLog
    pending_commit: list[DayResult] = field(default_factory=list)
    pending_fail: list[DayFailure] = field(default_factory=list)
    last_commit: float = field(default_factory=time.monotonic)
    #: SIGINT/SIGTERM received so far (filled by the handler of ``_signals``)
    got: list[int] = field(default_factory=list)
    #: in-flight days given up because the signal also ended their worker
    dropped: list[dt.date] = field(default_factory=list)
    #: a pool worker died (killed by a signal, the OOM killer): the pool is broken
    worker_died: bool = False
    #: once a signal came in, the final commit waits only this long (s) for a journal held elsewhere
    INTERRUPTED_LOCK_WAIT = 2.0

    def run(self, handle_signals: bool) -> None:
        from concurrent.futures.process import BrokenProcessPool

        s, summary = self.settings, self.summary
        t0 = time.monotonic()
        tasks = deque(self.plan.tasks)
        self.pending_fail.extend(self.plan.failed)
        # days finished by an earlier run that could not commit them: commit without fetching
        self.pending_commit.extend(self.plan.recovered)
        total_bytes = sum((t.minute.size if t.minute else 0) + (t.day.size if t.day else 0) for t in tasks)
        self.reporter.start(len(tasks), total_bytes)
        self.runlog.write(summary, state="running")
        with _signals(handle_signals) as got:
            self.got = got
            broken: BrokenProcessPool | None = None
            # one day to load (the usual cron refresh) runs inline: no pool to spawn
            with make_pool(s.replace(workers=max(1, min(s.workers, len(tasks))))) as pool:
                inflight: dict[Future, DayTask] = {}
                while tasks or inflight:
                    while tasks and not got and broken is None and len(inflight) < s.workers + 1:
                        try:
                            fut = pool.submit(process_day, tasks[0])
                        except BrokenProcessPool as exc:  # a worker died (OOM killer, a signal)
                            broken = exc
                            break
                        inflight[fut] = tasks.popleft()
                    if not inflight:
                        break
                    done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in done:
                        self._collect(inflight.pop(fut), fut)
                    if time.monotonic() - self.last_commit >= COMMIT_EVERY:
                        self._try_commit(wait_lock=False)
                if not got and not tasks and broken is None:
                    # idle workers exit while the last days commit
                    pool.begin_shutdown()  # type: ignore[attr-defined]
                    self._try_commit(wait_lock=False)
                if got:
                    summary.interrupted = got[0]
                    summary.not_started = sorted(self.dropped + [t.date for t in tasks])
                elif tasks:  # the pool broke: what was never started is not loaded either
                    for t in tasks:
                        self.pending_fail.append(DayFailure(
                            t.date, t.minute_key, f"not started: a worker process died ({broken})", True,
                            "rerun the same command; if a worker dies again, lower --workers"))
            if broken is not None or self.worker_died:
                # a worker died, maybe mid-write; every worker is gone now and this run holds the data dir
                parquet.clean_temp(s.parquet_dir)
            summary.seconds = time.monotonic() - t0
            locked = self._try_commit(wait_lock=True)
            self.reporter.close()
            if locked is not None and got:
                # stopping was asked for (maybe while waiting): do not sit on the lock; the
                # finished days stay in Parquet
                summary.interrupted = summary.interrupted or got[0]
                n = len(self.pending_commit)
                summary.warnings.append(f"{locked.message}: {n} finished day(s) not committed; their Parquet "
                                        "partitions are kept and the next run commits them without refetching")
                self.runlog.write(summary, state=summary.outcome)
                return  # the journal still says 'running': the next start records the run as killed
            outcome = summary.outcome if locked is None else "locked"
            self.runlog.write(summary, state=outcome)
            if locked is not None:
                raise locked
            self._finish(outcome)

    def _collect(self, task: DayTask, fut: Future) -> None:
        from concurrent.futures.process import BrokenProcessPool

        exc = fut.exception()
        if exc is None:
            result: DayResult = fut.result()
            self.pending_commit.append(result)
            self.reporter.advance(task.date, result.rows, result.nbytes)
            for w in result.warnings:
                self.summary.warnings.append(w)
            return
        if isinstance(exc, BrokenProcessPool):
            self.worker_died = True
            if self.got:
                # the signal reached the worker too (SIGTERM to the process group, or Ctrl-C while it
                # was still starting): the day is dropped, not failed; the next run loads it
                self.dropped.append(task.date)
                return
            failure = DayFailure(task.date, task.minute_key, f"a worker process died while loading this day ({exc})",
                                 True, "rerun the same command; if a worker dies again (out of memory?), "
                                       "lower --workers")
        elif isinstance(exc, FlatloadError):
            failure = DayFailure(task.date, exc.key or task.minute_key, exc.message, exc.transient, exc.hint)
        else:  # a bug, not bad input: keep the type so it can be reported
            failure = DayFailure(task.date, task.minute_key, f"unexpected {type(exc).__name__}: {exc}", False,
                                 "rerun with --verbose --workers 1 and report it")
        self.pending_fail.append(failure)
        self.reporter.advance(task.date, 0, 0, failure.line())

    def _connect(self, wait_lock: bool):
        """The journal; JournalLocked if it stays held. ``wait_lock``: wait up to --lock-timeout, but
        only a moment once a signal has come in (before or during the wait)."""
        path, deadline = self.settings.journal_path, time.monotonic() + self.settings.lock_timeout
        while True:
            if not wait_lock:
                return journal.connect(path, 0.5)
            if self.got:
                return journal.connect(path, min(self.settings.lock_timeout, self.INTERRUPTED_LOCK_WAIT))
            try:  # in slices, so that a signal arriving meanwhile ends the wait
                return journal.connect(path, max(0.0, min(1.0, deadline - time.monotonic())))
            except JournalLocked:
                if time.monotonic() >= deadline:
                    raise

    def _try_commit(self, wait_lock: bool) -> JournalLocked | None:
        if not self.pending_commit and not self.pending_fail:
            return None
        try:
            con = self._connect(wait_lock)
        except JournalLocked as exc:
            return exc if wait_lock else None
        try:
            while self.pending_commit:  # each day's commit is its own transaction: count it once
                r = self.pending_commit[0]
                journal.commit_day(con, r.date, r.metrics, r.source, r.ledger, r.rejects, self.summary.run_id)
                self.summary.record_done(self.pending_commit.pop(0))
            while self.pending_fail:
                f = self.pending_fail[0]
                journal.commit_failure(con, f.date, f.key, DAY if "/day_aggs" in f.key else MINUTE, f.line(),
                                       journal.scope_text(self.settings.symbols), self.summary.run_id)
                self.summary.failed.append(self.pending_fail.pop(0))
        finally:
            con.close()
        self.last_commit = time.monotonic()
        self.runlog.write(self.summary, state="running")
        return None

    def _finish(self, outcome: str) -> None:
        try:
            con = self._connect(wait_lock=True)
        except JournalLocked:
            if self.summary.interrupted:
                return  # the journal still says 'running': the next start records the run as killed
            raise
        try:
            journal.finish_run(con, self.summary.run_id, outcome, self.summary.counts(),
                               [f.to_dict() for f in self.summary.failed])
            # views over Parquet globs can only be made once files exist: the first run's are new
            journal.apply_schema(con, self.settings.parquet_dir, self.settings.asset)
        finally:
            con.close()
