"""``flatload serve``: a local dashboard and a JSON job API (``/api/v1``) for backfills.

The app reads the library's reports (``flatload.reports``, ``flatload.bars``, read-only SQL)
and starts each backfill as an ordinary ``flatload load`` process of its own (``jobs``), so a
job takes the same lock, writes the same run records and ends with the same exit codes as
one typed in a terminal. ``create_app(settings, token)`` builds the ASGI app; ``serve`` runs it.
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # FastAPI and uvicorn load only when the web app is used, not with every `flatload` command
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
