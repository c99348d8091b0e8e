"""The config file and precedence, as a library: flags > environment > file > defaults; errors name file:line."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flatload.config import (SETTINGS, find_config, from_env, markdown_table, render_template, resolve_settings,
                             write_template)
from flatload.config.keylines import key_lines, tomllib
from flatload.errors import ConfigError
from flatload.settings import Settings
from tests.helpers.config import uncomment, write_config

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-Config-Secret-123"
#: settings whose four levels the precedence tests fill: (name, TOML text of a file value, env text, flag value,
#: the value each of those gives)
LEVELS = {
    "bucket": ('"file-bucket"', "env-bucket", "flag-bucket"),
    "workers": ("3", "5", 7),
    "lock_timeout": ("1.5", "2.5", 3.5),
    "rest_url": ('"http://file"', "http://env", "http://flag"),
    "sync_table": ('"file_t"', "env_t", "flag_t"),
    "underlyings": ('["F"]', "E", frozenset({"G"})),
}
PARSED = {"bucket": ("file-bucket", "env-bucket", "flag-bucket"), "workers": (3, 5, 7),
          "lock_timeout": (1.5, 2.5, 3.5), "rest_url": ("http://file", "http://env", "http://flag"),
          "sync_table": ("file_t", "env_t", "flag_t"),
          "underlyings": (frozenset({"F"}), frozenset({"E"}), frozenset({"G"}))}


def spec(name: str):
    return next(s for s in SETTINGS if s.name == name)


def resolve(tmp: Path, text: str, flags: dict | None = None, env: dict | None = None, mode: int = 0o600, **kw):
    path = write_config(tmp / "flatload.toml", text, mode)
    return resolve_settings(flags or {}, env or {}, config=path, **kw)


def error(tmp: Path, text: str, mode: int = 0o600, **kw) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp, text, mode=mode, **kw)
    assert caught.value.exit_code == 2
    return caught.value.one_line()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(LEVELS)), st.sets(st.sampled_from(["flag", "env", "file"]))))
def test_each_setting_takes_the_highest_level_given(levels):
    sections: dict[str, list[str]] = {}
    env, flags = {}, {}
    for name, given_at in levels.items():
        s = spec(name)
        if "file" in given_at:
            sections.setdefault(s.section, []).append(f"{s.key} = {LEVELS[name][0]}")
        if "env" in given_at:
            env[s.env[0]] = LEVELS[name][1]
        if "flag" in given_at:
            flags[name] = LEVELS[name][2]
    lines: list[str] = []
    at: dict[str, int] = {}
    for sec, keys in sections.items():
        lines.append(f"[{sec}]")
        for key_line in keys:
            lines.append(key_line)
            at[key_line.split(" = ")[0]] = len(lines)
    text = "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        resolved = resolve(Path(tmp), text, flags, env)
        for name in LEVELS:
            given_at = levels.get(name, set())
            top = next((lv for lv in ("flag", "env", "file") if lv in given_at), "default")
            entry = resolved.entry(name)
            assert entry.origin.kind == top
            if top == "default":
                assert getattr(resolved.settings, name) == getattr(Settings(), name)
            else:
                want = PARSED[name][("file", "env", "flag").index(top)]
                assert getattr(resolved.settings, name) == want == entry.value
                where = {"flag": f"flag {spec(name).flag}", "env": f"env {spec(name).env[0]}"}
                where["file"] = f"{Path(tmp) / 'flatload.toml'}:{at.get(spec(name).key)}"
                assert str(entry.origin) == where[top]


def test_origins_name_the_flag_as_spelled_the_variable_and_the_line(tmp_path):
    text = "# mine\n[store]\nlock_timeout = 9\n\n[sync]\ntable = \"t\"\nto = \"sqlite:///j.db\"\n"
    resolved = resolve(tmp_path, text, {"sync_to": "sqlite:///flag.db"}, {"FLATLOAD_SYNC_TABLE": "e"},
                       flag_names={"sync_to": "--to"})
    shown = {e.setting.dotted: str(e.origin) for e in resolved.entries}
    assert shown["sync.to"] == "flag --to"
    assert shown["sync.table"] == "env FLATLOAD_SYNC_TABLE"
    assert shown["store.lock_timeout"] == f"{tmp_path / 'flatload.toml'}:3"
    assert shown["source.bucket"] == "default"


def test_the_scope_comes_from_one_level_and_is_the_union_there(tmp_path):
    (tmp_path / "u.txt").write_text("AAPL\nMSFT\n")
    (tmp_path / "other.txt").write_text("TpC\n")
    text = '[run]\nsymbols = ["NVDA"]\nsymbols_file = "u.txt"\n'
    in_file = resolve(tmp_path, text)
    assert in_file.settings.symbols == frozenset({"NVDA", "AAPL", "MSFT"})  # relative to the file's directory
    assert in_file.value("symbols_file") == tmp_path / "u.txt"
    flag = resolve(tmp_path, text, {"symbols": "TPC"})  # a flag's scope replaces the file's scope whole
    assert flag.settings.symbols == frozenset({"TPC"})
    assert flag.value("symbols_file") is None and str(flag.entry("symbols_file").origin) == "default"
    both = resolve(tmp_path, text, {"symbols": "TPC", "symbols_file": str(tmp_path / "other.txt")})
    assert both.settings.symbols == frozenset({"TPC", "TpC"})
    env = resolve(tmp_path, text, env={"FLATLOAD_SYMBOLS_FILE": str(tmp_path / "other.txt")})
    assert env.settings.symbols == frozenset({"TpC"})
    unread = resolve(tmp_path, text, read_universe=False)  # a command the scope does not concern
    assert unread.settings.symbols == frozenset({"NVDA"}) and unread.universe is None


def test_relative_paths_in_the_file_are_taken_from_its_directory(tmp_path):
    conf = tmp_path / "etc"
    text = '[source]\nmirror = "mirror"\n[store]\ndata_dir = "../data"\n[sync]\nto = "sqlite:///j.db?mode=rw"\n'
    resolved = resolve(conf, text)
    assert resolved.settings.mirror == conf / "mirror"
    assert resolved.settings.data_dir.resolve() == (tmp_path / "data").resolve()
    assert resolved.settings.sync_to == f"sqlite:///{conf}/j.db?mode=rw"
    env = resolve_settings({}, {"FLATLOAD_MIRROR": "m"}, read_file=False)  # the environment's: from the cwd
    assert env.settings.mirror == Path("m")


def test_lookup_order_flag_then_variable_then_data_dir_then_current_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {how: write_config(tmp_path / how / "flatload.toml", f'[source]\nbucket = "{how}"\n')
             for how in ("flag", "variable", "data")}
    write_config(tmp_path / "flatload.toml", '[source]\nbucket = "cwd"\n')
    env = {"FLATLOAD_CONFIG": str(files["variable"]), "FLATLOAD_DATA_DIR": str(tmp_path / "data")}
    assert resolve_settings({}, env, config=files["flag"]).settings.bucket == "flag"
    assert resolve_settings({}, env).settings.bucket == "variable"
    del env["FLATLOAD_CONFIG"]
    resolved = resolve_settings({}, env)
    assert (resolved.settings.bucket, resolved.config.how) == ("data", "data directory")
    # the data directory of the lookup: the flag's over the environment's
    assert resolve_settings({"data_dir": tmp_path / "flag"}, env).settings.bucket == "flag"
    assert resolve_settings({}, {}).config.how == "current directory"
    (tmp_path / "flatload.toml").unlink()
    assert resolve_settings({}, {}).config is None
    assert find_config(None, {"FLATLOAD_CONFIG": ""}, tmp_path / "nowhere") is None  # an empty variable: unset


@pytest.mark.parametrize("how", ["--config", "env FLATLOAD_CONFIG"])
def test_a_named_file_that_does_not_exist_is_an_error(tmp_path, how):
    missing = tmp_path / "nope.toml"
    args = ({"config": missing}, {}) if how == "--config" else ({}, {"FLATLOAD_CONFIG": str(missing)})
    with pytest.raises(ConfigError) as caught:
        resolve_settings({}, args[1], **args[0])
    assert caught.value.one_line() == (f"{missing}: the config file given by {how} does not exist (fix the path, or "
                                       f"write one with `flatload config init {missing}`)")


@pytest.mark.parametrize("text, message", [
    ("[run]\nworkers = 2\nworkers 3\n", "{f}:3:9: not valid TOML: Expected '=' after a key in a key/value pair "
                                        "(see https://toml.io; `flatload config init` writes a template)"),
    ("[run]\n\nworker = 2\n", "{f}:3: run.worker: unknown key (did you mean workers? keys of [run]: workers, "
                              "cluster, symbols, symbols_file, underlyings, datasets, prefetch_mb, slices)"),
    ("[source]\nbucket = \"b\"\n\n[runn]\nworkers = 2\n", "{f}:4: [runn]: unknown section (did you mean run? "
                                                         "sections: source, rest, store, run, sync, serve)"),
    ("[run]\nworkers = \"four\"\n", "{f}:2: run.workers: expected a whole number (like workers = 2), got a "
                                    "string ('four')"),
    ("[run]\nworkers = 2.5\n", "{f}:2: run.workers: expected a whole number (like workers = 2), got a number (2.5)"),
    ("[run]\nworkers = 0\n", "{f}:2: run.workers: must be at least 1, got 0"),
    ("[store]\nlock_timeout = true\n", "{f}:2: store.lock_timeout: expected a number (like lock_timeout = 60.0), "
                                       "got a boolean (true)"),
    ("[rest]\nenabled = \"no\"\n", "{f}:2: rest.enabled: expected true or false, got a string ('no')"),
    ("[source]\nbucket = \"\"\n", "{f}:2: source.bucket: is empty (leave the key out for the default)"),
    ("[run]\nsymbols = [1, 2]\n", '{f}:2: run.symbols: element 1 of the list is a whole number (1), not a string '
                                  '(quote it: "1")'),
    ("[run]\nsymbols = {a = 1}\n", "{f}:2: run.symbols: expected a list of strings or a comma-separated string, "
                                  "got a table"),
    ("[run]\ndatasets = \"stocks,nope\"\n", "{f}:2: run.datasets: unknown dataset 'nope' (known: "
                                            "stocks/minute_aggs, "),
    ("workers = 4\n", "{f}:1: workers: a key outside any section (put it under [run])"),
    ("run = 4\n", "{f}:1: run: expected a section ([run]), got a value (write [run] on a line of its own, then "
                  "its keys)"),
    ("[store]\nworkers = 4\n", "{f}:2: store.workers: unknown key (it belongs in [run])"),
    ("[source]\naws_secret_access_key = \"x\"\n", "{f}:2: source.aws_secret_access_key: unknown key (S3 keys are "
                                                  "not read from flatload.toml: keep them where boto3 looks "
                                                  "(~/.aws/credentials with source.profile, AWS_ACCESS_KEY_ID/"
                                                  "AWS_SECRET_ACCESS_KEY, SSO or an instance role))"),
    ("[run.extra]\nx = 1\n", "{f}:1: run.extra: unknown key (keys of [run]: workers, cluster, symbols, symbols_file, "
                             "underlyings, datasets, prefetch_mb, slices)"),
])
def test_a_bad_file_names_file_line_and_key(tmp_path, text, message):
    got = error(tmp_path, text)
    want = message.format(f=tmp_path / "flatload.toml")
    assert got.startswith(want) if want.endswith(", ") else got == want


def test_line_numbers_survive_multiline_values_dotted_keys_and_inline_tables(tmp_path):
    # a line inside a multi-line string that looks like a key ("workers,", tickers being checked now)
    text = ('[run]\nsymbols = [\n  "A", # workers = "x"\n  "B",\n]\nunderlyings = """\nworkers,\n"""\n'
            'workers = "x"\n')
    assert error(tmp_path, text).startswith(f"{tmp_path / 'flatload.toml'}:9: run.workers:")
    dotted = 'source.bucket = "b"\n"run" . "workers" = "x"\n'
    assert error(tmp_path, dotted).startswith(f"{tmp_path / 'flatload.toml'}:2: run.workers:")
    inline = '[source]\nbucket = "b"\n\nrun = { workers = "x" }\n'
    assert error(tmp_path, inline).startswith(f"{tmp_path / 'flatload.toml'}:4: source.run: unknown key")
    top_inline = 'store = { lock_timeout = "soon" }\n'
    assert error(tmp_path, top_inline).startswith(f"{tmp_path / 'flatload.toml'}:1: store.lock_timeout:")


def test_key_lines_of_a_tricky_document():
    text = ("a = 'x = 1'\n[t]\nb = \"\"\"\n[u]\nc = 2\n\"\"\"\nd = [ [1, 2],\n  [3] ] # e = 1\ne.f = 1\n"
            "[[arr]]\ng = '''a'''\n[\"q.k\"]\nh = 1\n")
    assert key_lines(text) == {("a",): 1, ("t",): 2, ("t", "b"): 3, ("t", "d"): 7, ("t", "e"): 9,
                               ("t", "e", "f"): 9, ("arr",): 10, ("arr", "g"): 11, ("q.k",): 12, ("q.k", "h"): 13}


STYLES = ["plain", "spaced", "quoted", "multiline", "commented"]


def _key_line(key: str, style: str, prefix: str) -> list[str]:
    """One key written in ``style``; its first line is the key's, the others must not count as keys."""
    name = f'"{key}"' if style == "quoted" else f"{prefix}{key}"
    if style == "spaced":
        return [f"  {name}   =   'v = 1'  # {key} = 2"]
    if style == "multiline":
        return [f"{name} = [", f'  "a", # {key} = 1', "  '''", f"{key} = 3", "  ''',", "]"]
    if style == "commented":
        return [f'{name} = """x', f"[{key}]", '"""']
    return [f'{name} = "v"']


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SETTINGS), st.sampled_from(STYLES), st.integers(0, 2)),
                unique_by=lambda e: e[0].name, max_size=12), st.booleans())
def test_key_lines_finds_every_key_wherever_it_is(entries, dotted):
    lines: list[str] = []
    want = {}
    for section in dict.fromkeys(e[0].section for e in entries):
        if not dotted:
            lines.append(f"[{section}]  # {section}")
        for spec_, style, blanks in (e for e in entries if e[0].section == section):
            lines += ["# key = 0"] + [""] * blanks
            if style == "quoted" and dotted:
                style = "plain"
            want[(section, spec_.key)] = len(lines) + 1
            lines += _key_line(spec_.key, style, f"{section}." if dotted else "")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # a valid document
    found = key_lines(text)
    assert {k: found.get(k) for k in want} == want


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_in_a_file_others_can_read_is_refused(tmp_path, mode):
    got = error(tmp_path, f'[rest]\nrpm = 5\napi_key = "{SECRET}"\n', mode=mode)
    path = tmp_path / "flatload.toml"
    assert got == (f"{path}:3: rest.api_key holds a secret (the REST API key), but the file's mode is {mode:04o}: "
                   f"other users on this machine could read it, so it is refused (chmod 600 {path}, or move the "
                   "secret to the environment)")
    assert SECRET not in got


def test_a_sync_url_is_a_secret_only_with_a_password(tmp_path):
    url = f"postgresql://trader:{SECRET}@db/app"
    got = error(tmp_path, f'[sync]\nto = "{url}"\n', mode=0o644)
    assert "sync.to holds a secret (a password in the sync URL), but the file's mode is 0644" in got
    assert SECRET not in got
    assert resolve(tmp_path, '[sync]\nto = "postgresql://trader@db/app"\n', mode=0o644).settings.sync_to == \
        "postgresql://trader@db/app"


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_secret_in_an_owner_only_file_is_accepted(tmp_path, mode):
    resolved = resolve(tmp_path, f'[rest]\napi_key = "{SECRET}"\n', mode=mode)
    assert resolved.settings.api_key == SECRET
    assert SECRET not in repr(resolved.settings) and SECRET not in str(resolved.to_dict())


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    got = error(tmp_path, "[rest]\napi_key = 12345678\n")
    assert got == f"{tmp_path / 'flatload.toml'}:2: rest.api_key: expected a string (like api_key = " \
                  f"\"your-rest-api-key\"), got a whole number"


