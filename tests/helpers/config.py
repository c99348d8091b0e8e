"""Arranging config and universe tests: config files with a chosen mode, universe files rendered in each
format (with the line each entry lands on), and the CLI run in a clean environment and directory."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from flatload.cli import cli

#: no variable of the caller's shell may steer these runs
CLEAN_ENV: dict[str, str | None] = {k: None for k in os.environ
                                    if k.startswith(("FLATLOAD_", "PG", "MASSIVE_", "POLYGON_", "AWS_PROFILE"))}
UNIVERSE_FORMATS = ("lines", "csv", "json-list", "json-symbols", "json-objects", "json-seed")


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    """``text`` into ``path`` (parents made) with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """``flatload ARGS`` in ``cwd`` (so that ./flatload.toml is the test's), with only ``env`` set of ours."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner(env={**CLEAN_ENV, **(env or {})}).invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def uncomment(template: str) -> str:
    """The template with every ``# key = value`` line made live (the explanation lines stay comments)."""
    return re.sub(r"^# ([a-z_]+ = )", r"\1", template, flags=re.M)


def render_universe(symbols: Sequence[str], fmt: str, *, bom: bool = False,
                    crlf: bool = False) -> tuple[bytes, list[int]]:
    """``symbols`` as a file of format ``fmt`` (see UNIVERSE_FORMATS), and the line each entry is on."""
    if fmt == "lines":
        lines = ["# a watchlist", "", *[f"{s}  # note" if i % 3 == 0 else s for i, s in enumerate(symbols)]]
        at = [i + 3 for i in range(len(symbols))]
    elif fmt == "csv":
        lines = ["name,Ticker,weight", *[f'"Name {i}, Inc.",{s},0.{i}' for i, s in enumerate(symbols)]]
        at = [i + 2 for i in range(len(symbols))]
    else:
        items = [json.dumps(s) if fmt in ("json-list", "json-symbols") else
                 json.dumps({"symbol": s, "name": f"Name {i}"} if fmt != "json-objects" else {"ticker": s})
                 for i, s in enumerate(symbols)]
        body = [f"    {item}," for item in items[:-1]] + [f"    {items[-1]}"] if items else []
        if fmt == "json-list":
            lines, first = ["[", *body, "]"], 2
        elif fmt == "json-objects":
            lines, first = ["[", *body, "]"], 2
        else:
            lines = ["{", '  "last_updated": "2024-06-28",', '  "symbols": [', *body, "  ]", "}"]
            first = 4
        at = [i + first for i in range(len(symbols))]
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return ("\ufeff" if bom else "").encode() + text.encode(), at


def suffix(fmt: str) -> str:
    """The file suffix of a universe format."""
    return {"lines": ".txt", "csv": ".csv"}.get(fmt, ".json")
