"""Driving a real ``flatload load`` process through interrupts: signals and kill -9 at chosen moments, and the
checks a user relies on afterwards. Used by tests/test_interrupts.py (see its docstring for the plan)."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from flatload import calendar
from flatload.store.database import db

#: 14 sessions around Presidents' Day (2024-02-19, no session, no file)
START, END = dt.date(2024, 2, 1), dt.date(2024, 2, 21)
DAYS = calendar.sessions(START, END)
N_TICKERS = 60
FAMILY = "stocks"
LOCK_TIMEOUT = 20  # --lock-timeout of every run: bounds how long a run waits for a held journal
RUN_TIMEOUT = 60.0

SNAPSHOT_SQL = {
    "journal": "SELECT * EXCLUDE (loaded_at) FROM journal ORDER BY trade_date, symbol",
    "ledger": "SELECT key, dataset, trade_date, etag, size, last_modified, rows, rejected, off_date, status, error, "
              "scope FROM ledger ORDER BY key",
    "day_status": "SELECT trade_date, status, detail, symbols, scope, dataset FROM day_status ORDER BY trade_date, dataset",
    "rejects": "SELECT key, trade_date, line, reason FROM rejects ORDER BY ALL",
}
_DATE_COLUMN = {"journal": 1, "ledger": 2, "day_status": 0, "rejects": 1}



@dataclass
class Reference:
    snapshot: dict[str, list[tuple]]
    partitions: dict[str, pl.DataFrame]


def snapshot(data_dir: Path) -> dict[str, list[tuple]]:
    """The journal's tables as compared between runs (no timestamps, no run ids)."""
    con = duckdb.connect(str(data_dir / "flatload.duckdb"), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in SNAPSHOT_SQL.items()}
    finally:
        con.close()


def restrict(snap: dict[str, list[tuple]], dates: set[dt.date]) -> dict[str, list[tuple]]:
    return {name: [r for r in rows if r[_DATE_COLUMN[name]] in dates] for name, rows in snap.items()}


def partitions(data_dir: Path) -> dict[str, pl.DataFrame]:
    root = data_dir / "parquet"
    return {p.relative_to(root).as_posix(): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))}


def temp_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "parquet").rglob(".*.tmp-*"))


def finished_dates(data_dir: Path) -> set[dt.date]:
    """Dates finished but not committed: their recovery record (written after all their partitions) is in place."""
    root = data_dir / "parquet" / FAMILY / "_commit"
    return {dt.date.fromisoformat(p.name.removeprefix("date=").removesuffix(".json")) for p in root.glob("date=*.json")}


