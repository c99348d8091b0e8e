"""RestClient against a fake REST API on loopback (no other network)."""
from __future__ import annotations

import datetime
import pickle
import socket
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flatload.errors import EndpointUnreachable, FetchError, NotEntitled, TerminalError
from flatload.fetch import rest
from flatload.fetch.rest import RestClient, api_key_from_env

try:  # works whether or not tests/ is a package
    from tests.helpers.rest_server import FakeRest, Fault
except ImportError:  # pragma: no cover
    from fakes.rest_server import FakeRest, Fault

NY = ZoneInfo("America/New_York")
KEY = "sekrit-key-123"
D1 = datetime.date(2024, 3, 11)   # first Monday after the DST switch (UTC-4)
D2 = datetime.date(2024, 11, 29)  # early close, winter time (UTC-5)
SCHEMA = {"ticker": pl.String, "volume": pl.Float64, "open": pl.Float64, "close": pl.Float64,
          "high": pl.Float64, "low": pl.Float64, "window_start": pl.Int64, "transactions": pl.Int64}
FAST = {"backoff_factor": 0.01, "backoff_max": 0.05, "max_retries": 3, "timeout": 5.0}


def ns(d: datetime.date, hh: int, mm: int) -> int:
    """Nanoseconds since epoch of New York wall time ``hh:mm`` on ``d``."""
    return int(datetime.datetime(d.year, d.month, d.day, hh, mm, tzinfo=NY).timestamp()) * 10**9


def bars(ticker: str, d: datetime.date, times: list[tuple[int, int]], base: float = 10.0,
         volume: list[float] | None = None, n: bool = True) -> pl.DataFrame:
    k = len(times)
    vol = volume if volume is not None else [100 + i for i in range(k)]
    return pl.DataFrame({
        "ticker": [ticker] * k, "volume": vol,
        "open": [base + i for i in range(k)], "close": [base + i + 0.5 for i in range(k)],
        "high": [base + i + 1 for i in range(k)], "low": [base + i - 1 for i in range(k)],
        "window_start": [ns(d, h, m) for h, m in times],
        "transactions": [i + 1 for i in range(k)] if n else [None] * k,
    }, schema=SCHEMA)


MINUTES_D1 = [(9, 30 + i) for i in range(25)]  # 25 regular-session bars
BRK = bars("BRK.B", D1, MINUTES_D1, base=400.0)
# Early close: the closing print at 13:00, after-hours to 17:00 and one bar that lands on
# the next UTC day (19:59 ET = 00:59Z) but still belongs to New York's 2024-11-29.
BRK_D2 = bars("BRK.B", D2, [(4, 0), (12, 59), (13, 0), (16, 59), (19, 59)], base=410.0)
MINUTE = pl.concat([
    BRK, BRK_D2,
    bars("ABRpD", D1, [(9, 31), (15, 59)], base=20.0),
    bars("TpC", D1, [(10, 0)], base=1.0),
    bars("TPC", D1, [(10, 0), (10, 1), (10, 2)], base=30.0),
    bars("NA", D1, [(11, 0)], base=5.0, n=False),
])


def day_rows(d: datetime.date, tickers: list[str]) -> pl.DataFrame:
    return pl.concat([bars(t, d, [(0, 0)], base=50.0 + i) for i, t in enumerate(tickers)])


DAY = pl.concat([day_rows(D1, ["BRK.B", "ABRpD", "TpC", "TPC", "NA"]), day_rows(D2, ["BRK.B"])])


@pytest.fixture
def fake():
    with FakeRest(minute=MINUTE, day=DAY, api_key=KEY) as server:
        yield server


def client(url: str, **kw) -> RestClient:
    return RestClient(url, kw.pop("api_key", KEY), **{**FAST, **kw})


def expected(frame: pl.DataFrame, ticker: str, d: datetime.date) -> pl.DataFrame:
    return frame.filter(pl.col("ticker") == ticker).filter(
        pl.col("window_start").is_between(ns(d, 0, 0), ns(d + datetime.timedelta(days=1), 0, 0), closed="left")
    ).sort("window_start").cast(SCHEMA)


