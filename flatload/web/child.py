"""The process a web job runs in: ``python -m flatload.web.child RUNS_DIR JOB_ID -- <load command>``.

It starts the ``flatload load`` command, waits for it and records its exit code in
``<RUNS_DIR>/<JOB_ID>.exit``. It leads the job's process group, so a stop request (SIGINT to
the group, as a terminal's Ctrl-C) reaches the load and its workers; this process only waits.
Living apart from the server, it records the exit code even when the server was restarted
meanwhile, so a job's outcome survives the server.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .jobfiles import JobFiles, exit_code_of


def _ignore(_signum: int, _frame: object) -> None:
    """A Python-level no-op, not SIG_IGN: the load must not inherit an ignored SIGINT across exec."""


def main(argv: list[str]) -> int:
    """Run the command after ``--``; record and return its exit code."""
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m flatload.web.child RUNS_DIR JOB_ID -- COMMAND...", file=sys.stderr)
        return 2
    files = JobFiles(Path(argv[0]), argv[1])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore)
    proc = subprocess.Popen(argv[3:])
    returncode = proc.wait()
    files.write_exit(returncode)
    return exit_code_of(returncode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
