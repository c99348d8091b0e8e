"""The scope value: which symbols a day keeps, recorded and compared the same way by plan, worker and commit."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatload import datasets as registry
from flatload.engine.plan import make_plan
from flatload.settings import Settings
from flatload.tasks.scope import Scope, scope_for
from tests.helpers.planning import LATE, group, held, listing, obj

symbol_sets = st.none() | st.frozensets(st.sampled_from(["AAPL", "MSFT", "TpC", "SPY", "F"]), min_size=1)
any_dataset = st.sampled_from(list(registry.REGISTRY.values()))
D = dt.date(2024, 3, 11)


def _settings(symbols, underlyings) -> Settings:
    return Settings(workers=1, symbols=symbols, underlyings=underlyings)


def _scope(ds, symbols, underlyings) -> Scope:
    family = [d for d in registry.REGISTRY.values() if d.family == ds.family and not d.streamed]
    return scope_for(_settings(symbols, underlyings), [ds, *family], registry.derived_for([ds, *family]))


@given(any_dataset, symbol_sets, symbol_sets)
def test_a_day_loaded_in_a_scope_is_done_for_that_scope(ds, symbols, underlyings):
    scope = _scope(ds, symbols, underlyings)
    assert scope.covered_by(ds, scope.recorded_text(ds))


@given(any_dataset, symbol_sets, symbol_sets)
def test_a_day_loaded_for_every_symbol_is_done_for_any_scope(ds, symbols, underlyings):
    assert _scope(ds, symbols, underlyings).covered_by(ds, "*")


@given(any_dataset, symbol_sets, symbol_sets, symbol_sets)
def test_a_narrower_scope_is_covered_and_a_wider_one_is_not(ds, first, second, underlyings):
    loaded, later = _scope(ds, first, underlyings), _scope(ds, second, underlyings)
    stored, wanted = loaded.recorded(ds), later.recorded(ds)
    covered = later.covered_by(ds, loaded.recorded_text(ds))
    assert covered == (stored is None or (wanted is not None and wanted <= stored))


@given(any_dataset, symbol_sets, symbol_sets)
def test_the_rows_a_file_keeps_follow_its_row_filter(ds, symbols, underlyings):
    scope = _scope(ds, symbols, underlyings)
    assert scope.rows(ds) == {"symbols": symbols, "underlyings": underlyings, None: None}[ds.row_filter]
    # a filtered file records what it kept; an unfiltered one the derived table's symbols, if it feeds one
    derives = any(ds.name in t.inputs for t in registry.DERIVED.values())
    assert scope.recorded(ds) == (scope.rows(ds) if ds.row_filter else symbols if derives else None)


@given(symbol_sets, symbol_sets)
def test_rest_symbols_default_to_the_run_symbols_and_a_day_may_name_its_own(symbols, rest):
    s = _settings(symbols, None)
    stocks = [registry.get("stocks/minute_aggs"), registry.get("stocks/day_aggs")]
    assert scope_for(s, stocks).rest == symbols
    assert scope_for(s, stocks, rest=rest).rest == rest
    assert scope_for(s, stocks).derived_rows is None
    assert scope_for(s, stocks, registry.derived_for(stocks)).derived_rows == symbols


def test_underlyings_apply_to_options_only():
    s = _settings(frozenset({"AAPL"}), frozenset({"SPY"}))
    assert scope_for(s, [registry.get("options/day_aggs")]).underlyings == frozenset({"SPY"})
    assert scope_for(s, [registry.get("stocks/day_aggs")]).underlyings is None


@pytest.mark.parametrize("names", [("stocks/minute_aggs", "stocks/day_aggs"), ("stocks/minute_aggs",),
                                   ("stocks/day_aggs", "stocks/trades")])
def test_the_planned_task_carries_the_scope_the_function_gives(names):
    s = _settings(frozenset({"AAPL", "TpC"}), None)
    g = group([D], names)
    plan = make_plan([g], s, listing(*(obj(n, D) for n in names)), held(), now=LATE)
    [task] = plan.tasks
    assert task.scope == scope_for(s, g.datasets, g.derived)
    assert task.derive == tuple(t.name for t in g.derived)


def test_a_wider_symbol_scope_reloads_a_journal_day_and_a_narrower_one_skips_it():
    names = ("stocks/minute_aggs", "stocks/day_aggs")
    days = [(n, D, "flatfile", "e1") for n in names]
    have = listing(*(obj(n, D) for n in names))
    loaded = held(*days, scope=frozenset({"AAPL", "MSFT"}))
    narrower = make_plan([group([D], names)], _settings(frozenset({"AAPL"}), None), have, loaded, now=LATE)
    wider = make_plan([group([D], names)], _settings(frozenset({"AAPL", "F"}), None), have, loaded, now=LATE)
    assert (len(narrower.tasks), len(narrower.skipped)) == (0, 1)
    assert (len(wider.tasks), len(wider.skipped)) == (1, 0)
