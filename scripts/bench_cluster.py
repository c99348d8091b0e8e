"""The process pool against ``--cluster local:N`` on the same real-size stocks days: what a cluster costs.

Prints, per executor, the wall seconds per day, the parent's own CPU seconds per day (its children,
the workers, excluded: this is the serial part that caps how far a cluster scales) and the days per
second that parent could commit at most, then the cluster/pool wall ratio. Each run is a fresh
process loading into a fresh data directory from the same mirror; the journals are compared first.

    python scripts/bench_cluster.py --days 12 --workers 2 --repeat 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import data  # noqa: E402


def _child(cfg: dict) -> None:
    """One load, in this process; prints wall and this process's own CPU seconds as JSON."""
    from flatload.engine.api import load
    from flatload.settings import Settings

    s = Settings(data_dir=Path(cfg["data_dir"]), mirror=Path(cfg["mirror"]), workers=cfg["workers"],
                 use_rest=False, cluster=cfg["cluster"])
    t0 = time.perf_counter()
    summary = load(dt.date.fromisoformat(cfg["start"]), dt.date.fromisoformat(cfg["end"]), s)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "exit": summary.exit_code,
                      "done": len(summary.done)}))


def _journal(data_dir: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(data_dir / "flatload.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * EXCLUDE (loaded_at) FROM journal ORDER BY ALL").fetchall()
    finally:
        con.close()


def _run(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=12)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 3, 4))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each, alternating; the median is reported")
    ap.add_argument("--tickers", type=int, default=11000)
    ap.add_argument("--cache", default="/tmp/flatload-bench-cache")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    days = data.bench_days(args.start, args.days)
    made = data.ensure_days(Path(args.cache), "stocks/minute_aggs", days, {"seed": 0, "density": 0.32,
                                                                           "tickers": args.tickers})
    rows = sum(v["rows"] for day in made["days"].values() for v in day.values())
    print(f"data: stocks, {len(days)} day(s) {days[0]}..{days[-1]}, {rows:,} rows", flush=True)
    modes = {"process pool": None, f"--cluster local:{args.workers}": f"local:{args.workers}"}
    got: dict[str, list[dict]] = {m: [] for m in modes}
    work = Path(tempfile.mkdtemp(prefix="flatload-bench-cluster-"))
    journals = {}
    try:
        for i in range(args.repeat):
            for mode, cluster in modes.items():
                target = work / f"{i}-{len(got[mode])}-{cluster or 'pool'}".replace(":", "")
                r = _run({"data_dir": str(target), "mirror": made["mirror"], "workers": args.workers,
                          "cluster": cluster, "start": days[0].isoformat(), "end": days[-1].isoformat()})
                assert r["exit"] == 0 and r["done"] == len(days), (mode, r)
                journals[mode] = _journal(target)
                got[mode].append(r)
                shutil.rmtree(target)
        assert len({json.dumps(j, default=str) for j in journals.values()}) == 1, "the journals differ"
        print("journals: identical", flush=True)
        med = {}
        for mode, runs in got.items():
            wall = sorted(r["wall"] for r in runs)[len(runs) // 2]
            cpu = sorted(r["cpu"] for r in runs)[len(runs) // 2]
            med[mode] = wall
            print(f"{mode:>20}: {wall / len(days):.3f} s/day wall, parent {cpu / len(days):.3f} CPU-s/day "
                  f"(caps a cluster at {len(days) / cpu:.1f} days/s)", flush=True)
        pool, cluster = med["process pool"], med[f"--cluster local:{args.workers}"]
        print(f"cluster / pool wall: {cluster / pool:.2f}x (same run, {args.repeat} each)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
