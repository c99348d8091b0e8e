"""The contenders, each run in a fresh child process: flatload (this checkout or an earlier one), a
single-process Polars script and a DuckDB script producing the same outputs from the same files.

The peers take the journal's DDL from the package (``flatload.store.database.schema.apply_schema``), the CSV columns
and types from the registry and the session windows from ``flatload.calendar``: they restate nothing.
Outputs (per date: minute and day Parquet, the journal rows) are compared after the runs.
"""
from __future__ import annotations

import datetime as dt
import resource
import time
from pathlib import Path

from .machine import ChildSampler, dummy_aws_env, proc_status

BUCKET = "flatfiles"


class TimingReporter:
    """A flatload progress reporter noting only when days finish (it accepts every release's signature)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.done: list[float] = []

    def start(self, *args: object) -> None:
        pass

    def advance(self, *args: object, **kwargs: object) -> None:
        self.done.append(time.perf_counter() - self.t0)

    def fetched(self, *args: object) -> None:
        pass

    def note(self, *args: object) -> None:
        pass

    def close(self) -> None:
        pass


def _settings(cfg: dict, data_dir: Path):
    from pathlib import Path as P

    from flatload.settings import Settings

    return Settings(data_dir=data_dir, endpoint_url=cfg.get("endpoint_url") or "http://127.0.0.1:9", bucket=BUCKET,
                    workers=cfg["workers"], use_rest=False, lock_timeout=30.0,
                    mirror=P(cfg["mirror"]) if cfg["source"] == "mirror" else None)


def child_flatload(cfg: dict) -> dict:
    """``flatload.load`` over the days; ``cfg["before"]``: an earlier checkout, without the ``datasets`` argument."""
    dummy_aws_env()
    import flatload

    data_dir = Path(cfg["data_dir"])
    settings = _settings(cfg, data_dir)
    start, end = dt.date.fromisoformat(cfg["start"]), dt.date.fromisoformat(cfg["end"])
    clock = TimingReporter()
    kwargs = {} if cfg.get("before") else {"datasets": cfg["datasets"]}
    with ChildSampler() as sampler:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = clock.t0 = time.perf_counter()
        summary = flatload.load(start, end, settings, clock, **kwargs)
        seconds = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    parent = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {"seconds": seconds, "days_done": len(summary.done), "failed": [f.line() for f in summary.failed],
            "parent_cpu_seconds": parent,
            "rows": summary.rows, "completions": clock.done,
            "rss_self_vmhwm_kib": proc_status("self").get("VmHWM", 0),
            "rss_workers_vmhwm_kib": sampler.workers()}


def _get(cfg: dict, client, key: str) -> bytes:
    if client is None:
        return (Path(cfg["mirror"]) / key).read_bytes()
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _journal_con(out: Path):
    """A DuckDB file with the package's own schema (the journal table the peers fill)."""
    from flatload.store.database import db, schema

    out.mkdir(parents=True, exist_ok=True)
    con = db.connect(out / "journal.duckdb")
    schema.apply_schema(con, out, migrations=False)
    return con


def _bars_out(frame, time_col: str, path: Path) -> None:
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    frame.sort("ticker", time_col).with_columns(pl.col(time_col).cast(pl.Datetime("ns", "UTC"))).write_parquet(
        path, compression="zstd", compression_level=2)


def polars_day(cfg: dict, client, con, d: dt.date, out: Path) -> int:
    """One session with Polars alone: the same partitions and journal rows flatload writes."""
    import polars as pl

    from flatload import calendar, datasets

    b = calendar.session_bounds(d)
    frames = {}
    for kind in ("minute_aggs", "day_aggs"):
        ds = datasets.get(f"stocks/{kind}")
        f = pl.read_csv(_get(cfg, client, ds.key(d)), schema={c.name: c.read_dtype for c in ds.columns},
                        null_values=None)
        f = f.filter((pl.col("window_start") >= b.day_start) & (pl.col("window_start") < b.day_end))
        frames[kind] = f
        _bars_out(f, "window_start", out / "parquet" / ds.name / f"date={d}" / "part-0.parquet")
    ws, m = pl.col("window_start"), frames["minute_aggs"]
    pre, post = (ws >= b.pre_start) & (ws < b.open), (ws >= b.close) & (ws < b.post_end)
    ext = m.group_by("ticker").agg(pre_high=pl.col("high").filter(pre).max(), pre_low=pl.col("low").filter(pre).min(),
                                   ah_high=pl.col("high").filter(post).max(), ah_low=pl.col("low").filter(post).min())
    daily = (frames["day_aggs"].sort("volume", descending=True).unique("ticker", keep="first")
             .select("ticker", open_price="open", hod="high", lod="low", close_price="close", day_volume="volume"))
    metrics = (ext.join(daily, on="ticker", how="full", coalesce=True).rename({"ticker": "symbol"})
               .with_columns(trade_date=pl.lit(d)))
    metrics.write_parquet(out / "parquet" / "stocks" / "metrics" / f"date={d}.parquet")
    con.register("_m", metrics.to_arrow())
    con.execute("INSERT OR REPLACE INTO journal SELECT symbol, trade_date, pre_high, pre_low, open_price, hod, lod, "
                "close_price, ah_high, ah_low, day_volume, 'flatfile', now()::TIMESTAMP FROM _m")
    con.unregister("_m")
    return m.height + frames["day_aggs"].height


def peer_setup(cfg: dict) -> tuple[Path, object]:
    """A peer script's output directory (made) and its S3 client (None for a mirror)."""
    dummy_aws_env()
    out = Path(cfg["data_dir"])
    (out / "parquet" / "stocks" / "metrics").mkdir(parents=True, exist_ok=True)
    if cfg["source"] != "s3":
        return out, None
    from flatload.fetch.s3 import make_client

    return out, make_client(_settings(cfg, out))


def child_polars(cfg: dict) -> dict:
    """The single-process Polars script: one day after another, download, parse, write, commit."""
    out, client = peer_setup(cfg)
    t0 = time.perf_counter()
    con = _journal_con(out)
    rows = sum(polars_day(cfg, client, con, dt.date.fromisoformat(d), out) for d in cfg["days"])
    con.close()
    return {"seconds": time.perf_counter() - t0, "rows": rows, "days_done": len(cfg["days"]),
            "rss_self_vmhwm_kib": proc_status("self").get("VmHWM", 0),
            "rss_children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
