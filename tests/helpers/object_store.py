"""A store on object storage for tests: a bucket of its own on the moto server, read back three ways (the
journal's views in this DuckDB, Polars over the hive paths, and DuckDB 1.5 with its httpfs extension)."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from flatload.settings import Settings
from flatload.store.objects import versions
from flatload.store.store import Store
from tests.helpers.store import s3_client

_ids = itertools.count()
#: DuckDB 1.5.5 and its httpfs extension's wheel (it loads offline from its file): a reader with httpfs
DUCKDB_HTTPFS = ("duckdb==1.5.5", "duckdb-extension-httpfs==1.5.5")
_HTTPFS_DIR = Path(os.environ.get("FLATLOAD_TEST_CACHE", Path.home() / ".cache" / "flatload-tests")) / "duckdb-1.5.5"


def store_bucket(endpoint: str) -> str:
    """A fresh bucket for partitions; its ``s3://`` address with a prefix."""
    name = f"store-{next(_ids)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return f"s3://{name}/flatload"


def on_store(settings: Settings, endpoint: str, url: str) -> Settings:
    """``settings`` with the partitions on ``url`` (moto takes any keys; these are the store's own)."""
    return settings.replace(store=url, store_endpoint_url=endpoint, store_key_id="store-key",
                            store_secret="store-secret")


def store_env(settings: Settings) -> dict[str, str]:
    """The environment that points a ``flatload`` process at ``settings``' object store."""
    return {"FLATLOAD_STORE": str(settings.store), "FLATLOAD_STORE_ENDPOINT_URL": str(settings.store_endpoint_url),
            "FLATLOAD_STORE_KEY_ID": "store-key", "FLATLOAD_STORE_SECRET": "store-secret"}


def keys(settings: Settings) -> list[str]:
    """Every object key of the store's bucket under its prefix."""
    objects = Store.of(settings).objects
    assert objects is not None
    return sorted(objects.list(objects.key() + "/"))


def versions_held(settings: Settings) -> dict[tuple[str, str], set[str]]:
    """``(dataset, date)`` → the versions the bucket holds for it."""
    objects = Store.of(settings).objects
    assert objects is not None
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key in keys(settings):
        parsed = versions.parse_key(objects, key)
        if parsed is not None:
            out[(parsed[0], parsed[1].isoformat())].add(parsed[2])
    return dict(out)


def pointers(settings: Settings) -> dict[tuple[str, str], str]:
    """The journal's ``partition_versions``."""
    con = Store.of(settings).reader()
    try:
        rows = con.execute("SELECT dataset, trade_date, version FROM partition_versions").fetchall()
    finally:
        con.close()
    return {(r[0], r[1].isoformat()): r[2] for r in rows}


def views(settings: Settings, sql: str) -> list[tuple]:
    """A query over the store's views through flatload's own connection (it reads the bucket itself)."""
    con = Store.of(settings).reader()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def polars_rows(settings: Settings, folder: str, columns: list[str]) -> list[tuple]:
    """A dataset read by Polars straight from the hive paths (exact between runs: one version per date)."""
    objects = Store.of(settings).objects
    assert objects is not None
    frame = pl.scan_parquet(f"{objects.root}/{versions.glob(folder)}", hive_partitioning=True,
                            storage_options=objects.storage_options()).select(columns).collect()
    return sorted(frame.rows())


def httpfs_python() -> dict[str, str]:
    """The environment of a Python whose ``duckdb`` is 1.5.5 with httpfs beside it (installed once into a
    cache folder); skips, or fails under FLATLOAD_REQUIRE_HTTPFS=1, when pip cannot get them."""
    marker = _HTTPFS_DIR / ".complete"
    if not marker.exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(_HTTPFS_DIR),
                               *DUCKDB_HTTPFS], capture_output=True, text=True)
        if done.returncode != 0:
            why = f"cannot install {' '.join(DUCKDB_HTTPFS)}: {done.stderr.strip()[-300:]}"
            if os.environ.get("FLATLOAD_REQUIRE_HTTPFS") == "1":
                pytest.fail(why)
            pytest.skip(why)
        marker.touch()
    return {**os.environ, "PYTHONPATH": str(_HTTPFS_DIR)}


#: run by DuckDB 1.5.5: open the journal read-only, load httpfs from its wheel, give it the store's keys (a
#: DuckDB secret, as an analyst would), and print the query's rows as JSON
_HTTPFS_READER = """
import glob, json, sys
import duckdb, duckdb_extension_httpfs
db, endpoint, sql = sys.argv[1:4]
assert duckdb.__version__ == "1.5.5", duckdb.__version__
ext = glob.glob(duckdb_extension_httpfs.__path__[0] + "/extensions/*/httpfs.duckdb_extension")[0]
con = duckdb.connect(db, read_only=True)
con.execute(f"LOAD '{ext}'")
host = endpoint.split("://", 1)[1]
con.execute("CREATE SECRET store (TYPE s3, KEY_ID 'store-key', SECRET 'store-secret', REGION 'us-east-1', "
            f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
print(json.dumps(con.execute(sql).fetchall(), default=str))
"""


def httpfs_query(settings: Settings, sql: str) -> list[list]:
    """``sql`` run by DuckDB 1.5.5 with httpfs on the store's journal file (another process, another DuckDB)."""
    env = httpfs_python()
    done = subprocess.run([sys.executable, "-c", _HTTPFS_READER, str(Store.of(settings).db_path),
                           str(settings.store_endpoint_url), sql], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
