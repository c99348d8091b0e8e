#!/usr/bin/env python
"""Benchmark flatload end to end against a DuckDB-only script on real-size synthetic days.

    python scripts/bench.py                     # 4 days, S3 (moto on loopback) and mirror, + DuckDB baseline
    python scripts/bench.py --repeat 3 --profile   # best of 3, plus a per-stage breakdown of one day
    python scripts/bench.py --presorted --source mirror   # minute CSV sorted like the vendor's files
    python scripts/bench.py --workers 1 --no-baseline     # flatload inline, no process pool

Other engineers' test runs share these 2 cores: read the "others" column (cores kept busy by
other processes during a run) before trusting a wall-clock figure, and prefer --repeat 3.

What it does:
1. Generates N consecutive NYSE sessions with ``flatload.sample`` (~11,000 tickers, ~2 M minute
   rows a day, gzip level 6 like the vendor) and caches the files in ``--cache`` keyed by the
   generation parameters. Generation is never timed.
2. Serves them from moto's S3 server on 127.0.0.1 (``--source s3``) and/or reads them from the
   cache directory as a mirror (``--source mirror``, no S3 server overhead).
3. Runs ``flatload.load`` in a fresh Python process (so nothing from generation or the
   S3 server pollutes its memory figures) and times it wall-clock: plan, listing, fetch, parse,
   metrics, Parquet writes, DuckDB commit, pool start-up and shutdown included.
4. Runs a DuckDB-only script producing the same outputs (minute, day and metrics Parquet per date,
   journal table in a DuckDB file) from the same files, the same way (S3 → temp file, or the
   mirror path), in a fresh process, with DuckDB's default threads, one day at a time (jobs=1)
   and two days at a time on two cursors (jobs=2: gzip CSV reads are single-threaded in DuckDB).
5. Checks that both produced the same journal (float tolerance) and the same minute/day bars
   (row counts and an order-independent row hash), then prints times, ratios and memory.

This is a measurement, not a test: it never asserts on times.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BUCKET = "flatfiles"
ASSET = "us_stocks_sip"
CACHE_VERSION = 2  # bump when flatload.sample changes what it generates
JOURNAL_COLUMNS = ["symbol", "trade_date", "pre_high", "pre_low", "open_price", "hod", "lod",
                   "close_price", "ah_high", "ah_low", "day_volume"]


# --------------------------------------------------------------------------- helpers

def _mib(kib: int | float | None) -> str:
    return "n/a" if not kib else f"{kib / 1024:,.0f} MiB"


def _dummy_aws_env() -> None:
    os.environ["AWS_ACCESS_KEY_ID"] = "bench"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)


def _proc_status(pid: int | str) -> dict[str, int]:
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
                hwm = _proc_status(pid).get("VmHWM")
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


# --------------------------------------------------------------------------- data generation + cache

def bench_dates(start: dt.date, n: int) -> list[dt.date]:
    from flatload import calendar

    days = calendar.sessions(start, start + dt.timedelta(days=n * 2 + 14))[:n]
    if len(days) < n:
        raise SystemExit(f"only {len(days)} sessions found after {start}")
    return days


def cache_dir(args) -> Path:
    order = "sorted" if args.presorted else "gen"
    tag = f"v{CACHE_VERSION}-t{args.tickers}-d{args.density:g}-s{args.seed}-l{args.level}-{order}"
    return Path(args.cache) / tag


def ensure_files(args, days: list[dt.date]) -> tuple[Path, dict]:
    """Generate (or reuse) the gz files; returns the mirror root and per-date metadata."""
    from flatload import sample
    from flatload.datasets import DAY, MINUTE, object_key

    root = cache_dir(args)
    mirror = root / "mirror"
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for d in days:
        keys = {ds: object_key(ASSET, ds, d) for ds in (MINUTE, DAY)}
        info = meta.get(d.isoformat())
        if info and all((mirror / k).exists() and (mirror / k).stat().st_size == info[f"{ds}_gz"]
                        for ds, k in keys.items()):
            continue
        t0 = time.perf_counter()
        s = sample.sample_day(d, n_tickers=args.tickers, seed=args.seed, density=args.density)
        minute = s.minute.sort("ticker", "window_start") if args.presorted else s.minute
        day = s.day.sort("ticker") if args.presorted else s.day
        files = {keys[MINUTE]: sample.to_csv_gz(minute, level=args.level),
                 keys[DAY]: sample.to_csv_gz(day, level=args.level)}
        for key, data in files.items():  # write-then-rename: an interrupted run leaves no half file
            path = mirror / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        meta[d.isoformat()] = {"minute_rows": minute.height, "day_rows": day.height,
                               "tickers_minute": minute["ticker"].n_unique(),
                               f"{MINUTE}_gz": len(files[keys[MINUTE]]), f"{DAY}_gz": len(files[keys[DAY]])}
        root.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
        print(f"  generated {d}: {minute.height:,} minute rows, {len(files[keys[MINUTE]]) / 1e6:.1f} MB gz "
              f"({time.perf_counter() - t0:.1f} s, not measured)", flush=True)
    return mirror, meta


# --------------------------------------------------------------------------- S3 server

def start_s3(mirror: Path, days: list[dt.date]):
    """moto's S3 server on loopback, loaded with the days' files. Returns (server, endpoint_url)."""
    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    from flatload import sample
    from flatload.datasets import DAY, MINUTE, object_key

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          config=Config(signature_version="s3v4"))
    for d in days:
        files = {k: (mirror / k).read_bytes() for k in (object_key(ASSET, ds, d) for ds in (MINUTE, DAY))}
        sample.upload(client, BUCKET, files)
    return server, url


# --------------------------------------------------------------------------- children (fresh processes)

def _machine_busy() -> tuple[float, float]:
    """(busy seconds summed over all cores, monotonic now) from /proc/stat."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK"), time.monotonic()


