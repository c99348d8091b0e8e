"""Partition folders built aside and swapped in whole: the layout of tick data (several parts per day).

A tick partition is ``<folder>/date=YYYY-MM-DD/part-NNNNN-<version>.parquet``. A load writes its
parts into a hidden ``.date=D.tmp-<pid>-<version>`` beside the partition, fsyncs them, renames
the folder to ``.date=D.new-<version>`` (complete), then swaps it with ``date=D``:

- on Linux with one ``renameat2(RENAME_EXCHANGE)``: the two names trade places atomically, so a
  reader always finds either the whole old folder or the whole new one;
- elsewhere with two renames (``date=D`` → ``.date=D.old-<version>``, then the new one in). A crash
  between them leaves no ``date=D``; :func:`repair` (run by ``clean_temp`` at each run start)
  puts the old folder back, which is what the journal still describes.

Part names carry the version, so a reader that listed the old folder and opens a part after the
swap gets "no such file" and retries: it never reads old and new parts together. Hidden folders
(``.date=...``) never match the views' ``date=*`` globs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import errno
import os
import re
import shutil
import uuid
from pathlib import Path

from .fs import fsync_path, storage_error

_HIDDEN = re.compile(r"^\.(date=\d{4}-\d{2}-\d{2})\.(tmp|new|old)-(.+)$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():  # -> the libc function, or None where the C library lacks it
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_EXCHANGE = _renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically; False when the system or file system cannot."""
    if _EXCHANGE is None:
        return False
    if _EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


class PartitionBuild:
    """One partition folder being written: parts go to a hidden folder, :meth:`publish` swaps it in.

    Use as a context manager: leaving the block without publishing (an error, a signal) removes
    the hidden folder; a kill -9 leaves it to the next run's ``clean_temp``.
    """

    def __init__(self, root: Path | str, folder: str, d: dt.date, first_part: int = 0) -> None:
        self.base = Path(root) / folder
        self.name = f"date={d:%Y-%m-%d}"
        self.version = uuid.uuid4().hex[:12]
        self.tmp = self.base / f".{self.name}.tmp-{os.getpid()}-{self.version}"
        self.published = False
        self.parts: list[Path] = []
        #: the number of the first part: the slices of one file number theirs apart (see :meth:`seal`)
        self.first_part = first_part

    def __enter__(self) -> "PartitionBuild":
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise (storage_error(exc, self.tmp, "write a partition") or exc) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.published:
            self.discard()

    @property
    def target(self) -> Path:
        """The partition folder readers see: ``<folder>/date=YYYY-MM-DD``."""
        return self.base / self.name

    def part_path(self) -> Path:
        """The path of the next part (numbered in write order)."""
        path = self.tmp / f"part-{self.first_part + len(self.parts):05d}-{self.version}.parquet"
        self.parts.append(path)
        return path

    def part_closed(self, path: Path) -> None:
        """A part is complete: on the local disk it stays where it was written until :meth:`publish`."""

    def scratch(self) -> Path:
        """A folder for temporary files of this build (removed before publishing)."""
        path = self.tmp / "_scratch"
        path.mkdir(exist_ok=True)
        return path

    def discard(self) -> None:
        """Remove the hidden folder and everything in it."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def seal(self) -> tuple[str, ...]:
        """Keep the parts, durable, in the hidden folder without publishing them: the parts of one slice of a
        file, which :meth:`adopt` gathers with the other slices' into the build that publishes the day."""
        if not self.parts:  # nothing of this slice to join (every row refused or filtered out)
            self.discard()
            self.published = True
            return ()
        try:
            shutil.rmtree(self.tmp / "_scratch", ignore_errors=True)
            for part in self.parts:
                fsync_path(part)
        except OSError as exc:
            raise (storage_error(exc, self.target, "write a partition") or exc) from None
        self.published = True  # kept for the parent's join; a run that dies first leaves them to clean_temp
        return tuple(str(p) for p in self.parts)

    def adopt(self, parts: "list[str]") -> None:
        """Move sealed parts (of this partition's slices, on the same file system) into this build."""
        try:
            for part in map(Path, parts):
                dest = self.tmp / part.name
                os.rename(part, dest)
                self.parts.append(dest)
        except OSError as exc:
            raise (storage_error(exc, self.target, "replace a partition") or exc) from None
        for folder in {Path(p).parent for p in parts}:
            shutil.rmtree(folder, ignore_errors=True)

    def publish(self, use_exchange: bool = True) -> None:
        """Make the parts the partition, replacing the old folder whole. ``use_exchange=False`` takes the
        two-rename path that systems without ``renameat2`` use (tests exercise it)."""
        try:
            shutil.rmtree(self.tmp / "_scratch", ignore_errors=True)
            for part in self.parts:
                fsync_path(part)
            fsync_path(self.tmp)
            new = self.base / f".{self.name}.new-{self.version}"
            os.rename(self.tmp, new)
            self._swap(new, use_exchange)
            fsync_path(self.base)
        except OSError as exc:
            raise (storage_error(exc, self.target, "replace a partition") or exc) from None
        self.published = True

    def _swap(self, new: Path, use_exchange: bool) -> None:
        target = self.target
        if not target.exists():
            os.rename(new, target)
            return
        if use_exchange and exchange(new, target):
            shutil.rmtree(new, ignore_errors=True)  # it now holds the old parts
            return
        old = self.base / f".{self.name}.old-{self.version}"
        os.rename(target, old)
        # a crash here leaves no date=D: repair() puts the old folder back
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)


def repair(root: Path) -> int:
    """Finish what killed swaps left under ``root``: hidden build folders are removed, and an old
    folder moved aside comes back where its partition is missing. Returns the folders handled."""
    handled = 0
    for hidden in sorted(Path(root).rglob(".date=*")):
        m = _HIDDEN.match(hidden.name)
        if m is None or not hidden.is_dir():
            continue
        target = hidden.parent / m.group(1)
        if m.group(2) == "old" and not target.exists():
            os.rename(hidden, target)  # the partition the journal still describes
        else:
            shutil.rmtree(hidden, ignore_errors=True)
        handled += 1
    return handled
