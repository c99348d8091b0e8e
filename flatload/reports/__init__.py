"""Read-only reports on a data directory as plain JSON-serializable dicts (dates as ISO strings).

``status`` (runs, live progress, failed and suspect days), ``gaps`` (every day of each
dataset and where it stands) and ``datasets`` (the registry and what a store holds of it).
``flatload.cli.render`` draws them as text; the web app serves them as JSON.
"""
from __future__ import annotations

from .catalog import datasets
from .common import NOTHING_YET
from .gaps import CLASSES, default_window, gaps
from .runs import run, status

__all__ = ["status", "run", "gaps", "datasets", "default_window", "CLASSES", "NOTHING_YET"]