# ---- watching a run --------------------------------------------------------------------------
class Gate:
    """The proxy's request hook: records object GETs; ``arm(n, action)`` runs ``action`` at the n-th minute GET.

    The action runs before the request is forwarded, so that day is in flight when it fires.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.gets: list[str] = []
            self.minute_gets = 0
            self.at: int | None = None
            self.action: Callable[[], None] | None = None
            self.fired = threading.Event()

    def arm(self, at: int, action: Callable[[], None]) -> None:
        with self._lock:
            assert self.minute_gets < at, "armed too late"
            self.at, self.action = at, action

    def __call__(self, method: str, path: str) -> None:
        if method != "GET" or not path.endswith(".csv.gz"):
            return  # listings and bucket calls
        with self._lock:
            self.gets.append(path)
            if "/minute_aggs_v1/" not in path:
                return
            self.minute_gets += 1
            fire = self.minute_gets == self.at and self.action is not None
        if fire:
            self.action()
            self.fired.set()

    def fetched_dates(self) -> set[dt.date]:
        with self._lock:
            return {dt.date.fromisoformat(p.rsplit("/", 1)[1].removesuffix(".csv.gz")) for p in self.gets}


class PartitionReader(threading.Thread):
    """A concurrent reader: opens every visible ``*.parquet`` as soon as it appears or changes."""

    def __init__(self, root: Path) -> None:
        super().__init__(name="partition-reader", daemon=True)
        self.root, self.stopped = root, threading.Event()
        self.seen: set[tuple] = set()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopped.is_set():
            self.scan()
            self.stopped.wait(0.005)
        self.scan()

    def scan(self) -> None:
        for path in self.root.rglob("*.parquet"):  # temp files are hidden and end in .tmp-<pid>-<hex>
            try:
                st = path.stat()
            except FileNotFoundError:
                self.errors.append(f"{path}: listed, then gone")
                continue
            key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
            if key in self.seen:
                continue
            self.seen.add(key)
            try:
                pl.read_parquet(path)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                self.errors.append(f"{path}: {type(exc).__name__}: {exc}")


def group_members(pgid: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of the live (not zombie) processes in process group ``pgid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            out.append((int(entry.name), state))
    return out


def until(pred: Callable[[], object], timeout: float, what: str, proc: subprocess.Popen | None = None,
          interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the load exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# ---- one run of the command ------------------------------------------------------------------
@dataclass
class Chain:
    """One data directory, the same ``flatload load`` command run again and again."""

    data_dir: Path
    endpoint: str
    bucket: str
    workers: int
    gate: Gate
    reference: Reference
    #: (run_id, expected runs.outcome once a later run has started)
    runs: list[tuple[str, str]] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    files: list = field(default_factory=list)
    #: more arguments of every run (``--cluster local:2``)
    extra: tuple[str, ...] = ()

    def command(self, quiet: bool = True) -> list[str]:
        return [sys.executable, "-m", "flatload.cli", "load", "--start", START.isoformat(), "--end", END.isoformat(),
                "--endpoint-url", self.endpoint, "--bucket", self.bucket, "--data-dir", str(self.data_dir),
                "--workers", str(self.workers), "--no-rest", "--lock-timeout", str(LOCK_TIMEOUT), *self.extra] + (
                    ["--quiet"] if quiet else [])

    def start(self, name: str, at: int | None = None, action: Callable[["Run"], None] | None = None,
              quiet: bool = True) -> "Run":
        """Start the command; ``action(run)`` runs when it requests its ``at``-th minute file."""
        self.gate.reset()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FLATLOAD_", "MASSIVE_", "POLYGON_", "AWS_"))}
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", PYTHONUNBUFFERED="1")
        logs = self.data_dir.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out, err = open(logs / f"{name}.out", "w+"), open(logs / f"{name}.err", "w+")
        committed = self.committed()  # before the run starts: it must not find the journal open here
        uncommitted = finished_dates(self.data_dir) - committed
        reader = PartitionReader(self.data_dir / "parquet")
        reader.start()
        # its own session: signals to the group reach the parent and its workers, and no one else
        proc = subprocess.Popen(self.command(quiet), stdout=out, stderr=err, env=env, cwd=self.data_dir.parent,
                                start_new_session=True)
        self.procs.append(proc)
        self.files += [out, err]
        run = Run(self, name, proc, out, err, reader, committed=committed,
                  uncommitted=uncommitted, started=time.monotonic())
        if at is not None and action is not None:
            self.gate.arm(at, lambda: action(run))  # the process is still importing: no request yet
        return run

    def committed(self) -> set[dt.date]:
        """Days the journal holds as loaded."""
        if not (self.data_dir / "flatload.duckdb").exists():
            return set()
        return {r[0] for r in snapshot(self.data_dir)["day_status"] if r[1] != "failed"}

    def assert_journal_consistent(self) -> set[dt.date]:
        """Whatever days are committed are complete and equal to a clean run's; returns them.

        Days recorded as failed (a dead worker) have no rows and only 'failed' ledger entries.
        """
        snap = snapshot(self.data_dir)
        loaded = {r[0] for r in snap["day_status"] if r[1] != "failed"}
        assert {r[1] for r in snap["journal"]} <= loaded, "journal rows without a committed day status"
        assert restrict(snap, loaded) == restrict(self.reference.snapshot, loaded)
        others = [r for r in snap["ledger"] if r[2] not in loaded]
        assert all(r[9] == "failed" for r in others), others
        return loaded

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            for pid, _ in group_members(proc.pid):
                os.kill(pid, signal.SIGKILL)
        for fh in self.files:
            fh.close()


@dataclass
class Run:
    chain: Chain
    name: str
    proc: subprocess.Popen
    out: object
    err: object
    reader: PartitionReader
    committed: set[dt.date]  # committed before this run
    uncommitted: set[dt.date]  # finished (metrics partition in place) but not committed before this run
    started: float = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ctrl_c(self) -> None:
        """What a terminal sends on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.pid, signal.SIGINT)

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.name}: the load did not exit within {timeout}s\n{self.logs()}") from None
        self.reader.stopped.set()
        self.reader.join(10)
        print(f"{self.name}: exit {rc} after {time.monotonic() - self.started:.1f}s")
        return rc

    def stderr_text(self) -> str:
        return (self.chain.data_dir.parent / "logs" / f"{self.name}.err").read_text()

    def logs(self) -> str:
        self.out.seek(0)
        self.err.seek(0)
        return f"--- stdout ---\n{self.out.read()}--- stderr ---\n{self.err.read()[-4000:]}"

    def run_file(self) -> dict:
        for path in (self.chain.data_dir / "runs").glob("*.json"):
            body = json.loads(path.read_text())
            if body.get("pid") == self.pid:
                return body
        raise AssertionError(f"{self.name}: no run file with pid {self.pid}")

    def has_run_file(self) -> bool:
        try:
            self.run_file()
            return True
        except (AssertionError, OSError, ValueError):
            return False

    def run_row(self, run_id: str) -> tuple:
        con = duckdb.connect(str(self.chain.data_dir / "flatload.duckdb"), read_only=True)
        try:
            return con.execute("SELECT outcome, days_done, days_failed FROM runs WHERE run_id = ?",
                               [run_id]).fetchall()[0]
        finally:
            con.close()

    def check_common(self, rc: int) -> None:
        """After any end: no worker left, no reader ever saw a partial file, every partition reads in full."""
        until(lambda: not group_members(self.pid), 5, f"{self.name}: the workers to exit after the parent")
        assert not self.reader.errors, f"{self.name}: a reader saw a partial partition: {self.reader.errors}"
        for path in (self.chain.data_dir / "parquet").rglob("*.parquet"):
            pl.read_parquet(path)

    def check_not_refetched(self) -> None:
        """Days an earlier run finished but did not commit are committed from their partitions, not fetched."""
        again = self.uncommitted & self.chain.gate.fetched_dates()
        assert not again, f"{self.name}: fetched again days already in Parquet: {sorted(again)}"

    def check_interrupted(self, rc: int, sig: signal.Signals, workers_killed: bool = False) -> dict:
        """A clean stop: exit 128+sig, run recorded 'interrupted', done days committed, the rest not started.

        ``workers_killed``: the signal ended the workers too, so the days in flight may be dropped.
        """
        assert rc == 128 + sig, f"{self.name}: exit {rc}, expected {128 + sig}\n{self.logs()}"
        self.check_common(rc)
        self.check_not_refetched()
        body = self.run_file()
        assert body["state"] == "interrupted" and body["outcome"] == "interrupted", body
        assert body["interrupted_by_signal"] == sig
        assert body["failed"] == [], f"{self.name}: an interrupt must not fail days: {body['failed']}"
        done = {dt.date.fromisoformat(d) for d in body["done"]}
        not_started = {dt.date.fromisoformat(d) for d in body["not_started"]}
        assert done or workers_killed, f"{self.name}: the days in flight were not finished"
        assert not_started, f"{self.name}: the signal did not stop the run from taking new days"
        assert done | not_started == set(DAYS) - self.committed, (sorted(done), sorted(not_started))
        assert self.run_row(body["run_id"]) == ("interrupted", len(done), 0)
        assert not temp_files(self.chain.data_dir), "a clean stop leaves no temp files"
        assert self.chain.assert_journal_consistent() == self.committed | done
        assert f"interrupted by signal {int(sig)}" in self.logs()
        self.chain.runs.append((body["run_id"], "interrupted"))
        return body

    def check_killed(self, rc: int) -> None:
        """After ``kill -9``: whatever is committed is whole, the run is still 'running' until the next start."""
        assert rc == -signal.SIGKILL, f"{self.name}: exit {rc}\n{self.logs()}"
        self.check_common(rc)
        self.check_not_refetched()
        assert self.chain.assert_journal_consistent() >= self.committed
        body = self.run_file()
        assert body["state"] == "running"
        self.chain.runs.append((body["run_id"], "killed"))

    def check_complete(self, rc: int) -> None:
        """The final rerun: exit 0, journal and partitions identical to a clean run's, the history recorded."""
        assert rc == 0, f"{self.name}: exit {rc}\n{self.logs()}"
        self.check_common(rc)
        self.check_not_refetched()
        assert not temp_files(self.chain.data_dir), "the rerun must remove temp files left by killed runs"
        assert snapshot(self.chain.data_dir) == self.chain.reference.snapshot
        got = partitions(self.chain.data_dir)
        assert got.keys() == self.chain.reference.partitions.keys()
        for name, frame in got.items():
            assert frame.equals(self.chain.reference.partitions[name]), name
        body = self.run_file()
        assert body["state"] == "ok"
        self.chain.runs.append((body["run_id"], "ok"))
        con = duckdb.connect(str(self.chain.data_dir / "flatload.duckdb"), read_only=True)
        try:
            outcomes = dict(con.execute("SELECT run_id, outcome FROM runs").fetchall())
        finally:
            con.close()
        assert outcomes == dict(self.chain.runs)


