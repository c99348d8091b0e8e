"""One run per data directory: an advisory file lock, released by the OS if the process dies."""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import AlreadyRunning
from .fs import storage_error

LOCK_NAME = ".flatload.lock"


def process_alive(pid: int) -> bool:
    """True while a process ``pid`` exists (one of another user's counts: it cannot be signalled but lives)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(data_dir: Path) -> dict:
    """What the lock file says about the run holding it (pid, command, started)."""
    try:
        return json.loads((Path(data_dir) / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def is_locked(data_dir: Path) -> bool:
    """True while a flatload run holds ``data_dir``."""
    path = Path(data_dir) / LOCK_NAME
    if not path.exists():
        return False
    with open(path) as fh:  # read-only: status works on a read-only store too; flock needs no write access
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


class Held:
    """The lock of a run in progress; :meth:`note` adds what others may read about it (the run id)."""

    def __init__(self, fh, info: dict) -> None:
        self.fh = fh
        self.info = info
        self._write()

    def note(self, **fields: object) -> None:
        """Add ``fields`` to what the lock file says about this run."""
        self.info.update(fields)
        self._write()

    def _write(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(json.dumps(self.info))
        self.fh.flush()


@contextmanager
def run_lock(data_dir: Path, command: str) -> Iterator[Held]:
    """Hold the data directory for this run, or raise AlreadyRunning at once, touching nothing."""
    path = Path(data_dir) / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
    except OSError as exc:
        raise (storage_error(exc, data_dir, "take the data directory's lock") or exc) from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(data_dir)
            who = f"PID {holder.get('pid', '?')} ({holder.get('command', '?')}, started {holder.get('started', '?')})"
            raise AlreadyRunning(f"another flatload run holds {data_dir}: {who}",
                                 hint="wait for it to finish (flatload status shows its progress)") from None
        yield Held(fh, {"pid": os.getpid(), "command": command,
                        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    finally:
        fh.close()  # closing releases the flock
