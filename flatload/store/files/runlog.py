"""One JSON file per run under ``<data_dir>/runs/``: live progress while running, the audit trail after."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("flatload")


class RunLog:
    """Writes ``runs/<run_id>.json`` atomically each time the run's state changes."""

    def __init__(self, runs_dir: Path, run_id: str, command: str, arguments: dict) -> None:
        self.path = Path(runs_dir) / f"{run_id}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.header = {"run_id": run_id, "command": command, "arguments": arguments, "pid": os.getpid(),
                       "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self._lock = threading.Lock()
        self._last: tuple[dict, str] | None = None
        self._written = 0.0
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._warned = False

    def write(self, summary: dict, state: str) -> None:
        """Replace the run's file with ``summary`` (the run's state, as a dict) and ``state`` (atomic rename)."""
        with self._lock:
            self._last = (summary, state)
            self._write(summary, state)

    def keep_fresh(self, live: Callable[[], dict], every: float = 1.0) -> None:
        """From a thread, rewrite the last state with ``live()`` (thread-safe, small: the live counts) merged in,
        at least every ``every`` s: the file stays current even while the main thread is busy with one long
        day (one worker runs days in the main thread)."""
        def beat() -> None:
            while not self._stop.wait(every / 4):
                with self._lock:
                    if self._last is not None and time.monotonic() - self._written >= every:
                        summary, state = self._last
                        self._write({**summary, **live()}, state)

        self._beat = threading.Thread(target=beat, name="flatload-run-file", daemon=True)
        self._beat.start()

    def stop_fresh(self) -> None:
        """Stop the rewriting (before the run's final state is written)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()

    def _write(self, summary: dict, state: str) -> None:
        self._written = time.monotonic()
        body = {**self.header, **summary, "state": state,
                "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        tmp = self.path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(body, indent=2, default=str))
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk must not end the run: the journal keeps the record
            tmp.unlink(missing_ok=True)
            if not self._warned:  # once: a full disk fails every rewrite, a line a second says nothing new
                log.info("cannot update %s: %s", self.path, exc.strerror or exc)
            self._warned = True


def read_runs(runs_dir: Path, limit: int = 10) -> list[dict]:
    """The newest ``limit`` run files, newest first."""
    files = sorted(Path(runs_dir).glob("*.json"), reverse=True)[:limit]
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return out
