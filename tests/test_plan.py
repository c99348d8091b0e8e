"""The planner's decisions as a pure function of the listing and what the journal holds (no DuckDB, no S3).

Each case the end-to-end tests reach through a whole load (seconds each) is decided here in
milliseconds: skip a day loaded with the same ETag, reload a regenerated file (and its pair),
reload suspect and failed days, fail a missing file now or plan it for REST, and upgrade a day
REST filled once its file appears.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatload.datasets import JOURNAL
from flatload.engine.plan import make_plan
from flatload.settings import Settings
from tests.helpers.planning import LATE, STOCKS, group, held, listing, obj

D = dt.date(2024, 3, 8)
MINUTE, DAY = STOCKS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No REST key: a missing file cannot be filled."""
    return Settings(data_dir=tmp_path, api_key=None)


def _both(etag_minute: str = "e1", etag_day: str = "e1"):
    return listing(obj(MINUTE, D, etag_minute), obj(DAY, D, etag_day))


def _loaded(state_minute: str = "flatfile", state_day: str = "flatfile", scope=None):
    return held((MINUTE, D, state_minute, "e1"), (DAY, D, state_day, "e1"), scope=scope)


def test_a_day_loaded_with_the_same_etags_is_skipped(settings):
    plan = make_plan([group([D])], settings, _both(), _loaded(), now=LATE)
    assert (plan.tasks, plan.failed, plan.skipped) == ([], [], [(D, "already loaded, same ETag")])


def test_a_regenerated_file_reloads_its_day_with_the_other_file_of_the_pair(settings):
    plan = make_plan([group([D])], settings, _both(etag_minute="e2"), _loaded(), now=LATE)
    [task] = plan.tasks
    assert [(f.dataset, f.obj.etag) for f in task.files] == [(MINUTE, '"e2"'), (DAY, '"e1"')]
    assert task.derive == (JOURNAL.name,) and plan.skipped == []


@pytest.mark.parametrize("state", ["suspect", "failed"])
def test_suspect_and_failed_days_are_loaded_again(settings, state):
    plan = make_plan([group([D])], settings, _both(), _loaded(state_minute=state), now=LATE)
    assert [f.dataset for f in plan.tasks[0].files] == [MINUTE, DAY]


def test_force_reloads_what_is_loaded(settings):
    plan = make_plan([group([D])], settings.replace(force=True), _both(), _loaded(), now=LATE)
    assert len(plan.tasks) == 1


def test_a_missing_file_fails_the_pair_now_without_rest(settings):
    plan = make_plan([group([D])], settings, listing(obj(DAY, D)), held(), now=LATE)
    [failure] = plan.failed
    assert plan.tasks == []
    assert (failure.key, failure.message, failure.datasets) == (f"us_stocks_sip/minute_aggs_v1/2024/03/{D}.csv.gz",
                                                                 "no flat file in the bucket", STOCKS)
    assert failure.hint.startswith("set MASSIVE_API_KEY to fill it from REST, or the vendor has no file")


def test_a_missing_file_of_the_latest_day_may_not_be_published_yet(settings):
    just_after = dt.datetime(2024, 3, 9, 16, 0, tzinfo=dt.timezone.utc)  # the 8th is the latest complete day
    plan = make_plan([group([D])], settings, listing(obj(DAY, D)), held(), now=just_after)
    assert plan.failed[0].hint.endswith("rerun after the vendor publishes it (about 11:00 ET the next day)")


def test_a_missing_minute_file_goes_to_rest_with_a_key(settings):
    plan = make_plan([group([D])], settings.replace(api_key="k"), listing(obj(DAY, D)), held(), now=LATE)
    [task] = plan.tasks
    assert [(f.dataset, f.obj) for f in task.files][0] == (MINUTE, None)


def test_a_day_rest_filled_is_skipped_until_its_file_appears_then_upgraded(settings):
    rest_day = held((MINUTE, D, "rest", None), (DAY, D, "flatfile", "e1"))
    still_missing = make_plan([group([D])], settings.replace(api_key="k"), listing(obj(DAY, D)), rest_day, now=LATE)
    assert still_missing.skipped == [(D, "loaded from REST; flat file still missing")]
    appeared = make_plan([group([D])], settings.replace(api_key="k"), _both(), rest_day, now=LATE)
    assert [(f.dataset, f.obj is not None) for f in appeared.tasks[0].files] == [(MINUTE, True), (DAY, True)]


def test_a_tick_dataset_beside_the_pair_does_not_reload_a_loaded_pair(settings):
    names = (*STOCKS, "stocks/trades")
    files = listing(obj(MINUTE, D), obj(DAY, D), obj("stocks/trades", D))
    plan = make_plan([group([D], names)], settings, files, _loaded(), now=LATE)
    assert [f.dataset for f in plan.tasks[0].files] == ["stocks/trades"]


def test_expected_rows_come_from_the_trailing_clean_days(settings):
    days = [dt.date(2024, 3, d) for d in (4, 5, 6, 7)]
    history = held(*[(n, d, "flatfile", "e1") for d in days for n in STOCKS], rows=200)
    plan = make_plan([group([D])], settings, _both(), history, now=LATE)
    assert dict(plan.tasks[0].expected_rows) == {MINUTE: 200, DAY: 200}


SYMBOLS = st.frozensets(st.sampled_from(["AAPL", "MSFT", "TpC", "BRK.A"]), min_size=1)


@given(loaded=st.none() | SYMBOLS, wanted=st.none() | SYMBOLS)
def test_a_day_is_skipped_exactly_when_what_was_loaded_covers_the_scope_asked(loaded, wanted):
    settings = Settings(data_dir=Path("/nonexistent-flatload-store"), api_key=None, symbols=wanted)
    plan = make_plan([group([D])], settings, _both(), _loaded(scope=loaded), now=LATE)
    covers = loaded is None or (wanted is not None and wanted <= loaded)
    assert (plan.skipped != []) == covers
    assert (len(plan.tasks) == 1) == (not covers)
