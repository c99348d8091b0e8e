"""A local directory laid out like the bucket: offline reloads, tests, and users who sync the bucket themselves."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from ..errors import ConfigError, CorruptFile, ObjectMissing
from .source import ObjectInfo


class MirrorSource:
    """A local directory laid out like the bucket (for offline reloads and tests)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"mirror directory {self.root} does not exist", hint="check --mirror")

    def describe(self) -> str:
        return f"mirror {self.root}"

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        out = []
        for path in sorted(base.rglob("*.csv.gz")):
            st = path.stat()
            # size + mtime identify a version as well as an ETag would, without reading the file
            etag = hashlib.md5(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
            modified = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat()
            out.append(ObjectInfo(path.relative_to(self.root).as_posix(), etag, st.st_size, modified))
        return out

    def folders(self, prefix: str = "") -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(f"{prefix}{p.name}/" for p in base.iterdir() if p.is_dir())

    def local_path(self, key: str) -> Path | None:
        """The mirror's own file: read in place, never copied."""
        return self.root / key

    def download(self, key: str, size: int | None = None, etag: str | None = None,
                 dest: Path | None = None) -> bytes | None:
        data = self.get(key)
        if dest is None:
            return data
        Path(dest).write_bytes(data)
        return None

    def get(self, key: str) -> bytes:
        path = self.root / key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing("no such file in the mirror", key=key) from None
        except OSError as exc:
            raise CorruptFile(f"cannot read: {exc.strerror}", key=key) from None
