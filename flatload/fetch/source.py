"""What the loader needs of a place that holds flat files: a listing with ETags, and the bytes."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import FetchError


@dataclass(frozen=True)
class ObjectInfo:
    """What the listing says about one object."""

    key: str
    etag: str
    size: int
    last_modified: str


class Source(Protocol):
    """The two operations the loader needs from a bucket (or a mirror of one)."""

    def describe(self) -> str:
        """Where the objects come from, for messages."""

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` with its ETag and size."""

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing, NotEntitled, FetchError, EndpointUnreachable."""

    def folders(self, prefix: str = "") -> list[str]:
        """The folders directly under ``prefix`` (``"us_stocks_sip/"``, ...): what the bucket really holds."""

    def download(self, key: str, size: int | None = None, etag: str | None = None,
                 dest: Path | None = None) -> bytes | None:
        """The object into ``dest`` (or into memory, returned), checked against the listed size and ETag."""

    def local_path(self, key: str) -> Path | None:
        """Where the object already is on local disk (a mirror), or None (it must be downloaded)."""


def _plain_md5(etag: str | None) -> bool:
    """A single-part upload's ETag is the MD5 of its bytes; a multipart one ends in ``-<parts>``."""
    return etag is not None and len(etag) == 32 and "-" not in etag and all(c in "0123456789abcdef" for c in etag)


def verify(key: str, got: bytes | Path, size: int | None, etag: str | None) -> None:
    """The downloaded bytes are the listed object: the listed size, and the MD5 where the ETag is one."""
    n = len(got) if isinstance(got, bytes) else Path(got).stat().st_size
    if size is not None and n != size:
        raise FetchError(f"short object: {n:,} of the {size:,} bytes listed arrived", key=key,
                         hint="rerun later; if it persists the object is being rewritten")
    if not _plain_md5(etag):
        return
    if isinstance(got, bytes):
        digest = hashlib.md5(got, usedforsecurity=False).hexdigest()
    else:
        with open(got, "rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    if digest != etag.lower():  # type: ignore[union-attr]
        raise FetchError(f"the bytes do not match the listed MD5 (ETag {etag})", key=key,
                         hint="rerun later; report it if it persists")
