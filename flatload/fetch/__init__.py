"""Where flat files come from: the vendor's S3 bucket, a local mirror, or (for missing days) the REST API."""
from __future__ import annotations

import os
from functools import lru_cache

from ..settings import Settings
from .source import ObjectInfo, Source

__all__ = ["LazySource", "ObjectInfo", "Source", "open_source"]


def open_source(settings: Settings) -> Source:
    """The mirror when configured, else the S3 bucket (one per process for the same bucket, endpoint and
    credentials: a boto3 client takes a tenth of a second to build, and a run's listing, fetch stage and
    inline worker share it; it is thread-safe)."""
    if settings.mirror is not None:
        from .mirror import MirrorSource

        return MirrorSource(settings.mirror)
    creds = tuple(os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                              "AWS_PROFILE"))
    return _s3_source(settings.bucket, settings.endpoint_url, settings.profile, settings.s3_max_attempts,
                      settings.s3_part_size, settings.s3_connect_timeout, creds)


class LazySource:
    """The source of ``settings``, opened on first use: a pool worker is handed its objects by the fetch stage
    and never downloads, so it need not import boto3 nor build a client (a third of a second at its start,
    while the first day waits)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._source: Source | None = None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._source is None:
            self._source = open_source(self._settings)
        return getattr(self._source, name)


@lru_cache(maxsize=8)
def _s3_source(bucket: str, endpoint_url: str, profile: str | None, attempts: int, part_size: int,
               connect_timeout: float, creds: tuple) -> Source:
    from .s3 import S3Source, make_client

    settings = Settings(bucket=bucket, endpoint_url=endpoint_url, profile=profile, s3_max_attempts=attempts,
                        s3_part_size=part_size, s3_connect_timeout=connect_timeout)
    return S3Source(make_client(settings), bucket, endpoint_url, attempts, part_size=part_size)
