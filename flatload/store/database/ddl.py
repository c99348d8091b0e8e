"""The SQL files shipped with flatload (sql/ at the top of a checkout, flatload/sql in a wheel)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path


def sql_dir() -> Path:
    """sql/ inside an installed wheel, else the source checkout's top-level sql/."""
    here = Path(__file__).resolve().parents[2]  # the flatload package
    for candidate in (here / "sql", here.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("flatload's sql/ directory is missing from the installation")


def split_statements(text: str) -> Iterator[str]:
    """The statements of a SQL script (each ends with ``;`` at the end of a line), comment lines stripped."""
    for statement in re.split(r";[ \t]*(?:--[^\n]*)?\n", text + "\n"):
        body = "\n".join(ln for ln in statement.splitlines() if not ln.strip().startswith("--")).strip()
        if body:
            yield body
