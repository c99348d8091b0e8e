"""The run loop: feed tasks to the executor, collect results, hand them to the committer, obey signals.

At most ``workers + 1`` tasks are in flight. SIGINT/SIGTERM stop the feeding; the
days in flight finish and are committed, and the run is recorded as interrupted.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import FlatloadError, NotEntitled, StorageError
from ..settings import Settings
from ..store import partitions
from ..store.runlog import RunLog
from ..tasks.aggs import process_task
from ..tasks.model import Task, TaskResult
from .commit import Committer
from .executors import make_pool
from .progress import Progress, Reporter
from .summary import DayFailure, LoadSummary, Plan

log = logging.getLogger("flatload")

def _names(task: Task) -> tuple[str, ...]:
    return tuple(f.dataset for f in task.files)


#: commit at least this often (seconds) so a long load makes steady, resumable progress
COMMIT_EVERY = 5.0


class Stopper:
    """SIGINT/SIGTERM during a run: the first stops the feeding of days, a second aborts the days in flight.

    The first signal is acknowledged at once; the days in flight finish and are committed. A
    second one kills the workers (their days are dropped: partitions are replaced atomically and
    half-written temp files are swept) and the run commits what had finished, then exits.
    Held until the run is recorded, final commit included. (Python's handler also replaces the
    native SIGINT handler Polars installs at import, which would raise KeyboardInterrupt inside a query.)
    """

    def __init__(self, reporter: Reporter, in_flight: Callable[[], int]) -> None:
        self.got: list[int] = []
        self.reporter = reporter
        self.in_flight = in_flight
        #: True while a task runs inline in this thread: a second signal interrupts it there
        self.interrupt_inline = False

    @property
    def aborting(self) -> bool:
        """A second signal came in."""
        return len(self.got) >= 2

    def handler(self, signum: int, _frame: object) -> None:
        self.got.append(signum)
        if len(self.got) == 1:
            self.reporter.note(f"stopping after {self.in_flight()} day(s) in flight (finished days are committed); "
                               "press Ctrl-C again to abort them")
        elif len(self.got) == 2:
            self.reporter.note("aborting: the days in flight are dropped; finished days are committed")
            if self.interrupt_inline:
                raise KeyboardInterrupt

    @contextmanager
    def installed(self, enabled: bool) -> Iterator["Stopper"]:
        """The handler for SIGINT and SIGTERM while the block runs (when ``enabled``)."""
        if not enabled:
            yield self
            return
        old = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
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
    #: a failure that stops the whole run (a full disk): no point in starting more days
    stop: StorageError | None = None
    tasks: deque[Task] = field(init=False)
    inflight: dict[Future, Task] = field(init=False)
    stopper: Stopper = field(init=False)
    progress: Progress = field(init=False)
    #: families whose files answer 403 even for their latest day: the rest fail at once, without a request each
    refused: dict[str, DayFailure] = field(default_factory=dict)
    #: per family, the task sent to ask whether a 403 means "not entitled at all" or "not that far back"
    probes: dict[str, Task] = field(default_factory=dict)
    last_beat: float = 0.0

    def __post_init__(self) -> None:
        self.committer = Committer(self.settings, self.summary, self.runlog)

    def run(self, handle_signals: bool) -> None:
        """Load every task of the plan, commit, and record the run."""
        s, summary, c = self.settings, self.summary, self.committer
        t0 = time.monotonic()
        self.tasks = deque(self.plan.tasks)
        self.inflight = {}
        c.pending_fail.extend(self.plan.failed)
        # days finished by an earlier run that could not commit them: commit without fetching
        c.pending.extend(self.plan.recovered)
        total_bytes = sum(t.nbytes for t in self.tasks)
        pre_failed = self.plan.units - len(self.tasks) - len(self.plan.recovered)
        self.progress = Progress(self.plan.units, total_bytes, len(self.plan.recovered), pre_failed)
        c.state = self._state
        self.reporter.start(self.plan.units, total_bytes, len(self.plan.recovered), pre_failed)
        self._beat(force=True)
        # a day running inline (one worker) is in flight too, though not yet among the futures
        self.stopper = Stopper(self.reporter, lambda: len(self.inflight) + self.stopper.interrupt_inline)
        self.runlog.keep_fresh(lambda: {"progress": self.progress.snapshot()})
        with self.stopper.installed(handle_signals):
            c.got = self.stopper.got
            try:
                broken = self._loop()
            finally:
                self.runlog.stop_fresh()
            if broken is not None or self.worker_died:
                # a worker died, maybe mid-write; every worker is gone now and this run holds the data dir
                partitions.clean_temp(s.parquet_dir)
            summary.seconds = time.monotonic() - t0
            self._end(self.stopper.got)

    def _loop(self) -> BrokenProcessPool | None:
        s, c = self.settings, self.committer
        broken: BrokenProcessPool | None = None
        # one day to load (the usual cron refresh) runs inline: no pool to spawn
        with make_pool(s.replace(workers=max(1, min(s.workers, len(self.tasks))))) as pool:
            while self.tasks or self.inflight:
                broken = broken or self._feed(pool)
                if not self.inflight:
                    break
                done, _ = wait(list(self.inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._collect(self.inflight.pop(fut), fut)
                self._beat()
                if self.stopper.aborting:
                    self._abort(pool)
                    break
                if time.monotonic() - c.last_commit >= COMMIT_EVERY:
                    c.commit(wait_lock=False)
            self._wind_down(pool, broken)
        return broken

    def _feed(self, pool: Executor) -> BrokenProcessPool | None:
        """Submit tasks until ``workers + 1`` are in flight (none once stopping); the pool's break, if it broke.

        Inline (one worker), a day runs at submit: one at a time, so each is counted as soon as it is done.
        """
        limit = 1 if getattr(pool, "inline", False) else self.settings.workers + 1
        while self.tasks and not self.stopper.got and self.stop is None and len(self.inflight) < limit:
            task = self.tasks[0]
            if task.family in self.refused:
                self._refuse(self.tasks.popleft())
                continue
            if self._awaiting_probe(task):
                break  # the answer for the family's latest day decides whether its other days are asked for
            self.progress.begin(task.family, task.date)
            self.stopper.interrupt_inline = getattr(pool, "inline", False)
            try:
                fut = pool.submit(process_task, task)
            except BrokenProcessPool as exc:  # a worker died (OOM killer, a signal)
                return exc
            except KeyboardInterrupt:  # a second signal while the day ran inline: it is dropped
                self.dropped.append(self.tasks.popleft().date)
                return None
            finally:
                self.stopper.interrupt_inline = False
            self.inflight[fut] = self.tasks.popleft()
        return None

    def _refuse(self, task: Task) -> None:
        """A day of a family that answered 403: failed like the first, without asking again."""
        first = self.refused[task.family]
        failure = DayFailure(task.date, task.key, first.message, False, first.hint, _names(task))
        self.committer.pending_fail.append(failure)
        self.progress.end(task.family, task.date, failed=True)
        self.reporter.advance(task.date, 0, 0, failure.line())

    def _awaiting_probe(self, task: Task) -> bool:
        probe = self.probes.get(task.family)
        return probe is not None and probe is not task and any(t is probe for t in self.inflight.values())

    def _not_entitled(self, task: Task, failure: DayFailure) -> None:
        """A 403. Plans limit how far back they reach, so one old day proves little: ask for the family's
        latest day next; if that is refused too, the dataset is not in the plan and its other days fail
        without asking (one grouped line in the summary, not a request per day)."""
        probe = self.probes.get(task.family)
        if probe is task:
            self.refused[task.family] = failure
        elif probe is None:
            mine = [t for t in self.tasks if t.family == task.family]
            if mine:
                self.tasks.remove(mine[-1])
                self.tasks.appendleft(mine[-1])
                self.probes[task.family] = mine[-1]

    def _beat(self, force: bool = False) -> None:
        """Rewrite the run file with live progress at most once a second (status is never more stale)."""
        now = time.monotonic()
        if force or now - self.last_beat >= 1.0:
            self.last_beat = now
            self.runlog.write(self._state(), state="running")

    def _state(self) -> dict:
        return {**self.summary.to_dict(), "progress": self.progress.snapshot()}

    def _abort(self, pool: Executor) -> None:
        """A second signal: kill the workers; their days are dropped (the next run loads them)."""
        pool.abort()  # type: ignore[attr-defined]
        self.dropped.extend(task.date for task in self.inflight.values())
        self.inflight.clear()
        self.worker_died = True  # their temp files are swept before the run ends

    def _wind_down(self, pool: Executor, broken: BrokenProcessPool | None) -> None:
        c, got = self.committer, self.stopper.got
        if not got and not self.tasks and broken is None and self.stop is None:
            # idle workers exit while the last days commit
            pool.begin_shutdown()  # type: ignore[attr-defined]
            c.commit(wait_lock=False)
        if got:
            self.summary.interrupted = got[0]
            self.summary.not_started = sorted(self.dropped + [t.date for t in self.tasks])
        elif self.stop is not None:
            self.summary.stopped_by, self.summary.stop_code = self.stop.one_line(), self.stop.exit_code
            self.summary.not_started = sorted(t.date for t in self.tasks)
        elif self.tasks:  # the pool broke: what was never started is not loaded either
            for t in self.tasks:
                c.pending_fail.append(DayFailure(
                    t.date, t.key, f"not started: a worker process died ({broken})", True,
                    "rerun the same command; if a worker dies again, lower --workers", _names(t)))

    def _end(self, got: list[int]) -> None:
        summary, c = self.summary, self.committer
        try:
            locked = c.commit(wait_lock=True)
            summary.warnings.extend(summary.symbol_warnings())
        except StorageError as exc:  # the journal cannot take the commit (disk full): finished days stay in Parquet
            self.reporter.close()
            summary.stopped_by, summary.stop_code = exc.one_line(), exc.exit_code
            self.runlog.write(self._state(), state="failed")
            raise
        self.reporter.close()
        if locked is not None and got:
            # stopping was asked for (maybe while waiting): do not sit on the lock; the
            # finished days stay in Parquet
            summary.interrupted = summary.interrupted or got[0]
            n = len(c.pending)
            summary.warnings.append(f"{locked.message}: {n} finished day(s) not committed; their Parquet "
                                    "partitions are kept and the next run commits them without refetching")
            self.runlog.write(self._state(), state=summary.outcome)
            return  # the journal still says 'running': the next start records the run as killed
        outcome = summary.outcome if locked is None else "locked"
        self.runlog.write(self._state(), state=outcome)
        if locked is not None:
            raise locked
        c.finish(outcome)

    def _collect(self, task: Task, fut: Future) -> None:
        exc = fut.exception()
        if exc is None:
            result: TaskResult = fut.result()
            self.committer.pending.append(result)
            self.progress.end(task.family, task.date, result.rows, result.nbytes)
            self.reporter.advance(task.date, result.rows, result.nbytes)
            self.summary.warnings.extend(result.warnings)
            return
        if isinstance(exc, BrokenProcessPool):
            self.worker_died = True
            if self.stopper.got:
                # the signal reached the worker too (SIGTERM to the process group, or Ctrl-C while it
                # was still starting): the day is dropped, not failed; the next run loads it
                self.dropped.append(task.date)
                self.progress.end(task.family, task.date)
                return
            failure = DayFailure(task.date, task.key, f"a worker process died while loading this day ({exc})",
                                 True, "rerun the same command; if a worker dies again (out of memory?), "
                                       "lower --workers", _names(task))
        elif isinstance(exc, FlatloadError):
            failure = DayFailure(task.date, exc.key or task.key, exc.message, exc.transient, exc.hint, _names(task))
            if isinstance(exc, StorageError) and self.stop is None:
                self.stop = exc
        else:  # a bug, not bad input: keep the type and the traceback (shown by --verbose) so it can be reported
            log.debug("loading %s failed", task.date, exc_info=exc)
            failure = DayFailure(task.date, task.key, f"unexpected {type(exc).__name__}: {exc}", False,
                                 "a bug: report it with the traceback that --verbose shows", _names(task))
        if isinstance(exc, NotEntitled):
            self._not_entitled(task, failure)
        self.committer.pending_fail.append(failure)
        self.progress.end(task.family, task.date, failed=True)
        self.reporter.advance(task.date, 0, 0, failure.line())
