"""A tick partition (a folder of parts) is replaced whole: readers never mix versions, kill -9 is repaired."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from flatload.store.files import partitions
from tests.helpers.swaps import FOLDER, PARTS, ROWS, partition_glob, publish_version

REPO = Path(__file__).resolve().parent.parent


def _read_loop(root: Path, stop: threading.Event, seen: list, errors: list) -> None:
    con = duckdb.connect()
    while not stop.is_set():
        try:
            seen.append(con.execute(f"SELECT min(v), max(v), count(*) FROM read_parquet('{partition_glob(root)}')")
                        .fetchone())
        except duckdb.Error as exc:  # the folder changed under the glob: a retry reads one version whole
            errors.append(str(exc))
    con.close()


@pytest.mark.slow
@pytest.mark.parametrize("use_exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_readers_never_see_a_mix_of_versions(tmp_path, use_exchange):
    publish_version(tmp_path, 0, use_exchange)
    stop, seen, errors = threading.Event(), [], []
    readers = [threading.Thread(target=_read_loop, args=(tmp_path, stop, seen, errors)) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for version in range(1, 60):
            publish_version(tmp_path, version, use_exchange)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert len(seen) > 10
    mixed = [s for s in seen if s[0] != s[1] or s[2] != PARTS * ROWS]
    assert mixed == [], f"{len(mixed)} read(s) mixed versions or saw part of one"
    # what a reader may meet instead is a missing file or an empty glob, never a wrong answer
    assert all("No files found" in e or "No such file" in e or "not found" in e.lower() for e in errors), errors[:3]


def _hidden(root: Path) -> list[str]:
    return sorted(p.name for p in (root / FOLDER).iterdir() if p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exchange", "renames"])
def test_kill_9_at_any_point_of_a_swap_is_repaired_by_the_next_run(tmp_path, mode):
    rng = random.Random(7)
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.swaps", str(tmp_path), mode], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        threading.Event().wait(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partitions.clean_temp(tmp_path)  # what every run does first, under the data-dir lock
        assert _hidden(tmp_path) == [], attempt
        files = sorted((tmp_path / FOLDER / "date=2024-03-11").glob("*.parquet"))
        assert len(files) == PARTS and len({f.name.rsplit("-", 1)[-1] for f in files}) == 1, files
        v = duckdb.sql(f"SELECT min(v), max(v), count(*) FROM read_parquet('{partition_glob(tmp_path)}')").fetchall()[0]
        assert v[0] == v[1] and v[2] == PARTS * ROWS, (attempt, v)


def test_a_crash_between_the_two_renames_brings_the_old_partition_back(tmp_path):
    publish_version(tmp_path, 1)
    base = tmp_path / FOLDER
    # the state a two-rename swap leaves when killed between its renames: the old folder moved aside,
    # the new one complete but not yet in place
    (base / "date=2024-03-11").rename(base / ".date=2024-03-11.old-abc")
    publish_version(tmp_path, 2)
    (base / "date=2024-03-11").rename(base / ".date=2024-03-11.new-def")
    partitions.clean_temp(tmp_path)
    assert _hidden(tmp_path) == []
    assert duckdb.sql(f"SELECT DISTINCT v FROM read_parquet('{partition_glob(tmp_path)}')").fetchall() == [(1,)]
