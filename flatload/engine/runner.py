"""The run loop: a fetch stage feeding a CPU stage, results to the committer, signals obeyed.

Tasks go first to the fetch stage (downloads ahead of the workers, within the byte budget),
then, with their bytes in place, to the executor (``workers + 1`` in flight at most). A first
SIGINT/SIGTERM stops both feeds: the days on a worker finish and are committed, the days
still downloading are dropped. A second one aborts the days on a worker too.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import deque
from contextlib import ExitStack
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from ..errors import ClusterUnavailable, FlatloadError, JournalLocked, NotEntitled, StorageError
from ..fetch import open_source
from .fetching import FetchStage
from ..settings import Settings
from ..store.store import Store
from ..store.files.runlog import RunLog
from ..tasks.model import Task, TaskResult
from .commit import Committer
from .cluster import cluster_pool
from .executors import make_pool
from .failures import Entitlement, failure_of, names
from .events import RunEvents
from .progress import Reporter
from .slicing import submit_day, width
from .stopping import Stopper
from .summary import DayFailure, LoadSummary, Plan

#: commit at least this often (seconds) so a long load makes steady, resumable progress
COMMIT_EVERY = 5.0
#: days fetched ahead of the workers, at most (the byte budget usually binds first)
AHEAD = 2


@dataclass
class Runner:
    """One run of a plan: the loop, the collection of results, the end of the run."""

    settings: Settings
    plan: Plan
    summary: LoadSummary
    reporter: Reporter
    runlog: RunLog
    committer: Committer = field(init=False)
    events: RunEvents = field(init=False)
    #: finished days not yet committed, and failed days not yet recorded
    pending: list[TaskResult] = field(default_factory=list)
    pending_fail: list[DayFailure] = field(default_factory=list)
    last_commit: float = field(default_factory=time.monotonic)
    #: days given up because a signal stopped or aborted them
    dropped: list[dt.date] = field(default_factory=list)
    #: a pool worker died (killed by a signal, the OOM killer): the pool is broken
    worker_died: bool = False
    #: a failure that stops the whole run (a full disk): no point in starting more days
    stop: FlatloadError | None = None
    entitlement: Entitlement = field(default_factory=Entitlement)
    tasks: deque[Task] = field(init=False)
    fetching: dict[Future, Task] = field(default_factory=dict)
    ready: deque[Task] = field(default_factory=deque)
    inflight: dict[Future, Task] = field(default_factory=dict)
    #: workers each day in flight keeps busy (a day loaded in slices: one per slice)
    busy: dict[Future, int] = field(default_factory=dict)
    stopper: Stopper = field(init=False)
    #: days the executor runs at once (its workers), and whether its workers fetch their own objects
    slots: int = 1
    own_fetch: bool = False

    def __post_init__(self) -> None:
        self.committer = Committer(self.settings, self.summary.run_id, lambda: bool(self.stopper.got))
        self.events = RunEvents(self.reporter, self.runlog, self.summary)

    def run(self, handle_signals: bool) -> None:
        """Load every task of the plan, commit, and record the run."""
        s, summary = self.settings, self.summary
        t0 = time.monotonic()
        self.tasks = deque(self.plan.tasks)
        self.pending_fail.extend(self.plan.failed)
        # days finished by an earlier run that could not commit them: commit without fetching
        self.pending.extend(self.plan.recovered)
        pre_failed = self.plan.units - len(self.tasks) - len(self.plan.recovered)
        # a day running inline (one worker) is in flight too, though not yet among the futures
        self.stopper = Stopper(self.reporter, lambda: len(self.inflight) + self.stopper.interrupt_inline)
        self.events.started(self.plan.units, sum(t.nbytes for t in self.tasks), len(self.plan.recovered), pre_failed)
        with self.stopper.installed(handle_signals):
            try:
                broken = self._loop()
            finally:
                self.events.closing()
                Store.of(s).sweep_spool()
            if broken is not None or self.worker_died:
                # a worker died, maybe mid-write; every worker is gone now and this run holds the data dir
                Store.of(s).clean_temp()
            summary.seconds = time.monotonic() - t0
            self._end(self.stopper.got)

    def _stopping(self) -> bool:
        return bool(self.stopper.got) or self.stop is not None

    def _loop(self) -> BrokenProcessPool | None:
        s = self.settings
        broken: BrokenProcessPool | None = None
        # one day to load (the usual cron refresh) runs inline, no pool to spawn, unless its tick file is loaded
        # in slices; a cluster is used as asked
        pools = cluster_pool(s) if s.cluster else make_pool(s.replace(workers=width(self.tasks, s.workers,
                                                                                     s.slice_slots(s.workers),
                                                                                     s.slice_bytes)))
        with ExitStack() as stack:
            try:
                pool = stack.enter_context(pools)
            except ClusterUnavailable as exc:  # nothing started: the run ends naming the scheduler
                self.stop = exc
                self._wind_down(None, None)
                return None
            stage = stack.enter_context(FetchStage(open_source(s), Store.of(s), s.prefetch_budget(), s.spool_above))
            self.slots = getattr(pool, "slots", s.workers)
            self.own_fetch = getattr(pool, "fetches_own", False)
            while self.tasks or self.fetching or self.ready or self.inflight:
                self._prefetch(stage)
                broken = broken or self._feed(pool, stage)
                pending = [*self.fetching, *self.inflight]
                if not pending:
                    if self.ready and broken is None and not self._stopping():
                        continue
                    break
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut in self.fetching:
                        self._fetched(self.fetching.pop(fut), fut, stage)
                    else:
                        self.busy.pop(fut, None)
                        self._collect(self.inflight.pop(fut), fut, stage)
                self.events.beat()
                if self.stopper.aborting:
                    self._abort(pool, stage)
                    break
                if self._stopping():
                    stage.cancel()
                if time.monotonic() - self.last_commit >= COMMIT_EVERY:
                    self._commit_now()
            self._wind_down(pool, broken)
        return broken

    def _prefetch(self, stage: FetchStage) -> None:
        """Start downloading the next days while the budget and the look-ahead allow (none once stopping)."""
        while (self.tasks and not self._stopping() and len(self.fetching) + len(self.ready) < self._ahead()
               and (self.own_fetch or stage.room_for(self.tasks[0]))):
            task = self.tasks[0]
            refused = self.entitlement.refused_like(task)
            if refused is not None:
                self.tasks.popleft()
                self._failed(task, refused, None)
                continue
            if self.entitlement.waiting(task):
                break  # the answer for the family's latest day decides whether its other days are asked for
            if self.own_fetch:  # the workers fetch their own objects (a cluster): nothing to download here
                self.ready.append(self.tasks.popleft())
                continue
            self.events.fetching(task)
            self.fetching[stage.submit(task)] = self.tasks.popleft()

    def _ahead(self) -> int:
        return self.slots + AHEAD

    def _fetched(self, task: Task, fut: Future, stage: FetchStage) -> None:
        exc = fut.exception()
        self.events.fetched(task, exc is None)
        if exc is not None:
            self._failed(task, failure_of(task, exc), exc, stage)
            return
        if self._stopping():  # downloaded, but the run is stopping: not started
            stage.release(task)
            self.dropped.append(task.date)
            return
        self.ready.append(fut.result())

    def _feed(self, pool: Executor, stage: FetchStage) -> BrokenProcessPool | None:
        """Hand fetched days to the workers until ``workers + 1`` are in flight; the pool's break, if it broke.

        Inline (one worker), a day runs at submit: one at a time, so each is counted as soon as it is done.
        """
        limit = 1 if getattr(pool, "inline", False) else self.slots + 1
        store = Store.of(self.settings)
        while self.ready and not self._stopping() and sum(self.busy.values()) < limit:
            task = self.ready[0]
            self.events.begun(task)
            self.stopper.interrupt_inline = getattr(pool, "inline", False)
            try:
                fut, busy = submit_day(pool, store, task, self.settings.slice_slots(self.slots),
                                       self.settings.slice_bytes)
            except BrokenProcessPool as exc:  # a worker died (OOM killer, a signal)
                return exc
            except KeyboardInterrupt:  # a second signal while the day ran inline: it is dropped
                stage.release(self.ready.popleft())
                self.dropped.append(task.date)
                return None
            finally:
                self.stopper.interrupt_inline = False
            self.inflight[fut] = self.ready.popleft()
            self.busy[fut] = busy
        return None

    def _collect(self, task: Task, fut: Future, stage: FetchStage) -> None:
        stage.release(task)
        exc = fut.exception()
        if exc is None:
            result: TaskResult = fut.result()
            self.pending.append(result)
            self.events.finished(task, result)
            self.summary.warnings.extend(result.warnings)
            self._entitled(task, None)
            return
        if isinstance(exc, BrokenProcessPool):
            self.worker_died = True
            if self.stopper.got:
                # the signal reached the worker too (SIGTERM to the process group, or Ctrl-C while it
                # was still starting): the day is dropped, not failed; the next run loads it
                self.dropped.append(task.date)
                self.events.dropped(task)
                return
        self._failed(task, failure_of(task, exc), exc)

    def _failed(self, task: Task, failure: DayFailure, exc: BaseException | None,
                stage: FetchStage | None = None) -> None:
        if stage is not None:
            stage.release(task)
        if isinstance(exc, StorageError) and self.stop is None:
            self.stop = exc
        self._entitled(task, failure if isinstance(exc, NotEntitled) else None)
        self.pending_fail.append(failure)
        self.events.failed(task, failure)

    def _entitled(self, task: Task, refused: DayFailure | None) -> None:
        ask = self.entitlement.answered(task, refused, list(self.tasks))
        if ask is not None:
            self.tasks.remove(ask)
            self.tasks.appendleft(ask)

    def _abort(self, pool: Executor, stage: FetchStage) -> None:
        """A second signal: kill the workers; their days are dropped (the next run loads them)."""
        pool.abort()  # type: ignore[attr-defined]
        stage.cancel()
        self.dropped.extend(task.date for task in self.inflight.values())
        self.inflight.clear()
        self.busy.clear()
        self.worker_died = True  # their temp files are swept before the run ends

    def _wind_down(self, pool: Executor | None, broken: BrokenProcessPool | None) -> None:
        got = self.stopper.got
        left = [t.date for t in (*self.ready, *self.fetching.values(), *self.tasks)]
        if not got and not left and broken is None and self.stop is None and pool is not None:
            # idle workers exit while the last days commit
            pool.begin_shutdown()  # type: ignore[attr-defined]
            self._commit_now()
        if got:
            self.summary.interrupted = got[0]
            self.summary.not_started = sorted(self.dropped + left)
        elif self.stop is not None:
            self.summary.stopped_by, self.summary.stop_code = self.stop.one_line(), self.stop.exit_code
            self.summary.not_started = sorted(self.dropped + left)
        elif broken is not None:  # the pool broke: what was never started is not loaded either
            for t in (*self.ready, *self.fetching.values(), *self.tasks):
                self.pending_fail.append(DayFailure(
                    t.date, t.key, f"not started: a worker process died ({broken})", True,
                    "rerun the same command; if a worker dies again, lower --workers", names(t)))

    def _end(self, got: list[int]) -> None:
        summary = self.summary
        try:
            locked = self._commit(wait_lock=True)
            summary.warnings.extend(summary.symbol_warnings())
        except StorageError as exc:  # the journal cannot take the commit (disk full): finished days stay in Parquet
            self._storage_failed(exc)
            raise
        if locked is not None and got:
            # stopping was asked for (maybe while waiting): do not sit on the lock; the
            # finished days stay in Parquet
            summary.interrupted = summary.interrupted or got[0]
            summary.warnings.append(f"{locked.message}: {len(self.pending)} finished day(s) not committed; their "
                                    "Parquet partitions are kept and the next run commits them without refetching")
            self.events.ended(summary.outcome)
            return  # the journal still says 'running': the next start records the run as killed
        outcome = summary.outcome if locked is None else "locked"
        self.events.ended(outcome)
        if locked is not None:
            raise locked
        try:
            self.committer.finish(summary, outcome)
        except StorageError as exc:
            self._storage_failed(exc)
            raise

    def _commit(self, wait_lock: bool) -> JournalLocked | None:
        """Commit what is pending, counting each day as it lands; the lock error when the journal stayed held
        and ``wait_lock`` (without it, the days wait for the next try)."""
        if not self.pending and not self.pending_fail:
            return None
        try:
            with self.committer.batch(wait_lock) as batch:
                while self.pending:
                    self.summary.record_done(batch.day(self.pending[0]))
                    self.pending.pop(0)
                if self.pending_fail:
                    self.summary.failed.extend(batch.failures(self.pending_fail))
                    self.pending_fail = []
        except JournalLocked as exc:
            return exc if wait_lock else None
        self.last_commit = time.monotonic()
        self.events.committed()
        return None

    def _commit_now(self) -> None:
        """Commit what is pending without waiting for the journal; a full disk stops the run (the days wait)."""
        try:
            self._commit(wait_lock=False)
        except StorageError as exc:
            self.stop = self.stop or exc

    def _storage_failed(self, exc: StorageError) -> None:
        """The journal cannot be written (disk full): the run ends 'failed' in the journal and its run file."""
        self.summary.stopped_by, self.summary.stop_code = exc.one_line(), exc.exit_code
        self.committer.record_failure(self.summary, exc)
        self.events.ended("failed")