# ---- the steps -------------------------------------------------------------------------------
def signal_at_minute_get(chain: Chain, name: str, n: int, send: Callable[[Run], None],
                         sig: signal.Signals, workers_killed: bool = False) -> dict:
    """Start a run; when it requests its n-th minute file, ``send`` the signal; expect a clean stop."""
    run = chain.start(name, n, send)
    rc = run.wait()
    assert chain.gate.fired.is_set(), f"{name}: the run ended before its minute GET #{n}\n{run.logs()}"
    return run.check_interrupted(rc, sig, workers_killed)


def kill_at_minute_get(chain: Chain, name: str, n: int) -> None:
    """``kill -9`` the parent (only) when it requests its n-th minute file."""
    run = chain.start(name, n, lambda r: os.kill(r.pid, signal.SIGKILL))
    rc = run.wait()
    assert chain.gate.fired.is_set(), f"{name}: the run ended before its minute GET #{n}\n{run.logs()}"
    run.check_killed(rc)


def kill_mid_write(chain: Chain, name: str, after: int) -> None:
    """``kill -9`` the whole group once this run has put ``after`` more days' metrics partitions in
    place (finished, not yet committed: commits come every few seconds), at a moment when a
    partition is half written.

    The group is stopped (SIGSTOP) whenever a temp file is seen; if it is still there the
    group is killed, else it continues and the watch goes on.
    """
    before = finished_dates(chain.data_dir)
    run = chain.start(name)
    root = chain.data_dir / "parquet"
    until(lambda: len(finished_dates(chain.data_dir) - before) >= after, 30, f"{name}: {after} new partitions",
          run.proc, interval=0.002)
    caught: list[Path] = []
    deadline = time.monotonic() + 30
    while not caught:
        assert run.proc.poll() is None, f"{name}: the run ended before a temp file was caught\n{run.logs()}"
        assert time.monotonic() < deadline, f"{name}: no temp file caught"
        if any(True for _ in root.glob(f"{FAMILY}/*/date=*/.*.tmp-*")):
            os.killpg(run.pid, signal.SIGSTOP)
            caught = temp_files(chain.data_dir)
            os.killpg(run.pid, signal.SIGKILL if caught else signal.SIGCONT)
    run.check_killed(run.wait())
    assert temp_files(chain.data_dir) == caught, "the temp file of the killed write stays until the next run"