def test_pagination_returns_all_bars_in_order_with_auth_on_every_page(fake):
    fake.page_size = 10
    with client(fake.url) as c:
        got = c.minute_aggs("BRK.B", D1)
    assert got.schema == pl.Schema(SCHEMA)
    assert_frame_equal(got, expected(MINUTE, "BRK.B", D1))
    assert got["window_start"].is_sorted()
    assert len(fake.requests) == 3  # 25 bars / 10 a page
    first, *rest_pages = fake.requests
    assert first[1] == "/v2/aggs/ticker/BRK.B/range/1/minute/2024-03-11/2024-03-11"
    assert first[2] == {"adjusted": "false", "sort": "asc", "limit": "50000"}
    for _, path, query, headers in fake.requests:
        assert headers["authorization"] == f"Bearer {KEY}"
        assert "apiKey" not in query
    for _, path, query, _ in rest_pages:
        assert path == first[1] and set(query) == {"cursor"}


def test_next_url_on_another_host_is_fetched_from_the_configured_one(fake):
    fake.page_size = 10
    fake.next_base = "http://elsewhere.invalid:9"  # never contacted: the key stays on our host
    with client(fake.url) as c:
        got = c.minute_aggs("BRK.B", D1)
    assert got.height == 25 and len(fake.requests) == 3


def test_schema_units_and_missing_transactions(fake):
    with client(fake.url) as c:
        na = c.minute_aggs("NA", D1)
        none = c.minute_aggs("BRK.B", datetime.date(2024, 3, 9))  # no bars that day
    assert list(na.columns) == list(SCHEMA) and na.schema == pl.Schema(SCHEMA)
    assert na["ticker"].to_list() == ["NA"]
    assert na["window_start"].to_list() == [ns(D1, 11, 0)]  # ms on the wire, ns back
    assert na["transactions"].to_list() == [None]
    assert none.height == 0 and none.schema == pl.Schema(SCHEMA)


def test_winter_early_close_day_includes_bar_on_next_utc_day(fake):
    with client(fake.url) as c:
        got = c.minute_aggs("BRK.B", D2)
    assert_frame_equal(got, expected(MINUTE, "BRK.B", D2))
    assert got.height == 5


@pytest.mark.slow
def test_fractional_volume_kept_exact():
    # fractional shares (SIP, since 2026-02-23): REST minute bars carry volumes like 9099.618093
    frame = bars("XYZ", D1, [(9, 30), (9, 31), (9, 32)], volume=[9099.618093, 2.5, 7.0])
    with FakeRest(minute=frame, api_key=KEY) as fake, client(fake.url) as c:
        got = c.minute_aggs("XYZ", D1)
    assert got["volume"].dtype == pl.Float64
    assert got["volume"].to_list() == [9099.618093, 2.5, 7.0]


def test_case_sensitive_tickers_served_separately(fake):
    with client(fake.url) as c:
        lower, upper, pref = c.minute_aggs("TpC", D1), c.minute_aggs("TPC", D1), c.minute_aggs("ABRpD", D1)
    assert lower.height == 1 and lower["ticker"].to_list() == ["TpC"]
    assert upper.height == 3 and set(upper["ticker"]) == {"TPC"}
    assert pref.height == 2


def test_grouped_daily_returns_the_days_tickers(fake):
    with client(fake.url) as c:
        got = c.grouped_daily(D1)
        other = c.grouped_daily(D2)
        empty = c.grouped_daily(datetime.date(2024, 3, 10))  # a Sunday
    assert sorted(got["ticker"].to_list()) == sorted(["BRK.B", "ABRpD", "TpC", "TPC", "NA"])
    assert got.schema == pl.Schema(SCHEMA)
    assert set(got["window_start"]) == {ns(D1, 0, 0)}
    assert other["ticker"].to_list() == ["BRK.B"] and other["window_start"].to_list() == [ns(D2, 0, 0)]
    assert empty.height == 0 and empty.schema == pl.Schema(SCHEMA)
    assert fake.requests[0][1] == "/v2/aggs/grouped/locale/us/market/stocks/2024-03-11"
    assert fake.requests[0][2] == {"adjusted": "false"}


def test_minute_aggs_many_fetches_each_ticker(fake):
    fake.page_size = 7
    with client(fake.url, max_concurrency=3) as c:
        got = c.minute_aggs_many(["BRK.B", "TpC", "TPC", "NA", "TpC"], D1)
    assert list(got) == ["BRK.B", "TpC", "TPC", "NA"]
    for t, frame in got.items():
        assert_frame_equal(frame, expected(MINUTE, t, D1))


