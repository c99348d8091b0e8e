"""The Massive/Polygon REST API: aggregates in the flat-file schema, splits and dividends, the ticker reference.

Aggregates fill a flat file that is missing or incomplete; splits and dividends feed the
analyst layer's adjustment (``flatload corporate-actions``). Every endpoint pages with
``next_url``. Retries come from libraries: urllib3's ``Retry`` handles throttling, 5xx
and dropped connections at the HTTP layer; tenacity handles the one glitch urllib3 cannot
see, an HTTP 200 whose body says "no results" (``"results": null``) that a retry fixes.
The API key only ever travels in the ``Authorization`` header, so it cannot leak into
URLs, exceptions or logs.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import polars as pl
import tenacity
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from ..errors import ConfigError, EndpointUnreachable, FetchError, NotEntitled, TerminalError

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

#: The flat-file schema both fetchers return (column order matters); volume stays exact (fractional shares).
SCHEMA: dict[str, Any] = {
    "ticker": pl.String, "volume": pl.Float64, "open": pl.Float64, "close": pl.Float64,
    "high": pl.Float64, "low": pl.Float64, "window_start": pl.Int64, "transactions": pl.Int64,
}
# Raw REST field types; "T" only appears in grouped daily results.
_RAW: dict[str, Any] = {"T": pl.String, "v": pl.Float64, "o": pl.Float64, "c": pl.Float64,
                        "h": pl.Float64, "l": pl.Float64, "t": pl.Int64, "n": pl.Int64}
# The statuses the vendor's official client retries.
RETRY_STATUSES = (413, 429, 499, 500, 502, 503, 504)
#: Attempts (first try included) for a 200 carrying ``"results": null``.
NULL_RESULT_ATTEMPTS = 4
# A server asking for a long pause (free tier: 5 requests/min) is obeyed up to this cap.
_RETRY_AFTER_MAX = 120
MAX_LIMIT = 50_000
#: the corporate-action endpoints (since 2026-02-18; /v3/reference/* are deprecated) and their page limit
SPLITS_PATH = "/stocks/v1/splits"
DIVIDENDS_PATH = "/stocks/v1/dividends"
REFERENCE_LIMIT = 5000
#: tickers per ``ticker.any_of`` request
TICKER_BATCH = 100
#: the ticker reference (active and, with ``active=false``, delisted tickers) and its page limit
TICKERS_PATH = "/v3/reference/tickers"
TICKERS_LIMIT = 1000
#: one share class's ticker changes (experimental, one call per id: no bulk endpoint)
EVENTS_PATH = "/vX/reference/tickers/{id}/events"


def api_key_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The REST key from ``MASSIVE_API_KEY``, else the older ``POLYGON_API_KEY``."""
    return environ.get("MASSIVE_API_KEY") or environ.get("POLYGON_API_KEY") or None


def empty_frame() -> pl.DataFrame:
    """An empty frame in the flat-file schema."""
    return pl.DataFrame(schema=SCHEMA)


def _to_frame(results: list[dict[str, Any]], ticker: str | None) -> pl.DataFrame:
    """Convert REST result rows to the flat-file schema (ms -> ns)."""
    if not results:
        return empty_frame()
    raw = pl.DataFrame(results, schema=_RAW)  # keys absent from a row become null
    tick = pl.lit(ticker, dtype=pl.String) if ticker is not None else pl.col("T")
    return raw.select(
        tick.alias("ticker"),
        # fractional volume is real since 2026-02-23 (fractional shares on the SIP): kept exact
        pl.col("v").alias("volume"),
        pl.col("o").alias("open"), pl.col("c").alias("close"),
        pl.col("h").alias("high"), pl.col("l").alias("low"),
        (pl.col("t") * 1_000_000).alias("window_start"),
        pl.col("n").alias("transactions"),
    )


class _NullResults(Exception):
    """Internal marker: a 200 that says "no results" where a retry usually helps."""


