"""The process a web job runs in: ``python -m flatload.web.child RUNS_DIR JOB_ID -- <load command>``.

It starts the ``flatload load`` command, waits for it and records its exit code in
``<RUNS_DIR>/<JOB_ID>.exit``. It leads the job's process group, so a stop request (SIGINT to
the group, as a terminal's Ctrl-C) reaches the load and its workers; this process only waits.
Living apart from the server, it records the exit code even when the server was restarted
meanwhile, so a job's outcome survives the server.

A stop can come before the load exists. The server then records it in the job's record instead of
signalling, and this process reads the record under the job's start lock before it starts the load
(:meth:`JobFiles.start_lock`): a job stopped that early ends ``interrupted`` without loading anything.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .jobfiles import JobFiles, exit_code_of, now_iso

#: the exit code of a job stopped before its load started (as a load stopped by SIGINT ends)
STOPPED_BEFORE_START = 130


def main(argv: list[str]) -> int:
    """Run the command after ``--`` unless the job was stopped first; record and return its exit code."""
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m flatload.web.child RUNS_DIR JOB_ID -- COMMAND...", file=sys.stderr)
        return 2
    files = JobFiles(Path(argv[0]), argv[1])
    got: list[int] = []

    def note(signum: int, _frame: object) -> None:
        # a Python handler, not SIG_IGN, which the load would inherit across exec. Before the load starts a
        # signal means "stop"; once it runs, a signal to the job's group reaches the load itself
        got.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, note)
    with files.start_lock():  # waits while the server registers the job, or delivers a stop
        job = files.read_job() or {}
        if job.get("stop_requested_at") or got:
            print("Error: stopped before its load started (nothing was loaded)", flush=True)
            files.write_exit(STOPPED_BEFORE_START)
            return STOPPED_BEFORE_START
        seen = len(got)
        proc = subprocess.Popen(argv[3:])
        files.write_job({**job, "load_pid": proc.pid, "load_started_at": now_iso()})
    if len(got) > seen:  # a signal from elsewhere while the load was being exec'd may have missed it
        proc.send_signal(signal.SIGINT)
    returncode = proc.wait()
    files.write_exit(returncode)
    return exit_code_of(returncode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
