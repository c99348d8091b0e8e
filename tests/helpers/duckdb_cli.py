"""The DuckDB CLI analysts use (duckdb-cli from PyPI, a 1.x release): proof that the store opens outside flatload."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def duckdb_cli() -> str:
    """The ``duckdb`` binary of the duckdb-cli package (a 1.x release), installed by the test extras."""
    exe = shutil.which("duckdb") or str(Path(sys.executable).with_name("duckdb"))
    assert Path(exe).exists(), "duckdb-cli is a test dependency: pip install -e '.[test]'"
    return exe


def cli_query(cwd: Path, sql: str, path: str = "flatload.duckdb", *pre: str) -> subprocess.CompletedProcess:
    """Run ``sql`` on the store file with the CLI, read-only, CSV output, from ``cwd``."""
    return subprocess.run([duckdb_cli(), "-readonly", "-csv", *pre, path, "-c", sql], cwd=cwd, text=True,
                          capture_output=True, timeout=120)
