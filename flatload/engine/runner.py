"""The run loop: feed tasks to the executor, collect results, hand them to the committer, obey signals.

At most ``workers + 1`` tasks are in flight. SIGINT/SIGTERM stop the feeding; the
days in flight finish and are committed, and the run is recorded as interrupted.
"""
from __future__ import annotations

import datetime as dt
import signal
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import FlatloadError
from ..settings import Settings
from ..store import partitions
from ..store.runlog import RunLog
from ..tasks.aggs import process_day
from ..tasks.model import DayResult, DayTask
from .commit import Committer
from .executors import make_pool
from .progress import Reporter
from .summary import DayFailure, LoadSummary, Plan

#: commit at least this often (seconds) so a long load makes steady, resumable progress
COMMIT_EVERY = 5.0


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


@dataclass
class Runner:
    """One run of a plan: the loop, the collection of results, the end of the run."""

    settings: Settings
    plan: Plan
    summary: LoadSummary
    reporter: Reporter
    runlog: RunLog
    committer: Committer = field(init=False)
    #: in-flight days given up because the signal also ended their worker
    dropped: list[dt.date] = field(default_factory=list)
    #: a pool worker died (killed by a signal, the OOM killer): the pool is broken
    worker_died: bool = False

    def __post_init__(self) -> None:
        self.committer = Committer(self.settings, self.summary, self.runlog)

    def run(self, handle_signals: bool) -> None:
        """Load every task of the plan, commit, and record the run."""
        s, summary, c = self.settings, self.summary, self.committer
        t0 = time.monotonic()
        tasks = deque(self.plan.tasks)
        c.pending_fail.extend(self.plan.failed)
        # days finished by an earlier run that could not commit them: commit without fetching
        c.pending.extend(self.plan.recovered)
        total_bytes = sum((t.minute.size if t.minute else 0) + (t.day.size if t.day else 0) for t in tasks)
        self.reporter.start(len(tasks), total_bytes)
        self.runlog.write(summary.to_dict(), state="running")
        with _signals(handle_signals) as got:
            c.got = got
            broken = self._loop(tasks, got)
            if broken is not None or self.worker_died:
                # a worker died, maybe mid-write; every worker is gone now and this run holds the data dir
                partitions.clean_temp(s.parquet_dir)
            summary.seconds = time.monotonic() - t0
            self._end(got)

    def _loop(self, tasks: deque[DayTask], got: list[int]) -> BrokenProcessPool | None:
        s, c = self.settings, self.committer
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
                if time.monotonic() - c.last_commit >= COMMIT_EVERY:
                    c.commit(wait_lock=False)
            if not got and not tasks and broken is None:
                # idle workers exit while the last days commit
                pool.begin_shutdown()  # type: ignore[attr-defined]
                c.commit(wait_lock=False)
            if got:
                self.summary.interrupted = got[0]
                self.summary.not_started = sorted(self.dropped + [t.date for t in tasks])
            elif tasks:  # the pool broke: what was never started is not loaded either
                for t in tasks:
                    c.pending_fail.append(DayFailure(
                        t.date, t.minute_key, f"not started: a worker process died ({broken})", True,
                        "rerun the same command; if a worker dies again, lower --workers"))
        return broken

    def _end(self, got: list[int]) -> None:
        summary, c = self.summary, self.committer
        locked = c.commit(wait_lock=True)
        self.reporter.close()
        if locked is not None and got:
            # stopping was asked for (maybe while waiting): do not sit on the lock; the
            # finished days stay in Parquet
            summary.interrupted = summary.interrupted or got[0]
            n = len(c.pending)
            summary.warnings.append(f"{locked.message}: {n} finished day(s) not committed; their Parquet "
                                    "partitions are kept and the next run commits them without refetching")
            self.runlog.write(summary.to_dict(), state=summary.outcome)
            return  # the journal still says 'running': the next start records the run as killed
        outcome = summary.outcome if locked is None else "locked"
        self.runlog.write(summary.to_dict(), state=outcome)
        if locked is not None:
            raise locked
        c.finish(outcome)

    def _collect(self, task: DayTask, fut: Future) -> None:
        exc = fut.exception()
        if exc is None:
            result: DayResult = fut.result()
            self.committer.pending.append(result)
            self.reporter.advance(task.date, result.rows, result.nbytes)
            self.summary.warnings.extend(result.warnings)
            return
        if isinstance(exc, BrokenProcessPool):
            self.worker_died = True
            if self.committer.got:
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
        self.committer.pending_fail.append(failure)
        self.reporter.advance(task.date, 0, 0, failure.line())
