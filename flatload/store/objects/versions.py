"""Versioned partitions on object storage: S3 has no rename, so a date is replaced by a new version.

``<prefix>/<folder>/date=YYYY-MM-DD/version=<v>/part-NNNNN.parquet``. A worker writes every part of
its version (each object appears whole or not at all); the parent then commits the version as the
partition's *pointer* in the journal (``partition_versions``), in the same transaction as the day's
rows. Readers go through the pointer (the journal's views), so they never see half a day or two
versions. Superseded versions are removed once the commit is durable, and swept after a crash.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..files.swap import PartitionBuild
from .bucket import ObjectStore

_VERSIONED = re.compile(r"^(?P<folder>.+)/date=(?P<date>\d{4}-\d{2}-\d{2})/version=(?P<version>[^/]+)/[^/]+$")


def day_prefix(store: ObjectStore, folder: str, d: dt.date) -> str:
    """The key prefix of every version of one partition (ends with a slash)."""
    return store.key(folder, f"date={d:%Y-%m-%d}") + "/"


def part_key(store: ObjectStore, folder: str, d: dt.date, version: str, n: int) -> str:
    """The key of part ``n`` of a version."""
    return day_prefix(store, folder, d) + f"version={version}/part-{n:05d}.parquet"


def parse_key(store: ObjectStore, key: str) -> tuple[str, dt.date, str] | None:
    """``(folder, date, version)`` of a part's key under the store's prefix, or None for other objects."""
    rel = key[len(store.prefix) + 1:] if store.prefix else key
    m = _VERSIONED.match(rel)
    return None if m is None else (m["folder"], dt.date.fromisoformat(m["date"]), m["version"])


def glob(folder: str) -> str:
    """Every part of every version of ``folder``, relative to the store's root (views filter by the pointer)."""
    return f"{folder}/date=*/version=*/*.parquet"


def stale(store: ObjectStore, folder: str, d: dt.date, keep: str | None) -> list[str]:
    """The keys of every version of one partition but ``keep``."""
    out = []
    for key in store.list(day_prefix(store, folder, d)):
        parsed = parse_key(store, key)
        if parsed is not None and parsed[2] != keep:
            out.append(key)
    return out


def sweep(store: ObjectStore, current: dict[tuple[str, dt.date], str], records: str) -> int:
    """Remove the versions that neither a pointer (``current``) nor a recovery record (in the folders named
    ``records``) names: what workers of a killed or failed run wrote and nobody committed. How many objects."""
    keys = list(store.list(store.key() + "/" if store.prefix else ""))
    recorded = set()
    for key in keys:
        if f"/{records}/" in key and key.endswith(".json"):
            record = store.get_json(key) or {}
            recorded.add(record.get("version"))
    stale = []
    for key in keys:
        parsed = parse_key(store, key)
        if parsed is not None and current.get(parsed[:2]) != parsed[2] and parsed[2] not in recorded:
            stale.append(key)
    return store.delete(stale)


#: the local temp folders of builds: ``flatload-build-<pid>-<folder>-<date>-<random>``
_TEMP_MARK = "flatload-build-"
_swept = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def sweep_orphans(root: Path | None = None, force: bool = False) -> int:
    """Remove the local temp folders of builds whose process is gone (a worker killed mid-upload); once per
    process unless ``force``. Folders of live processes are left alone (a pid reused since: kept, harmless)."""
    global _swept
    if _swept and not force:
        return 0
    _swept = True
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{_TEMP_MARK}*"):
        pid = folder.name[len(_TEMP_MARK):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class ObjectPartitionBuild(PartitionBuild):
    """A tick partition written as one version: parts are written to a local temp folder, uploaded as
    each closes (so the local disk holds one part at a time), and the version becomes the partition
    only when the parent commits its pointer. Scratch files and cleanup on leaving are the local build's."""

    def __init__(self, store: ObjectStore, folder: str, d: dt.date, version: str,  # noqa: D107
                 first_part: int = 0) -> None:
        self.store, self.folder, self.date, self.version = store, folder, d, version
        self.first_part = first_part
        sweep_orphans()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_MARK}{os.getpid()}-{folder.replace('/', '-')}-{d:%Y%m%d}-"))
        self.parts: list[Path] = []
        self.keys: list[str] = []
        self.published = False

    def __enter__(self) -> "ObjectPartitionBuild":
        return self  # the temp folder exists already

    @property
    def target(self) -> str:  # type: ignore[override]
        """The version's address (messages name it)."""
        return self.store.address(day_prefix(self.store, self.folder, self.date) + f"version={self.version}/")

    def part_path(self) -> Path:
        """The local path of the next part (numbered in write order); uploaded by :meth:`part_closed`."""
        path = self.tmp / f"part-{len(self.parts):05d}.parquet"
        self.parts.append(path)
        return path

    def part_closed(self, path: Path) -> None:
        """Upload a finished part and free its local room."""
        key = part_key(self.store, self.folder, self.date, self.version, self.first_part + self.parts.index(path))
        self.store.upload(path, key)
        self.keys.append(key)
        path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the local folder and what was uploaded of this version."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.keys:
            try:
                self.store.delete(self.keys)
            except Exception:  # noqa: BLE001 - best effort: the next sweep removes what is left
                pass

    def publish(self, use_exchange: bool = True) -> None:
        """The parts are all uploaded; the version waits for its pointer (committed by the parent)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.published = True

    def seal(self) -> tuple[str, ...]:
        """A slice's parts are uploaded into the day's version (numbered apart from the other slices'): the
        keys, which the parent's join needs only to remove them if the day fails."""
        self.publish()
        return tuple(self.keys)
