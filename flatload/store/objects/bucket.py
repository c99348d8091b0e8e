"""An S3-compatible bucket holding a store's partitions: the address, the client, and the few calls the store makes.

Its own endpoint and credentials, apart from the vendor's: the partitions often live in the user's
own bucket (MinIO, R2, AWS). The value is plain and picklable, so pool and cluster workers carry it;
each process builds its client once. Retries of 5xx, throttling and dropped connections are
botocore's standard mode; what is left becomes one domain error naming the object.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ...errors import ConfigError, StorageError, StoreUnavailable

if TYPE_CHECKING:
    import duckdb

#: one DELETE request removes at most this many keys (the S3 API's limit)
_DELETE_BATCH = 1000


def parse_store_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (ConfigError for anything else)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"--store {url!r} is not an s3:// address", hint="write --store s3://bucket/prefix")
    return parsed.netloc, parsed.path.strip("/")


@dataclass(frozen=True)
class ObjectStore:
    """``s3://bucket/prefix`` on ``endpoint_url`` (None: AWS), with its own keys (None: boto3's chain)."""

    url: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    key_id: str | None = None
    secret: str | None = field(default=None, repr=False)
    max_attempts: int = 5

    def __post_init__(self) -> None:
        parse_store_url(self.url)

    @property
    def bucket(self) -> str:
        return parse_store_url(self.url)[0]

    @property
    def prefix(self) -> str:
        """The key prefix, without slashes at either end ('' for a whole bucket)."""
        return parse_store_url(self.url)[1]

    @property
    def root(self) -> str:
        """``s3://bucket/prefix`` without a trailing slash: what views and readers join paths to."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def address(self, key: str) -> str:
        """``s3://bucket/key``: how messages name an object."""
        return f"s3://{self.bucket}/{key}"

    # -- calls -------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write one object whole (S3 makes it visible whole or not at all)."""
        with self._calls(key, "write"):
            _client(self).put_object(Bucket=self.bucket, Key=key, Body=data)

    def upload(self, path: Path, key: str) -> None:
        """Upload a local file through boto3's transfer manager (multipart above its threshold)."""
        with self._calls(key, "write"):
            _client(self).upload_file(str(path), self.bucket, key)

    def get_bytes(self, key: str) -> bytes | None:
        """An object's bytes, or None when there is no such object."""
        try:
            with self._calls(key, "read"):
                return _client(self).get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except _Missing:
            return None

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value).encode())

    def get_json(self, key: str) -> Any | None:
        data = self.get_bytes(key)
        try:
            return None if data is None else json.loads(data)
        except ValueError:
            return None

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (paginated)."""
        with self._calls(prefix, "list"):
            for page in _client(self).get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    yield obj["Key"]

    def delete(self, keys: Iterable[str]) -> int:
        """Remove ``keys`` (batched); how many."""
        keys, n = list(keys), 0
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = keys[i:i + _DELETE_BATCH]
            with self._calls(batch[0], "remove"):
                _client(self).delete_objects(Bucket=self.bucket,
                                             Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            n += len(batch)
        return n

    def probe(self) -> None:
        """Write and remove a small object: the store is reachable and writable, or one error saying why."""
        key = self.key("_flatload-probe")
        self.put_bytes(key, b"flatload")
        self.delete([key])

    # -- readers -----------------------------------------------------------------------------

    def attach(self, con: "duckdb.DuckDBPyConnection") -> None:
        """Let ``con`` read ``s3://`` paths of this store without DuckDB's httpfs (fsspec over Arrow's S3)."""
        con.register_filesystem(_fsspec(self))

    def storage_options(self) -> dict[str, str]:
        """What Polars' ``scan_parquet(..., storage_options=...)`` needs to read this store."""
        out = {"aws_region": self.region}
        if self.endpoint_url:
            out["aws_endpoint_url"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                out["aws_allow_http"] = "true"
        if self.key_id and self.secret:
            out.update(aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)
        return out

    def _calls(self, key: str, action: str):
        return _mapped(self, key, action)


class _Missing(Exception):
    """An object that is not there (a GET of a record nobody wrote)."""


class _mapped:
    """Around one call: what botocore raises becomes a domain error naming the object and the next step."""

    def __init__(self, store: ObjectStore, key: str, action: str) -> None:
        self.store, self.key, self.action = store, key, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        import boto3.exceptions as b3e
        import botocore.exceptions as bce

        where = self.store.address(self.key)
        if isinstance(exc, bce.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("NoSuchKey", "404") and self.action == "read":
                raise _Missing() from None
            if code == "NoSuchBucket":
                raise ConfigError(f"the store's bucket {self.store.bucket!r} does not exist", key=where,
                                  hint="create it, or fix --store / FLATLOAD_STORE") from None
            if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(f"cannot {self.action} the store: access denied ({code or status})", key=where,
                                   hint="check FLATLOAD_STORE_KEY_ID / FLATLOAD_STORE_SECRET and the bucket's "
                                        "policy") from None
            raise StoreUnavailable(f"cannot {self.action} the store: {code or status}", key=where,
                                   hint="rerun later: committed days are kept") from None
        if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionError, bce.ReadTimeoutError,
                            b3e.S3UploadFailedError)):
            raise StoreUnavailable(f"cannot {self.action} the store: {exc}", key=where,
                                   hint="check --store and FLATLOAD_STORE_ENDPOINT_URL, then rerun") from None
        return False


@lru_cache(maxsize=8)
def _client(store: ObjectStore):  # -> botocore S3 client, one per process and store
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", retries={"mode": "standard", "total_max_attempts": store.max_attempts},
                    connect_timeout=10, read_timeout=60, max_pool_connections=8)
    return boto3.session.Session().client(
        "s3", endpoint_url=store.endpoint_url, region_name=store.region, config=config,
        aws_access_key_id=store.key_id, aws_secret_access_key=store.secret)


@lru_cache(maxsize=8)
def _fsspec(store: ObjectStore):  # -> an fsspec file system DuckDB reads s3:// through
    import pyarrow.fs as pafs
    from fsspec.implementations.arrow import ArrowFSWrapper

    class S3Files(ArrowFSWrapper):
        # DuckDB hands a registered file system the paths of the protocols it names
        protocol = "s3"

    kwargs: dict[str, Any] = {"region": store.region}
    if store.endpoint_url:
        parsed = urlparse(store.endpoint_url)
        kwargs.update(endpoint_override=parsed.netloc + parsed.path.rstrip("/"), scheme=parsed.scheme or "https")
    if store.key_id and store.secret:
        kwargs.update(access_key=store.key_id, secret_key=store.secret)
    return S3Files(pafs.S3FileSystem(**kwargs))

