"""The NYSE session table cached on disk: built once from exchange_calendars, then read without it.

Each check runs in a fresh interpreter (what is imported is the point), with its own cache directory.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flatload import sample

#: every check runs a fresh interpreter: end to end (tests.helpers.tiers)
pytestmark = pytest.mark.slow

_PROBE = """
import json, sys
from flatload.calendar import table
t = table.xnys()
print(json.dumps({"n": len(t.ordinals), "digest": t.digest, "last": t.ordinals[-1],
                  "xcals": "exchange_calendars" in sys.modules, "pandas": "pandas" in sys.modules}))
"""


def _probe(cache: Path) -> dict:
    env = {**os.environ, "FLATLOAD_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("xnys-sessions-v*.json"))


def test_built_once_then_read_without_exchange_calendars(tmp_path):
    first = _probe(tmp_path)
    assert first["xcals"] and len(_files(tmp_path)) == 1
    second = _probe(tmp_path)
    assert not second["xcals"] and not second["pandas"]
    assert {k: second[k] for k in ("n", "digest", "last")} == {k: first[k] for k in ("n", "digest", "last")}
    assert dt.date.fromordinal(second["last"]) > dt.date.today()  # the horizon reaches past today


def test_cached_table_equals_a_fresh_build(tmp_path):
    from flatload.calendar import table

    _probe(tmp_path)
    body = json.loads(_files(tmp_path)[0].read_text())
    fresh = table._build()
    assert (tuple(body["ordinals"]), tuple(body["opens"]), tuple(body["closes"])) == \
        (fresh.ordinals, fresh.opens, fresh.closes)
    assert body["digest"] == fresh.digest


def test_a_table_from_another_install_or_too_old_is_rebuilt(tmp_path):
    _probe(tmp_path)
    path = _files(tmp_path)[0]
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "source": "another exchange_calendars", "closes": body["opens"]}))
    assert _probe(tmp_path)["xcals"]  # a stamp that is not this install's: not trusted
    assert json.loads(path.read_text())["closes"] != body["opens"]
    old = (dt.date.today() - dt.timedelta(days=31)).isoformat()
    path.write_text(json.dumps({**body, "built": old}))
    assert _probe(tmp_path)["xcals"]
    assert json.loads(path.read_text())["built"] == dt.date.today().isoformat()


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    _probe(tmp_path)
    _files(tmp_path)[0].write_text('{"format": 1, "ordi')
    assert _probe(tmp_path)["xcals"]
    assert not _probe(tmp_path)["xcals"]


def test_two_installs_sharing_a_cache_keep_their_own_tables(tmp_path):
    _probe(tmp_path)
    mine = _files(tmp_path)[0]
    other = tmp_path / "xnys-sessions-v1-0000000000.json"
    other.write_text(mine.read_text().replace('"source": "', '"source": "elsewhere '))
    assert not _probe(tmp_path)["xcals"]  # the other install's file neither hides nor replaces ours
    assert set(_files(tmp_path)) == {mine, other}


def test_tables_of_installs_gone_for_long_are_pruned_on_rebuild(tmp_path):
    stale = tmp_path / "xnys-sessions-v1-1111111111.json"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")
    recent = tmp_path / "xnys-sessions-v1-2222222222.json"
    recent.write_text("{}")
    long_ago = (dt.datetime.now() - dt.timedelta(days=90)).timestamp()
    os.utime(stale, (long_ago, long_ago))
    _probe(tmp_path)
    assert not stale.exists() and recent.exists()


_NOOP = """
import sys
from flatload.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="flatload", standalone_mode=False)
finally:
    print("IMPORTED", *[m for m in ("polars", "pandas", "exchange_calendars", "pyarrow", "numpy") if m in sys.modules])
"""


def test_a_run_with_nothing_to_do_imports_no_frame_library(tmp_path):
    days = [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]
    sample.write_mirror(tmp_path / "mirror", sample.generate(days, n_tickers=5, seed=1))
    env = {**os.environ, "FLATLOAD_CACHE_DIR": str(tmp_path / "cache")}
    args = ["load", "--mirror", str(tmp_path / "mirror"), "--data-dir", str(tmp_path / "data"), "--no-rest", "-q",
            "--start", "2024-03-04", "--end", "2024-03-05"]
    first = subprocess.run([sys.executable, "-c", _NOOP, *args], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, "-c", _NOOP, *args], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "2 skipped" in again.stdout
    assert again.stdout.strip().splitlines()[-1] == "IMPORTED"


def test_a_one_day_load_imports_polars_only(tmp_path):
    """The cron job's load (one day, inline) reads, writes and commits through Polars and DuckDB alone: Arrow's
    Python package, numpy and pandas would add half a second to every such run."""
    sample.write_mirror(tmp_path / "mirror", sample.generate([dt.date(2024, 3, 4)], n_tickers=5, seed=1))
    env = {**os.environ, "FLATLOAD_CACHE_DIR": str(tmp_path / "cache")}
    args = ["load", "--mirror", str(tmp_path / "mirror"), "--data-dir", str(tmp_path / "data"), "--no-rest", "-q",
            "--start", "2024-03-04", "--end", "2024-03-04", "--symbols", "AAPL"]
    for _ in range(2):  # the first builds the calendar cache (exchange_calendars, pandas); the second is the rule
        run = subprocess.run([sys.executable, "-c", _NOOP, *args, "--force"], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    assert "1 day(s) loaded" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "IMPORTED polars"
