"""The run's events, in one sink: each fans out to the reporter (terminal or log), the live counts and the run file.

The runner says what happened (a day started downloading, finished, failed, was dropped; a batch was
committed; the run ended) once; which of the three outputs each event reaches is decided here.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..store.files.runlog import RunLog
from ..tasks.model import Task, TaskResult
from .progress import Progress, Reporter
from .summary import DayFailure, LoadSummary

#: the run file is rewritten with live counts at most this often (s): status is never more stale
BEAT_EVERY = 1.0


class RunEvents:
    """The sink of one run's events."""

    def __init__(self, reporter: Reporter, runlog: RunLog, summary: LoadSummary) -> None:
        self.reporter, self.runlog, self.summary = reporter, runlog, summary
        self.progress = Progress(0, 0)
        self._last_beat = 0.0

    def state(self) -> dict:
        """The run's state as its file shows it: the summary so far and the live counts."""
        return {**self.summary.to_dict(), "progress": self.progress.snapshot()}

    def started(self, units: int, total_bytes: int, recovered: int, pre_failed: int,
                in_flight: Callable[[], int] | None = None) -> None:
        """The run begins: ``units`` days (``recovered`` of them need no fetch, ``pre_failed`` failed at planning)."""
        self.progress = Progress(units, total_bytes, recovered, pre_failed)
        self.reporter.start(units, total_bytes, recovered, pre_failed)
        self.beat(force=True)
        # from a thread too: one worker runs its day in the main thread, which then writes nothing for a while
        self.runlog.keep_fresh(lambda: {"progress": self.progress.snapshot()})

    def fetching(self, task: Task) -> None:
        self.progress.fetching_day(task.date)

    def fetched(self, task: Task, ok: bool) -> None:
        self.progress.fetched(task.date, task.nbytes if ok else 0)
        if ok:
            self.reporter.fetched(task.nbytes)

    def begun(self, task: Task) -> None:
        self.progress.begin(task.family, task.date)

    def finished(self, task: Task, result: TaskResult) -> None:
        self.progress.end(task.family, task.date, result.rows)
        self.reporter.advance(task.date, result.rows, result.nbytes)

    def failed(self, task: Task, failure: DayFailure) -> None:
        self.progress.end(task.family, task.date, failed=True)
        self.reporter.advance(task.date, 0, 0, failure.line())

    def dropped(self, task: Task) -> None:
        """A day stopped by a signal on its worker: neither done nor failed (the next run loads it)."""
        self.progress.end(task.family, task.date)

    def note(self, message: str) -> None:
        self.reporter.note(message)

    def beat(self, force: bool = False) -> None:
        """Rewrite the run file with live progress, at most once a second unless ``force``."""
        now = time.monotonic()
        if force or now - self._last_beat >= BEAT_EVERY:
            self._last_beat = now
            self.runlog.write(self.state(), state="running")

    def committed(self) -> None:
        """A batch of days reached the journal: the run file says so at once."""
        self.beat(force=True)

    def closing(self) -> None:
        """The loop is over: no more live rewrites, the reporter's line is closed."""
        self.runlog.stop_fresh()

    def ended(self, outcome: str) -> None:
        """The run's final state, in its file."""
        self.reporter.close()
        self.runlog.write(self.state(), state=outcome)
