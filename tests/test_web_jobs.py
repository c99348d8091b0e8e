"""The pure parts of web jobs: the command a job runs (the server's settings, exactly) and its status rules."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatload.cli.load import load as load_command_cli
from flatload.cli.options import settings_from
from flatload.settings import Settings
from flatload.web.jobfiles import JobFiles, exit_code_of, valid_job_id
from flatload.web.jobs import child_env, job_state, load_command

#: Settings fields a job's command line carries (the others are secrets, sent by environment, or tuning
#: knobs without a flag)
BY_FLAG = ("data_dir", "endpoint_url", "bucket", "profile", "mirror", "workers", "symbols", "underlyings",
           "rest_url", "use_rest", "rest_rpm", "lock_timeout", "prefetch_mb", "force")


def _parsed(argv: list[str]) -> tuple[dict, Settings]:
    """What ``flatload load`` makes of ``argv``: its own options and the Settings it builds."""
    assert argv[:4] == [argv[0], "-m", "flatload.cli", "load"]
    ctx = load_command_cli.make_context("load", argv[4:])
    opts = dict(ctx.params)
    own = {k: opts.pop(k) for k in ("start", "end", "pairs", "dataset", "quiet", "verbose", "run_id")}
    return own, settings_from(**opts)


@pytest.mark.parametrize("server", [
    Settings(data_dir=Path("rel/data"), workers=3, use_rest=False, lock_timeout=7.5),
    Settings(data_dir=Path("/abs/d"), endpoint_url="http://127.0.0.1:9/x", bucket="b-1", profile="trader",
             mirror=Path("m"), workers=1, symbols=frozenset({"TpC", "BRK.B"}), underlyings=frozenset({"SPY"}),
             rest_url="http://127.0.0.1:8/api", rest_rpm=5, prefetch_mb=64, force=True, api_key="k-secret",
             sync_to="postgresql://u:pw@h/db"),
])
def test_a_job_runs_load_with_the_servers_settings(server: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FLATLOAD_DATA_DIR", "FLATLOAD_SYMBOLS", "FLATLOAD_WORKERS", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    argv = load_command(server, dt.date(2024, 3, 4), dt.date(2024, 3, 8), None, None, "job-1")
    own, got = _parsed(argv)
    assert (own["start"], own["end"], own["run_id"]) == (dt.date(2024, 3, 4), dt.date(2024, 3, 8), "job-1")
    expected = server.replace(data_dir=server.data_dir.resolve(),
                              mirror=server.mirror.resolve() if server.mirror else None)
    assert {f: getattr(got, f) for f in BY_FLAG} == {f: getattr(expected, f) for f in BY_FLAG}
    assert not any("secret" in a or "pw@" in a for a in argv), "secrets never on a command line"
    env = child_env(server)
    assert env.get("MASSIVE_API_KEY") == server.api_key and env.get("FLATLOAD_SYNC_TO") == server.sync_to


def test_request_symbols_and_datasets_replace_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLATLOAD_SYMBOLS", "ENV1")
    monkeypatch.setenv("FLATLOAD_BUCKET", "from-env")
    server = Settings(symbols=frozenset({"SPY"}), bucket="flatfiles")
    argv = load_command(server, dt.date(2024, 3, 4), dt.date(2024, 3, 4), "options/day_aggs", ["TpC", "AAPL"], "j")
    assert "--symbols=AAPL,TpC" in argv and "--dataset=options/day_aggs" in argv and "--bucket=flatfiles" in argv
    env = child_env(server)
    assert not [k for k in env if k.startswith("FLATLOAD_")], "the flags say it all: no stray environment"


@pytest.mark.parametrize(("run_state", "alive", "exit_code", "stop", "expected"), [
    (None, True, None, False, "queued"),  # planning: no run file yet
    ("running", True, None, False, "running"),
    ("ok", True, None, False, "running"),  # the final state is written; the process still finishes
    ("ok", False, 0, False, "ok"),
    ("partial", False, 1, False, "partial"),
    ("interrupted", False, 130, True, "interrupted"),
    ("locked", False, 3, False, "failed"),
    ("failed", False, 5, False, "failed"),
    ("killed", False, None, False, "killed"),  # the run file says running, nobody holds the lock
    ("running", False, 137, False, "killed"),  # kill -9: the wrapper saw it
    (None, False, 2, False, "failed"),  # a bad setting, before the run began
    (None, False, 4, False, "failed"),  # another run took the lock first
    (None, False, 1, True, "interrupted"),  # stopped while planning (Ctrl-C there aborts)
    (None, False, 130, False, "interrupted"),
    (None, False, None, False, "killed"),  # gone without a word
])
def test_job_states(run_state: str | None, alive: bool, exit_code: int | None, stop: bool, expected: str) -> None:
    assert job_state(run_state, alive, exit_code, stop) == expected


@given(st.sampled_from([None, "running", "ok", "partial", "failed", "interrupted", "locked", "killed"]),
       st.booleans(), st.one_of(st.none(), st.integers(0, 255)), st.booleans())
def test_job_state_is_always_one_the_api_documents(run_state: str | None, alive: bool, exit_code: int | None,
                                                   stop: bool) -> None:
    state = job_state(run_state, alive, exit_code, stop)
    assert state in ("queued", "running", "ok", "partial", "failed", "interrupted", "killed")
    assert (state in ("queued", "running")) == alive or (run_state == "running" and exit_code is None)


@given(st.text(max_size=80))
def test_only_plain_names_are_job_ids(text: str) -> None:
    if valid_job_id(text):
        assert "/" not in text and "." not in text and "\\" not in text and text == text.strip() and text
        assert JobFiles(Path("/r"), text).job.parent == Path("/r")
    else:
        with pytest.raises(ValueError):
            JobFiles(Path("/r"), text)


def test_exit_codes_read_as_a_shell_shows_them() -> None:
    assert [exit_code_of(c) for c in (0, 1, 130, -2, -9)] == [0, 1, 130, 130, 137]
    assert dataclasses.fields(Settings)  # keep BY_FLAG honest: every name is a field
    assert set(BY_FLAG) <= {f.name for f in dataclasses.fields(Settings)}


def test_the_start_lock_keeps_a_stop_and_the_start_of_a_load_apart(tmp_path: Path) -> None:
    files = JobFiles(tmp_path, "job-1")
    with files.start_lock():  # held (by the wrapper starting the load, say): a stop waits, then gives up
        with pytest.raises(TimeoutError):
            with JobFiles(tmp_path, "job-1").start_lock(wait=0.05):
                pass
        with JobFiles(tmp_path, "job-2").start_lock(wait=0):  # each job has its own
            pass
    with files.start_lock(wait=0):  # released with the block
        pass