class _Spacer:
    """Thread-safe client-side rate limit: starts requests at least ``60/rpm`` s apart.

    It spaces logical requests; urllib3's own retries are paced by backoff and the
    server's Retry-After instead, which is what a throttled server asks for anyway.
    """

    def __init__(self, rpm: int) -> None:
        self.interval = 60.0 / rpm
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        # Reserve a slot under the lock but sleep outside it so threads queue up in order.
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class RestClient:
    """Fetch stock aggregates over REST (in the flat-file schema) and corporate actions (as the API's rows).

    Thread-safe; use as a context manager or call :meth:`close`.
    """

    def __init__(self, base_url: str, api_key: str, *, rpm: int | None = None, timeout: float = 30.0,
                 max_retries: int = 6, backoff_factor: float = 0.5, backoff_max: float = 30.0,
                 max_concurrency: int = 4) -> None:
        if not api_key:
            raise ConfigError("REST API key is empty", hint="set MASSIVE_API_KEY")
        if rpm is not None and rpm <= 0:
            raise ConfigError(f"rpm must be positive, got {rpm}")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"REST base URL must be http(s)://host, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self.__key = api_key  # name-mangled and never formatted anywhere but the header
        self.rpm = rpm
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.max_concurrency = max(1, max_concurrency)
        self._spacer = _Spacer(rpm) if rpm else None
        retry = Retry(
            total=max_retries, status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_factor, backoff_max=backoff_max, backoff_jitter=backoff_factor,
            respect_retry_after_header=True, retry_after_max=_RETRY_AFTER_MAX,
            # Hand back the last response instead of raising so the error can name its status.
            raise_on_status=False, redirect=0,
        )
        # One pooled connection per worker thread so concurrency never opens throwaway sockets.
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=self.max_concurrency, retries=retry,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )

    @classmethod
    def of(cls, settings: "Settings", what: str) -> RestClient:
        """A client with ``settings``' URL, key, pacing and retries; ConfigError naming ``what`` (the data it is
        for) when no key is set."""
        if not settings.api_key:
            raise ConfigError(f"{what} come from the REST API and no API key is set",
                              hint="set MASSIVE_API_KEY or POLYGON_API_KEY")
        return cls(settings.rest_url, settings.api_key, rpm=settings.rest_rpm,
                   max_retries=settings.rest_max_retries, backoff_factor=settings.rest_backoff)

    def __repr__(self) -> str:
        return f"RestClient(base_url={self.base_url!r}, api_key='***', rpm={self.rpm!r})"

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.clear()

    # ------------------------------------------------------------------ endpoints
    def grouped_daily(self, d: datetime.date) -> pl.DataFrame:
        """Day bars of every US stock for session ``d`` (unadjusted)."""
        path = f"/v2/aggs/grouped/locale/us/market/stocks/{d.isoformat()}"
        body = self._get_json(self.base_url + path, {"adjusted": "false"})
        return _to_frame(body.get("results") or [], None)

    def minute_aggs(self, ticker: str, d: datetime.date) -> pl.DataFrame:
        """Minute bars of ``ticker`` (case-sensitive) on ``d``, following every ``next_url`` page."""
        day = d.isoformat()
        # safe="" so a "/" in a ticker cannot change the path; "." stays as it is unreserved.
        path = f"/v2/aggs/ticker/{quote(ticker, safe='')}/range/1/minute/{day}/{day}"
        fields = {"adjusted": "false", "sort": "asc", "limit": str(MAX_LIMIT)}
        frames = [_to_frame(body.get("results") or [], ticker) for body in self._pages(path, fields)]
        return pl.concat(frames, how="vertical") if frames else empty_frame()

    def splits(self, tickers: Sequence[str] | None = None,
               since: datetime.date | None = None) -> list[dict[str, Any]]:
        """Stock splits from ``/stocks/v1/splits`` (of ``tickers``, executed on or after ``since``), every page."""
        return self._reference(SPLITS_PATH, "execution_date", tickers, since)

    def dividends(self, tickers: Sequence[str] | None = None,
                  since: datetime.date | None = None) -> list[dict[str, Any]]:
        """Cash dividends from ``/stocks/v1/dividends`` (of ``tickers``, ex-date on or after ``since``), every page."""
        return self._reference(DIVIDENDS_PATH, "ex_dividend_date", tickers, since)

    def _reference(self, path: str, date_field: str, tickers: Sequence[str] | None,
                   since: datetime.date | None) -> list[dict[str, Any]]:
        """Every result of a reference endpoint, ``tickers.any_of`` in batches that keep URLs short."""
        fields = {"limit": str(REFERENCE_LIMIT), "sort": f"{date_field}.asc"}
        if since is not None:
            fields[f"{date_field}.gte"] = since.isoformat()
        batches: list[list[str] | None] = [None]
        if tickers is not None:
            unique = sorted(set(tickers))
            batches = [unique[i:i + TICKER_BATCH] for i in range(0, len(unique), TICKER_BATCH)]
        out: list[dict[str, Any]] = []
        for batch in batches:
            query = dict(fields, **({"ticker.any_of": ",".join(batch)} if batch is not None else {}))
            for body in self._pages(path, query):
                out.extend(r for r in body.get("results") or [] if isinstance(r, dict))
        return out

    def tickers(self, market: str = "stocks", active: bool = True) -> list[dict[str, Any]]:
        """Every ticker of ``market`` from ``/v3/reference/tickers``, active or delisted, every page."""
        query = {"market": market, "active": "true" if active else "false", "limit": str(TICKERS_LIMIT),
                 "sort": "ticker", "order": "asc"}
        return [r for body in self._pages(TICKERS_PATH, query) for r in body.get("results") or []
                if isinstance(r, dict)]

    def ticker_events(self, identifier: str) -> dict[str, Any] | None:
        """The ticker changes of the asset ``identifier`` (a composite FIGI names one company; a ticker names
        whoever holds it now): the API's ``results`` object, or None when the API knows no such asset."""
        path = EVENTS_PATH.format(id=quote(identifier, safe=""))
        body = self._get_json(self.base_url + path, {"types": "ticker_change"}, missing_ok=True)
        results = body.get("results") if body else None
        return results if isinstance(results, dict) else None

    def minute_aggs_many(self, tickers: Iterable[str], d: datetime.date) -> dict[str, pl.DataFrame]:
        """:meth:`minute_aggs` for several tickers on at most ``max_concurrency`` threads."""
        unique = list(dict.fromkeys(tickers))
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="flatload-rest") as pool:
            futures = {t: pool.submit(self.minute_aggs, t, d) for t in unique}
            try:
                return {t: f.result() for t, f in futures.items()}
            except BaseException:
                for f in futures.values():  # don't keep fetching for a run that has failed
                    f.cancel()
                raise

    # ------------------------------------------------------------------ transport
    def _pages(self, path: str, fields: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The JSON body of ``path`` and of every ``next_url`` page after it."""
        query: dict[str, str] | None = fields
        url: str | None = self.base_url + path
        while url is not None:
            body = self._get_json(url, query)
            yield body
            nxt = self._rebase(body["next_url"]) if body.get("next_url") else None
            if nxt is not None and nxt == url:  # a server echoing its own URL would loop forever
                raise FetchError("REST next_url points back at the same page", key=path)
            url = nxt
            query = None  # next_url already carries the cursor and the query

    def _rebase(self, next_url: str) -> str:
        """Keep the path and query of ``next_url`` but send it to our own origin.

        The bearer key must only ever go to the configured host, whatever host the
        server writes into ``next_url``.
        """
        parts = urlsplit(next_url)
        return self._origin + parts.path + (f"?{parts.query}" if parts.query else "")

    def _get_json(self, url: str, fields: dict[str, str] | None, missing_ok: bool = False) -> dict[str, Any]:
        """GET ``url`` (plus query ``fields``) and return the JSON body, retrying null results (``missing_ok``:
        a 404 is an empty body, for endpoints where it means "no such asset")."""
        path = urlsplit(url).path
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_NullResults),
            stop=tenacity.stop_after_attempt(NULL_RESULT_ATTEMPTS),
            # Composed rather than wait_exponential_jitter, whose arguments changed across versions.
            wait=tenacity.wait_exponential(multiplier=self.backoff_factor, max=self.backoff_max)
            + tenacity.wait_random(0, self.backoff_factor),
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, fields, missing_ok)
        except _NullResults as exc:
            raise FetchError(f"REST kept answering 200 with no results ({exc}) after "
                             f"{NULL_RESULT_ATTEMPTS} attempts", key=path) from None

    def _get_once(self, url: str, fields: dict[str, str] | None, missing_ok: bool = False) -> dict[str, Any]:
        """One logical GET (urllib3 retries inside); maps failures to flatload errors."""
        path = urlsplit(url).path  # errors name the path only: never the query or headers
        if self._spacer is not None:
            self._spacer.wait()
        try:
            resp = self._http.request("GET", url, fields=fields,
                                      headers={"Authorization": f"Bearer {self.__key}",
                                               "Accept": "application/json"})
        except MaxRetryError as exc:
            if isinstance(exc.reason, (NewConnectionError, ConnectTimeoutError)):
                raise EndpointUnreachable(
                    f"REST endpoint {self.base_url} unreachable: {type(exc.reason).__name__}",
                    key=path, hint="check the network and the REST base URL") from None
            raise FetchError(f"REST request failed after {self.max_retries} retries: "
                             f"{type(exc.reason).__name__}", key=path) from None
        except HTTPError as exc:
            raise FetchError(f"REST request failed: {type(exc).__name__}", key=path) from None
        status = resp.status
        if status in (401, 403):
            # key=path already prefixes str(err) with the path, so the message stays short.
            raise NotEntitled(f"REST not entitled (HTTP {status})", key=path,
                              hint="check the API key and that its plan covers this endpoint")
        if status in RETRY_STATUSES:
            raise FetchError(f"REST still HTTP {status} after {self.max_retries} retries", key=path,
                             hint="try again later or lower rpm")
        if status == 404 and missing_ok:
            return {}
        if status == 404:
            raise TerminalError("REST endpoint not found (HTTP 404)", key=path,
                                hint="check the REST base URL")
        if status != 200:
            raise TerminalError(f"REST answered HTTP {status}", key=path)
        try:
            body = json.loads(resp.data)
        except ValueError:
            raise FetchError("REST answered 200 with a body that is not JSON", key=path) from None
        if not isinstance(body, dict):
            raise FetchError("REST answered 200 with an unexpected JSON body", key=path)
        # A genuinely empty answer (holiday, no trades) omits "results"; an explicit null with
        # queryCount 0, or status ERROR, is the transient glitch a retry fixes.
        if body.get("status") == "ERROR" or ("results" in body and body["results"] is None
                                             and not body.get("queryCount")):
            log.debug("REST %s: 200 without results (status=%s), retrying", path, body.get("status"))
            raise _NullResults(f"status={body.get('status')}")
        return body
