"""``flatload config init``: a commented ``flatload.toml`` with every key of the table, written mode 0600."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .table import CONFIG_ENV, FILE_NAME, SECTIONS, SETTINGS, Setting

_HEADER = f"""\
# flatload configuration.
#
# Found as: --config PATH, else ${CONFIG_ENV}, else <data dir>/{FILE_NAME}, else ./{FILE_NAME}.
# Precedence: flags > environment > this file > defaults. Relative paths are taken from this file's directory.
# Every key is commented out with its default (or an example when the default depends on the machine):
# uncomment what you want to change. `flatload config show` prints what is in effect and where it came from.
# Secrets (rest.api_key, a sync.to URL with a password) are accepted only while this file is mode 0600.
"""


def render_template(path: Path | None = None, data_dir: Path | None = None) -> str:
    """The template's text. ``path``: where it will live, so that ``store.data_dir`` is written relative to it."""
    out = [_HEADER]
    for section, what in SECTIONS.items():
        out.append(f"\n# {what}\n[{section}]\n")
        for spec in (s for s in SETTINGS if s.section == section):
            out.append(_entry(spec, path, data_dir))
    return "".join(out)


def _entry(spec: Setting, path: Path | None, data_dir: Path | None) -> str:
    sources = [f"flag {spec.flag}"] if spec.flag else []
    sources += [f"env {v}" for v in spec.env]
    value = spec.toml_default or spec.example
    if spec.name == "data_dir" and path is not None:
        target = Path(data_dir or "flatload-data").resolve()
        value = json.dumps(os.path.relpath(target, Path(path).parent.resolve()))
    note = " (--no-rest sets it to false)" if spec.name == "use_rest" else ""
    first = f"# {spec.help[0].upper()}{spec.help[1:]}{note} ({', '.join(sources)})\n"
    if spec.toml_default is not None:
        return f"{first}# {spec.key} = {value}\n"
    return f"{first}# {spec.key} = {value}  # an example; default: {spec.default}\n"


def init_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str], data_dir: Path) -> Path:
    """Where ``config init`` writes without a PATH: where the lookup looks first (``--config``, else
    ``$FLATLOAD_CONFIG``, else ``<data dir>/flatload.toml``)."""
    if explicit is not None:
        return Path(explicit)
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else data_dir / FILE_NAME


def write_template(path: str | os.PathLike[str], *, force: bool = False, data_dir: Path | None = None) -> Path:
    """Write the template to ``path`` with mode 0600 (it may come to hold a key); an existing file is kept
    unless ``force``. Returns the path."""
    path = Path(path)
    text = render_template(path, data_dir).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError("already exists", key=str(path),
                              hint="add --force to replace it (what it holds is lost), or give another PATH") from None
        _write(fd, text)
    else:
        if path.is_dir():
            raise ConfigError("is a directory", key=str(path), hint="give the file's path, e.g. DIR/flatload.toml")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        _write(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), text)
        os.replace(tmp, path)
    os.chmod(path, 0o600)  # the umask may only have narrowed it; say it exactly
    return path


def _write(fd: int, text: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
