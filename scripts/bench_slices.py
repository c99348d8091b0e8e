#!/usr/bin/env python
"""Benchmark one stocks trades day on 1 worker (the whole file) against N workers (the file in slices), and a
load onto object storage (moto's S3 on loopback) against the local disk.

    python scripts/bench_slices.py --rows 8000000
    python scripts/bench_slices.py --rows 8000000 --workers 2 --repeat 3 --no-store

The day is generated once with ``flatload.sample.write_ticks`` (vendor order, gzip level 6) into
``--cache`` (never timed). Each load runs in a fresh Python process (imports, pool start, plan, load,
commit), from a mirror; the figures are the time inside ``load()`` (the pool's start included; the
process's imports and the rows' digest afterwards not), the whole process's wall time, and the CPU
seconds of the process and its children (moto's server runs in this process: not counted). Every contender's rows are compared with the first one's before any number
is printed. Figures are medians of ``--repeat`` runs (contenders interleaved), and ratios against the
1-worker run of the same invocation. A measurement, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2024, 3, 11)
DATASET = "stocks/trades"
CACHE_VERSION = 1


def generate(cache: Path, rows: int, tickers: int) -> Path:
    """The mirror holding a trades day of ``rows`` rows (made once, reused)."""
    from flatload import datasets, sample

    mirror = cache / f"slices-v{CACHE_VERSION}-{rows}-{tickers}"
    path = mirror / datasets.get(DATASET).key(DAY)
    if not path.exists():
        t0 = time.monotonic()
        print(f"generating {rows:,} rows over {tickers:,} tickers ...", flush=True)
        sample.write_ticks(path, DATASET, DAY, rows, n_tickers=tickers, level=6)
        print(f"  {time.monotonic() - t0:.0f}s, {path.stat().st_size / 2**20:,.0f} MiB gzip", flush=True)
    return mirror


def child(spec: dict) -> None:
    """The measured process: one load; its summary and a digest of its rows as JSON on the last line."""
    import flatload
    from flatload.store.store import Store

    settings = flatload.Settings(data_dir=Path(spec["data_dir"]), mirror=Path(spec["mirror"]),
                                 workers=spec["workers"], use_rest=False, slice_bytes=spec["slice_bytes"],
                                 slices=spec["workers"],
                                 **{k: v for k, v in spec.items() if k.startswith(("store", "cluster"))})
    t0 = time.monotonic()
    summary = flatload.load(DAY, DAY, settings, datasets=DATASET)
    seconds = time.monotonic() - t0
    con = Store.of(settings).reader()
    digest = con.execute("SELECT count(*), sum(hash(ticker, sip_timestamp_ns, price, size, sequence_number)) "
                         "FROM stocks_trades").fetchone()
    con.close()
    print(json.dumps({"exit_code": summary.exit_code, "rows": summary.rows, "load_seconds": seconds,
                      "digest": [int(digest[0]), str(digest[1])], "failed": [f.line() for f in summary.failed]}))


def run_once(spec: dict) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-slices-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    pin = ["taskset", "-c", spec["cpus"]] if spec.get("cpus") else []
    out = subprocess.run([*pin, sys.executable, __file__, "--child", json.dumps({**spec, "data_dir": str(data_dir)})],
                         capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(data_dir, ignore_errors=True)
    if out.returncode != 0:
        raise SystemExit(f"the load failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(wall=wall, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return result


def store_spec(endpoint: str, bucket: str) -> dict:
    return {"store": f"s3://{bucket}/bench", "store_endpoint_url": endpoint, "store_key_id": "bench",
            "store_secret": "bench"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--tickers", type=int, default=8_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-store", action="store_true", help="skip the object-storage contender")
    ap.add_argument("--cluster", action="store_true", help="add --cluster local:1 and local:N contenders")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "flatload-bench-cache")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    mirror = generate(args.cache, args.rows, args.tickers)
    size = next(mirror.rglob("*.csv.gz")).stat().st_size
    whole = {"mirror": str(mirror), "workers": 1, "slice_bytes": 64 * 2**20}
    # the default slice size (64 MiB) makes no slices of a small file: one slice per worker here
    sliced = {**whole, "workers": args.workers, "slice_bytes": max(1, size // args.workers)}
    contenders = {"1 worker, whole file": whole, f"{args.workers} workers, {args.workers} slices": sliced}
    if shutil.which("taskset"):  # what one core (a cluster worker's share) does with the whole file
        contenders["1 worker, whole file, on 1 core (taskset -c 0)"] = {**whole, "cpus": "0"}
    if args.cluster:  # Dask workers of one thread each (a day is one core's work there)
        contenders.update({"--cluster local:1, whole file": {**whole, "cluster": "local:1"},
                           f"--cluster local:{args.workers}, {args.workers} slices":
                               {**sliced, "cluster": f"local:{args.workers}"}})
    server = None
    if not args.no_store:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        contenders["1 worker, whole file, onto object storage (moto)"] = {**whole, **store_spec(endpoint, "bench")}
    try:
        results: dict[str, list[dict]] = {name: [] for name in contenders}
        for _ in range(args.repeat):  # interleaved, so that a busy moment of the machine hits every contender
            for name, spec in contenders.items():
                results[name].append(run_once(spec))
    finally:
        if server is not None:
            server.stop()
    digests = {json.dumps(r["digest"]) for rs in results.values() for r in rs}
    if len(digests) != 1:
        raise SystemExit(f"the contenders' rows differ: {digests}")
    base = statistics.median(r["load_seconds"] for r in results[next(iter(results))])
    print(f"\n{args.rows:,} trades ({size / 2**20:,.0f} MiB gzip), {os.cpu_count()} cores, median of {args.repeat}; "
          "every contender's rows are the same")
    print(f"  {'':<50} {'load()':>8} {'process':>8} {'M rows/s':>9} {'CPU-s':>7}  speed vs the first")
    for name, rs in results.items():
        inside = statistics.median(r["load_seconds"] for r in rs)
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        print(f"  {name:<50} {inside:7.2f}s {wall:7.2f}s {args.rows / inside / 1e6:9.2f} {cpu:7.1f}  "
              f"x{base / inside:.2f}")


if __name__ == "__main__":
    main()
