"""Where flat files come from: the vendor's S3 bucket, a local mirror, or (for missing days) the REST API."""
from __future__ import annotations

from ..settings import Settings
from .source import ObjectInfo, Source

__all__ = ["ObjectInfo", "Source", "open_source"]


def open_source(settings: Settings) -> Source:
    """The mirror when configured, else the S3 bucket."""
    if settings.mirror is not None:
        from .mirror import MirrorSource

        return MirrorSource(settings.mirror)
    from .s3 import S3Source, make_client

    return S3Source(make_client(settings), settings.bucket, settings.endpoint_url, settings.s3_max_attempts,
                    part_size=settings.s3_part_size)
