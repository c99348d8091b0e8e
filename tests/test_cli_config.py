"""``flatload config show/init``, ``--config`` on every command, and ``--symbols-file``: exit codes and exact lines."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from flatload.settings import Settings
from tests.helpers import oracle
from tests.helpers.config import run_cli, uncomment, write_config
from tests.helpers.days import DST_SPRING
from tests.helpers.rest_server import FakeRest
from tests.helpers.store import journal_rows, upload_days

D1, D2 = DST_SPRING
SECRET = "Sk-Never-Printed-42"
BAD = "[run]\nworkers = 2\nworker = 3\n"
BAD_MESSAGE = ("{f}:3: run.worker: unknown key (did you mean workers? keys of [run]: workers, cluster, symbols, symbols_file, "
               "underlyings, datasets, prefetch_mb, slices)")


def shown(output: str) -> dict[str, tuple[str, str]]:
    """``config show``'s rows: key → (value, from)."""
    rows = {}
    for line in output.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 3 and "." in parts[0]:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


@pytest.mark.parametrize("key, flag, var, file_value, values", [
    ("run.workers", "--workers", "FLATLOAD_WORKERS", "3", ("7", "5", "3")),
    ("source.bucket", "--bucket", "FLATLOAD_BUCKET", '"f"', ("fl", "e", "f")),
    ("store.lock_timeout", "--lock-timeout", "FLATLOAD_LOCK_TIMEOUT", "1.5", ("3.5", "2.5", "1.5")),
    ("sync.table", "--sync-table", "FLATLOAD_SYNC_TABLE", '"ft"', ("flt", "et", "ft")),
    ("rest.rpm", "--rest-rpm", "FLATLOAD_REST_RPM", "4", ("9", "8", "4")),
])
def test_show_takes_flag_over_env_over_file_over_default(tmp_path, key, flag, var, file_value, values):
    section, name = key.split(".")
    config = write_config(tmp_path / "flatload.toml", f"# team settings\n[{section}]\n{name} = {file_value}\n")
    args = ["config", "show", "--config", str(config)]
    flag_value, env_value, file_shown = values
    assert shown(run_cli(*args, flag, flag_value, env={var: env_value}).stdout)[key] == (flag_value, f"flag {flag}")
    assert shown(run_cli(*args, env={var: env_value}).stdout)[key] == (env_value, f"env {var}")
    assert shown(run_cli(*args).stdout)[key] == (file_shown, f"{config}:3")
    (tmp_path / "empty").mkdir()
    default = run_cli("config", "show", cwd=tmp_path / "empty")
    assert shown(default.stdout)[key][1] == "default"


def test_show_text_and_json(tmp_path):
    config = write_config(tmp_path / "flatload.toml", '[run]\nworkers = 2\nsymbols = "TpC,AAPL"\n')
    result = run_cli("--config", str(config), "config", "show", "--bucket", "b")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"config file: {config} (--config)"
    assert re.fullmatch(r"key +value +from", lines[2])
    assert shown(result.stdout)["run.symbols"] == ("AAPL,TpC", f"{config}:3")
    assert shown(result.stdout)["source.bucket"] == ("b", "flag --bucket")
    assert shown(result.stdout)["run.workers"] == ("2", f"{config}:2")
    assert lines[-1] == "scope: 2 symbol(s)"
    data = json.loads(run_cli("--config", str(config), "config", "show", "--json").stdout)
    assert data["config_file"] == {"path": str(config), "found_by": "--config"}
    workers = next(e for e in data["settings"] if e["key"] == "run.workers")
    assert workers == {"key": "run.workers", "name": "workers", "value": 2, "from": f"{config}:2", "source": "file",
                       "flag": "--workers", "env": ["FLATLOAD_WORKERS"], "secret": False, "file": str(config),
                       "line": 2}
    assert data["scope"] == {"symbols": 2, "from_file": None}


def test_show_never_prints_a_secret(tmp_path):
    url = f"postgresql://trader:{SECRET}@db/app"
    config = write_config(tmp_path / "flatload.toml", f'[rest]\napi_key = "{SECRET}"\n[sync]\nto = "{url}"\n')
    runs = [run_cli("config", "show", "--config", str(config), *more) for more in ([], ["--json"])]
    runs += [run_cli("config", "show", "--sync-to", url, *more, env={"MASSIVE_API_KEY": SECRET})
             for more in ([], ["--json"])]
    for result in runs:
        assert result.exit_code == 0, result.output
        assert SECRET not in result.stdout + result.stderr
    rows = shown(runs[0].stdout)
    assert rows["rest.api_key"] == ("***", f"{config}:2")
    assert rows["sync.to"] == ("postgresql://trader:***@db/app", f"{config}:4")
    assert shown(runs[2].stdout)["rest.api_key"] == ("***", "env MASSIVE_API_KEY")
    assert shown(runs[2].stdout)["sync.to"] == ("postgresql://trader:***@db/app", "flag --sync-to")


def test_a_world_readable_secret_is_refused_with_the_fix(tmp_path):
    config = write_config(tmp_path / "flatload.toml", f'[rest]\napi_key = "{SECRET}"\n', mode=0o644)
    result = run_cli("config", "show", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config}:2: rest.api_key holds a secret (the REST API key), but the file's mode "
                             f"is 0644: other users on this machine could read it, so it is refused (chmod 600 "
                             f"{config}, or move the secret to the environment)\n")
    assert SECRET not in result.output


@pytest.mark.parametrize("command", [
    ["load", f"--start={D1}", f"--end={D1}"], ["refresh"], ["status"], ["gaps"], ["datasets"], ["sql", "SELECT 1"],
    ["bars", "AAPL", f"--start={D1}"], ["corporate-actions"], ["sync", "--to", "sqlite:///x.db"], ["config", "show"],
])
def test_every_command_reads_the_file_and_names_a_bad_line(tmp_path, command):
    config = write_config(tmp_path / "team.toml", BAD)
    per_command = run_cli(*command, "--config", str(config), "--data-dir", str(tmp_path / "d"))
    group = run_cli("--config", str(config), *command, "--data-dir", str(tmp_path / "d"))
    env = run_cli(*command, "--data-dir", str(tmp_path / "d"), env={"FLATLOAD_CONFIG": str(config)})
    for result in (per_command, group, env):
        assert (result.exit_code, result.stderr) == (2, f"Error: {BAD_MESSAGE.format(f=config)}\n")
    assert not (tmp_path / "d").exists()


def test_the_data_dir_file_and_the_current_dir_file_are_found(tmp_path):
    data = tmp_path / "data"
    write_config(data / "flatload.toml", "[run]\nworkers = 3\n")
    write_config(tmp_path / "flatload.toml", "[run]\nworkers = 4\n")
    in_data = run_cli("config", "show", "--data-dir", str(data), cwd=tmp_path)
    assert in_data.stdout.splitlines()[0] == f"config file: {data}/flatload.toml (data directory)"
    assert shown(in_data.stdout)["run.workers"] == ("3", f"{data}/flatload.toml:2")
    via_env = run_cli("config", "show", env={"FLATLOAD_DATA_DIR": str(data)}, cwd=tmp_path)
    assert shown(via_env.stdout)["run.workers"] == ("3", f"{data}/flatload.toml:2")
    in_cwd = run_cli("config", "show", cwd=tmp_path)
    assert in_cwd.stdout.splitlines()[0] == "config file: flatload.toml (current directory)"
    assert shown(in_cwd.stdout)["run.workers"] == ("4", "flatload.toml:2")
    command_wins = run_cli("--config", str(data / "flatload.toml"), "config", "show", "--config",
                           str(tmp_path / "flatload.toml"))
    assert shown(command_wins.stdout)["run.workers"] == ("4", f"{tmp_path}/flatload.toml:2")


def test_a_missing_named_file_exits_2(tmp_path):
    missing = tmp_path / "nope.toml"
    result = run_cli("--config", str(missing), "status")
    assert (result.exit_code, result.stderr) == (2, f"Error: {missing}: the config file given by --config does not "
                                                    f"exist (fix the path, or write one with `flatload config init "
                                                    f"{missing}`)\n")


def test_init_writes_the_template_in_the_data_dir_mode_0600_and_keeps_an_existing_file(tmp_path):
    first = run_cli("config", "init", cwd=tmp_path)
    path = tmp_path / "flatload-data" / "flatload.toml"
    assert (first.exit_code, first.stdout, first.stderr) == (
        0, "wrote flatload-data/flatload.toml (mode 0600): uncomment the keys to change; `flatload config show` "
           "prints the settings in effect\n", "")
    assert path.stat().st_mode & 0o777 == 0o600
    show = run_cli("config", "show", cwd=tmp_path)  # the template parses, and changes nothing
    assert show.exit_code == 0, show.output
    assert show.stdout.splitlines()[0] == "config file: flatload-data/flatload.toml (data directory)"
    assert {origin for _, origin in shown(show.stdout).values()} == {"default"}
    path.write_text(uncomment(path.read_text()).replace("sp500.json", "u.txt"))
    (tmp_path / "flatload-data" / "u.txt").write_text("AAPL\n")
    live = run_cli("config", "show", cwd=tmp_path)
    assert live.exit_code == 0, live.output
    assert {origin.rsplit(":", 1)[0] for _, origin in shown(live.stdout).values()} == {"flatload-data/flatload.toml"}
    again = run_cli("config", "init", cwd=tmp_path)
    assert (again.exit_code, again.stderr) == (2, "Error: flatload-data/flatload.toml: already exists (add --force to "
                                                  "replace it (what it holds is lost), or give another PATH)\n")
    forced = run_cli("config", "init", "--force", cwd=tmp_path)
    assert forced.exit_code == 0 and "# workers = 2" in path.read_text()


def test_init_elsewhere_says_how_to_use_it(tmp_path):
    path = tmp_path / "etc" / "team.toml"
    result = run_cli("config", "init", str(path), cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stderr == (f"note: flatload does not look there by itself: pass --config {path} or set "
                             f"FLATLOAD_CONFIG={path}\n")
    named = run_cli("config", "init", env={"FLATLOAD_CONFIG": str(tmp_path / "env.toml")}, cwd=tmp_path)
    assert (named.exit_code, named.stderr) == (0, "")
    assert (tmp_path / "env.toml").exists()


def test_help_shows_config_and_symbols_file_with_their_sources():
    load_help = " ".join(run_cli("load", "--help").output.split())  # as read, not as wrapped
    for text in ("--config FILE", "--symbols-file FILE", "file run.workers", "env FLATLOAD_SYMBOLS_FILE"):
        assert text in load_help, text
    assert "--symbols-file FILE" in run_cli("sync", "--help").output
    assert "--symbols-file FILE" in run_cli("corporate-actions", "--help").output
    assert "--config FILE" in run_cli("--help").output
    assert re.search(r"^  config\s", run_cli("--help").output, re.M)


def _src(s3_endpoint: str, bucket: str, data: Path) -> list[str]:
    return ["--endpoint-url", s3_endpoint, "--bucket", bucket, "--data-dir", str(data), "--workers", "1", "-q"]


def test_load_with_a_symbols_file_scopes_the_journal_like_symbols(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, [D1], n_tickers=12)
    universe = tmp_path / "watch.csv"
    universe.write_bytes(b"\xef\xbb\xbfsymbol,name\r\nTpC,lower p\r\n,blank\r\nTpC,again\r\n")
    data = tmp_path / "data"
    result = run_cli("load", f"--start={D1}", f"--end={D1}", "--symbols-file", str(universe), "--symbols", "NA",
                     *_src(s3_endpoint, bucket, data))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[:2] == [f"warning: {universe}:3: blank symbol (skipped)",
                                              f"warning: {universe}:4: duplicate symbol TpC (first on line 2)"]
    rows = [r[:11] for r in journal_rows(Settings(data_dir=data))]
    assert rows == oracle.journal_from_bucket_files(files, [D1], {"NA", "TpC"})
    assert [r[0] for r in rows] == ["NA", "TpC"]


def test_a_universe_in_the_config_file_scopes_the_load(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, [D1], n_tickers=12)
    data = tmp_path / "data"
    (data / "lists").mkdir(parents=True)
    (data / "lists" / "u.json").write_text('{"last_updated": "2024-03-08", "symbols": [{"symbol": "TPC"}]}')
    write_config(data / "flatload.toml", f'[source]\nendpoint_url = "{s3_endpoint}"\nbucket = "{bucket}"\n'
                                         '[run]\nworkers = 1\nsymbols_file = "lists/u.json"\n')
    result = run_cli("load", f"--start={D1}", f"--end={D1}", "-q", "--data-dir", str(data))
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert [r[:11] for r in journal_rows(Settings(data_dir=data))] == \
        oracle.journal_from_bucket_files(files, [D1], {"TPC"})


def test_an_unreadable_symbols_file_exits_2_before_anything(tmp_path):
    missing = tmp_path / "sp500.json"
    result = run_cli("load", f"--start={D1}", f"--end={D1}", "--symbols-file", str(missing), "--data-dir",
                     str(tmp_path / "d"))
    assert (result.exit_code, result.stderr) == (2, f"Error: {missing}: cannot read the symbols file: No such file or "
                                                    "directory (check the path given to --symbols-file or "
                                                    "symbols_file)\n")
    assert not (tmp_path / "d").exists()


def test_commands_the_scope_does_not_concern_do_not_read_the_symbols_file(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    write_config(data / "flatload.toml", '[run]\nsymbols_file = "gone.txt"\n')
    assert run_cli("status", "--data-dir", str(data)).exit_code == 0


def test_sync_with_a_symbols_file(two_day_store, tmp_path):
    universe = tmp_path / "u.txt"
    universe.write_text("# two\nTpC\nNA\nNA\n")
    target = tmp_path / "j.db"
    result = run_cli("sync", "--to", f"sqlite:///{target}", "--create", "--symbols-file", str(universe),
                     "--data-dir", str(two_day_store.data_dir), "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {universe}:4: duplicate symbol NA (first on line 3)\n"
    con = sqlite3.connect(target)
    assert {r[0] for r in con.execute("SELECT symbol FROM backfill_data")} == {"TpC", "NA"}
    con.close()


def test_datasets_from_the_file_are_what_gaps_takes_unless_the_flag_says(tmp_path):
    data = tmp_path / "d"
    write_config(data / "flatload.toml", '[run]\ndatasets = "options"\n')
    args = ["gaps", "--json", "--start", "2024-03-04", "--end", "2024-03-08", "--data-dir", str(data)]
    assert json.loads(run_cli(*args).stdout)["datasets"] == ["options/minute_aggs", "options/day_aggs"]
    assert json.loads(run_cli(*args, "--datasets", "stocks").stdout)["datasets"] == \
        ["stocks/minute_aggs", "stocks/day_aggs"]



def test_refresh_takes_its_universe_from_the_environment(tmp_path, s3_endpoint, bucket):
    files = upload_days(s3_endpoint, bucket, [D1], n_tickers=12)
    universe = tmp_path / "u.json"
    universe.write_text('["NA", "TpC"]')
    data = tmp_path / "data"
    result = run_cli("refresh", f"--date={D1}", "--lookback=0", *_src(s3_endpoint, bucket, data),
                     env={"FLATLOAD_SYMBOLS_FILE": str(universe)})
    assert result.exit_code == 0, result.output
    assert [r[:11] for r in journal_rows(Settings(data_dir=data))] == \
        oracle.journal_from_bucket_files(files, [D1], {"NA", "TpC"})


@pytest.mark.slow
def test_corporate_actions_with_a_symbols_file_and_the_key_from_the_file(tmp_path):
    splits = [{"id": f"s{i}", "ticker": t, "execution_date": "2024-06-10", "split_from": 1, "split_to": 2,
               "adjustment_type": "forward_split"} for i, t in enumerate(["AAPL", "KO", "NVDA"])]
    universe = tmp_path / "u.txt"
    universe.write_text("KO\n")
    with FakeRest(api_key=SECRET, splits=splits) as fake:
        config = write_config(tmp_path / "flatload.toml", f'[rest]\nurl = "{fake.url}"\napi_key = "{SECRET}"\n')
        result = run_cli("corporate-actions", "--symbols", "AAPL", "--symbols-file", str(universe), "--config",
                         str(config), "--data-dir", str(tmp_path / "data"))
        tickers = {q.get("ticker.any_of") for _, _, q, _ in fake.requests}
    assert (result.exit_code, result.output) == (0, "corporate actions: 2 split(s), 0 dividend(s) for AAPL, KO\n")
    assert tickers == {"AAPL,KO"}
    assert SECRET not in result.output


def test_no_rest_is_a_flag_over_the_file(tmp_path):
    config = write_config(tmp_path / "flatload.toml", "[rest]\nenabled = false\n")
    assert shown(run_cli("config", "show", "--config", str(config)).stdout)["rest.enabled"] == \
        ("false", f"{config}:2")
    (tmp_path / "empty").mkdir()
    flag = run_cli("config", "show", "--config", str(config), "--no-rest", cwd=tmp_path / "empty")
    assert shown(flag.stdout)["rest.enabled"] == ("false", "flag --no-rest")


@pytest.mark.parametrize(("text", "message"), [
    ('[sync]\nto = "mysql://trader@db/journal"\n',
     "{f}:2: sync.to: 'mysql://trader@db/journal': flatload syncs to SQLite or PostgreSQL (write the URL like "
     "sqlite:///trading_journal.db or postgresql://user@host/db)"),
    ('[sync]\nto = "trading_journal.db"\n',
     "{f}:2: sync.to: 'trading_journal.db' is not a database URL (write it like sqlite:///trading_journal.db or "
     "postgresql://user@host/db)"),
    ('[run]\nsymbols = ["AAPL", 5]\n', '{f}:2: run.symbols: element 2 of the list is a whole number (5), not a '
                                       'string (quote it: "5")'),
])
def test_every_configured_value_is_checked_before_any_work(tmp_path, s3_endpoint, bucket, text, message):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=3)
    config = write_config(tmp_path / "flatload.toml", text)
    data = tmp_path / "d"
    for command in (["config", "show"], ["load", f"--start={D1}", f"--end={D1}", "--endpoint-url", s3_endpoint,
                                         "--bucket", bucket]):
        result = run_cli(*command, "--config", str(config), "--data-dir", str(data),
                         env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
        assert (result.exit_code, result.stderr) == (2, f"Error: {message.format(f=config)}\n"), result.output
    assert not data.exists()  # nothing was loaded first


def test_a_sync_url_flag_sync_cannot_use_fails_before_the_load(tmp_path, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=3)
    result = run_cli("load", f"--start={D1}", f"--end={D1}", "--endpoint-url", s3_endpoint, "--bucket", bucket,
                     "--data-dir", str(tmp_path / "d"), "--sync-to", "mysql://x@db/j",
                     env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert (result.exit_code, result.stderr) == (
        2, "Error: --sync-to 'mysql://x@db/j': flatload syncs to SQLite or PostgreSQL (write the URL like "
           "sqlite:///trading_journal.db or postgresql://user@host/db)\n")
    assert not (tmp_path / "d").exists()
