"""The spool: large objects downloaded ahead of the workers wait here, under the data directory.

A file is removed as soon as its day has been processed; whatever a killed run left is
swept by the next run (it holds the data directory's lock when it does).
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

SPOOL = "spool"


def spool_dir(data_dir: Path) -> Path:
    """``<data_dir>/spool``."""
    return Path(data_dir) / SPOOL


def new_path(data_dir: Path, key: str) -> Path:
    """A fresh file name in the spool for object ``key`` (the directory is made when missing)."""
    folder = spool_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex[:12]}-{key.rsplit('/', 1)[-1]}"


def remove(path: str | Path) -> None:
    """Forget one spooled file (and the temp file the transfer manager may have left beside it)."""
    path = Path(path)
    for leftover in [path, *path.parent.glob(path.name + ".*")]:
        leftover.unlink(missing_ok=True)


def sweep(data_dir: Path) -> int:
    """Remove every spooled file: call at the start and the end of a run, holding the data-dir lock."""
    folder = spool_dir(data_dir)
    if not folder.is_dir():
        return 0
    n = sum(1 for p in folder.iterdir() if p.is_file())
    shutil.rmtree(folder, ignore_errors=True)
    return n
