"""``flatload config show`` and ``config init``: the effective settings and their origins; a commented template."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .exits import handle_errors
from .options import (
    dataset_option,
    resolved_from,
    rest_options,
    source_options,
    store_options,
    tuning_options,
)
from .sync import sync_options

if TYPE_CHECKING:
    from ..config.resolve import Entry, Resolved

#: a long symbol list is cut after this many in the text view (--json has them all)
_SHOWN_SYMBOLS = 8


@click.group("config")
def config() -> None:
    """The settings in effect and where each comes from; a commented flatload.toml to start from.

    \b
    Lookup: --config FILE, else $FLATLOAD_CONFIG, else <data dir>/flatload.toml, else ./flatload.toml.
    Precedence: flags > environment > config file > defaults.
    """


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@store_options
@source_options
@rest_options
@tuning_options
@sync_options
@dataset_option()
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def show(as_json: bool, verbose: bool, **opts: Any) -> None:
    """Every setting's effective value and where it came from (flag, env VAR, FILE:LINE, default).

    Give the flags a command would get to see their effect. Secrets are masked.
    """
    resolved = resolved_from(scope=True, **opts)
    click.echo(json.dumps(resolved.to_dict(), indent=2) if as_json else render(resolved))


@config.command("init")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing file")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The data directory the file goes into when no PATH is given [env FLATLOAD_DATA_DIR; "
                   "./flatload-data]")
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks on errors")
@handle_errors
def init(path: Path | None, force: bool, data_dir: Path | None, verbose: bool) -> None:
    """Write a commented flatload.toml (every key, with its default), mode 0600.

    PATH defaults to where the lookup looks first: the group's --config, else $FLATLOAD_CONFIG,
    else <data dir>/flatload.toml.
    """
    from ..config import CONFIG_ENV, find_config, init_path, resolve_settings, write_template

    group_config = click.get_current_context().find_root().params.get("config")
    data = resolve_settings({"data_dir": data_dir}, read_file=False, read_universe=False).settings.data_dir
    written = write_template(init_path(path or group_config, os.environ, data), force=force, data_dir=data)
    click.echo(f"wrote {written} (mode 0600): uncomment the keys to change; `flatload config show` prints the "
               f"settings in effect")
    found = find_config(group_config, os.environ, data)
    if found is None or found.path.resolve() != written.resolve():
        click.echo(f"note: flatload does not look there by itself: pass --config {written} or set "
                   f"{CONFIG_ENV}={written}", err=True)


def render(resolved: Resolved) -> str:
    """The text view: the file read, then one line per setting (key, value, origin), then the scope."""
    if resolved.config is not None:
        head = f"config file: {resolved.config.path} ({resolved.config.how})"
    else:
        head = "config file: none (looked for --config, $FLATLOAD_CONFIG, <data dir>/flatload.toml, ./flatload.toml)"
    rows = [(e.setting.dotted, _value(e), str(e.origin)) for e in resolved.entries]
    width = [max(len(r[i]) for r in rows + [("key", "value", "from")]) for i in range(2)]
    lines = [head, "", f"{'key':<{width[0]}}  {'value':<{width[1]}}  from"]
    lines += [f"{k:<{width[0]}}  {v:<{width[1]}}  {o}" for k, v, o in rows]
    symbols = resolved.settings.symbols
    if symbols is not None:
        extra = f", {len(resolved.universe.symbols)} from {resolved.universe.source}" if resolved.universe else ""
        lines += ["", f"scope: {len(symbols)} symbol(s){extra}"]
    return "\n".join(lines)


def _value(entry: Entry) -> str:
    value = entry.value
    if isinstance(value, frozenset) and len(value) > _SHOWN_SYMBOLS:
        shown = ",".join(sorted(value)[:_SHOWN_SYMBOLS])
        return f"{shown},… ({len(value)})"
    return entry.shown()
