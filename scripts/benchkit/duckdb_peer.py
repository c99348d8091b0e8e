"""The DuckDB peer: the same outputs as flatload from the same files, with DuckDB alone, ``jobs`` days at once
(one cursor each: DuckDB reads a gzip CSV on one thread, so two days at a time use both cores)."""
from __future__ import annotations

import datetime as dt
import os
import queue
import shutil
import threading
import time
from pathlib import Path

from .contenders import BUCKET, _journal_con, peer_setup
from .machine import proc_status

_DUCK = {"String": "VARCHAR", "Float64": "DOUBLE", "Int64": "BIGINT"}


def read_csv_sql(path: str, dataset: str) -> str:
    """``read_csv(...)`` of one flat file with the registry's columns and read types, no type guessing."""
    from flatload import datasets

    ds = datasets.get(dataset)
    cols = ", ".join(f"'{c.name}': '{'BIGINT' if c.role == 'time' else 'DOUBLE' if c.role == 'volume' else _DUCK[c.dtype]}'"
                     for c in ds.columns)
    return (f"read_csv('{path}', header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"compression = 'gzip', columns = {{{cols}}})")


def duckdb_day(cur, d: dt.date, paths: dict[str, str], out: Path, tag: str, lock: threading.Lock) -> int:
    from flatload import calendar

    b = calendar.session_bounds(d)
    for kind, path in paths.items():
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {kind}_{tag} AS SELECT * FROM {read_csv_sql(path, f'stocks/{kind}')} "
                    f"WHERE window_start >= {b.day_start} AND window_start < {b.day_end}")
        part = out / "parquet" / "stocks" / kind / f"date={d}"
        part.mkdir(parents=True, exist_ok=True)
        cur.execute(f"COPY (SELECT * REPLACE (make_timestamp_ns(window_start) AT TIME ZONE 'UTC' AS window_start) "
                    f"FROM {kind}_{tag} ORDER BY ticker, window_start) TO '{part / 'part-0.parquet'}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
    m, dy = f"minute_aggs_{tag}", f"day_aggs_{tag}"
    cur.execute(f"""CREATE OR REPLACE TEMP TABLE met_{tag} AS
        WITH ext AS (SELECT ticker,
            max(high) FILTER (WHERE window_start >= {b.pre_start} AND window_start < {b.open}) AS pre_high,
            min(low)  FILTER (WHERE window_start >= {b.pre_start} AND window_start < {b.open}) AS pre_low,
            max(high) FILTER (WHERE window_start >= {b.close} AND window_start < {b.post_end}) AS ah_high,
            min(low)  FILTER (WHERE window_start >= {b.close} AND window_start < {b.post_end}) AS ah_low
            FROM {m} GROUP BY ticker),
        dd AS (SELECT ticker, open, high, low, close, volume FROM {dy}
               QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY volume DESC) = 1)
        SELECT ticker AS symbol, DATE '{d}' AS trade_date, pre_high, pre_low, dd.open AS open_price, dd.high AS hod,
               dd.low AS lod, dd.close AS close_price, ah_high, ah_low, dd.volume AS day_volume
        FROM ext FULL JOIN dd USING (ticker)""")
    metrics = out / "parquet" / "stocks" / "metrics"
    cur.execute(f"COPY (SELECT * FROM met_{tag} ORDER BY symbol) TO '{metrics / f'date={d}.parquet'}' (FORMAT parquet)")
    with lock:  # one writer at a time into the journal, as flatload's parent commits
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"INSERT OR REPLACE INTO journal SELECT *, 'flatfile', now()::TIMESTAMP FROM met_{tag}")
        cur.execute("COMMIT")
    n = cur.execute(f"SELECT (SELECT count(*) FROM {m}) + (SELECT count(*) FROM {dy})").fetchone()[0]
    for t in (m, dy, f"met_{tag}"):
        cur.execute(f"DROP TABLE {t}")
    return int(n)


def child_duckdb(cfg: dict) -> dict:
    """The DuckDB script: a queue of days, ``cfg["jobs"]`` threads on their own cursors."""
    from flatload import datasets

    out, client = peer_setup(cfg)
    t0 = time.perf_counter()
    con = _journal_con(out)
    todo: queue.Queue = queue.Queue()
    for d in cfg["days"]:
        todo.put(dt.date.fromisoformat(d))
    lock, rows, errors = threading.Lock(), [0], []
    dl = out / "_download"
    dl.mkdir(exist_ok=True)

    def fetch(key: str, tag: str) -> str:
        if client is None:
            return str(Path(cfg["mirror"]) / key)
        path = dl / f"{tag}-{Path(key).name}"
        with open(path, "wb") as fh:
            shutil.copyfileobj(client.get_object(Bucket=BUCKET, Key=key)["Body"], fh, 1 << 20)
        return str(path)

    def worker(j: int) -> None:
        cur = con.cursor()
        try:
            while True:
                try:
                    d = todo.get_nowait()
                except queue.Empty:
                    return
                paths = {k: fetch(datasets.get(f"stocks/{k}").key(d), f"j{j}{k[0]}") for k in ("minute_aggs", "day_aggs")}
                n = duckdb_day(cur, d, paths, out, f"j{j}", lock)
                with lock:
                    rows[0] += n
                for p in paths.values():
                    if client is not None:
                        os.unlink(p)
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            errors.append(exc)
        finally:
            cur.close()

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(cfg["jobs"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    con.close()
    if errors:
        raise errors[0]
    return {"seconds": time.perf_counter() - t0, "rows": rows[0], "days_done": len(cfg["days"]),
            "rss_self_vmhwm_kib": proc_status("self").get("VmHWM", 0)}
