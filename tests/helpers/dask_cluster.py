"""A Dask cluster started from its command-line tools on loopback: ``dask scheduler`` and ``dask worker``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DaskProcesses:
    """The scheduler's address and the processes behind it."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker_pids(self) -> dict[str, int]:
        """Each connected worker's address and process id, as the scheduler knows them."""
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return {addr: int(pid) for addr, pid in client.run(os.getpid).items()}

    def last_busy_worker_pid(self, timeout: float = 30.0) -> int:
        """The pid of the worker running the only task left running (the others finished)."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=10) as client:
            while time.monotonic() < deadline:
                busy = {addr: keys for addr, keys in client.processing().items() if keys}
                if len(busy) == 1 and len(next(iter(busy.values()))) == 1:
                    [addr] = busy
                    return int(client.run(os.getpid, workers=[addr])[addr])
                time.sleep(0.05)
        raise AssertionError("the workers never came down to one task")

    def busy_worker_pid(self, timeout: float = 30.0) -> int:
        """The pid of a worker that is running a task right now."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=10) as client:
            while time.monotonic() < deadline:
                busy = [addr for addr, keys in client.processing().items() if keys]
                if busy:
                    return int(client.run(os.getpid, workers=busy[:1])[busy[0]])
                time.sleep(0.05)
        raise AssertionError("no worker took a task")


def _wait_for_file(path: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dask scheduler exited with {proc.returncode}")
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise AssertionError("dask scheduler did not write its scheduler file")


@contextmanager
def dask_processes(tmp: Path, n_workers: int = 2) -> Iterator[DaskProcesses]:
    """``dask scheduler`` on 127.0.0.1 and ``n_workers`` single-threaded ``dask worker`` processes without a nanny
    (so that killing one kills it), all stopped on exit."""
    from distributed import Client

    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    info = tmp / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(info)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    procs = DaskProcesses("", scheduler)
    try:
        procs.address = _wait_for_file(info, scheduler, 60)["address"]
        for i in range(n_workers):
            procs.workers.append(subprocess.Popen(
                [*dask, "worker", procs.address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(tmp / f"worker-{i}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(procs.address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield procs
    finally:
        for p in [*procs.workers, scheduler]:
            p.kill()
            p.wait()
