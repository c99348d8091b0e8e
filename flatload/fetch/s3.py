"""The vendor's S3 bucket (or any S3-compatible endpoint): listing and downloads.

Objects are listed with their ETag (the ledger keys on it: the vendor
regenerates files in place) and fetched as bytes. Retries of 5xx,
throttling and dropped connections are botocore's standard retry mode; this
module only turns what is left into domain errors.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import botocore.exceptions as bce
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from s3transfer.exceptions import RetriesExceededError
from s3transfer.subscribers import BaseSubscriber

from ..errors import (
    ConfigError,
    EndpointUnreachable,
    FetchError,
    NotEntitled,
    ObjectMissing,
)
from ..settings import Settings
from .source import ObjectInfo, verify


def _session(settings: Settings) -> boto3.session.Session:
    try:
        return boto3.session.Session(profile_name=settings.profile) if settings.profile else boto3.session.Session()
    except bce.ProfileNotFound:
        raise ConfigError(f"AWS profile {settings.profile!r} not found", hint="check --profile / AWS_PROFILE") from None


def make_client(settings: Settings):  # -> botocore S3 client
    """A boto3 S3 client for the vendor endpoint: s3v4, standard retries, bounded pool."""
    session = _session(settings)
    config = Config(
        signature_version="s3v4",
        # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only
        retries={"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=60,
        max_pool_connections=4,
    )
    try:
        # no region is known to be required; a fixed one keeps botocore from asking IMDS
        return session.client("s3", endpoint_url=settings.endpoint_url, config=config, region_name="us-east-1")
    except (bce.ProfileNotFound, ValueError) as exc:
        raise ConfigError(f"cannot build the S3 client for {settings.endpoint_url}: {exc}") from None


class _Listed(BaseSubscriber):
    """Tells the transfer manager what the listing said, so it needs no HEAD and pins the version (If-Match)."""

    def __init__(self, size: int, etag: str) -> None:
        self.size, self.etag = size, etag

    def on_queued(self, future, **kwargs) -> None:
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(f'"{self.etag}"')


def _transfer_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import RetriesExceededError, S3TransferFailedError

    return (RetriesExceededError, S3TransferFailedError)


_TRANSFER_ERRORS = _transfer_errors()


class S3Source:
    """The vendor's bucket (or any S3-compatible endpoint)."""

    def __init__(self, client, bucket: str, endpoint_url: str, attempts: int = 3,
                 part_size: int = 8 * 1024 * 1024, concurrency: int = 8) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        #: tries per request (botocore retries the request; the transfer manager retries a range cut short)
        self.attempts = max(1, attempts)
        #: objects above this are fetched as byte ranges of this size, ``concurrency`` at a time
        self.part_size = part_size
        self.concurrency = concurrency
        self._transfers = None

    def describe(self) -> str:
        return f"s3://{self.bucket} at {self.endpoint_url}"

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (the paginator follows continuation tokens)."""
        out: list[ObjectInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(prefix, "listing", "rerun later"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    out.append(ObjectInfo(obj["Key"], obj["ETag"].strip('"'), int(obj["Size"]),
                                          obj["LastModified"].isoformat()))
        return out

    def folders(self, prefix: str = "") -> list[str]:
        """The folders directly under ``prefix`` (a listing with Delimiter '/'; not filtered by plan)."""
        out: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(prefix or self.bucket, "listing", "rerun later"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                out.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return sorted(out)

    def get(self, key: str) -> bytes:
        """The whole object, in memory (through the transfer manager, like every download)."""
        return self.download(key)  # type: ignore[return-value]

    def download(self, key: str, size: int | None = None, etag: str | None = None,
                 dest: Path | None = None) -> bytes | None:
        """Download ``key`` into ``dest`` (None: into memory, returned) with boto3's transfer manager.

        Objects above the part size come as concurrent byte ranges; a range cut short is retried
        alone (``num_download_attempts``). With the listed ``size`` and ``etag`` no HEAD request is
        made and every GET carries If-Match: an object the vendor replaces meanwhile fails instead of
        mixing two versions. The bytes received must equal ``size``; a plain MD5 ETag is checked too.
        """
        sink: io.BytesIO | str = io.BytesIO() if dest is None else str(dest)
        subscribers = [_Listed(size, etag)] if size is not None and etag else []
        with self._errors(key, "download", "rerun later; finished days are kept"):
            try:
                self.transfers().download(self.bucket, key, sink, subscribers=subscribers).result()
            except RetriesExceededError as exc:
                raise FetchError(f"download cut short on each of {self.attempts} attempt(s): "
                                 f"{_reason(exc.last_exception)}", key=key,
                                 hint="rerun later; finished days are kept") from None
        data = sink.getvalue() if isinstance(sink, io.BytesIO) else None
        verify(key, data if data is not None else Path(sink), size, etag)  # type: ignore[arg-type]
        return data

    def local_path(self, key: str) -> Path | None:
        return None

    def transfers(self):  # -> s3transfer.manager.TransferManager
        """One transfer manager for this source: its thread pools are shared by all downloads."""
        if self._transfers is None:
            config = TransferConfig(multipart_threshold=self.part_size, multipart_chunksize=self.part_size,
                                    max_concurrency=self.concurrency, num_download_attempts=self.attempts)
            self._transfers = create_transfer_manager(self.client, config)
        return self._transfers

    @contextmanager
    def _errors(self, what: str, action: str, hint: str) -> Iterator[None]:
        """botocore's exceptions, once its retries are spent, as one-line domain errors."""
        try:
            yield
        except bce.ClientError as exc:
            raise self._client_error(exc, what) from None
        except (bce.EndpointConnectionError, bce.ConnectTimeoutError) as exc:
            raise self._unreachable(exc) from None
        except bce.FlexibleChecksumError:
            raise FetchError("the bytes do not match the checksum S3 sent with them", key=what,
                             hint="rerun later; report it if it persists") from None
        except (bce.HTTPClientError, bce.ConnectionError) as exc:
            raise FetchError(f"{action} failed on each of {self.attempts} attempt(s): {_reason(exc)}", key=what,
                             hint=hint) from None

    def _client_error(self, exc: bce.ClientError, what: str):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 403 or code in ("AccessDenied", "Forbidden", "403"):
            return NotEntitled(f"not entitled to this dataset (HTTP 403 from {self.endpoint_url})", key=what,
                               hint="check that your plan covers it and the S3 keys are the flat-files keys")
        if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
            return ObjectMissing("no such object", key=what, hint="not published yet, or absent for this day")
        if status == 412 or code == "PreconditionFailed":
            return FetchError("the object changed while it was being downloaded (its ETag is new)", key=what,
                              hint="rerun: the new version is loaded")
        if code == "NoSuchBucket":
            return ConfigError(f"bucket {self.bucket!r} does not exist at {self.endpoint_url}",
                               hint="check --bucket / FLATLOAD_BUCKET")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return NotEntitled(f"S3 rejected the credentials ({code})", key=what,
                               hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to the flat-files S3 keys")
        tries = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        answer = " ".join(str(x) for x in (f"HTTP {status}" if status else None, code or None) if x)
        return FetchError(f"S3 answered {answer or 'an error'} on each of {tries} attempt(s)", key=what,
                          hint="the service is failing or throttling; rerun later, finished days are kept")

    def _unreachable(self, exc: Exception) -> EndpointUnreachable:
        return EndpointUnreachable(f"cannot reach the S3 endpoint {self.endpoint_url} ({_reason(exc)})",
                                   hint="check --endpoint-url / FLATLOAD_ENDPOINT_URL and the network")


def _reason(exc: Exception) -> str:
    """A short cause for a botocore connection error: 'connection refused', 'connect timed out', ..."""
    if isinstance(exc, bce.ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, bce.ReadTimeoutError):
        return "read timed out"
    text = f"{exc} {getattr(exc, 'kwargs', {}).get('error', '')}".lower()
    for needle, reason in (("refused", "connection refused"), ("name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host"), ("no route", "no route to host"),
                           ("reset by peer", "connection reset"), ("incompleteread", "connection closed mid-body"),
                           ("connection was closed", "connection closed before a response"),
                           ("connection broken", "connection closed mid-body")):
        if needle in text:
            return reason
    return type(exc).__name__


def ensure_credentials(settings: Settings) -> None:
    """Fail early, with the fix, when S3 is used and no credentials are found."""
    if settings.mirror is not None:
        return
    session = _session(settings)
    if session.get_credentials() is None and not os.environ.get("AWS_ACCESS_KEY_ID"):
        raise ConfigError("no S3 credentials found",
                          hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to your flat-files keys, or --profile")
