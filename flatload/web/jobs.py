"""Backfill jobs: each an ordinary ``flatload load --run-id ID`` process, started, stopped and read here.

A job runs as ``python -m flatload.web.child`` (which records the exit code) around
``python -m flatload.cli load ...`` in a session of its own: the server's signals, memory and
crashes stay apart from it, and it goes on when the server stops. It takes the data dir's lock,
writes ``runs/<id>.json`` and ends with the exit code a terminal would see. Its status comes from
that run file (never more than a second old while it runs) and from the job's own files
(:mod:`.jobfiles`); runs started by the CLI or cron are listed and read the same way.

A stop is kept in the job's record, and is also SIGINT to the job's process group once its load
runs; the job's start lock keeps a stop and the start of the load apart (:meth:`Jobs.stop`).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .. import reports
from ..engine.api import new_run_id
from ..settings import Settings
from ..store.files import lock
from .jobfiles import JobFiles, job_ids, now_iso, valid_job_id
from ..store.store import Store

#: run states that end a run, as the run file writes them
FINAL = ("ok", "partial", "failed", "interrupted", "locked")
#: exit codes of a load stopped by SIGINT / SIGTERM (a stop request, Ctrl-C)
STOPPED = (130, 143)
#: how long a stop waits for a job that is starting its load this moment (a fork and an exec) before it
#: answers "not yet, send it again in RETRY_AFTER_S"
STOP_WAIT_S = 1.0
RETRY_AFTER_S = 1


class JobError(Exception):
    """A job request that cannot be carried out; ``job_id`` names the job it concerns."""

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id


class JobConflict(JobError):
    """Another run holds (or is about to hold) the data dir."""


class JobNotFound(JobError):
    """No job or run with that id on this data dir."""


class JobNotRunning(JobError):
    """The job has ended: there is nothing to stop."""


class JobStarting(JobError):
    """The job is starting its load this very moment: a stop can be delivered a moment later."""


def _still_active(job_id: str, status: dict) -> None:
    """JobNotRunning unless the job is queued or running."""
    if status.get("status") not in ("queued", "running"):
        raise JobNotRunning(f"job {job_id} is not running (it ended: {status.get('status')})", job_id)


def load_command(settings: Settings, start: dt.date, end: dt.date, datasets: str | None,
                 symbols: Sequence[str] | None, job_id: str, config: Path | None = None,
                 force: bool = False) -> list[str]:
    """``flatload load`` with every setting of ``settings`` that has a flag (secrets go by :func:`child_env`),
    reading the server's config file (``config``) for the rest; ``force`` as ``load --force``."""
    s = settings
    cmd = [sys.executable, "-m", "flatload.cli", "load", f"--start={start.isoformat()}", f"--end={end.isoformat()}",
           f"--run-id={job_id}", f"--data-dir={Path(s.data_dir).resolve()}", f"--endpoint-url={s.endpoint_url}",
           f"--bucket={s.bucket}", f"--workers={s.workers}", f"--lock-timeout={s.lock_timeout}",
           f"--rest-url={s.rest_url}"]
    if datasets:
        cmd.append(f"--dataset={datasets}")
    chosen = sorted(symbols) if symbols else sorted(s.symbols) if s.symbols else None
    if chosen:
        cmd.append(f"--symbols={','.join(chosen)}")
    optional = {"--profile": s.profile, "--mirror": Path(s.mirror).resolve() if s.mirror else None,
                "--underlyings": ",".join(sorted(s.underlyings)) if s.underlyings else None,
                "--rest-rpm": s.rest_rpm, "--prefetch": s.prefetch_mb}
    cmd += [f"{flag}={value}" for flag, value in optional.items() if value is not None]
    cmd += [flag for flag, on in (("--no-rest", not s.use_rest), ("--force", s.force or force)) if on]
    if config is not None:
        cmd.append(f"--config={Path(config).resolve()}")
    return cmd


def child_env(settings: Settings) -> dict[str, str]:
    """The server's environment without flatload's own variables (the flags say it all), plus the secrets."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLATLOAD_") and k not in ("MASSIVE_API_KEY", "POLYGON_API_KEY", "AWS_PROFILE")}
    env["PYTHONUNBUFFERED"] = "1"  # the job's log shows its lines as they come
    if settings.api_key:
        env["MASSIVE_API_KEY"] = settings.api_key  # never on a command line, where ps shows it
    if settings.sync_to:
        env.update(FLATLOAD_SYNC_TO=settings.sync_to, FLATLOAD_SYNC_TABLE=settings.sync_table)
    return env


def job_state(run_state: str | None, alive: bool, exit_code: int | None, stop_requested: bool) -> str:
    """queued | running | ok | partial | failed | interrupted | killed, from what is known of a job.

    ``run_state``: the run's state from its file (``running`` or ``killed`` when read with the lock
    holder in mind), None before the load has planned; ``alive``: the job's process still runs.
    """
    if alive:
        return "running" if run_state is not None else "queued"
    if run_state == "locked":  # the final commit found the journal held: exit 3, the days are not committed
        return "failed"
    if run_state is not None and (run_state in FINAL or exit_code is None):
        return run_state
    if exit_code is None:
        return "killed"  # ended without a word: killed together with its wrapper
    if exit_code in STOPPED or (stop_requested and exit_code != 0):
        return "interrupted"
    if exit_code > 128:
        return "killed"
    return "ok" if exit_code == 0 else "failed"


def _pid_alive(pid: int | None, job_id: str) -> bool:
    """True while ``pid`` runs and is this job's wrapper (its command line names the job: pids get reused)."""
    if not pid:
        return False
    if not lock.process_alive(pid):
        return False
    try:
        return job_id.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust the pid
    except OSError:
        return True


