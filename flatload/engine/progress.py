"""What a run tells about its progress: the reporter protocol, injected into the engine (null by default).

The terminal and log reporters live with the CLI (``flatload.cli.progress``).
"""
from __future__ import annotations

import datetime as dt
from typing import Protocol


class Reporter(Protocol):
    """What the pipeline tells about its progress."""

    def start(self, days: int, total_bytes: int) -> None:
        """The run will load ``days`` sessions, about ``total_bytes`` to fetch."""

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        """One session finished: loaded (``rows``, ``nbytes``) or failed with ``error``."""

    def note(self, message: str) -> None:
        """A warning worth showing now."""

    def close(self) -> None:
        """The run is over."""


class NullReporter:
    """Reports nothing."""

    def start(self, days: int, total_bytes: int) -> None:
        pass

    def advance(self, day: dt.date, rows: int, nbytes: int, error: str | None = None) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass
