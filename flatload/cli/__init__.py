"""The ``flatload`` command line: thin Click commands, each calling one library function."""
from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
