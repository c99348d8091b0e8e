"""The container image: Dockerfile built FROM the Debian base of scripts/image/build-base, run with podman.

Three uses, each against moto's S3 on loopback (the containers share the host's network) and compared with
the same thing done on the host: the cron refresh (the same store, byte for byte in its tables and Parquet
partitions; the documented exit codes of the two usual mistakes), ``flatload serve`` (the page and the JSON API
from the host) and compose.yaml's cluster (a host-side ``flatload load --cluster`` loads what the process pool
loads; a dashboard backfill writes into the same store). Harness: tests/helpers/podman.py; without podman these
tests skip, naming what to install (FLATLOAD_REQUIRE_PODMAN=1: they fail).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import polars as pl
import pytest

from flatload.settings import Settings
from tests.helpers import object_store as objs
from tests.helpers import oracle
from tests.helpers import podman as ph
from tests.helpers.faults import parquet_files
from tests.helpers.store import journal_rows, query, s3_client, upload_days

pytestmark = pytest.mark.slow

DAYS = [dt.date(2024, 3, 8), dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
EXTRA = dt.date(2024, 3, 13)
#: the README's cron line, for a fixed session: the latest one and the two before it
REFRESH = ["refresh", "--date", str(DAYS[-1]), "--lookback", "2", "--no-rest", "--quiet"]
TOKEN = "image-test-token-5Hq2"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
JOURNAL = ["symbol", "trade_date", "pre_high", "pre_low", "open_price", "hod", "lod", "close_price", "ah_high",
           "ah_low", "day_volume", "source"]
LEDGER = ("SELECT key, dataset, trade_date, etag, size, rows, rejected, off_date, status, error, scope FROM ledger "
          "ORDER BY key")
IMAGE_UID = 10001


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    p = ph.podman(tmp_path_factory.mktemp("podman-conf"))
    yield p
    p.cleanup()


@pytest.fixture(scope="module")
def image(podman) -> str:
    ph.ensure_base(podman)
    return ph.ensure_image(podman, ph.host_constraints())


@pytest.fixture(scope="module")
def vendor(s3_endpoint):
    """The vendor's bucket: three stock sessions of 20 tickers."""
    s3_client(s3_endpoint).create_bucket(Bucket="image-vendor")
    return {"FLATLOAD_ENDPOINT_URL": s3_endpoint, "FLATLOAD_BUCKET": "image-vendor"}, \
        upload_days(s3_endpoint, "image-vendor", DAYS, n_tickers=20)


@pytest.fixture(scope="module")
def cron_store(podman, image, vendor, tmp_path_factory) -> tuple[Path, object]:
    """The README's cron refresh run in the image: the data dir a host directory bind-mounted at /data."""
    source, _ = vendor
    data = ph.writable_by_anyone(tmp_path_factory.mktemp("image") / "data")
    out = podman.run(image, "flatload", *REFRESH, volumes=[f"{data}:/data"], env={**CREDENTIALS, **source})
    return data, out


def _store(data: Path) -> Settings:
    return Settings(data_dir=data)


def _partitions(data: Path) -> dict[str, pl.DataFrame]:
    root = data / "parquet"
    return {p: pl.read_parquet(root / p, hive_partitioning=False) for p in parquet_files(_store(data))}


def _api_rows(rows: list[dict]) -> list[tuple]:
    return [tuple(r[c] for c in JOURNAL) for r in rows]


def _json_rows(data: Path, where: str = "TRUE") -> list[tuple]:
    """The journal as the API shows it (dates as ISO strings)."""
    return [tuple(v.isoformat() if isinstance(v, dt.date) else v for v in row)
            for row in journal_rows(_store(data), where)]


def test_the_cron_refresh_in_the_image_stores_exactly_what_it_stores_on_the_host(cron_store, vendor, tmp_path):
    data, out = cron_store
    source, files = vendor
    assert out.returncode == 0, out.stdout + out.stderr
    host = tmp_path / "host"
    ran = ph.flatload_cli(*REFRESH, env={**source, "FLATLOAD_DATA_DIR": str(host)})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert out.stdout.splitlines()[-1].split(" in ")[0] == ran.stdout.splitlines()[-1].split(" in ")[0]

    mine, theirs = journal_rows(_store(data)), journal_rows(_store(host))
    assert [r[:11] for r in mine] == oracle.journal_from_bucket_files(files, DAYS)
    assert mine == theirs
    assert query(_store(data), LEDGER) == query(_store(host), LEDGER)
    assert len(query(_store(data), LEDGER)) == 2 * len(DAYS)
    image_parts, host_parts = _partitions(data), _partitions(host)
    assert sorted(image_parts) == sorted(host_parts) == sorted(
        f"stocks/{ds}/date={d}/part-0.parquet" for d in DAYS for ds in ("minute_aggs", "day_aggs", "journal"))
    assert all(image_parts[p].equals(host_parts[p]) for p in image_parts)
    # written by the image's own user, not root
    assert {(data / "flatload.duckdb").stat().st_uid, (data / "parquet" / image_parts.popitem()[0]).stat().st_uid} \
        == {IMAGE_UID}


