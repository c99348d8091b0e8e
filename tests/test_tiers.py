"""The fast tier (``-m "not slow"``) keeps the pure decision tests; end-to-end tests are marked slow.

The rule is tests.helpers.tiers'; the collection checks run pytest's collection in-process on a few
modules (already imported when the whole suite runs), so they cost a fraction of a second.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tiers

TESTS = Path(__file__).parent
#: modules of pure decisions: every test in them belongs to the fast tier
PURE = ["test_plan.py", "test_parse.py", "test_calendar.py", "test_timeframes.py", "test_universe.py"]
#: formula tests beside tests reading the shared loaded store (``bars_store``)
MIXED = "test_indicators.py"


class _Collector:
    """Records every collected item (before any ``-m`` deselection) with whether it is marked slow."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[bool, frozenset[str]]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            self.items[item.nodeid] = (item.get_closest_marker("slow") is not None,
                                       frozenset(getattr(item, "fixturenames", ())))


@pytest.fixture(scope="module")
def collected() -> dict[str, tuple[bool, frozenset[str]]]:
    """``{nodeid: (marked slow, fixture closure)}`` of PURE and MIXED, collected once."""
    collector = _Collector()
    code = pytest.main(["--collect-only", "-qq", "-p", "no:cacheprovider", "--rootdir", str(TESTS.parent),
                        *(str(TESTS / m) for m in (*PURE, MIXED))], plugins=[collector])
    assert code == pytest.ExitCode.OK, code
    return collector.items


def _in(module: str, items: dict[str, tuple[bool, frozenset[str]]]) -> dict[str, tuple[bool, frozenset[str]]]:
    return {nodeid: v for nodeid, v in items.items() if nodeid.split("::")[0].endswith(module)}


def test_a_server_or_a_loaded_store_makes_a_test_slow():
    for name in ("s3_endpoint", "bucket", "bars_store", "postgres_server", "pg_db", "_two_day_template",
                 "two_day_store", "browser"):
        assert tiers.is_slow({"tmp_path", name}), name
    # the conftest settings always comes with its S3 server
    assert tiers.is_slow({"settings", "tmp_path", "s3_endpoint", "bucket"})


def test_temporary_files_and_plain_settings_keep_a_test_fast():
    assert not tiers.is_slow(set())
    assert not tiers.is_slow({"tmp_path", "tmp_path_factory", "request", "monkeypatch", "capsys"})
    # tests/test_plan.py's own settings: a data directory under tmp_path, nothing started
    assert not tiers.is_slow({"settings", "tmp_path"})


def test_pure_decision_modules_are_all_in_the_fast_tier(collected):
    for module in PURE:
        items = _in(module, collected)
        assert items, f"no test collected in {module}"
        slow = sorted(nodeid for nodeid, (is_slow, _) in items.items() if is_slow)
        assert not slow, f"pure decision tests marked slow: {slow}"


def test_a_module_mixing_formulas_and_a_loaded_store_splits_along_the_fixtures(collected):
    items = _in(MIXED, collected)
    fast = {nodeid for nodeid, (is_slow, _) in items.items() if not is_slow}
    assert fast and len(fast) < len(items), items
    assert all(("bars_store" in fixtures) == is_slow for is_slow, fixtures in items.values()), items