def hold_journal_then(chain: Chain, name: str, finish: Callable[[Run], None]) -> Run:
    """Another process-like holder takes the journal once the run is under way and keeps it until
    every remaining day's partitions are written; then ``finish(run)`` (a signal or kill -9)."""
    run = chain.start(name)
    until(run.has_run_file, 30, f"{name}: the run file", run.proc)
    con = db.connect(chain.data_dir / "flatload.duckdb", 10)  # the run's planning connection is closed
    try:
        until(lambda: finished_dates(chain.data_dir) | run.committed >= set(DAYS), 30, f"{name}: all partitions",
              run.proc)
        time.sleep(0.3)  # let the run reach its final commit, waiting for the journal
        finish(run)
        rc = run.wait(10)  # well before --lock-timeout: a signal ends the wait for the journal
    finally:
        con.close()
    run.rc = rc  # type: ignore[attr-defined]
    return run


def kill_during_commit(chain: Chain, name: str) -> None:
    """``kill -9`` the run in the middle of its commit batch: the journal's WAL exists from a
    connection's first commit until it closes, so a kill then lands after some days' transactions
    and before others'. Each committed day must be whole, the others absent."""
    run = chain.start(name)
    wal = chain.data_dir / "flatload.duckdb.wal"
    deadline = time.monotonic() + 30
    while True:
        assert run.proc.poll() is None, f"{name}: the run ended before its commit was caught\n{run.logs()}"
        assert time.monotonic() < deadline, f"{name}: no commit caught\n{run.logs()}"
        if wal.exists():
            os.killpg(run.pid, signal.SIGSTOP)
            # the planning connection also writes the WAL; the run file is written after it closes,
            # and says 'running' until the days' commits are done (finishing the run writes it too)
            if wal.exists() and run.has_run_file() and run.run_file()["state"] == "running":
                os.killpg(run.pid, signal.SIGKILL)
                break
            os.killpg(run.pid, signal.SIGCONT)
            time.sleep(0.002)  # let it run: stopping it again at once would starve it while it plans
    run.check_killed(run.wait())
    assert wal.exists(), "the kill landed inside the commit batch"
    # the kill may land before the batch's first COMMIT or after some: either way every
    # committed day is whole (assert_journal_consistent) and nothing committed earlier is lost
    assert chain.assert_journal_consistent() >= run.committed