def test_the_image_exits_with_the_documented_codes_without_credentials_or_a_writable_store(podman, image, vendor,
                                                                                          tmp_path):
    source, _ = vendor
    fresh = ph.writable_by_anyone(tmp_path / "fresh")
    # the usual mistake: the keys not passed into the container (IMDS off: nothing is asked beyond loopback)
    no_keys = podman.run(image, "flatload", *REFRESH, volumes=[f"{fresh}:/data"],
                         env={**source, "AWS_EC2_METADATA_DISABLED": "true"})
    assert no_keys.returncode == 2, no_keys.stdout + no_keys.stderr
    assert no_keys.stderr.strip().startswith("Error: no S3 credentials found"), no_keys.stderr
    # the other one: a store the image's user cannot write (root's, mode 0755)
    root_only = tmp_path / "root-only"
    root_only.mkdir(mode=0o755)
    denied = podman.run(image, "flatload", *REFRESH, volumes=[f"{root_only}:/data"], env={**CREDENTIALS, **source})
    assert denied.returncode == 5, denied.stdout + denied.stderr
    assert "/data" in denied.stderr and list(root_only.iterdir()) == []


def test_serve_in_the_image_answers_the_page_and_the_json_api_from_the_host(podman, image, cron_store, tmp_path):
    loaded, _ = cron_store
    data = tmp_path / "served"
    shutil.copytree(loaded, data)
    ph.hand_to_image_user(podman, image, data)
    port = ph.free_port()
    name = podman.start(image, "flatload", "serve", "--host", "0.0.0.0", "--port", str(port),
                        volumes=[f"{data}:/data"], env={"FLATLOAD_TOKEN": TOKEN}, what="serve")
    base = f"http://127.0.0.1:{port}"
    ph.wait_http(f"{base}/api/v1/datasets", lambda: podman.running(name), lambda: podman.logs(name))

    status, ctype, page = ph.http(f"{base}/")
    assert (status, ctype.split(";")[0]) == (200, "text/html") and "<title>flatload</title>" in page
    status, _, body = ph.http(f"{base}/api/v1/journal?start={DAYS[0]}&end={DAYS[-1]}&limit=5000")
    doc = json.loads(body)
    expected = _json_rows(data)
    assert status == 200 and (doc["count"], doc["truncated"]) == (len(expected), False) and len(expected) > 3 * 20
    assert _api_rows(doc["rows"]) == expected
    status, _, body = ph.http(f"{base}/api/v1/backfill/recent")
    [run] = json.loads(body)["jobs"]
    assert (status, run["source"], run["status"], run["days_done"]) == (200, "cli", "ok", 3)
    # bound beyond loopback: starting a job needs the token
    status, _, body = ph.http(f"{base}/api/v1/backfill", "POST", {"start": str(EXTRA), "end": str(EXTRA)})
    assert status == 401, body


@dataclass
class Cluster:
    """compose.yaml's services up, on the host's network, with the store a host directory at its own path."""

    compose: ph.Compose
    address: str
    store: Path
    serve: str
    files: dict[str, bytes]
    source: dict[str, str]


@pytest.fixture(scope="module")
def cluster(podman, image, s3_endpoint, tmp_path_factory) -> Iterator[Cluster]:
    from distributed import Client

    tmp = tmp_path_factory.mktemp("compose")
    bucket = "image-compose"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    files = upload_days(s3_endpoint, bucket, [*DAYS, EXTRA], n_tickers=20, seed=3)
    store = tmp / "store"  # the same path on the host and inside the containers
    store.mkdir()
    scheduler_port, serve_port = ph.free_port(), ph.free_port()
    address = f"tcp://127.0.0.1:{scheduler_port}"
    source = {"FLATLOAD_ENDPOINT_URL": s3_endpoint, "FLATLOAD_BUCKET": bucket}
    env = {"FLATLOAD_IMAGE": image, "FLATLOAD_VOLUME": str(store), "FLATLOAD_DATA_DIR": str(store),
           "FLATLOAD_UID": str(os.getuid()), "FLATLOAD_GID": str(os.getgid()), "FLATLOAD_DASK_HOST": "127.0.0.1",
           "FLATLOAD_SCHEDULER_PORT": str(scheduler_port), "FLATLOAD_SCHEDULER_HOST": "127.0.0.1",
           "FLATLOAD_SERVE_PORT": str(serve_port), "FLATLOAD_TOKEN": TOKEN, **CREDENTIALS, **source}
    with ph.compose_up(podman, tmp, env) as compose, Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        assert list(client.run(os.path.exists, "/run/.containerenv").values()) == [True, True]  # podman's mark
        for name in ph.DASK_CRITICAL:  # the image was built with the host's versions
            assert set(client.run(metadata.version, name).values()) == {metadata.version(name)}, name
        yield Cluster(compose, address, store, f"http://127.0.0.1:{serve_port}", files, source)


