"""What the web app keeps about the jobs it starts, beside the run files in ``<data_dir>/runs/``.

Per job: ``<id>.job`` (the request, the wrapper's pid, a stop request, the load's pid once it runs),
``<id>.exit`` (the load's exit code, written by the wrapper when the load ends), ``<id>.log`` (the load's
output) and ``<id>.lock``, the job's start lock (:meth:`JobFiles.start_lock`). None of them ends in
``.json``, so the run-file readers never mistake them for runs. A job id names files, so it is checked
against :data:`JOB_ID` before any path is built from it.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: what a job (run) id may look like: ``20241203T142501Z-3fa9c1`` and any plain name; never a path
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: how much of a job's log is read back for its last error line
_LOG_TAIL = 16 * 1024


def valid_job_id(job_id: str) -> bool:
    """True when ``job_id`` is safe to use as a file name (letters, digits, ``_`` and ``-``)."""
    return bool(JOB_ID.fullmatch(job_id))


def now_iso() -> str:
    """The time now, UTC, as the run files write it."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def exit_code_of(returncode: int) -> int:
    """A process's exit code as a shell shows it: killed by signal N → 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class JobFiles:
    """The files of one job under ``runs_dir``."""

    def __init__(self, runs_dir: Path, job_id: str) -> None:
        if not valid_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        self.job_id = job_id
        self.runs_dir = Path(runs_dir).resolve()  # the wrapper runs in another directory

    @property
    def job(self) -> Path:
        return self.runs_dir / f"{self.job_id}.job"

    @property
    def exit(self) -> Path:
        return self.runs_dir / f"{self.job_id}.exit"

    @property
    def log(self) -> Path:
        return self.runs_dir / f"{self.job_id}.log"

    @property
    def lock(self) -> Path:
        return self.runs_dir / f"{self.job_id}.lock"

    @contextmanager
    def start_lock(self, wait: float | None = None) -> Iterator[None]:
        """Hold the job's start lock: the server holds it while it registers the job and while it delivers a
        stop, the job's wrapper while it decides whether to start the load and starts it.

        So a stop and the start of the load never cross: a stop recorded first is read by the wrapper
        before it starts the load (and it does not), and a stop that comes after finds the load running,
        in the process group its signal reaches. Every change to the job's record is made under it.
        ``wait``: TimeoutError after that many seconds; None: as long as it takes.
        """
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _flock(fd, wait)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def read_job(self) -> dict | None:
        """The job's record, or None when this job was not started by the web app."""
        return _read_json(self.job)

    def write_job(self, record: dict) -> None:
        """Replace the job's record (atomically)."""
        _write_json(self.job, record)

    def read_exit(self) -> dict | None:
        """``{"exit_code", "finished_at"}`` once the load has ended, else None."""
        return _read_json(self.exit)

    def write_exit(self, returncode: int) -> None:
        """Record how the load ended (atomically): its exit code and the time."""
        _write_json(self.exit, {"exit_code": exit_code_of(returncode), "finished_at": now_iso()})

    def last_error(self) -> str | None:
        """The last ``Error: ...`` line the load printed (its one-line reason for ending), if any."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(max(fh.seek(0, os.SEEK_END) - _LOG_TAIL, 0))
                tail = fh.read().decode("utf-8", "replace")
        except OSError:
            return None
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
        errors = [ln.removeprefix("Error: ") for ln in lines if ln.startswith("Error: ")]
        if errors:
            return errors[-1]
        return lines[-1] if lines and lines[-1] == "Aborted!" else None


def job_ids(runs_dir: Path) -> list[str]:
    """Ids of the jobs the web app started on this data dir, newest first (ids sort by their start time)."""
    return sorted((p.stem for p in Path(runs_dir).glob("*.job") if valid_job_id(p.stem)), reverse=True)


def _flock(fd: int, wait: float | None) -> None:
    """An exclusive flock on ``fd``; TimeoutError when another holder keeps it past ``wait`` seconds."""
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the start lock is held past {wait} s") from None
            time.sleep(0.01)


def _read_json(path: Path) -> dict | None:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _write_json(path: Path, body: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, default=str))
    os.replace(tmp, path)
