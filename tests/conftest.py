"""Shared fixtures: a real S3 endpoint on loopback (moto's server), sample files, settings.

Worker processes reach the S3 server over HTTP like any client, so process-pool
tests exercise the same path as production. Sample files come from the
package's own generator, never from vendor data.
"""
from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from flatload.settings import Settings
from tests.helpers import postgres as pg
from tests.helpers import tiers
from tests.helpers.store import s3_client

_bucket_ids = itertools.count()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests needing a real server or a loaded store join the slow tier (tests.helpers.tiers)."""
    tiers.mark_slow(items)


@pytest.fixture(scope="session", autouse=True)
def _aws_env() -> Iterator[None]:
    # the fake endpoint accepts any keys; setting them keeps boto3 off the real credential chain
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                          "MASSIVE_API_KEY", "POLYGON_API_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    for k in ("AWS_PROFILE", "MASSIVE_API_KEY", "POLYGON_API_KEY"):
        os.environ.pop(k, None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, shared by the whole session (buckets keep tests apart)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket for one test."""
    name = f"flatfiles-{next(_bucket_ids)}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(tmp_path: Path, s3_endpoint: str, bucket: str) -> Settings:
    """Settings pointing at the test bucket, one inline worker, no REST."""
    return Settings(data_dir=tmp_path / "data", endpoint_url=s3_endpoint, bucket=bucket, workers=1,
                    use_rest=False, lock_timeout=2.0, s3_max_attempts=2)




@pytest.fixture(scope="session")
def bars_store(tmp_path_factory: pytest.TempPathFactory):
    """A store of ten stock sessions around the 2024 spring DST switch and two early closes, plus EDGE
    (tests.helpers.analysis_store), and the files it was loaded from: ``(settings, files)``. Read-only."""
    from tests.helpers import analysis_store

    files = analysis_store.stock_files(analysis_store.DAYS)
    return analysis_store.load_store(tmp_path_factory.mktemp("bars"), files, analysis_store.DAYS), files


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer]:
    """A real PostgreSQL server for the session; skips (fails under FLATLOAD_REQUIRE_POSTGRES=1) without one."""
    try:
        server = pg.start_server()
    except pg.PostgresUnavailable as exc:
        if os.environ.get("FLATLOAD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"FLATLOAD_REQUIRE_POSTGRES=1 but {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_db(postgres_server: pg.PostgresServer) -> pg.PgDatabase:
    """A fresh database owned by the login role ``trader`` (password ``trader-pw-7Qz``)."""
    postgres_server.create_role("trader", "trader-pw-7Qz")
    return pg.PgDatabase(postgres_server, postgres_server.create_database("trader"), "trader", "trader-pw-7Qz")


@pytest.fixture(scope="session")
def _two_day_template(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store holding the two DST_SPRING sessions (10 tickers), loaded once per session."""
    from tests.helpers.days import DST_SPRING
    from tests.helpers.sync import load_days

    name = "template-two-days"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    template = Settings(data_dir=tmp_path_factory.mktemp("template") / "data", endpoint_url=s3_endpoint, bucket=name,
                        workers=1, use_rest=False, lock_timeout=2.0, s3_max_attempts=2)
    load_days(template, s3_endpoint, name, DST_SPRING)
    return template


@pytest.fixture
def two_day_store(settings: Settings, _two_day_template: Settings) -> Settings:
    """``settings`` with a copy of a store holding the two DST_SPRING sessions (loads into it use ``bucket``)."""
    shutil.copytree(_two_day_template.data_dir, settings.data_dir)
    return settings
