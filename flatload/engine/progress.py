"""What a run tells about its progress: the reporter protocol (injected; null by default) and live counts.

The terminal and log reporters live with the CLI (``flatload.cli.progress``); the live
counts go into the run's file every second, where ``flatload status`` and the web API read them.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


class Reporter(Protocol):
    """What the engine tells about its progress."""

    def start(self, days: int, total_bytes: int, done: int = 0, failed: int = 0) -> None:
        """The run accounts for ``days`` days, ``done`` and ``failed`` of them already (recovered, unloadable)."""

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        """One day finished: loaded (``rows``, ``nbytes``) or failed with ``error``."""

    def fetched(self, nbytes: int) -> None:
        """A day's objects are downloaded (``nbytes``), ahead of its processing."""

    def note(self, message: str) -> None:
        """A warning worth showing now."""

    def close(self) -> None:
        """The run is over."""


class NullReporter:
    """Reports nothing."""

    def start(self, days: int, total_bytes: int, done: int = 0, failed: int = 0) -> None:
        pass

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        pass

    def fetched(self, nbytes: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Progress:
    """Live counts of a run: what is done, what is in flight, how fast, how long to go."""

    total: int
    total_bytes: int
    done: int = 0
    failed: int = 0
    rows: int = 0
    nbytes: int = 0
    in_flight: dict[str, list[str]] = field(default_factory=dict)
    #: days whose objects are being downloaded (ahead of their processing)
    fetching: dict[str, int] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)
    #: the run file is rewritten from another thread: it reads these counts while the loop updates them
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, family: str, day: dt.date) -> None:
        with self._lock:
            self.in_flight.setdefault(day.isoformat(), []).append(family)

    def end(self, family: str, day: dt.date, rows: int = 0, failed: bool = False) -> None:
        with self._lock:
            families = self.in_flight.get(day.isoformat(), [])
            if family in families:
                families.remove(family)
                if not families:
                    del self.in_flight[day.isoformat()]
            self.done += not failed
            self.failed += failed
            self.rows += rows

    def fetching_day(self, day: dt.date) -> None:
        with self._lock:
            self.fetching[day.isoformat()] = self.fetching.get(day.isoformat(), 0) + 1

    def fetched(self, day: dt.date, nbytes: int) -> None:
        with self._lock:
            self.nbytes += nbytes
            left = self.fetching.pop(day.isoformat(), 1) - 1
            if left > 0:
                self.fetching[day.isoformat()] = left

    def snapshot(self) -> dict:
        """The counts, rates and ETA as plain data (the run file's ``progress``)."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict:
        secs = max(time.monotonic() - self.t0, 1e-6)
        finished = self.done + self.failed
        left = max(self.total - finished, 0)
        rate = finished / secs
        return {"days_total": self.total, "days_done": self.done, "days_failed": self.failed,
                "in_flight": sorted(self.in_flight), "fetching": sorted(self.fetching), "rows": self.rows,
                "bytes": self.nbytes,
                "bytes_total": self.total_bytes,
                "progress_pct": round(100.0 * finished / self.total, 1) if self.total else 100.0,
                # in: bytes downloaded per second; out: rows processed per second
                "rows_per_s": round(self.rows / secs, 1), "bytes_per_s": round(self.nbytes / secs, 1),
                "eta_s": round(left / rate, 1) if rate > 0 and left else (0.0 if not left else None),
                "elapsed_s": round(secs, 1)}
