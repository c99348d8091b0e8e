#!/usr/bin/env python
"""Benchmark the tick-data load: a stocks trades day of N rows, from a mirror, in a fresh process.

    python scripts/bench_ticks.py --rows 10000000 --rows 20000000
    python scripts/bench_ticks.py --rows 2000000 --tickers 2000 --workers 1

For each N it:
1. generates a trades day of N rows with ``flatload.sample.write_ticks`` (vendor order, gzip level 6)
   into ``--cache/<params>/`` laid out like the bucket, once (never timed);
2. runs ``flatload.load(day, day, Settings(mirror=..., workers=W), datasets="stocks/trades")`` in a
   fresh Python process and times it wall-clock (process start, imports, plan, load, commit);
3. samples VmHWM (peak RSS) of that process and of every process it starts from /proc; with one day
   to load the engine runs it inline, in the load process itself, so that process is the worker;
4. measures what one ticker's query reads (DuckDB's profiler: bytes read from files) against the
   day's partition bytes, for the median ticker and the busiest one;
5. prints rows/s, peak RSS per process, the read fractions and how busy the machine was meanwhile.

A measurement, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DAY = dt.date(2024, 3, 11)
DATASET = "stocks/trades"
CACHE_VERSION = 1  # bump when flatload.sample.ticks changes what it generates


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.update(int(x) for x in fh.read().split())
    except OSError:
        pass
    return out


class PeakSampler:
    """Peak RSS (VmHWM) of a process and of its descendants, sampled from /proc every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        self.pid, self.period = pid, period
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            todo, seen = [self.pid], set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                hwm = _hwm_kib(pid)
                if hwm:
                    self.peak[pid] = max(self.peak.get(pid, 0), hwm)
                todo.extend(_children(pid))
            self._stop.wait(self.period)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_busy() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _own_cpu(pid: int) -> int:
    """Clock ticks of CPU used by ``pid`` and its waited-for children so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15])
    except OSError:
        return 0


def generate(cache: Path, rows: int, tickers: int, level: int) -> Path:
    """The mirror holding a trades day of ``rows`` rows (made once, reused)."""
    from flatload import datasets, sample

    mirror = cache / f"ticks-v{CACHE_VERSION}-{rows}-{tickers}-l{level}"
    path = mirror / datasets.get(DATASET).key(DAY)
    if not path.exists():
        t0 = time.monotonic()
        print(f"generating {rows:,} rows over {tickers:,} tickers into {path} ...", flush=True)
        sample.write_ticks(path, DATASET, DAY, rows, n_tickers=tickers, level=level)
        print(f"  generated in {time.monotonic() - t0:.0f}s, {path.stat().st_size / 2**20:,.0f} MiB gzip", flush=True)
    return mirror


def child(mirror: str, data_dir: str, workers: int) -> None:
    """The measured process: one load, its summary as JSON on the last line."""
    t0 = time.monotonic()
    import flatload

    settings = flatload.Settings(data_dir=Path(data_dir), mirror=Path(mirror), workers=workers, use_rest=False)
    summary = flatload.load(DAY, DAY, settings, datasets=DATASET)
    print(json.dumps({"exit_code": summary.exit_code, "rows": summary.rows, "load_seconds": summary.seconds,
                      "in_process_seconds": time.monotonic() - t0, "warnings": summary.warnings[:5],
                      "failed": [f.line() for f in summary.failed]}))


def read_fractions(data_dir: Path) -> dict[str, float]:
    """Bytes DuckDB reads for one ticker's day (median and busiest ticker) over the day's partition bytes."""
    from flatload import datasets
    from flatload.store.database import db

    ds = datasets.get(DATASET)
    folder = data_dir / "parquet" / DATASET / f"date={DAY}"
    total = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    con = db.connect(data_dir / "flatload.duckdb", read_only=True)
    counts = con.execute(f"SELECT ticker, count(*) AS n FROM {ds.view} GROUP BY ticker ORDER BY n, ticker").fetchall()
    con.close()
    out = {"partition_mib": total / 2**20, "parts": len(list(folder.glob("*.parquet")))}
    for label, (ticker, n) in (("median", counts[len(counts) // 2]), ("busiest", counts[-1])):
        profile = data_dir / "profile.json"
        con = db.connect(data_dir / "flatload.duckdb", read_only=True)
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{profile}'")
        con.execute(f"SELECT * FROM {ds.view} WHERE ticker = ? AND trade_date = ?", [ticker, DAY]).fetchall()
        con.execute("PRAGMA disable_profiling")
        con.close()
        read = json.loads(profile.read_text()).get("io", {}).get("total_bytes_read")
        out[label] = {"ticker": ticker, "rows": n, "share_of_rows": n / sum(c for _, c in counts),
                      "fraction_read": None if read is None else read / total}
    return out


def run(mirror: Path, rows: int, workers: int, keep: bool) -> dict:
    """Load the day in a fresh process; times, peak RSS, read fractions."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ticks-"))
    busy0, total0 = _cpu_busy()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(mirror), str(data_dir), str(workers)],
                            stdout=subprocess.PIPE, text=True)
    with PeakSampler(proc.pid) as sampler:
        out, _ = proc.communicate()
    wall = time.monotonic() - t0
    busy1, total1 = _cpu_busy()
    result = json.loads(out.strip().splitlines()[-1])
    ticks = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    machine_busy = (busy1 - busy0) / max(1, total1 - total0) * cores
    own = os.times().children_user + os.times().children_system
    result.update(rows_generated=rows, wall_seconds=wall, rows_per_s=rows / wall,
                  rows_per_s_load=rows / result["load_seconds"] if result["load_seconds"] else None,
                  peak_rss_mib={pid: kib / 1024 for pid, kib in sorted(sampler.peak.items())},
                  cores_busy_all=machine_busy, cpu_seconds_ours=own, clk_tck=ticks)
    result["fractions"] = read_fractions(data_dir)
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="rows of the trades day (repeatable)")
    ap.add_argument("--tickers", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--level", type=int, default=6, help="gzip level of the generated file (the vendor's: 6)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "flatload-bench-cache")
    ap.add_argument("--keep", action="store_true", help="keep each run's data directory")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    for rows in args.rows or [10_000_000, 20_000_000]:
        mirror = generate(args.cache, rows, args.tickers, args.level)
        before = os.times().children_user + os.times().children_system
        r = run(mirror, rows, args.workers, args.keep)
        cpu = r["cpu_seconds_ours"] - before
        peaks = ", ".join(f"{v:,.0f}" for v in r["peak_rss_mib"].values())
        f = r["fractions"]
        print(f"\n{rows:,} rows, {args.workers} workers: exit {r['exit_code']}, {r['wall_seconds']:.1f}s end to end "
              f"-> {r['rows_per_s'] / 1e6:.2f} M rows/s ({r['rows_per_s_load'] / 1e6:.2f} M rows/s inside load(); "
              f"{cpu:.1f} CPU-s ours, {r['cores_busy_all']:.2f} of {os.cpu_count()} cores busy machine-wide)")
        print(f"  peak RSS per process (MiB; the load process first): {peaks}")
        print(f"  partition: {f['partition_mib']:,.0f} MiB in {f['parts']} parts; one ticker's day reads: "
              + "; ".join(f"{k} {f[k]['ticker']} ({f[k]['share_of_rows']:.2%} of rows) "
                          f"{f[k]['fraction_read']:.2%} of the bytes" for k in ("median", "busiest")))
        for line in r["warnings"] + r["failed"]:
            print(f"  ! {line}")


if __name__ == "__main__":
    main()
