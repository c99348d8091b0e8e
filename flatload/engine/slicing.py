"""A day whose large tick files are loaded in slices, handed to the runner as one future.

The executor (process pool or Dask cluster) schedules the jobs: one per slice, and one for the rest
of the day. When the last job is done the day's future completes: with the joined result
(:func:`..tasks.slices.join`), or with the first failure, once every other job has finished and
its sealed parts are removed, so that a failed day leaves nothing behind and the runner sees it
exactly as it sees a day that failed in one job.
"""
from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import datasets
from ..store.store import Store
from ..tasks.model import Share, Task

if TYPE_CHECKING:
    from ..tasks.ticks import TickLoad


#: decompressed bytes per chunk (the unit dealt round the slices): at most a whole-file load's, at least this
MIN_CHUNK_BYTES = 4096
#: a whole-file load's chunk (tasks.csvstream.CHUNK_BYTES, not imported: the parent plans without Polars)
MAX_CHUNK_BYTES = 16 * 1024 * 1024


def shares(task: Task, slots: int, slice_bytes: int) -> list[Share]:
    """The slices of ``task``'s tick files: a file of at least two ``slice_bytes`` (gzip) is split into one
    slice per ``slice_bytes``, at most ``slots``; none when no file is that large or one worker runs."""
    out: list[Share] = []
    for f in task.files:
        if f.obj is None or not datasets.get(f.dataset).streamed:
            continue
        count = min(slots, f.obj.size // max(1, slice_bytes))
        if count < 2:
            continue
        # a chunk of text no larger than a slice's gzip bytes (~1/5 of its text): each slice gets several, evening out
        chunk = max(MIN_CHUNK_BYTES, min(MAX_CHUNK_BYTES, slice_bytes))
        out.extend(Share(f.dataset, i, count, chunk) for i in range(count))
    return out


def width(tasks: "Sequence[Task]", workers: int, slice_slots: int, slice_bytes: int) -> int:
    """Jobs that can run at once for ``tasks``: a day each, or its slices (never more than ``workers``)."""
    widest = max((len(shares(t, slice_slots, slice_bytes)) for t in tasks), default=0)
    return max(1, min(workers, max(len(tasks), widest)))


class _Joining:
    """The jobs of one sliced day: collects their outcomes, joins or fails the day when all are in."""

    def __init__(self, store: Store, task: Task, shares: list[Share], day: Future) -> None:
        self.store, self.task, self.shares, self.day = store, task, shares, day
        self.outcomes: dict[int, tuple[Any, BaseException | None]] = {}
        self.lock = threading.Lock()

    def done(self, index: int, fut: Future) -> None:
        """Job ``index`` (0: the rest of the day, then the slices) finished."""
        try:
            outcome = (fut.result(), None)
        except BaseException as exc:  # noqa: BLE001 - kept for the day's future
            outcome = (None, exc)
        with self.lock:
            self.outcomes[index] = outcome
            if len(self.outcomes) < len(self.shares) + 1:
                return
        self._settle()

    def _settle(self) -> None:
        from ..tasks import slices

        loads: dict[str, list[TickLoad]] = {}
        for i, share in enumerate(self.shares, start=1):
            load = self.outcomes[i][0]
            if load is not None:
                loads.setdefault(share.dataset, []).append(load)
        failures = [exc for _, (_, exc) in sorted(self.outcomes.items()) if exc is not None]
        try:
            if failures:
                slices.discard(self.store, loads)
                self.day.set_exception(failures[0])
                return
            self.day.set_result(slices.join(self.store, self.task, self.outcomes[0][0], loads))
        except BaseException as exc:  # noqa: BLE001 - the join's own failure is the day's
            if not self.day.done():
                self.day.set_exception(exc)


def submit_day(pool: Executor, store: Store, task: Task, slots: int, slice_bytes: int) -> tuple[Future, int]:
    """Submit one day: as one job, or (a large tick file and several workers) as its slices and the rest of
    the day. The day's future, and how many workers its jobs keep busy."""
    from ..tasks.aggs import process_task  # Polars and the parser: not needed by a run with nothing to load

    plan = shares(task, slots, slice_bytes)
    if not plan:
        return pool.submit(process_task, task), 1
    from ..tasks import slices  # Arrow's writer and the streaming reader: only sliced tick days need them
    day: Future = Future()
    day.set_running_or_notify_cancel()
    joining = _Joining(store, task, plan, day)
    jobs = [pool.submit(slices.process_rest, task, frozenset(s.dataset for s in plan))]
    jobs += [pool.submit(slices.process_share, task, share) for share in plan]
    for index, job in enumerate(jobs):
        job.add_done_callback(lambda fut, index=index: joining.done(index, fut))
    return day, len(plan)
