"""Sync the journal into the user's own database (SQLite or PostgreSQL), incrementally.

``flatload.sync(to, table, settings)`` (the same as ``flatload.sync.sync``) upserts the
journal rows new or changed since the last sync of that target and table; the
:class:`SyncSummary` it returns says what the target did with them.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from .api import DEFAULT_BATCH_SIZE, sync
from .summary import SyncSummary

__all__ = ["sync", "SyncSummary", "DEFAULT_BATCH_SIZE"]


class _CallablePackage(types.ModuleType):
    """Importing ``flatload.sync`` binds the package to ``flatload.sync``, hiding the function of the same
    name the top-level package exports: calling the package calls the function, so both spellings work."""

    def __call__(self, *args: Any, **kwargs: Any) -> SyncSummary:
        return sync(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