def test_a_file_found_in_the_data_directory_cannot_move_the_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path / "flatload-data" / "flatload.toml", '[store]\ndata_dir = "/elsewhere"\n')
    with pytest.raises(ConfigError) as caught:
        resolve_settings({}, {})
    assert caught.value.one_line() == (
        "flatload-data/flatload.toml:2: store.data_dir: this file was found in the data directory flatload-data, so "
        "it cannot move the data to /elsewhere (remove the key, or pass the file with --config or FLATLOAD_CONFIG)")
    write_config(tmp_path / "flatload-data" / "flatload.toml", '[store]\ndata_dir = "."\n')
    assert resolve_settings({}, {}).settings.data_dir == Path("flatload-data")


def test_a_bom_and_crlf_lines_in_the_file_are_fine(tmp_path):
    path = tmp_path / "flatload.toml"
    path.write_bytes(b"\xef\xbb\xbf[run]\r\nworkers = 3\r\n\r\nworkers_typo = 1\r\n")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError) as caught:
        resolve_settings({}, {}, config=path)
    assert caught.value.one_line().startswith(f"{path}:4: run.workers_typo: unknown key (did you mean workers?")


def test_the_environment_is_checked_against_the_table(tmp_path):
    for var, value, message in [("FLATLOAD_WORKERS", "0", "FLATLOAD_WORKERS: must be at least 1, got 0"),
                                ("FLATLOAD_DATASETS", "nope", "FLATLOAD_DATASETS: unknown dataset 'nope'"),
                                ("FLATLOAD_SYMBOLS", " , ", "FLATLOAD_SYMBOLS: names no symbol")]:
        with pytest.raises(ConfigError) as caught:
            resolve_settings({}, {var: value}, read_file=False)
        assert caught.value.one_line().startswith(message), caught.value.one_line()
        assert caught.value.one_line().endswith(f"(fix or unset {var})")


