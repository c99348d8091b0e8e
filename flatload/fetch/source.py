"""What the loader needs of a place that holds flat files: a listing with ETags, and the bytes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
