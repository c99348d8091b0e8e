"""The two test tiers: ``-m "not slow"`` (pure decisions) and everything (``-m slow`` is end-to-end).

A test is slow when it needs a real server, a loaded store, a subprocess or a browser. Most say so
through their fixtures: :func:`mark_slow` (called from ``tests/conftest.py``'s
``pytest_collection_modifyitems``) marks every item whose fixture closure (``item.fixturenames``,
transitive) meets :data:`SLOW_FIXTURES`. Slow tests without such a fixture (a subprocess, a store built
under ``tmp_path``, a CLI run of a load) carry ``@pytest.mark.slow`` or a module-level ``pytestmark``.
"""
from __future__ import annotations

from collections.abc import Iterable

import pytest

#: fixtures that start a real server or load a store; anything depending on one is slow too.
#: ``settings`` is not listed: tests/test_plan.py overrides it with a ``tmp_path``-only one, and the
#: conftest one is caught through ``s3_endpoint`` and ``bucket``. The module-level names (``store``,
#: ``fake``, ...) are, in every module that defines them, a loaded store or a server on loopback.
SLOW_FIXTURES = frozenset({
    # tests/conftest.py
    "s3_endpoint", "bucket", "bars_store", "postgres_server", "pg_db", "_two_day_template", "two_day_store",
    # test modules: loaded stores
    "store", "edge_load", "big_day", "loaded", "template",
    # test modules: the fake REST API, the S3 fault proxy, the browser
    "fake", "fake_rest", "source", "reference", "chain_for", "browser", "page",
})


def is_slow(fixturenames: Iterable[str]) -> bool:
    """Whether a test using these fixtures (its whole closure) belongs to the slow tier."""
    return not SLOW_FIXTURES.isdisjoint(fixturenames)


def mark_slow(items: list[pytest.Item]) -> None:
    """Add the ``slow`` mark to every item :func:`is_slow` picks (items marked already stay as they are)."""
    for item in items:
        if item.get_closest_marker("slow") is None and is_slow(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