LOAD = ["load", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--no-rest", "--quiet"]


@pytest.fixture(scope="module")
def pooled(cluster, tmp_path_factory) -> Path:
    """The same days loaded on the host by the process pool: what the cluster's loads must equal."""
    data = tmp_path_factory.mktemp("pool") / "data"
    pool = ph.flatload_cli(*LOAD, "--workers", "2", env={**cluster.source, "FLATLOAD_DATA_DIR": str(data)})
    assert pool.returncode == 0, pool.stdout + pool.stderr
    return data


# Debian's Python is 3.11.2, the host's another 3.11.x: Dask warns about the micro version; the packages are checked
@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")
def test_the_compose_cluster_loads_from_the_host_what_the_process_pool_loads(cluster, pooled):
    store = cluster.store
    clustered = ph.flatload_cli(*LOAD, "--cluster", cluster.address,
                                env={**cluster.source, "FLATLOAD_DATA_DIR": str(store)})
    assert clustered.returncode == 0, clustered.stdout + clustered.stderr
    assert [r[:11] for r in journal_rows(_store(store))] == oracle.journal_from_bucket_files(cluster.files, DAYS)
    assert journal_rows(_store(store)) == journal_rows(_store(pooled))
    assert query(_store(store), LEDGER) == query(_store(pooled), LEDGER)
    mine, theirs = _partitions(store), _partitions(pooled)
    assert sorted(mine) == sorted(theirs) and len(mine) == 9 and all(mine[p].equals(theirs[p]) for p in mine)

    # compose's serve reads the same store, and a backfill started there (its own process pool) writes into it
    base = cluster.serve
    ph.wait_http(f"{base}/api/v1/datasets", lambda: cluster.compose.p.running(cluster.compose.container("serve")),
                 lambda: cluster.compose.logs("serve"))
    status, _, body = ph.http(f"{base}/api/v1/journal?start={DAYS[0]}&end={DAYS[-1]}&limit=5000")
    assert status == 200 and _api_rows(json.loads(body)["rows"]) == _json_rows(store)
    status, _, body = ph.http(f"{base}/api/v1/backfill", "POST", {"start": str(EXTRA), "end": str(EXTRA)},
                              token=TOKEN)
    assert status == 202, body
    job = json.loads(body)["job_id"]
    deadline = time.monotonic() + 180
    while (doc := json.loads(ph.http(f"{base}/api/v1/backfill/status/{job}")[2]))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, doc
        time.sleep(0.5)
    assert (doc["status"], doc["exit_code"], doc["days_done"], doc["days_failed"]) == ("ok", 0, 1, 0), doc
    assert [r[:11] for r in journal_rows(_store(store), f"trade_date = DATE '{EXTRA}'")] == \
        oracle.journal_from_bucket_files(cluster.files, [EXTRA])


@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")
def test_the_compose_workers_write_to_object_storage_and_share_no_disk_with_the_host(cluster, pooled, s3_endpoint,
                                                                                    tmp_path):
    # the data dir is the host's alone (no container mounts it): the workers' partitions go to the bucket
    data = tmp_path / "journal-only"
    remote = objs.on_store(Settings(data_dir=data), s3_endpoint, objs.store_bucket(s3_endpoint))
    loaded = ph.flatload_cli(*LOAD, "--cluster", cluster.address,
                             env={**cluster.source, **objs.store_env(remote), "FLATLOAD_DATA_DIR": str(data),
                                  **CREDENTIALS})
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert journal_rows(remote) == journal_rows(_store(pooled))
    assert query(remote, LEDGER) == query(_store(pooled), LEDGER)
    assert not (data / "parquet").exists() or not any((data / "parquet").rglob("*.parquet"))
    held = objs.versions_held(remote)
    assert {k: {v} for k, v in objs.pointers(remote).items()} == held and len(held) == 3 * len(DAYS)
    minute = ("SELECT ticker, trade_date, epoch_ns(window_start), open, high, low, close, volume, transactions "
              "FROM stocks_minute ORDER BY ALL")
    assert objs.views(remote, minute) == query(_store(pooled), minute)
