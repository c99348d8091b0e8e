"""``flatload.toml``: where it is looked up, reading it, and checking every key, type and secret against the table.

Every problem is a :class:`~flatload.errors.ConfigError` (exit 2) naming the file and line:
``flatload.toml:7: run.workers: expected a whole number (like workers = 2), got a string ('four')``.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .keylines import key_lines, line_of
from .table import BY_KEY, CONFIG_ENV, FILE_NAME, SECTIONS, SETTINGS, Invalid, Setting, from_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: keys people try for S3 credentials: they stay in the AWS chain (see _AWS_HINT)
_AWS_KEYS = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "access_key", "secret_key",
             "access_key_id", "secret_access_key"}
_AWS_HINT = ("S3 keys are not read from flatload.toml: keep them where boto3 looks (~/.aws/credentials with "
             "source.profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO or an instance role)")
_SECRETS = {s.name: s for s in SETTINGS if s.secret}
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


@dataclass(frozen=True)
class Located:
    """A config file to read, and which rule of the lookup found it."""

    path: Path
    #: ``--config``, ``env FLATLOAD_CONFIG``, ``data directory`` or ``current directory``
    how: str


@dataclass(frozen=True)
class FileValue:
    """A setting's value in the file, and its line."""

    value: Any
    line: int


@dataclass(frozen=True)
class ConfigFile:
    """A file read and checked: each setting it holds, by :attr:`Setting.name`."""

    path: Path
    how: str
    values: Mapping[str, FileValue] = field(default_factory=dict)

    def where(self, name: str) -> str:
        """``FILE:LINE`` of a setting the file holds."""
        return f"{self.path}:{self.values[name].line}"


def find_config(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str],
                data_dir: Path) -> Located | None:
    """``--config PATH``, else ``$FLATLOAD_CONFIG``, else ``<data dir>/flatload.toml``, else ``./flatload.toml``.

    A file named by the flag or the variable must exist; the other two are optional.
    """
    for given, how in ((explicit, "--config"), (environ.get(CONFIG_ENV) or None, f"env {CONFIG_ENV}")):
        if given is not None:
            path = Path(given)
            if not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise ConfigError(f"the config file given by {how} {what}", key=str(path),
                                  hint=f"fix the path, or write one with `flatload config init {path}`")
            return Located(path, how)
    for path, how in ((data_dir / FILE_NAME, "data directory"), (Path(FILE_NAME), "current directory")):
        if path.is_file():
            return Located(path, how)
    return None


def read_config(located: Located) -> ConfigFile:
    """Read and check the file: syntax, sections, keys, types; secrets only in a file only its owner can read."""
    path = located.path
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", key=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")  # TOML is UTF-8; a BOM (Windows editors add one) is tolerated
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} is not UTF-8)", key=f"{path}:{line}",
                          hint="TOML files are UTF-8: save it as UTF-8") from None
    document = _parse(text, path)
    lines = key_lines(text)
    values: dict[str, FileValue] = {}
    for section, table in document.items():
        where = f"{path}:{line_of(lines, (section,))}"
        spec_table = _section(section, table, where)
        for key, value in spec_table.items():
            line = line_of(lines, (section, key))
            spec = _setting(section, key, f"{path}:{line}")
            try:
                values[spec.name] = FileValue(from_toml(spec, value, path.parent), line)
            except Invalid as exc:
                raise ConfigError(f"{spec.dotted}: {exc}", key=f"{path}:{line}") from None
    config = ConfigFile(path, located.how, values)
    _check_secrets(config)
    return config


def _parse(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_POSITION.search(message)
        key = f"{path}:{at.group(1)}:{at.group(2)}" if at else str(path)
        raise ConfigError(f"not valid TOML: {_TOML_POSITION.sub('', message)}", key=key,
                          hint="see https://toml.io; `flatload config init` writes a template") from None


def _section(section: str, table: Any, where: str) -> dict[str, Any]:
    """The section's table, or an error saying what is known (a top-level key: which section it belongs in)."""
    if section not in SECTIONS:
        homes = [s for s in SETTINGS if s.key == section]
        if homes:
            raise ConfigError(f"{section}: a key outside any section", key=where,
                              hint=f"put it under [{homes[0].section}]")
        raise ConfigError(f"[{section}]: unknown section", key=where,
                          hint=_suggest(section, list(SECTIONS), "sections"))
    if not isinstance(table, dict):
        raise ConfigError(f"{section}: expected a section ([{section}]), got a value", key=where,
                          hint=f"write [{section}] on a line of its own, then its keys")
    return table


def _setting(section: str, key: str, where: str) -> Setting:
    spec = BY_KEY.get((section, key))
    if spec is not None:
        return spec
    if key.lower() in _AWS_KEYS:
        raise ConfigError(f"{section}.{key}: unknown key", key=where, hint=_AWS_HINT)
    elsewhere = [s for s in SETTINGS if s.key == key]
    if elsewhere:
        hint = f"it belongs in [{elsewhere[0].section}]"
    else:
        hint = _suggest(key, [k for (s, k) in BY_KEY if s == section], f"keys of [{section}]")
    raise ConfigError(f"{section}.{key}: unknown key", key=where, hint=hint)


def _suggest(word: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    listed = f"{what}: {', '.join(known)}"
    return f"did you mean {close[0]}? {listed}" if close else listed


def _check_secrets(config: ConfigFile) -> None:
    """A secret in a file others can read is refused: any account on the machine could copy it."""
    secrets = [(_SECRETS[n], v.line) for n, v in config.values.items()
               if n in _SECRETS and _SECRETS[n].is_secret(v.value)]
    if not secrets or os.name == "nt":  # Windows has no mode bits: its ACLs are the user's to set
        return
    mode = stat.S_IMODE(config.path.stat().st_mode)
    if mode & 0o077:
        spec, line = secrets[0]
        what = "the REST API key" if spec.name == "api_key" else "a password in the sync URL"
        raise ConfigError(f"{spec.dotted} holds a secret ({what}), but the file's mode is {mode:04o}: other users "
                          f"on this machine could read it, so it is refused", key=f"{config.path}:{line}",
                          hint=f"chmod 600 {config.path}, or move the secret to the environment")