def test_rate_limited_client_still_fetches(fake):
    with client(fake.url, rpm=60_000) as c:  # 1 ms spacing: exercises the limiter only
        assert c.grouped_daily(D1).height == 5


@pytest.mark.parametrize("fault", [
    Fault(status=429, headers={"Retry-After": "1"}),
    Fault(status=503),
    Fault(status=200, body={"status": "OK", "queryCount": 0, "resultsCount": 0, "results": None}),
    Fault(drop=True),
], ids=["429-retry-after", "503", "200-null-results", "dropped-connection"])
def test_transient_fault_then_success(fake, fault):
    fake.script("/v2/aggs/ticker/BRK.B/", [fault])
    with client(fake.url) as c:
        got = c.minute_aggs("BRK.B", D1)
    assert_frame_equal(got, expected(MINUTE, "BRK.B", D1))
    assert len(fake.requests) >= 2


def test_403_is_not_entitled_and_not_retried(fake):
    fake.script("/v2/aggs/grouped/", [Fault(status=403, persistent=True)])
    with client(fake.url) as c, pytest.raises(NotEntitled) as info:
        c.grouped_daily(D1)
    assert len(fake.requests) == 1
    err = info.value
    assert not err.transient and "403" in str(err) and "/v2/aggs/grouped/" in str(err)
    assert KEY not in err.one_line() and "\n" not in err.one_line()


def test_wrong_key_is_not_entitled(fake):
    with client(fake.url, api_key="wrong-key") as c, pytest.raises(NotEntitled, match="401"):
        c.minute_aggs("BRK.B", D1)
    assert len(fake.requests) == 1


def test_retries_exhausted_raise_fetch_error(fake):
    fake.script("/v2/aggs/ticker/", [Fault(status=503, persistent=True)])
    with client(fake.url, max_retries=2) as c, pytest.raises(FetchError) as info:
        c.minute_aggs("TPC", D1)
    assert len(fake.requests) == 3  # first try + 2 retries
    assert info.value.transient and "503" in str(info.value) and "/v2/aggs/ticker/TPC/" in str(info.value)
    assert KEY not in info.value.one_line()


def test_null_results_that_never_clear_raise_fetch_error(fake):
    null = Fault(status=200, body={"status": "OK", "queryCount": 0, "resultsCount": 0, "results": None},
                 persistent=True)
    fake.script("/v2/aggs/grouped/", [null])
    with client(fake.url) as c, pytest.raises(FetchError):
        c.grouped_daily(D1)
    assert len(fake.requests) == rest.NULL_RESULT_ATTEMPTS


def test_404_is_terminal(fake):
    with client(fake.url + "/wrong-prefix") as c, pytest.raises(TerminalError, match="404"):
        c.grouped_daily(D1)


def test_connection_refused_is_endpoint_unreachable():
    with socket.socket() as s:  # a port that was free a moment ago and now has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with client(url, max_retries=1) as c, pytest.raises(EndpointUnreachable) as info:
        c.grouped_daily(D1)
    assert url in str(info.value) and KEY not in info.value.one_line()


def test_errors_pickle_round_trip(fake):
    fake.script("/v2/aggs/grouped/", [Fault(status=403, persistent=True)])
    fake.script("/v2/aggs/ticker/", [Fault(status=502, persistent=True)])
    errors = []
    with client(fake.url, max_retries=1) as c:
        for call in (lambda: c.grouped_daily(D1), lambda: c.minute_aggs("ABRpD", D1)):
            with pytest.raises((NotEntitled, FetchError)) as info:
                call()
            errors.append(info.value)
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert (back.message, back.key, back.hint, str(back)) == (err.message, err.key, err.hint, str(err))


def test_repr_and_errors_redact_key(fake):
    c = client(fake.url)
    assert KEY not in repr(c) and "***" in repr(c)
    c.close()
    with pytest.raises(Exception):
        RestClient(fake.url, "")


def test_api_key_from_env():
    assert api_key_from_env({"MASSIVE_API_KEY": "a", "POLYGON_API_KEY": "b"}) == "a"
    assert api_key_from_env({"POLYGON_API_KEY": "b"}) == "b"
    assert api_key_from_env({"MASSIVE_API_KEY": "", "POLYGON_API_KEY": "b"}) == "b"
    assert api_key_from_env({}) is None
