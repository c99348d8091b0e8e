"""Real-size synthetic days for the benchmark, made by the package's own generator and cached on disk.

Stocks: about 11,000 tickers and 2 M minute rows a day (30 MB gzip, like the vendor's). Options:
a chain of ``--contracts`` contracts (200,000 by default: about 4 M minute rows, 60 MB gzip; the
vendor's real days are nearer 500,000 contracts and 150 MB, which ``--contracts 500000`` makes if
the machine has the memory: generation holds a contracts x minutes matrix). Files are written in
the bucket's layout (a mirror) and uploaded to the S3 server when the run reads S3.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

CACHE_VERSION = 4  # bump when flatload.sample changes what it generates


def bench_days(start: dt.date, n: int, calendar_name: str = "stocks/minute_aggs") -> list[dt.date]:
    """The first ``n`` days the dataset's calendar expects from ``start`` on."""
    from flatload import datasets

    cal = datasets.get(calendar_name).calendar
    days = cal.days(start, start + dt.timedelta(days=n * 2 + 14))[:n]
    if len(days) < n:
        raise SystemExit(f"only {len(days)} days found after {start}")
    return days


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")  # an interrupted generation leaves no half file
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ensure_days(root: Path, dataset: str, days: list[dt.date], params: dict) -> dict:
    """Generate (or reuse) the files of ``dataset``'s family for ``days``; returns per-day sizes and rows."""
    from flatload import datasets, sample

    tag = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    mirror = root / f"v{CACHE_VERSION}-{dataset.split('/')[0]}-{tag}"
    meta_path = mirror / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    family = [d for d in datasets.resolve(dataset.split("/")[0]) if not d.streamed]
    for d in days:
        if d.isoformat() in meta and all((mirror / ds.key(d)).exists() for ds in family):
            continue
        t0 = time.perf_counter()
        frames = _frames(dataset.split("/")[0], d, params)
        info = {}
        for ds in family:
            data = sample.to_csv_gz(frames[ds.kind].select(ds.csv_columns), level=params.get("level", 6))
            _write(mirror / ds.key(d), data)
            info[ds.kind] = {"rows": frames[ds.kind].height, "gz": len(data)}
        meta[d.isoformat()] = info
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
        print(f"  generated {dataset.split('/')[0]} {d}: {info['minute_aggs']['rows']:,} minute rows, "
              f"{info['minute_aggs']['gz'] / 1e6:.1f} MB gz ({time.perf_counter() - t0:.0f} s, not measured)",
              flush=True)
    return {"mirror": str(mirror), "days": {d.isoformat(): meta[d.isoformat()] for d in days}}


def _frames(family: str, d: dt.date, params: dict):
    from flatload import sample
    from flatload.sample import markets

    if family == "stocks":
        s = sample.sample_day(d, n_tickers=params["tickers"], seed=params["seed"], density=params["density"])
        return {"minute_aggs": s.minute, "day_aggs": s.day}
    if family == "options":
        return markets.options_day(d, params["contracts"], params["seed"], density=params["density"])
    raise SystemExit(f"the benchmark generates stocks and options aggregates, not {family}")


def upload(endpoint: str, bucket: str, mirror: Path, keys: list[str]) -> None:
    """Put the cached files into the S3 server's bucket."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(signature_version="s3v4"))
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - any failure here means "create it"
        client.create_bucket(Bucket=bucket)
    for key in keys:
        client.upload_file(str(mirror / key), bucket, key)
