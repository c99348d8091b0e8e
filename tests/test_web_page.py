"""The dashboard in a real headless Chromium (Playwright), against a live server and a real store.

The store (tests.helpers.dashboard) has a day in each state; each test works on a copy of it.
What a user sees is checked through the page itself: one heatmap cell per session with its state,
the reason on hover, a backfill started from the form running to 100 %, the session chart drawn.
The README's screenshot (docs/dashboard.png) is taken here; FLATLOAD_UPDATE_SCREENSHOT=1 rewrites it.
Without Chromium the tests skip (FLATLOAD_REQUIRE_BROWSER=1 makes that a failure).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flatload import reports
from flatload.settings import Settings
from tests.helpers import dashboard
from tests.helpers.browser import Console, launched
from tests.helpers.web import LiveServer

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"
RANGE = f"start={dashboard.DAYS[0]}&end={dashboard.DAYS[-1]}&dataset=stocks"
WAIT_MS = 30_000
JOB_WAIT_MS = 90_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched() as b:
        yield b


@pytest.fixture(scope="module")
def template(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return dashboard.build(tmp_path_factory.mktemp("dashboard") / "data", s3_endpoint, "dashboard")


@pytest.fixture
def store(template: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(template.data_dir, tmp_path / "data")
    return template.replace(data_dir=tmp_path / "data")


@pytest.fixture
def page(browser) -> Iterator[tuple[object, Console]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    console = Console()
    console.watch(pg)
    yield pg, console
    context.close()


def _cells(pg, dataset: str) -> dict[str, str]:
    return pg.eval_on_selector_all(f'.heatmap[data-dataset="{dataset}"] .cal .cell',
                                   "cells => Object.fromEntries(cells.map(c => [c.dataset.date, c.dataset.state]))")


def test_heatmap_has_one_cell_per_session_with_its_state_and_reason(page, store: Settings) -> None:
    pg, console = page
    with LiveServer(store) as server:
        pg.goto(f"{server.url}/?{RANGE}")
        pg.wait_for_selector("#heatmaps[data-ready='1']", timeout=WAIT_MS)
        for dataset in ("stocks/minute_aggs", "stocks/day_aggs"):
            cells = _cells(pg, dataset)
            assert len(cells) == len(dashboard.DAYS), "one cell per session, none for weekends or holidays"
            assert cells == dashboard.expected_states(dataset)
        assert pg.locator(".heatmap").count() == 2

        failed = pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{dashboard.FAILED}"]')
        failed.hover()
        info = pg.locator("#cell-info").inner_text()
        assert info.startswith(f"{dashboard.FAILED} · stocks/minute_aggs · failed: ") and "corrupt gzip" in info
        pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{dashboard.SUSPECT}"]').click()
        assert "header and no rows" in pg.locator("#cell-info").inner_text()

        pg.wait_for_selector("#runs-table tbody tr", timeout=WAIT_MS)  # recent runs come after the heatmap
        failed_list = pg.locator("#failed-list").inner_text()
        assert str(dashboard.FAILED) in failed_list and "next: rerun once the vendor regenerates it" in failed_list
        assert pg.locator("#runs-table tbody tr").count() == 1  # the load that built the store
    assert console.errors == []


def test_a_backfill_started_from_the_form_reaches_100_percent(page, store: Settings) -> None:
    pg, console = page
    with LiveServer(store) as server:
        pg.goto(f"{server.url}/?{RANGE}")
        pg.wait_for_selector("#heatmaps[data-ready='1']", timeout=WAIT_MS)
        pg.fill("#bf-start", str(dashboard.NOT_LOADED[0]))
        pg.fill("#bf-end", str(dashboard.NOT_LOADED[-1]))
        pg.fill("#bf-symbols", "SPY, AAPL")
        pg.click("#bf-submit")
        pg.wait_for_selector("#job[data-status='running'], #job[data-status='queued']", timeout=WAIT_MS)
        assert pg.locator("#job-stop").is_visible()
        pg.wait_for_selector("#job-progress[data-pct='100']", timeout=JOB_WAIT_MS)
        pg.wait_for_selector("#job[data-status='ok']", timeout=WAIT_MS)
        assert pg.locator("#job-status").inner_text() == "ok" and not pg.locator("#job-stop").is_visible()
        stats = pg.locator("#job-stats").inner_text()
        assert stats.startswith(f"100.0 % · {len(dashboard.NOT_LOADED)}/{len(dashboard.NOT_LOADED)} days")
        assert "rows/s" in stats and "MB/s" in stats
        job_id = pg.locator("#job").get_attribute("data-job-id")
        assert server.status(job_id)["status"] == "ok"

        # the heatmap follows: the days just loaded turn to flat file
        for day in dashboard.NOT_LOADED:
            pg.wait_for_selector(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{day}"]'
                                 f'[data-state="flatfile"]', timeout=WAIT_MS)
        pg.wait_for_selector(f"#runs-table tbody tr[data-job-id='{job_id}'][data-status='ok']", timeout=WAIT_MS)
    assert console.errors == []


def test_the_chart_draws_a_loaded_symbols_session(page, store: Settings) -> None:
    pg, console = page
    with LiveServer(store) as server:
        pg.goto(f"{server.url}/?{RANGE}&symbol={dashboard.SYMBOL}&date={dashboard.CHART_DAY}")
        pg.wait_for_selector("#chart[data-ready='1']", timeout=WAIT_MS)
        chart = pg.locator("#chart")
        assert int(chart.get_attribute("data-bars")) == dashboard.minute_bars(store, dashboard.SYMBOL,
                                                                               dashboard.CHART_DAY) > 300
        row = server.client.get("/api/v1/journal", params={"symbol": dashboard.SYMBOL,
                                                            "start": str(dashboard.CHART_DAY),
                                                            "end": str(dashboard.CHART_DAY)}).json()["rows"][0]
        levels = [k for k in ("pre_high", "pre_low", "hod", "lod", "ah_high", "ah_low") if row[k] is not None]
        assert int(chart.get_attribute("data-levels")) == len(levels) == 6
        assert pg.locator("#chart canvas").count() >= 2  # the price pane and the volume pane
        box = pg.locator("#chart canvas").first.bounding_box()
        assert box["width"] > 600 and box["height"] > 200
        assert f"{dashboard.SYMBOL} · {dashboard.CHART_DAY}" in pg.locator("#chart-legend").inner_text()

        pg.fill("#chart-symbol", "NOPE")
        pg.click("#chart-form button[type='submit']")
        pg.wait_for_selector("#chart[data-ready='error']", timeout=WAIT_MS)
        assert "no stocks/minute_aggs bars for 'NOPE'" in pg.locator("#chart-message").inner_text()
    assert console.errors == [m for m in console.errors if "404" in m]  # the chart's own 404, nothing else


def test_without_url_parameters_it_opens_on_the_loaded_range_and_the_latest_session(page, store: Settings) -> None:
    # a store of 2024 data, opened years later: the page shows what the store holds, not today's empty months
    pg, console = page
    loaded = [d for d in dashboard.DAYS if d <= dashboard.LOADED_UNTIL]
    with LiveServer(store) as server:
        pg.goto(f"{server.url}/")
        pg.wait_for_selector("#heatmaps[data-ready='1']", timeout=WAIT_MS)
        assert (pg.input_value("#range-start"), pg.input_value("#range-end")) == (str(loaded[0]), str(loaded[-1]))
        for dataset in ("stocks/minute_aggs", "stocks/day_aggs"):
            expected = {d: st for d, st in dashboard.expected_states(dataset).items() if d <= str(loaded[-1])}
            assert _cells(pg, dataset) == expected
        states = pg.eval_on_selector_all(".heatmap .cal .cell", "cells => cells.map(c => getComputedStyle(c)"
                                                                ".backgroundColor)")
        assert len(set(states)) >= 3, "coloured days: flat file, REST, failed, suspect"
        pg.wait_for_selector("#chart[data-ready='1']", timeout=WAIT_MS)
        chart = pg.locator("#chart")
        assert (chart.get_attribute("data-symbol"), chart.get_attribute("data-date")) == (dashboard.SYMBOL,
                                                                                         str(loaded[-1]))
        assert int(chart.get_attribute("data-bars")) == dashboard.minute_bars(store, dashboard.SYMBOL, loaded[-1]) > 0
    assert console.errors == []


def test_a_heatmap_day_opens_its_session_chart(page, store: Settings) -> None:
    pg, console = page
    with LiveServer(store) as server:
        pg.goto(f"{server.url}/?{RANGE}")
        pg.wait_for_selector(f"#chart[data-ready='1'][data-date='{dashboard.LOADED_UNTIL}']", timeout=WAIT_MS)
        day = pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{dashboard.CHART_DAY}"]')
        href = urlsplit(day.get_attribute("href"))
        assert parse_qs(href.query)["date"] == [str(dashboard.CHART_DAY)] and href.fragment == "chart-card"
        day.click()
        pg.wait_for_selector(f"#chart[data-ready='1'][data-date='{dashboard.CHART_DAY}']", timeout=WAIT_MS)
        chart = pg.locator("#chart")
        assert int(chart.get_attribute("data-bars")) == dashboard.minute_bars(store, dashboard.SYMBOL,
                                                                               dashboard.CHART_DAY)
        assert parse_qs(urlsplit(pg.url).query)["date"] == [str(dashboard.CHART_DAY)]  # a link to share
        assert pg.input_value("#chart-date") == str(dashboard.CHART_DAY)
        # a day without minute bars to draw is no link: its cell only tells why
        for date in (dashboard.FAILED, dashboard.SUSPECT, dashboard.NOT_LOADED[0]):
            cell = pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{date}"]')
            assert cell.evaluate("c => c.tagName") == "SPAN", date
        pg.go_back()  # the session shown before
        pg.wait_for_selector(f"#chart[data-ready='1'][data-date='{dashboard.LOADED_UNTIL}']", timeout=WAIT_MS)
    assert console.errors == []


def test_on_a_phone_nothing_overflows_sideways(browser, store: Settings) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    try:
        with LiveServer(store) as server:
            pg.goto(f"{server.url}/?{RANGE}&date={dashboard.CHART_DAY}")
            pg.wait_for_selector("#heatmaps[data-ready='1']", timeout=WAIT_MS)
            pg.wait_for_selector("#chart[data-ready='1']", timeout=WAIT_MS)
            assert pg.evaluate("document.scrollingElement.scrollWidth") <= 390
            cell = pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{dashboard.REST}"]')
            cell.tap()
            assert pg.locator("#cell-info").inner_text().startswith(f"{dashboard.REST} · stocks/minute_aggs · REST")
            assert pg.locator("#chart canvas").first.bounding_box()["width"] > 250  # the price pane, beside its axis
    finally:
        context.close()


def test_screenshot_of_the_dashboard_for_the_readme(page, store: Settings, tmp_path: Path) -> None:
    """docs/dashboard.png: every state on the heatmap, a finished backfill, recent runs, failed days, a chart.

    Written to a temp dir; with FLATLOAD_UPDATE_SCREENSHOT=1 it replaces the README's picture (a test run
    leaves the checkout as it found it)."""
    shot = SCREENSHOT if os.environ.get("FLATLOAD_UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
    pg, console = page
    with LiveServer(store) as server:
        job_id = server.start({"start": str(dashboard.NOT_LOADED[0]), "end": str(dashboard.NOT_LOADED[-2])})
        assert server.wait(job_id)[0]["status"] == "ok"
        pg.goto(f"{server.url}/?{RANGE}&symbol={dashboard.SYMBOL}&date={dashboard.CHART_DAY}")
        pg.wait_for_selector("#heatmaps[data-ready='1']", timeout=WAIT_MS)
        pg.wait_for_selector("#chart[data-ready='1']", timeout=WAIT_MS)
        pg.wait_for_selector("#job[data-status='ok']", timeout=WAIT_MS)
        gaps = reports.gaps(dashboard.DAYS[0], dashboard.DAYS[-1], store)
        assert {s for s in gaps["days"].values()} == {"flatfile", "rest", "suspect", "failed", "missing"}
        pg.locator(f'.heatmap[data-dataset="stocks/minute_aggs"] .cell[data-date="{dashboard.FAILED}"]').hover()
        pg.wait_for_timeout(300)  # the chart settles after its last resize
        shot.parent.mkdir(exist_ok=True)
        pg.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert console.errors == []
