"""File-system failures in the data directory, as one-line domain errors naming the path and the fix."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ...errors import ConfigError, DiskFull, StorageError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: Polars and DuckDB report OS errors as text: "... No space left on device (os error 28)"
_OS_ERROR = re.compile(r"\(os error (\d+)\)|errno[ =:]*(\d+)|No space left on device|Read-only file system",
                       re.IGNORECASE)
_BY_TEXT = {"no space left on device": errno.ENOSPC, "read-only file system": errno.EROFS}


def os_errno(exc: BaseException) -> int | None:
    """The errno behind ``exc``: an OSError's own, or one named in the text of a Polars/DuckDB error."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    m = _OS_ERROR.search(str(exc))
    if not m:
        return None
    if m.group(1) or m.group(2):
        return int(m.group(1) or m.group(2))
    return _BY_TEXT[m.group(0).lower()]


def storage_error(exc: BaseException, path: Path | str, action: str = "write") -> StorageError | ConfigError | None:
    """The domain error for a file-system failure at ``path``; None when ``exc`` is not one."""
    code = os_errno(exc)
    if code is None:
        return None
    where = str(path)
    if code in _FULL:
        return DiskFull(f"no space left on the device while trying to {action}", key=where,
                        hint="free some space (or move --data-dir), then rerun: committed days are kept")
    if code == errno.EROFS:
        return StorageError(f"cannot {action}: the file system is read-only", key=where,
                            hint="point --data-dir at a writable directory")
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"cannot {action}: permission denied", key=where,
                            hint="fix the directory's permissions or point --data-dir elsewhere")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return ConfigError(f"cannot {action}: a file stands where a directory should be", key=where,
                           hint="point --data-dir at a directory (or remove that file)")
    return None


def prepare_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` if needed; ConfigError/StorageError when it cannot hold a store."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("the data directory is a file", key=str(data_dir),
                          hint="point --data-dir at a directory (or move that file away)")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (storage_error(exc, data_dir, "create the data directory") or exc) from None


def require_store(data_dir: Path) -> None:
    """For read-only commands: the data directory must exist (a typo is not 'nothing loaded yet')."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise ConfigError("no such data directory", key=str(data_dir),
                          hint="check --data-dir / FLATLOAD_DATA_DIR (flatload load creates it)")
    if not data_dir.is_dir():
        raise ConfigError("the data directory is a file", key=str(data_dir), hint="point --data-dir at a directory")


def require_journal(data_dir: Path, journal: Path) -> Path:
    """For readers of the journal: ``journal`` must exist in an existing ``data_dir``."""
    require_store(data_dir)
    if not Path(journal).exists():
        raise ConfigError("no journal in this data directory yet", key=str(data_dir), hint="run flatload load first")
    return Path(journal)


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes the renames inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: room a load sets aside in its data directory, freed when the disk fills so that the run can still
#: record how it ended (a journal WAL entry and the run file need a few KB; DuckDB's blocks are 256 KB)
RESERVE_BYTES = 1 << 20
RESERVE_NAME = ".flatload.reserve"


def reserve_room(data_dir: Path) -> None:
    """Set aside :data:`RESERVE_BYTES` in ``data_dir``; DiskFull when even that much is not free.

    Random bytes, not zeros or a sparse file: a compressing or deduplicating file system would
    otherwise hold no room at all.
    """
    path = Path(data_dir) / RESERVE_NAME
    try:
        with open(path, "wb") as fh:
            fh.write(os.urandom(RESERVE_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise (storage_error(exc, data_dir, "set aside room to record the run") or exc) from None


def release_room(data_dir: Path) -> None:
    """Free the room :func:`reserve_room` set aside (nothing if there is none)."""
    (Path(data_dir) / RESERVE_NAME).unlink(missing_ok=True)