def _our_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_child(kind: str, cfg: dict, env: dict | None = None) -> dict:
    """Run this script as ``--child kind`` in a fresh interpreter; returns the JSON it prints last.

    Adds ``cpu_seconds`` (user+sys of the child and every process it waited for: the pool
    workers) and ``others_cores``: how many cores other processes on the machine kept busy
    meanwhile (the bench's own S3 server thread included), a warning sign for the wall-clock figures.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--child-cfg", json.dumps(cfg)]
    full_env = {**os.environ, **(env or {})}
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


def _settings(cfg: dict, data_dir: Path):
    from flatload.settings import Settings

    return Settings(data_dir=data_dir, endpoint_url=cfg.get("endpoint_url") or "http://127.0.0.1:9",
                    bucket=BUCKET, workers=cfg["workers"], use_rest=False,
                    mirror=Path(cfg["mirror"]) if cfg["source"] == "mirror" else None, lock_timeout=10.0)


class TimingReporter:
    """A flatload progress reporter that only notes when things happen (perf_counter seconds)."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.started = None
        self.done: list[float] = []
        self.closed = None

    def start(self, days: int, total_bytes: int) -> None:
        self.started = time.perf_counter()

    def advance(self, day, rows: int, nbytes: int, error: str | None = None) -> None:
        self.done.append(time.perf_counter())

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        self.closed = time.perf_counter()

    def phases(self, total: float, workers: int) -> dict:
        """plan (listing, ledger, run row), days (pool start → last day back), commit+shutdown, finish;
        steady = seconds per day between the W-th and the last completion (W = workers), which
        leaves out worker start-up and pool shutdown."""
        if self.started is None or not self.done:
            return {}
        rel = [t - self.t0 for t in self.done]
        out = {"plan": self.started - self.t0, "first_day_back": rel[0], "last_day_back": rel[-1],
               "after_last_day": (self.closed or self.t0 + total) - self.done[-1],
               "finish": self.t0 + total - (self.closed or self.t0 + total), "completions": rel}
        w = min(workers, len(rel))
        if len(rel) > w and workers > 1:  # inline (workers=1) reports days in batches: no estimate
            out["steady_s_per_day"] = (rel[-1] - rel[w - 1]) / (len(rel) - w)
        return out


def child_flatload(cfg: dict) -> dict:
    _dummy_aws_env()
    from flatload import load

    data_dir = Path(cfg["data_dir"])
    settings = _settings(cfg, data_dir)
    start, end = dt.date.fromisoformat(cfg["start"]), dt.date.fromisoformat(cfg["end"])
    before = _proc_status("self").get("VmRSS", 0)
    clock = TimingReporter()
    with ChildSampler() as sampler:
        t0 = clock.t0 = time.perf_counter()
        summary = load(start, end, settings, clock)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds, "phases": clock.phases(seconds, settings.workers), "days_done": len(summary.done), "failed": [f.line() for f in summary.failed],
        "rows": summary.rows, "rejected": summary.rejected, "warnings": summary.warnings[:5],
        "rss_children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "rss_self_vmhwm_kib": _proc_status("self").get("VmHWM", 0),
        "rss_self_before_kib": before,
        "rss_workers_vmhwm_kib": sampler.workers(),
    }


