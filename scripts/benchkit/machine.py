"""Measuring processes: peak memory of children (from /proc), CPU time, how busy the rest of the machine was.

Every contender runs as a fresh child process (``scripts/bench.py --child KIND``), so its imports,
its pool and its memory are its own and nothing from data generation or the S3 server pollutes them.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench.py"


def mib(kib: int | float | None) -> str:
    return "n/a" if not kib else f"{kib / 1024:,.0f} MiB"


def dummy_aws_env() -> None:
    os.environ["AWS_ACCESS_KEY_ID"] = "bench"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)


def proc_status(pid: int | str) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])  # kB
    except OSError:
        pass
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ChildSampler:
    """Samples VmHWM (peak RSS) of this process's children from /proc every ``period`` seconds."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.peak: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _children(self) -> set[int]:
        pids: set[int] = set()
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return pids
        for t in tasks:
            try:
                with open(f"/proc/self/task/{t}/children") as fh:
                    pids.update(int(x) for x in fh.read().split())
            except OSError:
                pass
        return pids

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                hwm = proc_status(pid).get("VmHWM")
                if hwm:
                    self.peak[pid] = max(self.peak.get(pid, 0), hwm)
                    if pid not in self.kind:
                        cmd = _cmdline(pid)
                        self.kind[pid] = "resource_tracker" if "resource_tracker" in cmd else "worker"
            self._stop.wait(self.period)

    def __enter__(self) -> "ChildSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def workers(self) -> list[int]:
        return sorted((v for p, v in self.peak.items() if self.kind.get(p) == "worker"), reverse=True)


def machine_info() -> dict:
    import duckdb
    import polars as pl
    import pyarrow as pa

    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cores": cores, "cpu_count": os.cpu_count(), "cpu": model, "mem_gib": round(mem / 2**30, 1),
            "python": platform.python_version(), "polars": pl.__version__, "duckdb": duckdb.__version__,
            "pyarrow": pa.__version__, "kernel": platform.release()}


def _machine_busy() -> tuple[float, float]:
    """(busy seconds summed over all cores, monotonic now) from /proc/stat."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK"), time.monotonic()


def _our_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_child(kind: str, cfg: dict, env: dict | None = None, pythonpath: str | None = None) -> dict:
    """Run this script as ``--child kind`` in a fresh interpreter; returns the JSON it prints last.

    Adds ``cpu_seconds`` (user+sys of the child and every process it waited for: the pool
    workers) and ``others_cores``: how many cores other processes on the machine kept busy
    meanwhile (the bench's own S3 server thread included), a warning sign for the wall-clock figures.
    """
    cmd = [sys.executable, str(BENCH), "--child", kind, "--child-cfg", json.dumps(cfg)]
    full_env = {**os.environ, **(env or {})}
    if pythonpath:  # another checkout of flatload (the "before" figures): it comes first on the path
        full_env["PYTHONPATH"] = pythonpath + os.pathsep + full_env.get("PYTHONPATH", "")
    busy0, t0 = _machine_busy()
    cpu0 = _our_cpu()
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
    busy1, t1 = _machine_busy()
    cpu = _our_cpu() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"child {kind} failed with exit code {proc.returncode}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT ")]
    if proc.stderr.strip() and cfg.get("verbose"):
        sys.stderr.write(proc.stderr)
    result = json.loads(lines[-1][len("@@RESULT "):])
    result["cpu_seconds"] = cpu
    result["others_cores"] = max(0.0, (busy1 - busy0) - cpu) / max(t1 - t0, 1e-9)
    return result
