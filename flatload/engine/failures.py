"""What a day's exception means for the run: a DayFailure to record, and what a 403 says about a family."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from ..errors import FlatloadError
from ..tasks.model import Task
from .summary import DayFailure

log = logging.getLogger("flatload")


def names(task: Task) -> tuple[str, ...]:
    """The datasets a task loads: what its failure leaves unloaded."""
    return tuple(f.dataset for f in task.files)


def failure_of(task: Task, exc: BaseException) -> DayFailure:
    """The one-line failure of ``task`` for ``exc`` (a domain error, a dead worker, or a bug)."""
    if isinstance(exc, BrokenProcessPool):
        return DayFailure(task.date, task.key, f"a worker process died while loading this day ({exc})", True,
                          "rerun the same command; if a worker dies again (out of memory?), lower --workers",
                          names(task))
    if isinstance(exc, FlatloadError):
        return DayFailure(task.date, exc.key or task.key, exc.message, exc.transient, exc.hint, names(task))
    # a bug, not bad input: keep the type and the traceback (shown by --verbose) so it can be reported
    log.debug("loading %s failed", task.date, exc_info=exc)
    return DayFailure(task.date, task.key, f"unexpected {type(exc).__name__}: {exc}", False,
                      "a bug: report it with the traceback that --verbose shows", names(task))


@dataclass
class Entitlement:
    """HTTP 403s per family. Plans limit how far back they reach, so one old day proves little: the
    family's latest day is asked next; refused too, the dataset is not in the plan, and its other days
    fail without a request each (one grouped line in the summary)."""

    #: families refused even for their latest day, with the failure their other days repeat
    refused: dict[str, DayFailure] = field(default_factory=dict)
    #: per family, the day sent to ask after a first 403
    probe: dict[str, dt.date] = field(default_factory=dict)
    #: families whose probe has not answered yet
    open: set[str] = field(default_factory=set)

    def refused_like(self, task: Task) -> DayFailure | None:
        """The failure for a day of a refused family (no request made), or None."""
        first = self.refused.get(task.family)
        if first is None:
            return None
        return DayFailure(task.date, task.key, first.message, False, first.hint, names(task))

    def waiting(self, task: Task) -> bool:
        """True while the answer for the family's latest day is awaited and ``task`` is another day."""
        return task.family in self.open and self.probe.get(task.family) != task.date

    def answered(self, task: Task, refused: DayFailure | None, queue: Sequence[Task]) -> Task | None:
        """Note how a day of ``task.family`` ended; returns the day to ask next (the caller moves it first)."""
        if self.probe.get(task.family) == task.date:
            self.open.discard(task.family)
            if refused is not None:
                self.refused[task.family] = refused
            return None
        if refused is None or task.family in self.probe:
            return None
        mine = [t for t in queue if t.family == task.family]
        if not mine:
            return None
        self.probe[task.family] = mine[-1].date
        self.open.add(task.family)
        return mine[-1]