BASELINE_SETUP = """
CREATE TABLE IF NOT EXISTS journal (
    symbol VARCHAR NOT NULL, trade_date DATE NOT NULL,
    pre_high DOUBLE, pre_low DOUBLE, open_price DOUBLE, hod DOUBLE, lod DOUBLE, close_price DOUBLE,
    ah_high DOUBLE, ah_low DOUBLE, day_volume BIGINT, source VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (symbol, trade_date));
"""

# the same read flatload does: explicit types, volume as DOUBLE (fractional volume must not sink a file),
# ticker as text with no NA guessing (DuckDB's only null string is the empty one)
READ_CSV = ("read_csv('{path}', header = true, auto_detect = false, delim = ',', quote = '\"', "
            "compression = 'gzip', columns = {{'ticker': 'VARCHAR', 'volume': 'DOUBLE', 'open': 'DOUBLE', "
            "'close': 'DOUBLE', 'high': 'DOUBLE', 'low': 'DOUBLE', 'window_start': 'BIGINT', "
            "'transactions': 'BIGINT'}})")

BARS_SELECT = ("SELECT ticker, volume, open, close, high, low, "
               "make_timestamp_ns(window_start) AT TIME ZONE 'UTC' AS window_start, transactions "
               "FROM {table} ORDER BY ticker, window_start")


def baseline_day(cur, d: dt.date, minute_path: str, day_path: str, out: Path, tag: str,
                 insert_lock: threading.Lock) -> int:
    """One day with DuckDB only: the same outputs flatload writes."""
    from flatload import calendar

    b = calendar.session_bounds(d)
    m, dy = f"m_{tag}", f"d_{tag}"
    # off-date rows are not loaded, as in flatload; volume rounded to whole shares, as in flatload
    for table, path in ((m, minute_path), (dy, day_path)):
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT ticker, CAST(round(volume) AS BIGINT) AS volume, "
            f"open, close, high, low, window_start, transactions FROM {READ_CSV.format(path=path)} "
            f"WHERE window_start >= {b.day_start} AND window_start < {b.day_end}")
    parts = {}
    for ds in ("minute_aggs", "day_aggs", "metrics"):
        p = out / ASSET / ds / f"date={d:%Y-%m-%d}"
        p.mkdir(parents=True, exist_ok=True)
        parts[ds] = (p / "part-0.parquet").as_posix()
    for table, ds in ((m, "minute_aggs"), (dy, "day_aggs")):
        cur.execute(f"COPY ({BARS_SELECT.format(table=table)}) TO '{parts[ds]}' (FORMAT parquet, COMPRESSION zstd)")
    metrics = f"""
        WITH ext AS (
            SELECT ticker,
                   max(high) FILTER (WHERE window_start >= {b.pre_start} AND window_start < {b.open}) AS pre_high,
                   min(low)  FILTER (WHERE window_start >= {b.pre_start} AND window_start < {b.open}) AS pre_low,
                   max(high) FILTER (WHERE window_start >= {b.close} AND window_start < {b.post_end}) AS ah_high,
                   min(low)  FILTER (WHERE window_start >= {b.close} AND window_start < {b.post_end}) AS ah_low
            FROM {m} GROUP BY ticker),
        dd AS (
            SELECT ticker, open, high, low, close, volume FROM {dy}
            QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY volume DESC) = 1)
        SELECT ticker AS symbol, DATE '{d.isoformat()}' AS trade_date, pre_high, pre_low,
               dd.open AS open_price, dd.high AS hod, dd.low AS lod, dd.close AS close_price,
               ah_high, ah_low, dd.volume AS day_volume, 'flatfile' AS source
        FROM ext FULL JOIN dd USING (ticker)"""
    met = f"met_{tag}"
    cur.execute(f"CREATE OR REPLACE TEMP TABLE {met} AS {metrics}")
    cur.execute(f"COPY (SELECT * FROM {met} ORDER BY symbol) TO '{parts['metrics']}' "
                f"(FORMAT parquet, COMPRESSION zstd)")
    with insert_lock:  # one writer at a time into the journal, as flatload's parent commits
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"INSERT OR REPLACE INTO journal SELECT *, now()::TIMESTAMP FROM {met}")
        cur.execute("COMMIT")
    n = cur.execute(f"SELECT (SELECT count(*) FROM {m}) + (SELECT count(*) FROM {dy})").fetchone()[0]
    for t in (m, dy, met):
        cur.execute(f"DROP TABLE {t}")
    return int(n)


