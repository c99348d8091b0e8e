"""Progress on the terminal or in a log: a tqdm bar on a TTY, log lines under cron, nothing when quiet."""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time

from tqdm import tqdm

from ..engine.progress import NullReporter, Reporter

log = logging.getLogger("flatload")


class _Rates:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.rows = 0
        self.bytes = 0
        self.done = 0
        self.failed = 0

    def add(self, rows: int, error: str | None) -> None:
        self.rows += rows
        self.done += 1
        self.failed += error is not None

    def text(self) -> str:
        """Download and processing apart: bytes in, rows out."""
        secs = max(time.monotonic() - self.t0, 1e-9)
        return f"in {self.bytes / secs / 1e6:.1f} MB/s, out {self.rows / secs:,.0f} rows/s"


class TqdmReporter:
    """A tqdm bar over days with rows/s and MB/s, for terminals."""

    def __init__(self, file=None) -> None:
        self.file = file or sys.stderr
        self.bar: tqdm | None = None
        self.rates = _Rates()

    def start(self, days: int, total_bytes: int, done: int = 0, failed: int = 0) -> None:
        self.rates = _Rates()
        self.rates.done, self.rates.failed = done + failed, failed
        self.bar = tqdm(total=days, initial=done + failed, unit="day", file=self.file, dynamic_ncols=True,
                        desc="loading")

    def fetched(self, nbytes: int) -> None:
        self.rates.bytes += nbytes

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        self.rates.add(rows, error)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{day} | {self.rates.text()} | failed {self.rates.failed}", refresh=False)
            self.bar.update(1)
            if error:
                self.bar.write(f"failed {day}: {error}", file=self.file)

    def note(self, message: str) -> None:
        (self.bar.write if self.bar is not None else print)(message, file=self.file)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogReporter:
    """A log line every ``interval`` seconds (and for each failure), for cron."""

    def __init__(self, interval: float = 30.0, logger: logging.Logger | None = None) -> None:
        self.interval = interval
        self.log = logger or log
        self.total = 0
        self.rates = _Rates()
        self.last = 0.0

    def start(self, days: int, total_bytes: int, done: int = 0, failed: int = 0) -> None:
        self.total, self.rates, self.last = days, _Rates(), time.monotonic()
        self.rates.done, self.rates.failed = done + failed, failed
        already = ", ".join(part for part in (f"{done} finished by an earlier run" if done else "",
                                              f"{failed} cannot load" if failed else "") if part)
        self.log.info("loading %d day(s)%s, %.1f MB to fetch", days, f" ({already})" if already else "",
                      total_bytes / 1e6)

    def fetched(self, nbytes: int) -> None:
        self.rates.bytes += nbytes

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        self.rates.add(rows, error)
        if error:
            self.log.warning("failed %s: %s", day, error)
        now = time.monotonic()
        if now - self.last >= self.interval or self.rates.done == self.total:
            self.last = now
            self.log.info("%d/%d days (%d failed), %s", self.rates.done, self.total, self.rates.failed,
                          self.rates.text())

    def note(self, message: str) -> None:
        self.log.warning("%s", message)

    def close(self) -> None:
        pass


#: a bar needs room: on a narrower terminal (some report 0 columns) log lines are shown instead
MIN_BAR_COLUMNS = 20


def terminal_columns(stream) -> int:
    """The width of the terminal behind ``stream``; 0 when it is none or reports no width."""
    try:
        if not stream.isatty():
            return 0
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def default_reporter(quiet: bool = False, stream=None) -> Reporter:
    """tqdm on a terminal wide enough for a bar, log lines otherwise, nothing when quiet."""
    stream = stream or sys.stderr
    if quiet:
        return NullReporter()
    if terminal_columns(stream) >= MIN_BAR_COLUMNS:
        return TqdmReporter(stream)
    # a terminal that reports no width would show an empty bar for the whole load
    return LogReporter(interval=10.0 if getattr(stream, "isatty", lambda: False)() else 30.0)
