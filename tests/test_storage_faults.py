"""The data directory's file system fails: read-only, full. One line naming the path and the fix, exit 5,
what was committed kept, and a rerun resumes. Real tmpfs mounts in a private mount namespace."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import pytest

from flatload import sample
from flatload.settings import Settings
from flatload.store.files.fs import RESERVE_BYTES, RESERVE_NAME
from tests.helpers.filesystems import Step, flatload, read_only_bind, run_in_namespace, tmpfs, used_bytes
from tests.helpers.store import journal_rows, upload_days

#: loads through the CLI in a private mount namespace: end to end (tests.helpers.tiers)
pytestmark = pytest.mark.slow

DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)]


def _Store(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, lock_timeout=2.0)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLATLOAD_", "MASSIVE", "POLYGON"))}


def _load(mirror: Path, data: Path, *extra: str) -> str:
    return flatload("load", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--mirror", str(mirror),
                    "--data-dir", str(data), "--workers", "1", "--no-rest", "-q", *extra)


def _mirror(tmp_path: Path) -> Path:
    mirror = tmp_path / "mirror"
    sample.write_mirror(mirror, sample.generate(DAYS, n_tickers=400))  # partitions far above a page each
    return mirror


def test_a_full_disk_stops_at_the_first_day_it_hits_and_keeps_what_was_committed(tmp_path):
    mirror = _mirror(tmp_path)
    # how much room the partitions of each day take, from a load on an ordinary disk
    ref = tmp_path / "ref"
    ran = run_in_namespace([Step(_load(mirror, ref), "ref")], tmp_path / "out", _env())
    assert ran["ref"][0] == 0, ran
    day_files = {d: [p for p in (ref / "parquet").rglob("*") if p.is_file() and f"{d}" in p.name or
                     (p.is_file() and f"date={d}" in str(p))] for d in DAYS}
    room = used_bytes(day_files[DAYS[0]]) + used_bytes(day_files[DAYS[1]]) // 3
    data = tmp_path / "data"
    (data / "parquet").mkdir(parents=True)

    results = run_in_namespace([
        tmpfs(data / "parquet", room),  # the partitions' disk holds the first day and a third of the second
        Step(_load(mirror, data), "full"),
        Step(f"mount -o remount,size=256m {data / 'parquet'}"),  # space freed
        Step(_load(mirror, data), "rerun"),
        Step(_load(mirror, data), "again"),
    ], tmp_path / "out", _env())

    code, out, err = results["full"]
    assert code == 5, (out, err)
    assert out.startswith("load: 1 day(s) loaded, 0 skipped, 1 failed;")
    # the days go to the worker as their downloads finish: which one hits the full disk varies
    failed_line, stopped_line = err.splitlines()
    hit = next(d for d in DAYS if failed_line.startswith(f"failed {d}: "))
    where = data / "parquet" / "stocks" / "minute_aggs" / f"date={hit}" / "part-0.parquet"
    why = ("no space left on the device while trying to write a partition (free some space (or move --data-dir), "
           "then rerun: committed days are kept)")
    assert failed_line == f"failed {hit}: {where}: {why}"
    assert stopped_line == (f"stopped: {where}: {why}; 1 day(s) not started; fix that and rerun the same command "
                            "to resume")
    assert results["rerun"][0] == 0 and results["rerun"][1].startswith("load: 2 day(s) loaded, 1 skipped, 0 failed;")
    assert results["again"][1].startswith("load: 0 day(s) loaded, 3 skipped, 0 failed;")
    assert journal_rows(_Store(data)) == journal_rows(_Store(ref))


def test_a_read_only_data_dir_is_one_line_and_exit_5(tmp_path):
    mirror = _mirror(tmp_path)
    store = tmp_path / "store"
    ro_root = tmp_path / "ro"
    ro_root.mkdir()
    results = run_in_namespace([
        Step(_load(mirror, store), "first"),
        *read_only_bind(store),
        Step(_load(mirror, store, "--force"), "ro_store"),
        Step(flatload("status", "--data-dir", str(store)), "status"),
        tmpfs(ro_root, read_only=True),
        Step(_load(mirror, ro_root / "data"), "ro_new"),
    ], tmp_path / "out", _env())
    assert results["first"][0] == 0
    assert results["ro_store"][:2] == (5, "")
    assert results["ro_store"][2] == (f"Error: {store}: cannot take the data directory's lock: the file system is "
                                      "read-only (point --data-dir at a writable directory)\n")
    assert results["status"][0] == 0 and "recent runs" in results["status"][1]  # reading still works
    assert results["ro_new"][2] == (f"Error: {ro_root / 'data'}: cannot create the data directory: the file system is "
                                    "read-only (point --data-dir at a writable directory)\n")
    assert results["ro_new"][0] == 5


def test_a_full_disk_at_the_journals_commit_is_exit_5_one_line_and_the_run_is_recorded_failed(tmp_path):
    """The partitions have room, the journal's WAL does not: one line, exit 5, the run 'failed' (not 'killed'),
    committed days kept, and a rerun on a larger disk completes with the same journal."""
    mirror = _mirror(tmp_path)
    ref, empty = tmp_path / "ref", tmp_path / "empty"
    weekend = flatload("load", "--start", "2024-03-02", "--end", "2024-03-03", "--mirror", str(mirror),
                       "--data-dir", str(empty), "--no-rest", "-q")  # no session: a journal with its schema only
    ran = run_in_namespace([Step(weekend, "empty"), Step(_load(mirror, ref), "ref")], tmp_path / "out", _env())
    assert ran["ref"][0] == ran["empty"][0] == 0, ran
    empty_journal = used_bytes([empty / "flatload.duckdb"])
    data, kept = tmp_path / "data", tmp_path / "kept"
    data.mkdir()
    kept.mkdir()
    room = empty_journal + RESERVE_BYTES + 128 * 1024  # the run starts; its commits do not fit
    results = run_in_namespace([
        tmpfs(data, room),
        Step(f"mkdir {data / 'parquet'}"),
        tmpfs(data / "parquet", 256 << 20),  # the partitions' own disk has room
        Step(_load(mirror, data), "full"),
        Step(flatload("status", "--json", "--data-dir", str(data)), "status"),
        Step(f"mount -o remount,size=256m {data}"),
        Step(_load(mirror, data), "rerun"),
        Step(_load(mirror, data), "again"),
        Step(f"cp -a {data}/. {kept}"),  # the tmpfs goes with the namespace
    ], tmp_path / "out", _env())
    code, out, err = results["full"]
    assert code == 5, (out, err)
    assert re.fullmatch(rf"Error: {re.escape(str(data / 'flatload.duckdb'))}: no space left on the device while "
                        r"trying to (commit to the journal|record the run in the journal) \(free some space \(or "
                        r"move --data-dir\), then rerun: committed days are kept\)\n", err), err
    runs = json.loads(results["status"][1])["runs"]
    assert runs[0]["state"] == "failed", runs[0]
    assert results["rerun"][0] == 0, results["rerun"]
    assert results["again"][1].startswith("load: 0 day(s) loaded, 3 skipped, 0 failed;")
    assert journal_rows(_Store(kept)) == journal_rows(_Store(ref))
    assert not (kept / RESERVE_NAME).exists()  # the room set aside is given back when a run ends


_SPOOLED_LOAD = """
import datetime as dt, sys
import flatload
from flatload.config import from_env
settings = from_env(data_dir=sys.argv[1], endpoint_url=sys.argv[2], bucket=sys.argv[3], workers=1, use_rest=False)
summary = flatload.load(dt.date(2024, 3, 4), dt.date(2024, 3, 6), settings.replace(spool_above=0))
print("\\n".join(summary.lines()))
sys.exit(summary.exit_code)
"""


def test_a_full_spool_stops_the_run_like_a_full_partition_disk(tmp_path, s3_endpoint, bucket):
    """Objects above spool_above are downloaded to the spool first (here: every object): its disk filling is a
    DiskFull naming the spool file, exit 5, and the rerun with room completes."""
    files = upload_days(s3_endpoint, bucket, DAYS, n_tickers=400)
    data = tmp_path / "data"
    (data / "spool").mkdir(parents=True)
    script = tmp_path / "spooled_load.py"
    script.write_text(_SPOOLED_LOAD)
    load = " ".join([sys.executable, str(script), str(data), s3_endpoint, bucket])
    smallest = min(len(v) for v in files.values())
    results = run_in_namespace([
        tmpfs(data / "spool", smallest // 2),  # not one object fits
        Step(load, "full"),
        Step(f"mount -o remount,size=256m {data / 'spool'}"),
        Step(load, "rerun"),
    ], tmp_path / "out", _env())
    code, out, err = results["full"]
    assert code == 5, (out, err)
    why = ("no space left on the device while trying to spool a download (free some space (or move --data-dir), "
           "then rerun: committed days are kept)")
    stopped = [ln for ln in out.splitlines() if ln.startswith("stopped: ")]
    assert len(stopped) == 1 and re.fullmatch(rf"stopped: {re.escape(str(data / 'spool'))}/\S+\.csv\.gz: "
                                              rf"{re.escape(why)}; .*", stopped[0]), out
    assert f"{why}" in out.splitlines()[1]  # the days that failed, with the same reason
    assert results["rerun"][0] == 0, results["rerun"]