def child_duckdb(cfg: dict) -> dict:
    _dummy_aws_env()
    import queue

    import duckdb

    from flatload.datasets import DAY, MINUTE, object_key
    from flatload.fetch.s3 import make_client

    out = Path(cfg["data_dir"])
    out.mkdir(parents=True, exist_ok=True)
    days = [dt.date.fromisoformat(x) for x in cfg["days"]]
    jobs = cfg["jobs"]
    before = _proc_status("self").get("VmRSS", 0)
    t0 = time.perf_counter()
    con = duckdb.connect(str(out / "baseline.duckdb"))  # default threads = cores
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute(BASELINE_SETUP)
    client = None
    if cfg["source"] == "s3":
        # the same client flatload's workers build (s3v4, standard retries, same pool size)
        client = make_client(_settings(cfg, out))
    dl = out / "_download"
    dl.mkdir(exist_ok=True)
    todo: queue.Queue = queue.Queue()
    for d in days:
        todo.put(d)
    lock = threading.Lock()
    rows = [0]
    errors: list[BaseException] = []

    def fetch(key: str, tag: str) -> str:
        if client is None:
            return (Path(cfg["mirror"]) / key).as_posix()
        path = dl / f"{tag}-{Path(key).name}"
        resp = client.get_object(Bucket=BUCKET, Key=key)
        with open(path, "wb") as fh:
            shutil.copyfileobj(resp["Body"], fh, 1 << 20)
        return path.as_posix()

    def worker(j: int) -> None:
        cur = con.cursor()
        try:
            while True:
                try:
                    d = todo.get_nowait()
                except queue.Empty:
                    return
                mp = fetch(object_key(ASSET, MINUTE, d), f"j{j}m")
                dp = fetch(object_key(ASSET, DAY, d), f"j{j}d")
                n = baseline_day(cur, d, mp, dp, out, f"j{j}", lock)
                with lock:
                    rows[0] += n
                if client is not None:
                    os.unlink(mp)
                    os.unlink(dp)
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            errors.append(exc)
        finally:
            cur.close()

    ts = [threading.Thread(target=worker, args=(j,)) for j in range(jobs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    con.close()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return {"seconds": seconds, "days_done": len(days), "rows": rows[0], "threads": threads,
            "rss_self_vmhwm_kib": _proc_status("self").get("VmHWM", 0),
            "rss_self_before_kib": before}


def child_profile(cfg: dict) -> dict:
    """Per-stage times of one day, inline in this process (POLARS_MAX_THREADS from the environment)."""
    _dummy_aws_env()
    import polars as pl

    from flatload import calendar
    from flatload.store import partitions as parquet
    from flatload.tasks import parse
    from flatload.tasks.aggs import process_day
    from flatload.tasks.model import DayTask, WorkerContext
    from flatload.datasets.stocks import session_metrics
    from flatload.datasets import DAY, MINUTE, object_key
    from flatload.fetch import open_source as open_store

    d = dt.date.fromisoformat(cfg["date"])
    reps = cfg["reps"]
    out = Path(cfg["data_dir"])
    settings = _settings(cfg, out)
    store = open_store(settings)
    b = calendar.session_bounds(d)
    mk, dk = object_key(ASSET, MINUTE, d), object_key(ASSET, DAY, d)
    stages: dict[str, list[float]] = {}

    def timed(name: str, fn):
        res = None
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            res = fn()
            stages.setdefault(name, []).append((time.perf_counter() - t, time.process_time() - c))
        return res

    mdata = timed("store.get minute", lambda: store.get(mk))
    ddata = timed("store.get day", lambda: store.get(dk))
    timed("  (info) gzip.decompress minute", lambda: gzip.decompress(mdata))
    header = parse._header(mdata, mk)
    raw = timed("  (part) pl.read_csv minute, typed", lambda: parse._read(mdata, header, strict=True))
    timed("  (part) validate minute", lambda: parse._validate(raw, None, mk, b, []))
    minute = timed("parse.read_csv_gz minute", lambda: parse.read_csv_gz(mdata, mk, b))
    day = timed("parse.read_csv_gz day", lambda: parse.read_csv_gz(ddata, dk, b))
    met = timed("metrics.session_metrics", lambda: session_metrics(minute.frame, day.frame, b))
    timed("  (part) is_sorted_by_ticker_time", lambda: parquet.is_sorted_by_ticker_time(minute.frame))
    timed("  (part) sort ticker, window_start", lambda: minute.frame.sort("ticker", "window_start"))
    table = timed("parquet.bars_table minute", lambda: parquet.bars_table(minute.frame))
    dtable = timed("parquet.bars_table day", lambda: parquet.bars_table(day.frame))
    root = out / "parquet"
    timed("parquet.write_atomic minute", lambda: parquet.write_atomic(
        table, parquet.partition_path(root, ASSET, parquet.MINUTE_BARS, d)))
    timed("parquet.write_atomic day", lambda: parquet.write_atomic(
        dtable, parquet.partition_path(root, ASSET, parquet.DAY_BARS, d)))
    timed("parquet.write_atomic metrics", lambda: parquet.write_atomic(
        met.with_columns(source=pl.lit("flatfile")), parquet.partition_path(root, ASSET, parquet.METRICS, d)))
    listing = {o.key: o for o in store.list(mk.rsplit("/", 1)[0] + "/") + store.list(dk.rsplit("/", 1)[0] + "/")}
    ctx = WorkerContext(source=store, parquet_root=str(root), asset=ASSET)
    task = DayTask(d, mk, dk, listing[mk], listing[dk])
    timed("= day.process_day (whole worker task)", lambda: process_day(ctx, task))
    return {"stages": stages, "minute_rows": minute.frame.height, "minute_gz": len(mdata),
            "polars_threads": pl.thread_pool_size(),
            "minute_parquet_bytes": parquet.partition_path(root, ASSET, parquet.MINUTE_BARS, d).stat().st_size}


# --------------------------------------------------------------------------- comparison

def compare(fl_dir: Path, bl_dir: Path) -> dict:
    """Journal equality (float tolerance) and bar equality (counts + order-independent row hash)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{(fl_dir / 'flatload.duckdb').as_posix()}' AS fl (READ_ONLY)")
    con.execute(f"ATTACH '{(bl_dir / 'baseline.duckdb').as_posix()}' AS bl (READ_ONLY)")
    con.execute("CREATE MACRO near(x, y) AS (x IS NULL AND y IS NULL) OR "
                "(x IS NOT NULL AND y IS NOT NULL AND abs(x - y) <= 1e-9 * greatest(1, abs(x)))")
    n_fl = con.execute("SELECT count(*) FROM fl.journal").fetchone()[0]
    n_bl = con.execute("SELECT count(*) FROM bl.journal").fetchone()[0]
    values = [c for c in JOURNAL_COLUMNS if c not in ("symbol", "trade_date")]
    cond = " AND ".join(f"near(a.{c}, b.{c})" for c in values)
    diff_sql = (f"FROM fl.journal a FULL JOIN bl.journal b ON a.symbol = b.symbol AND a.trade_date = b.trade_date "
                f"WHERE a.symbol IS NULL OR b.symbol IS NULL OR NOT ({cond})")
    n_diff = con.execute(f"SELECT count(*) {diff_sql}").fetchone()[0]
    sample = con.execute(f"SELECT coalesce(a.symbol, b.symbol)::VARCHAR, coalesce(a.trade_date, b.trade_date)::VARCHAR "
                         f"{diff_sql} LIMIT 5").fetchall() if n_diff else []
    bars = {}
    for ds in ("minute_aggs", "day_aggs"):
        q = ("SELECT date::VARCHAR AS date, count(*) AS n, sum(hash(ticker, epoch_ns(window_start), volume, open, "
             "close, high, low, transactions))::VARCHAR AS h, "
             "string_agg(DISTINCT typeof(window_start), ',') AS ws_type "
             "FROM read_parquet('{root}/" + ASSET + "/" + ds + "/*/*.parquet', hive_partitioning = true) "
             "GROUP BY ALL ORDER BY date")
        a = con.execute(q.format(root=(fl_dir / "parquet").as_posix())).fetchall()
        b = con.execute(q.format(root=bl_dir.as_posix())).fetchall()
        bars[ds] = {"equal": [r[:3] for r in a] == [r[:3] for r in b], "rows": sum(r[1] for r in a),
                    "types": (a[0][3] if a else None, b[0][3] if b else None)}
    sizes = {}
    for name, root in (("flatload", fl_dir / "parquet"), ("duckdb", bl_dir)):
        sizes[name] = sum(p.stat().st_size for p in (root / ASSET / "minute_aggs").rglob("*.parquet"))
    con.close()
    return {"journal_rows": (n_fl, n_bl), "journal_diff": n_diff, "diff_sample": sample, "bars": bars,
            "minute_parquet_bytes": sizes,
            "match": n_fl == n_bl and n_diff == 0 and all(v["equal"] for v in bars.values())}


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=4, help="real-size sessions to load (default 4)")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 3, 4),
                    help="first session (default 2024-03-04); the next --days sessions are used")
    ap.add_argument("--cache", default="/tmp/flatload-bench-cache", help="where generated files are kept")
    ap.add_argument("--tickers", type=int, default=11000)
    ap.add_argument("--density", type=float, default=0.32, help="sample.sample_day density (0.32 ≈ 2 M rows)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--level", type=int, default=6, help="gzip level of the generated files (vendor: 6)")
    ap.add_argument("--presorted", action="store_true",
                    help="write the minute CSV sorted by ticker, window_start (the generator's order is not)")
    ap.add_argument("--source", choices=["s3", "mirror", "both"], default="both",
                    help="s3: moto server on 127.0.0.1; mirror: Settings(mirror=cache dir); both (default)")
    ap.add_argument("--mirror", action="store_true", help="shorthand for --source mirror")
    ap.add_argument("--workers", type=int, default=2, help="flatload workers (default 2)")
    ap.add_argument("--baseline-jobs", default="1,2",
                    help="DuckDB baseline: days processed at once, comma list (default 1,2)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per system and source; the best is reported")
    ap.add_argument("--profile", action="store_true", help="per-stage breakdown of one day, run inline")
    ap.add_argument("--profile-threads", default="1,2",
                    help="POLARS_MAX_THREADS values for --profile (default 1,2; workers=2 gives each 1)")
    ap.add_argument("--profile-reps", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the output directories")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-cfg", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        cfg = json.loads(args.child_cfg)
        fn = {"flatload": child_flatload, "duckdb": child_duckdb, "profile": child_profile}[args.child]
        print("@@RESULT " + json.dumps(fn(cfg)), flush=True)
        return

    if args.mirror:
        args.source = "mirror"
    _dummy_aws_env()
    info = machine_info()
    print(f"machine: {info['cores']} usable cores (os.cpu_count {info['cpu_count']}), {info['cpu']}, "
          f"{info['mem_gib']} GiB; Python {info['python']}, polars {info['polars']}, duckdb {info['duckdb']}, "
          f"pyarrow {info['pyarrow']}", flush=True)
    days = bench_dates(args.start, args.days)
    print(f"sessions: {days[0]} .. {days[-1]} ({len(days)}); cache {cache_dir(args)}", flush=True)
    mirror, meta = ensure_files(args, days)
    from flatload.datasets import DAY, MINUTE

    m_rows = sum(meta[d.isoformat()]["minute_rows"] for d in days)
    d_rows = sum(meta[d.isoformat()]["day_rows"] for d in days)
    gz = sum(meta[d.isoformat()][f"{MINUTE}_gz"] + meta[d.isoformat()][f"{DAY}_gz"] for d in days)
    per_day = [meta[d.isoformat()] for d in days]
    print(f"data: {m_rows:,} minute rows ({m_rows / len(days) / 1e6:.2f} M/day, "
          f"{statistics.mean(x['tickers_minute'] for x in per_day):,.0f} tickers/day), {d_rows:,} day rows, "
          f"{gz / 1e6:.0f} MB gz ({gz / len(days) / 1e6:.1f} MB/day), minute CSV "
          f"{'sorted' if args.presorted else 'in generator order (not sorted by ticker)'}", flush=True)

    sources = ["s3", "mirror"] if args.source == "both" else [args.source]
    jobs = [int(x) for x in args.baseline_jobs.split(",") if x.strip()] if not args.no_baseline else []
    work = Path(tempfile.mkdtemp(prefix="flatload-bench-"))
    server = url = None
    results: dict[tuple, list[dict]] = {}
    comparisons = {}
    try:
        if "s3" in sources or args.profile:
            t0 = time.perf_counter()
            server, url = start_s3(mirror, days)
            print(f"S3: moto ThreadedMotoServer at {url}, bucket {BUCKET!r} "
                  f"(upload {time.perf_counter() - t0:.1f} s, not measured)", flush=True)
        base = {"start": days[0].isoformat(), "end": days[-1].isoformat(), "days": [d.isoformat() for d in days],
                "endpoint_url": url, "mirror": str(mirror), "workers": args.workers, "verbose": args.verbose}
        for src in sources:
            for rep in range(args.repeat):
                runs = [("flatload", None)] + [("duckdb", j) for j in jobs]
                for system, j in runs:
                    out = work / f"{system}{j or ''}-{src}-{rep}"
                    cfg = {**base, "source": src, "data_dir": str(out), "jobs": j}
                    r = run_child(system, cfg)
                    r["dir"] = str(out)
                    results.setdefault((system, j, src), []).append(r)
                    label = "flatload" if system == "flatload" else f"duckdb-only jobs={j}"
                    print(f"  [{src}] run {rep + 1}/{args.repeat} {label}: {r['seconds']:.2f} s", flush=True)
                    if r.get("failed"):
                        print(f"    FAILED DAYS: {r['failed']}", flush=True)
                # verify on the last repetition; older outputs can go
                fl_dir = Path(results[("flatload", None, src)][-1]["dir"])
                for j in jobs:
                    comparisons[(src, j)] = compare(fl_dir, Path(results[("duckdb", j, src)][-1]["dir"]))
                if rep < args.repeat - 1 and not args.keep:
                    for key in results:
                        if key[2] == src:
                            shutil.rmtree(results[key][-1]["dir"], ignore_errors=True)

        report(args, info, days, m_rows, d_rows, sources, jobs, results, comparisons)

        if args.profile:
            for src in sources:
                for threads in [x for x in args.profile_threads.split(",") if x.strip()]:
                    cfg = {**base, "source": src, "date": days[0].isoformat(), "reps": args.profile_reps,
                           "data_dir": str(work / f"profile-{src}-{threads}"), "workers": 1}
                    p = run_child("profile", cfg, env={"POLARS_MAX_THREADS": threads})
                    print_profile(src, threads, p)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _best(results: dict, key: tuple) -> dict | None:
    """The fastest of a system's repeated runs, or None when it did not run."""
    runs = results.get(key)
    return min(runs, key=lambda r: r["seconds"]) if runs else None


def _row(src: str, system: str, r: dict, t_flatload: float, n: int, rows: int, rss: str) -> str:
    """One line of the results table; the ratio column is this system's seconds over flatload's."""
    t = r["seconds"]
    return (f"{src:7} {system:22} {t:8.2f} {t / n:7.3f} {rows / t:11,.0f} {t / t_flatload:11.2f} "
            f"{r['cpu_seconds'] / n:9.2f} {r['others_cores']:6.2f}  {rss}")


def report(args, info, days, m_rows, d_rows, sources, jobs, results, comparisons) -> None:
    n = len(days)
    rows = m_rows + d_rows
    print()
    print(f"== results: {n} days, {rows:,} rows (minute + day), best of {args.repeat}, wall-clock "
          f"on {info['cores']} cores ==")
    print(f"{'source':7} {'system':22} {'total s':>8} {'s/day':>7} {'rows/s':>11} {'vs flatload':>11} "
          f"{'CPU s/day':>9} {'others':>6}  peak RSS")
    for src in sources:
        fl_best = _best(results, ("flatload", None, src))
        if fl_best is None:
            continue
        t_fl = fl_best["seconds"]
        workers = fl_best["rss_workers_vmhwm_kib"]
        rss = ("inline: the parent is the worker; " if args.workers == 1 else
               f"workers {', '.join(_mib(w) for w in workers[:args.workers])} (VmHWM via /proc); ")
        rss += (f"max child ru_maxrss {_mib(fl_best['rss_children_maxrss_kib'])}; "
                f"parent {_mib(fl_best['rss_self_vmhwm_kib'])} VmHWM")
        print(_row(src, f"flatload workers={args.workers}", fl_best, t_fl, n, rows, rss))
        ph = fl_best.get("phases") or {}
        if ph:
            steady = ph.get("steady_s_per_day")
            first = "worker spawn+imports+1 day" if args.workers > 1 else "inline: 1 day, reported with the next"
            print(f"        flatload phases: plan {ph['plan']:.2f} s; first day back at {ph['first_day_back']:.2f} s "
                  f"({first}); last day back at {ph['last_day_back']:.2f} s; then "
                  f"commit+pool shutdown {ph['after_last_day']:.2f} s, finish {ph['finish']:.2f} s; completions "
                  f"{', '.join(f'{x:.2f}' for x in ph['completions'])}"
                  + (f"; steady state {steady:.3f} s/day (after the first {args.workers} days)" if steady else ""))
        if fl_best["failed"] or fl_best["days_done"] != n:
            print(f"        flatload loaded {fl_best['days_done']}/{n} days; failed: {fl_best['failed']}")
        for j in jobs:
            b = _best(results, ("duckdb", j, src))
            if b is None:
                continue
            print(_row(src, f"duckdb-only jobs={j}", b, t_fl, n, rows,
                       f"process {_mib(b['rss_self_vmhwm_kib'])} VmHWM (DuckDB threads={b['threads']})"))
        if args.repeat > 1:
            for key, rs in results.items():
                if key[2] == src:
                    print(f"        all runs {key[0]}{'' if key[1] is None else ' jobs=' + str(key[1])}: "
                          + ", ".join(f"{r['seconds']:.2f}" for r in rs))
    print()
    busy = max((r["others_cores"] for rs in results.values() for r in rs), default=0.0)
    if busy > 0.25:
        print(f"WARNING: other processes kept up to {busy:.2f} of {info['cores']} cores busy during the runs "
              f"('others' column): wall-clock figures are inflated; CPU s/day is the steadier figure")
    print("targets: <= 0.45 s/day end to end on 2 cores; >= 2x faster than the DuckDB-only script "
          "(ratio column = baseline seconds / flatload seconds)")
    for (src, j), c in comparisons.items():
        verdict = "MATCH" if c["match"] else "MISMATCH (the ratio is meaningless until fixed)"
        bars = "; ".join(f"{ds}: {'equal' if v['equal'] else 'DIFFER'} ({v['rows']:,} rows, window_start "
                         f"{v['types'][0]} vs {v['types'][1]})" for ds, v in c["bars"].items())
        print(f"check [{src}, duckdb jobs={j}]: {verdict}: journal {c['journal_rows'][0]:,} vs "
              f"{c['journal_rows'][1]:,} rows, {c['journal_diff']} differing (tol 1e-9 rel); {bars}; "
              f"minute Parquet {c['minute_parquet_bytes']['flatload'] / 1e6:.0f} MB (flatload) vs "
              f"{c['minute_parquet_bytes']['duckdb'] / 1e6:.0f} MB (duckdb)")
        if c["diff_sample"]:
            print(f"    e.g. {c['diff_sample']}")
    print("notes: times are wall-clock around pipeline.load() / the baseline loop inside a fresh process "
          "(interpreter + import time excluded, pool spawn included). DuckDB-only reads each file the way "
          "flatload's store does: [s3] boto3 get_object from the same moto server (same client config) "
          "streamed to a temp file, then read_csv; [mirror] read_csv straight from the mirror path. "
          "CPU s/day: user+sys of the run's process and its workers. others: average cores busy with other "
          "processes (and the in-process S3 server of [s3] runs) during the run. "
          "Worker RSS: per-process VmHWM sampled from /proc/<pid>/status every 20 ms (psutil not installed); "
          "'max child ru_maxrss' = getrusage(RUSAGE_CHILDREN) after the pool shut down = the max over workers.")


def print_profile(src: str, threads: str, p: dict) -> None:
    print()
    print(f"== profile [{src}] one day inline, POLARS_MAX_THREADS={threads} (pool={p['polars_threads']}), "
          f"{p['minute_rows']:,} minute rows, {p['minute_gz'] / 1e6:.1f} MB gz → minute Parquet "
          f"{p['minute_parquet_bytes'] / 1e6:.1f} MB ==")
    print(f"  {'stage':42} {'wall min':>8} {'median':>7} {'CPU min':>8}   (seconds; CPU = all threads)")
    for name, ts in p["stages"].items():
        walls, cpus = [t[0] for t in ts], [t[1] for t in ts]
        print(f"  {name:42} {min(walls):8.3f} {statistics.median(walls):7.3f} {min(cpus):8.3f}")
    main_stages = [k for k in p["stages"] if not k.startswith(" ") and not k.startswith("=")]
    total = sum(min(t[0] for t in p["stages"][k]) for k in main_stages)
    cpu = sum(min(t[1] for t in p["stages"][k]) for k in main_stages)
    print(f"  {'sum of top-level stages':42} {total:8.3f} {'':7} {cpu:8.3f}")


if __name__ == "__main__":
    main()