def kill_a_worker(chain: Chain, name: str, n: int) -> dict:
    """``kill -9`` one pool worker (as the OOM killer would) when the n-th minute file is requested:
    the run stops, reports the lost days as failed (transient), commits the rest, exits 1."""
    def kill_worker(run: Run) -> None:
        for pid, _ in group_members(run.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                os.kill(pid, signal.SIGKILL)
                return
        raise AssertionError("no pool worker found")

    run = chain.start(name, n, kill_worker)
    rc = run.wait()
    assert chain.gate.fired.is_set(), f"{name}: the run ended before its minute GET #{n}\n{run.logs()}"
    assert rc == 1, f"{name}: exit {rc}\n{run.logs()}"
    run.check_common(rc)
    body = run.run_file()
    assert body["state"] == "partial", body
    failed = {dt.date.fromisoformat(f["date"]) for f in body["failed"]}
    done = {dt.date.fromisoformat(d) for d in body["done"]}
    assert failed and all(f["transient"] and "worker process died" in f["error"] for f in body["failed"]), body
    assert done | failed == set(DAYS) - run.committed
    assert not temp_files(chain.data_dir), "the run removes what its dead worker left half written"
    assert run.run_row(body["run_id"]) == ("partial", len(done), len(failed))
    chain.runs.append((body["run_id"], "partial"))
    return body




def double_ctrl_c(chain: Chain, name: str, n: int) -> dict:
    """Ctrl-C while the n-th minute file is being fetched; once the run says it is stopping, Ctrl-C again.

    The first is acknowledged at once (the days in flight would be finished); the second aborts them:
    the workers are killed, their days dropped, what had finished committed, exit 130, a consistent store.
    """
    def twice(run: Run) -> None:
        run.ctrl_c()
        until(lambda: "stopping after" in run.stderr_text(), 20, f"{name}: the acknowledgement", run.proc)
        run.ctrl_c()

    run = chain.start(name, n, twice, quiet=False)
    rc = run.wait()
    assert chain.gate.fired.is_set(), f"{name}: the run ended before its minute GET #{n}\n{run.logs()}"
    text = run.stderr_text()
    ack = next(ln for ln in text.splitlines() if "stopping after" in ln)
    assert re.search(r"stopping after \d+ day\(s\) in flight \(finished days are committed\); press Ctrl-C "
                     r"again to abort them$", ack), ack
    assert "aborting: the days in flight are dropped; finished days are committed" in text
    return run.check_interrupted(rc, signal.SIGINT, workers_killed=True)
