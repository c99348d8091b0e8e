"""SIGINT/SIGTERM during a run: the first stops the feeding of days, a second aborts the days in flight."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .progress import Reporter


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