class Jobs:
    """Starts, stops and reads the backfill jobs of one data dir."""

    def __init__(self, settings: Settings, config: Path | None = None) -> None:
        self.settings = settings
        self.config = config
        self._procs: dict[str, subprocess.Popen] = {}
        self._start_lock = threading.Lock()

    def files(self, job_id: str) -> JobFiles:
        """The job's files (ValueError for an id that is not a safe file name)."""
        return JobFiles(Store.of(self.settings).runs_dir, job_id)

    # ---- starting and stopping ------------------------------------------------------------
    def start(self, start: dt.date, end: dt.date, datasets: str | None = None,
              symbols: Sequence[str] | None = None, force: bool = False) -> str:
        """Start a load of ``[start, end]`` as a process of its own; its job id. JobConflict while one runs."""
        with self._start_lock:
            running = self._running()
            if running is not None:
                raise JobConflict(running[1], job_id=running[0])
            job_id = new_run_id()
            files = self.files(job_id)
            files.runs_dir.mkdir(parents=True, exist_ok=True)
            request = {"start": start.isoformat(), "end": end.isoformat(), "datasets": datasets,
                       "symbols": list(symbols) if symbols else None, "force": force}
            # "gate": the job's wrapper reads its record under the start lock before it starts the load
            record = {"job_id": job_id, "request": request, "started_at": now_iso(), "pid": None, "gate": 1}
            command = [sys.executable, "-m", "flatload.web.child", str(files.runs_dir), job_id, "--",
                       *load_command(self.settings, start, end, datasets, symbols, job_id, self.config, force)]
            with files.start_lock():  # a stop, and the wrapper's start of the load, wait for the pid
                files.write_job(record)
                with open(files.log, "ab") as log:
                    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=child_env(self.settings), cwd=files.runs_dir, start_new_session=True)
                files.write_job({**record, "pid": proc.pid})
                self._procs[job_id] = proc
            threading.Thread(target=self._watch, args=(files, proc), name=f"job-{job_id}", daemon=True).start()
            return job_id

    def _watch(self, files: JobFiles, proc: subprocess.Popen) -> None:
        """Reap the wrapper; record its exit code if it could not (it died before its load ended)."""
        returncode = proc.wait()
        if files.read_exit() is None:
            files.write_exit(returncode)

    def _running(self) -> tuple[str | None, str] | None:
        """``(job id, what to say)`` of the run that holds the data dir or is about to, else None."""
        for job_id, proc in list(self._procs.items()):
            if proc.poll() is None:
                return job_id, f"backfill job {job_id} is still running on this data dir"
        if lock.is_locked(self.settings.data_dir):
            holder = lock.read_holder(self.settings.data_dir)
            run_id = holder.get("run_id")
            who = f"run {run_id}" if run_id else f"PID {holder.get('pid', '?')}"
            return run_id, (f"another flatload run holds this data dir: {who} ({holder.get('command', '?')}, "
                            f"started {holder.get('started', '?')})")
        return None

    def stop(self, job_id: str) -> dict:
        """Stop a job as Ctrl-C does (finished days are committed); its status. A second stop aborts the days
        in flight. JobNotFound / JobNotRunning; JobStarting while the job is starting its load right now.

        A job whose load has not started yet gets the stop in its record: its wrapper reads it before it
        would start the load, and does not. One whose load runs gets SIGINT. Both happen under the job's
        start lock, so a stop can neither slip in between the wrapper's reading and its start of the load
        (where the signal used to find no load, and the load then ran to the end) nor be lost.
        """
        current = self.status(job_id)
        if current is None:
            raise JobNotFound(f"no job {job_id} on this data dir", job_id)
        _still_active(job_id, current)
        files = self.files(job_id)
        if files.read_job() is None:  # a run started by the CLI or cron: its process, as Ctrl-C would
            holder = lock.read_holder(self.settings.data_dir)
            if holder.get("run_id") != job_id or not holder.get("pid"):
                raise JobNotRunning(f"run {job_id} does not hold this data dir", job_id)
            os.kill(int(holder["pid"]), signal.SIGINT)
            return {**current, "stop_requested": True}
        try:
            with files.start_lock(wait=STOP_WAIT_S):
                return self._stop_job(job_id, files)
        except TimeoutError:
            raise JobStarting(f"job {job_id} is starting its load right now: the stop cannot be delivered "
                              f"yet; send it again in {RETRY_AFTER_S} s", job_id) from None

    def _stop_job(self, job_id: str, files: JobFiles) -> dict:
        """Record the stop in the job's record and deliver it if the load runs (under the job's start lock)."""
        job, current = files.read_job() or {}, self.status(job_id) or {}
        _still_active(job_id, current)  # it may have ended while the lock was awaited
        stopped = {**job, "stop_requested_at": now_iso()}
        if job.get("gate") and not job.get("load_pid"):
            files.write_job(stopped)  # its wrapper reads this before it would start the load, and will not
            return {**current, "stop_requested": True}
        pgid = job.get("pid")  # the wrapper leads the job's process group
        if not pgid:  # a record of an earlier flatload (no gate) that does not have its pid yet
            raise JobStarting(f"job {job_id} is still starting: send the stop again in {RETRY_AFTER_S} s", job_id)
        files.write_job(stopped)
        try:
            os.killpg(int(pgid), signal.SIGINT)
        except ProcessLookupError:
            raise JobNotRunning(f"job {job_id} has just ended", job_id) from None
        return {**current, "stop_requested": True}

    # ---- reading ----------------------------------------------------------------------------
    def status(self, job_id: str) -> dict | None:
        """The job's status document, or None for an id this data dir has no job or run of."""
        files = self.files(job_id)
        job = files.read_job()
        record = reports.run(self.settings, job_id)
        if job is None and record is None:
            return None
        return self._describe(job_id, files, job, record)

    def recent(self, limit: int = 20) -> dict:
        """Every run on the data dir (the web's jobs, the CLI's, cron's), newest first, and the failed days."""
        report = reports.status(self.settings, limit)
        docs = []
        for record in report["runs"]:
            run_id = record["run_id"]
            files = self.files(run_id) if valid_job_id(run_id or "") else None
            docs.append(self._describe(run_id, files, files.read_job() if files else None, record))
        listed = {d["job_id"] for d in docs}
        for job_id in job_ids(Store.of(self.settings).runs_dir)[:limit]:
            if job_id not in listed:  # queued, or ended before its run began (a bad setting, a held lock)
                files = self.files(job_id)
                docs.append(self._describe(job_id, files, files.read_job(), reports.run(self.settings, job_id)))
        docs.sort(key=lambda d: (d["started_at"] or "", d["job_id"]), reverse=True)
        return {"jobs": docs[:limit], "failed": report["failed_ranges"], "suspect": report["suspect_ranges"],
                "source": report["source"], "note": report["note"]}

    def _alive(self, job_id: str, job: dict) -> bool:
        proc = self._procs.get(job_id)
        if proc is not None:
            return proc.poll() is None
        return _pid_alive(job.get("pid"), job_id)  # started by an earlier server

    def _describe(self, job_id: str, files: JobFiles | None, job: dict | None, record: dict | None) -> dict:
        """The status document of a job or run, from its record (run file or journal) and its job files."""
        ended = files.read_exit() if files is not None and job is not None else None
        alive = job is not None and ended is None and self._alive(job_id, job)
        exit_code = ended["exit_code"] if ended else None
        state = job_state(record["state"] if record else None, alive, exit_code,
                          bool(job and job.get("stop_requested_at")))
        rec = record or {}
        progress = rec.get("progress") or {}
        running = state in ("queued", "running")
        finished = None if running else (ended or {}).get("finished_at") or rec.get("finished") or rec.get("updated")

        def count(key: str, fallback: str) -> int:
            return int(progress.get(key, rec.get(fallback)) or 0)

        return {"job_id": job_id, "status": state, "source": "web" if job is not None else "cli",
                "command": rec.get("command") or "load",
                "arguments": rec.get("arguments") or (job or {}).get("request") or {},
                "progress_pct": progress.get("progress_pct", 0.0 if running or not record else None),
                "days_done": count("days_done", "done"), "days_total": count("days_total", "planned"),
                "days_failed": count("days_failed", "failed"), "days_skipped": int(rec.get("skipped") or 0),
                "rows": count("rows", "rows"), "bytes": int(progress.get("bytes") or 0),
                "rows_per_s": progress.get("rows_per_s"), "bytes_per_s": progress.get("bytes_per_s"),
                "eta_s": progress.get("eta_s") if running else 0.0 if record else None,
                "elapsed_s": progress.get("elapsed_s") if running
                else rec.get("duration_s") or progress.get("elapsed_s"),
                "in_flight": progress.get("in_flight", []) if running else [],
                "fetching": progress.get("fetching", []) if running else [],
                "errors": [{k: e.get(k) for k in ("date", "key", "error", "hint")} for e in rec.get("errors") or []],
                "started_at": rec.get("started") or (job or {}).get("started_at"), "finished_at": finished,
                "updated_at": rec.get("updated"), "exit_code": exit_code,
                "stop_requested": bool(job.get("stop_requested_at")) if job is not None else None,
                "message": files.last_error() if files is not None and job is not None and not running
                and exit_code not in (0, None) else None}
