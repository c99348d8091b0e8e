"""The README's "Analysts" example queries run against a loaded store, as written."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import flatload
from flatload.analysis.sql import query
from tests.helpers.rest_server import FakeRest
from tests.test_adjust import DIVIDENDS, SPLITS

ROOT = Path(__file__).resolve().parent.parent


def analysts_section() -> str:
    """README-analysts.md, or once merged, the README's "## Analysts" section."""
    separate = ROOT / "README-analysts.md"
    if separate.exists():
        return separate.read_text()
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Analysts\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "the README has no Analysts section"
    return match.group(1)


def sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", analysts_section(), re.S)


def test_five_example_queries():
    assert len(sql_blocks()) == 5


@pytest.fixture(scope="module")
def store(bars_store, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the shared store with corporate actions loaded (a moved store reads its own partitions)."""
    data = tmp_path_factory.mktemp("readme") / "data"
    shutil.copytree(bars_store[0].data_dir, data)
    settings = bars_store[0].replace(data_dir=data)
    with FakeRest(api_key="k", splits=SPLITS, dividends=DIVIDENDS) as fake:
        flatload.load_corporate_actions(settings.replace(api_key="k", rest_url=fake.url))
    return settings


@pytest.mark.parametrize("index", range(5))
def test_example_query_runs(store, index):
    result = query(sql_blocks()[index], store)
    assert result.height > 0
    assert result.null_count().row(0)[0] < result.height  # the first column is filled
