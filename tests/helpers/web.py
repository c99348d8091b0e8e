"""The web app on a real loopback port, and what its tests do with it: poll jobs, hold S3 requests.

:class:`LiveServer` serves ``flatload.web.create_app`` with uvicorn in a thread on a free
127.0.0.1 port; clients talk real HTTP to it (httpx). Jobs it starts are real ``flatload load``
processes; leaving the block kills any still running (a failed test must not leave them behind), unless
``keep_jobs`` (a test of a server restart: the job goes on, as it does for real).
:class:`HoldGate` is an S3 fault proxy hook that holds minute-file downloads until released,
so a job stays running exactly as long as a test needs.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from flatload.settings import Settings
from flatload.web.app import bind, create_app
from flatload.store.store import Store

ACTIVE = ("queued", "running")
JOB_TIMEOUT = 90.0


class LiveServer:
    """``with LiveServer(settings, token) as server: server.client.get("/api/v1/...")``."""

    def __init__(self, settings: Settings, token: str | None = None, keep_jobs: bool = False) -> None:
        self.settings = settings
        self.keep_jobs = keep_jobs
        self.app = create_app(settings, token)
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.client = httpx.Client(base_url=self.url, timeout=30.0)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="flatload-web", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        if not self.keep_jobs or exc[0] is not None:
            kill_jobs(self.settings.data_dir)

    def start(self, body: dict, headers: dict[str, str] | None = None) -> str:
        """POST a backfill; its job id (asserting the 202)."""
        res = self.client.post("/api/v1/backfill", json=body, headers=headers)
        assert res.status_code == 202, res.text
        assert res.json()["status"] == "queued"
        return res.json()["job_id"]

    def status(self, job_id: str) -> dict:
        res = self.client.get(f"/api/v1/backfill/status/{job_id}")
        assert res.status_code == 200, res.text
        return res.json()

    def wait(self, job_id: str, timeout: float = JOB_TIMEOUT, until: Callable[[dict], bool] | None = None
             ) -> tuple[dict, list[dict]]:
        """Poll the job until it ends (or ``until(doc)``); the last document and every one seen."""
        seen: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            doc = self.status(job_id)
            seen.append(doc)
            if (until(doc) if until is not None else doc["status"] not in ACTIVE):
                return doc, seen
            if until is not None and doc["status"] not in ACTIVE:
                raise AssertionError(f"job {job_id} ended ({doc['status']}) before the awaited moment:\n"
                                     f"{job_log(self.settings, job_id)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {doc['status']} after {timeout}s:\n"
                                     f"{job_log(self.settings, job_id)}")
            time.sleep(0.1)


def job_log(settings: Settings, job_id: str) -> str:
    """What the job's load printed (for failure messages)."""
    try:
        return (Path(Store.of(settings).runs_dir) / f"{job_id}.log").read_text()[-4000:]
    except OSError:
        return "(no log)"


def kill_jobs(data_dir: Path) -> None:
    """Kill the process group of every job under ``data_dir`` that still runs (a test's cleanup)."""
    for path in (Path(data_dir) / "runs").glob("*.job"):
        pid = json.loads(path.read_text()).get("pid")
        if not pid:
            continue
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


class HoldGate:
    """An ``S3FaultProxy.on_request`` hook: from the ``hold_from``-th minute-file GET on, requests wait for
    :meth:`release`. ``held`` is set once a request waits (the job is then surely running)."""

    def __init__(self, hold_from: int = 1, timeout: float = 60.0) -> None:
        self.hold_from = hold_from
        self.timeout = timeout
        self.minute_gets = 0
        self.held = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        if method != "GET" or "/minute_aggs_v1/" not in path or not path.endswith(".csv.gz"):
            return
        with self._lock:
            self.minute_gets += 1
            hold = self.minute_gets >= self.hold_from
        if hold and not self.released.is_set():
            self.held.set()
            self.released.wait(self.timeout)

    def release(self) -> None:
        self.released.set()


_PAUSE_HOOK = '''"""Written by tests.helpers.web.WrapperPause: holds a web job's wrapper at its first {event!r} event."""
import os
import sys
import time

_DIR = {directory!r}


def _hold(event, _args):
    if event != {event!r} or not sys.argv[0].endswith(os.path.join("flatload", "web", "child.py")):
        return
    if os.path.exists(os.path.join(_DIR, "parked")):  # the first such event only
        return
    with open(os.path.join(_DIR, "parked.tmp"), "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(os.path.join(_DIR, "parked.tmp"), os.path.join(_DIR, "parked"))
    deadline = time.monotonic() + {timeout!r}
    while not os.path.exists(os.path.join(_DIR, "released")) and time.monotonic() < deadline:
        time.sleep(0.01)


sys.addaudithook(_hold)
'''


class WrapperPause:
    """Holds the wrapper process of the next web job (``python -m flatload.web.child``) at one of its steps,
    exactly as a busy machine may leave it there, for as long as a test needs.

    The mechanism is Python's own: a ``sitecustomize`` module on ``PYTHONPATH`` (set for the block, so the
    jobs the server starts inherit it) adds an audit hook (PEP 578) that, in the wrapper only, waits at the
    first ``event`` until :meth:`release`. ``"fcntl.flock"``: the wrapper is about to take the job's start
    lock (its signal handlers are in place, its load not started); ``"subprocess.Popen"``: it is about to
    start the load. Nothing of flatload is patched: the wrapper that runs is the shipped one.
    """

    def __init__(self, directory: Path, event: str, timeout: float = 120.0) -> None:
        self.directory = Path(directory)
        self.event = event
        self.timeout = timeout
        self._old_path: str | None = None

    def __enter__(self) -> WrapperPause:
        self.directory.mkdir(parents=True, exist_ok=True)
        hook = _PAUSE_HOOK.format(event=self.event, directory=str(self.directory), timeout=self.timeout)
        (self.directory / "sitecustomize.py").write_text(hook)
        self._old_path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.directory), self._old_path) if p)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self._old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = self._old_path

    def wait_parked(self, timeout: float = 30.0) -> int:
        """Wait until the wrapper waits at the event; its pid."""
        deadline = time.monotonic() + timeout
        while not (self.directory / "parked").exists():
            assert time.monotonic() < deadline, f"no job wrapper reached {self.event} within {timeout}s"
            time.sleep(0.01)
        return int((self.directory / "parked").read_text())

    def release(self) -> None:
        (self.directory / "released").touch()


def stop_when_deliverable(server: LiveServer, job_id: str, attempts: int = 10) -> httpx.Response:
    """DELETE the job, again after its ``Retry-After`` while the answer is 409 "starting"; the last answer."""
    for _ in range(attempts):
        res = server.client.delete(f"/api/v1/backfill/{job_id}")
        if res.status_code != 409 or "retry-after" not in res.headers:
            return res
        time.sleep(float(res.headers["retry-after"]))
    return res