def test_settings_from_env_reads_no_file_and_keeps_its_contract(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path / "flatload.toml", '[source]\nbucket = "from-file"\n')
    s = from_env({"FLATLOAD_BUCKET": "", "POLYGON_API_KEY": "k", "FLATLOAD_WORKERS": "2"}, workers=None,
                          force=True)
    assert (s.bucket, s.api_key, s.workers, s.force) == ("flatfiles", "k", 2, True)
    with pytest.raises(ConfigError, match="unknown setting 'frobnicate'"):
        from_env({}, frobnicate=1)


def test_the_template_parses_and_every_key_round_trips(tmp_path):
    path = write_template(tmp_path / "flatload.toml")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    empty = resolve_settings({}, {}, config=path)
    assert all(e.origin.kind == "default" for e in empty.entries)
    (tmp_path / "sp500.json").write_text('["AAPL"]')
    path.write_text(uncomment(path.read_text()))
    full = resolve_settings({}, {}, config=path)
    assert all(e.origin.kind == "file" for e in full.entries)
    defaults = Settings()
    for s in SETTINGS:  # a literal default reads back as the default itself
        if s.toml_default is not None and s.field and s.name != "data_dir":
            assert getattr(full.settings, s.name) == getattr(defaults, s.name), s.name
    # written relative to the file, so that it names the default data directory of where it was made
    assert full.settings.data_dir.resolve() == defaults.data_dir.resolve()
    examples = {e.setting.name: e.value for e in full.entries}
    assert (examples["workers"], examples["symbols"], examples["datasets"]) == \
        (2, frozenset({"AAPL", "MSFT", "BRK.B"}), "stocks/minute_aggs,stocks/day_aggs")
    assert {s.dotted for s in SETTINGS} == {e.setting.dotted for e in full.entries}


def test_the_template_lists_every_key_with_its_sources(tmp_path):
    text = render_template(tmp_path / "flatload-data" / "flatload.toml", tmp_path / "flatload-data")
    for s in SETTINGS:
        assert re.search(rf"^# {s.key} = ", text, re.M), s.dotted
        for var in s.env:
            assert f"env {var}" in text
    assert '# data_dir = "."' in text  # inside the data directory: itself


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    path = write_config(tmp_path / "flatload.toml", "# mine\n", mode=0o644)
    with pytest.raises(ConfigError) as caught:
        write_template(path)
    assert caught.value.one_line() == (f"{path}: already exists (add --force to replace it (what it holds is lost), "
                                       "or give another PATH)")
    assert path.read_text() == "# mine\n"
    write_template(path, force=True)
    assert path.read_text().startswith("# flatload configuration.")
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_readme_table_is_the_settings_table():
    docs = [p for p in (ROOT / "README-config.md", ROOT / "README.md") if p.exists()]
    assert any(markdown_table() in p.read_text() for p in docs), "regenerate with flatload.config.markdown_table()"
