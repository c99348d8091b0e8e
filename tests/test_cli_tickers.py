"""``flatload tickers``, ``flatload universe`` and ``bars --follow-renames``: output and exit codes."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from flatload import sample
from flatload.cli import cli
from tests.helpers import identity as ref
from tests.helpers.rest_server import FakeRest
from tests.helpers.store import s3_client

KEY = "cli-ref-key"


def run(*args: str, key: str | None = KEY):
    env = {k: None for k in os.environ if k.startswith("FLATLOAD_")} | {"MASSIVE_API_KEY": key,
                                                                      "POLYGON_API_KEY": None}
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def fake():
    with FakeRest(api_key=KEY, page_size=4) as server:
        ref.serve(server)
        yield server


def test_cli_tickers_universe_and_followed_bars(fake, tmp_path, s3_endpoint, bucket):
    data = str(tmp_path / "data")
    sample.upload(s3_client(s3_endpoint), bucket, ref.stock_files())
    loaded = run("load", "--start", str(ref.DAYS[0]), "--end", str(ref.DAYS[-1]), "--endpoint-url", s3_endpoint,
                 "--bucket", bucket, "--data-dir", data, "--workers", "1", "--no-rest", "--quiet")
    assert loaded.exit_code == 0, loaded.output

    ok = run("tickers", "--rest-url", fake.url, "--data-dir", data)
    assert (ok.exit_code, ok.output) == (0, "tickers: 11 (3 delisted), 5 ticker change(s) of 10 share class(es) "
                                            "read for all share classes\n")
    then = run("universe", "--on", str(ref.DAYS[0]), "--symbols", "META,OLDCO", "--data-dir", data)
    assert (then.exit_code, then.output) == (0, "FB\nOLDCO\n")
    ranged = run("universe", "--start", str(ref.DAYS[0]), "--end", str(ref.DAYS[-1]), "--type", "CS",
                 "--data-dir", data)
    assert ranged.exit_code == 0 and {"FB", "META", "ABC", "OLDCO"} <= set(ranged.output.split())
    bars = run("bars", "META", "--start", str(ref.DAYS[0]), "--end", str(ref.DAYS[-1]), "--every", "1d",
               "--follow-renames", "--format", "csv", "--data-dir", data)
    assert bars.exit_code == 0, bars.output
    lines = bars.stdout.splitlines()
    assert lines[0].split(",")[:2] == ["symbol", "window_start"] and "traded_as" in lines[0].split(",")
    assert len(lines) == 1 + len(ref.DAYS) and {ln.split(",")[0] for ln in lines[1:]} == {"META"}
    # the daily refresh keeps the reference current: nothing changed, so no share class is read again
    refreshed = run("refresh", "--date", str(ref.DAYS[-1]), "--lookback", "0", "--endpoint-url", s3_endpoint,
                    "--bucket", bucket, "--data-dir", data, "--rest-url", fake.url, "--workers", "1")
    assert refreshed.exit_code == 0, refreshed.output
    assert ("tickers: 11 (3 delisted), 0 ticker change(s) of 0 share class(es) read for all share classes"
            in refreshed.output.splitlines())


def test_cli_tickers_errors(fake, tmp_path):
    data = str(tmp_path / "data")
    no_key = run("tickers", "--rest-url", fake.url, "--data-dir", data, key=None)
    assert (no_key.exit_code, no_key.stderr) == (2, "Error: the ticker reference and its renames come from the REST "
                                                    "API and no API key is set (set MASSIVE_API_KEY or "
                                                    "POLYGON_API_KEY)\n")
    denied = run("tickers", "--rest-url", fake.url, "--data-dir", data, key="wrong")
    assert denied.exit_code == 1 and denied.stderr.startswith(
        "Error: /v3/reference/tickers: REST not entitled (HTTP 401)")
    both = run("universe", "--on", "2024-03-08", "--start", "2024-03-08", "--data-dir", data)
    assert both.exit_code == 2 and "give --on DATE, or --start DATE [--end DATE]" in both.stderr
    empty = run("tickers", "--symbols", " , ", "--rest-url", fake.url, "--data-dir", data)
    assert empty.exit_code == 2 and "--symbols names no symbol" in empty.stderr
    assert run("tickers", "--no-events", "--rest-url", fake.url, "--data-dir", data).output == (
        "tickers: 11 (3 delisted), 0 ticker change(s) of 0 share class(es) read for all share classes\n")
    unloaded = run("universe", "--on", "2024-03-08", "--data-dir", data + "2")
    assert unloaded.exit_code == 2, unloaded.output
