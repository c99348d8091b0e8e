"""A fake Massive/Polygon REST API: a real HTTP server on 127.0.0.1 serving aggregates.

Data comes from frames in the flat-file schema (``window_start`` in ns). It mimics what
the client relies on: bearer auth, ``results`` rows with ``t`` in milliseconds,
pagination through an absolute ``next_url`` carrying only an opaque ``cursor`` (like the
real API it does not repeat ``adjusted`` or any key), a genuinely empty answer that omits
``results``, and scripted faults (429, 5xx, 200-with-null-results, 403, dropped sockets).
It also serves ``/stocks/v1/splits`` and ``/stocks/v1/dividends`` (rows as given, filtered by
``ticker``, ``ticker.any_of`` and the date field's ``.gt/.gte/.lt/.lte``, sorted, paged), the ticker
reference ``/v3/reference/tickers`` (filtered by ``market`` and ``active``, sorted by ticker, paged) and
``/vX/reference/tickers/{id}/events`` (by composite FIGI as given, or by a ticker: its current holder's;
404 for an unknown id).
"""
from __future__ import annotations

import base64
import datetime
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import polars as pl

NY = ZoneInfo("America/New_York")
GROUPED = "/v2/aggs/grouped/locale/us/market/stocks/"
TICKER = "/v2/aggs/ticker/"
TICKERS = "/v3/reference/tickers"
#: the corporate-action endpoints and the date field each filters and sorts on
REFERENCE = {"/stocks/v1/splits": "execution_date", "/stocks/v1/dividends": "ex_dividend_date"}
_RANGE_OPS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
              "lte": lambda a, b: a <= b}


@dataclass
class Fault:
    """One scripted answer. ``body`` None sends a generic JSON error; ``drop`` closes the socket."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    persistent: bool = False  # never consumed: every matching request gets it
    drop: bool = False


def _ny_date(ns: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(ns / 1e9, tz=NY).date()


def _rows(frame: pl.DataFrame | None) -> list[dict[str, Any]]:
    """Frame rows as REST results (``t`` in ms), each tagged with its ticker and NY date."""
    if frame is None or frame.height == 0:
        return []
    out = []
    for r in frame.iter_rows(named=True):
        res: dict[str, Any] = {"v": r["volume"], "vw": round((r["high"] + r["low"] + r["close"]) / 3, 4),
                               "o": r["open"], "c": r["close"], "h": r["high"], "l": r["low"],
                               "t": r["window_start"] // 1_000_000}
        if r.get("transactions") is not None:
            res["n"] = r["transactions"]
        out.append({"ticker": r["ticker"], "date": _ny_date(r["window_start"]), "res": res})
    return out


def _page_state(query: dict[str, str], max_limit: int, filters: Any) -> dict[str, Any]:
    """A reference request's paging state: the cursor's (it carries the filters, as the real next_url does), or a
    first page's with ``filters()``; ValueError for a limit outside ``1..max_limit``."""
    if "cursor" in query:
        return json.loads(base64.urlsafe_b64decode(query["cursor"]))
    limit = int(query.get("limit", 100))
    if not 1 <= limit <= max_limit:
        raise ValueError(f"limit {limit} out of 1..{max_limit}")
    return {"offset": 0, "limit": limit, **filters()}


class FakeRest:
    """Serve grouped daily and minute aggregates on ``http://127.0.0.1:<port>``."""

    def __init__(self, minute: pl.DataFrame | None = None, day: pl.DataFrame | None = None,
                 api_key: str = "test-key", page_size: int = 50000,
                 splits: list[dict[str, Any]] | None = None, dividends: list[dict[str, Any]] | None = None) -> None:
        self.api_key = api_key
        self.page_size = page_size
        #: origin written into next_url (default: this server); tests set another host
        self.next_base: str | None = None
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self._lock = threading.Lock()
        self._minute: list[dict[str, Any]] = _rows(minute)
        self._day: list[dict[str, Any]] = _rows(day)
        self._reference: dict[str, list[dict[str, Any]]] = {"/stocks/v1/splits": list(splits or []),
                                                             "/stocks/v1/dividends": list(dividends or [])}
        self._tickers: list[dict[str, Any]] = []
        self._events: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, list[Fault]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-rest", daemon=True)  # quick stop()
        self._thread.start()

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_day(self, day: pl.DataFrame) -> None:
        with self._lock:
            self._day.extend(_rows(day))

    def add_minutes(self, minute: pl.DataFrame) -> None:
        with self._lock:
            self._minute.extend(_rows(minute))

    def add_splits(self, rows: list[dict[str, Any]]) -> None:
        """Serve these rows (the API's fields: ticker, execution_date, split_from, ...) from /stocks/v1/splits."""
        with self._lock:
            self._reference["/stocks/v1/splits"].extend(rows)

    def add_dividends(self, rows: list[dict[str, Any]]) -> None:
        """Serve these rows (ticker, ex_dividend_date, cash_amount, ...) from /stocks/v1/dividends."""
        with self._lock:
            self._reference["/stocks/v1/dividends"].extend(rows)

    def set_splits(self, rows: list[dict[str, Any]]) -> None:
        """Serve only these splits from now on (the vendor corrected or withdrew some)."""
        with self._lock:
            self._reference["/stocks/v1/splits"] = list(rows)

    def set_dividends(self, rows: list[dict[str, Any]]) -> None:
        """Serve only these dividends from now on."""
        with self._lock:
            self._reference["/stocks/v1/dividends"] = list(rows)

    def served(self, path: str) -> list[dict[str, Any]]:
        """A copy of the rows ``path`` (/stocks/v1/splits or /stocks/v1/dividends) serves."""
        with self._lock:
            return [dict(r) for r in self._reference[path]]

    def set_tickers(self, rows: list[dict[str, Any]]) -> None:
        """Serve these reference rows (the API's fields: ticker, active, composite_figi, ...) from now on."""
        with self._lock:
            self._tickers = [dict(r) for r in rows]

    def set_events(self, figi: str, name: str, changes: list[tuple[str, str]]) -> None:
        """Serve ``(date, ticker)`` ticker changes as the events of the asset ``figi`` (newest first, as the API)."""
        events = [{"type": "ticker_change", "date": d, "ticker_change": {"ticker": t}}
                  for d, t in sorted(changes, reverse=True)]
        with self._lock:
            self._events[figi] = {"name": name, "composite_figi": figi, "events": events}

    def script(self, path_prefix: str, responses: list[Fault]) -> None:
        """Queue faults for requests whose path starts with ``path_prefix`` (raw, as sent)."""
        with self._lock:
            self._faults.append((path_prefix, list(responses)))

    def paths(self) -> list[str]:
        with self._lock:
            return [r[1] for r in self.requests]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for prefix, queue in self._faults:
                if path.startswith(prefix) and queue:
                    return queue[0] if queue[0].persistent else queue.pop(0)
        return None

    def _answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"status": "ERROR", "request_id": uuid.uuid4().hex,
                         "error": "API Key was not provided"}
        adjusted = query.get("adjusted", "true") != "false"
        rid = uuid.uuid4().hex
        parts = [unquote(p) for p in path.split("/")]
        try:
            if path.startswith(GROUPED) and len(parts) == 9:
                d = datetime.date.fromisoformat(parts[8])
                with self._lock:
                    res = [dict(r["res"], T=r["ticker"]) for r in self._day if r["date"] == d]
                body: dict[str, Any] = {"queryCount": len(res), "resultsCount": len(res),
                                        "adjusted": adjusted, "status": "OK", "request_id": rid,
                                        "count": len(res)}
                if res:
                    body["results"] = res
                return 200, body
            # /v2/aggs/ticker/{T}/range/1/minute/{from}/{to}
            if path.startswith(TICKER) and len(parts) == 10 and parts[5:8] == ["range", "1", "minute"]:
                ticker = parts[4]
                lo, hi = datetime.date.fromisoformat(parts[8]), datetime.date.fromisoformat(parts[9])
                if "cursor" in query:
                    state = json.loads(base64.urlsafe_b64decode(query["cursor"]))
                else:
                    state = {"offset": 0, "limit": int(query.get("limit", 5000)),
                             "sort": query.get("sort", "asc"), "adjusted": adjusted}
                with self._lock:
                    rows = [r["res"] for r in self._minute if r["ticker"] == ticker and lo <= r["date"] <= hi]
                rows.sort(key=lambda r: r["t"], reverse=state["sort"] == "desc")
                size = min(state["limit"], 50000, self.page_size)
                off = state["offset"]
                page = rows[off:off + size]
                body = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page),
                        "adjusted": state["adjusted"], "status": "OK", "request_id": rid,
                        "count": len(page)}
                if page:
                    body["results"] = page
                if off + size < len(rows):
                    cur = base64.urlsafe_b64encode(json.dumps(dict(state, offset=off + size)).encode())
                    body["next_url"] = f"{self.next_base or self.url}{path}?cursor={cur.decode()}"
                return 200, body
            if path in REFERENCE:
                return 200, self._reference_page(path, query, rid)
            if path == TICKERS:
                return 200, self._tickers_page(path, query, rid)
            if path.startswith("/vX/reference/tickers/") and path.endswith("/events") and len(parts) == 6:
                found = self._asset_events(parts[4])
                if found is None:
                    return 404, {"status": "NOT_FOUND", "request_id": rid, "message": "Ticker not found."}
                return 200, {"status": "OK", "request_id": rid, "results": found}
        except (ValueError, KeyError) as exc:
            return 400, {"status": "ERROR", "request_id": rid, "error": f"bad request: {exc}"}
        return 404, {"status": "NOT_FOUND", "request_id": rid, "message": "route not found"}

    def _reference_page(self, path: str, query: dict[str, str], rid: str) -> dict[str, Any]:
        """One page of splits or dividends; the cursor carries the filters, as the real next_url does."""
        field_ = REFERENCE[path]
        state = _page_state(query, 5000, lambda: {"filters": {k: v for k, v in query.items() if k != "limit"}})
        filters = dict(state["filters"])
        sort = filters.pop("sort", f"{field_}.desc")
        tickers = set(filters.pop("ticker.any_of").split(",")) if "ticker.any_of" in filters else None
        with self._lock:
            rows = [dict(r) for r in self._reference[path]]
        if "ticker" in filters:
            rows = [r for r in rows if r.get("ticker") == filters.pop("ticker")]
        if tickers is not None:
            rows = [r for r in rows if r.get("ticker") in tickers]
        for key, value in filters.items():
            name, _, op = key.partition(".")
            if name != field_ or (op and op not in _RANGE_OPS):
                raise ValueError(f"unknown filter {key}")
            test = _RANGE_OPS[op] if op else (lambda a, b: a == b)
            rows = [r for r in rows if r.get(field_) is not None and test(r[field_], value)]
        column, _, direction = sort.partition(".")
        rows.sort(key=lambda r: (str(r.get(column)), str(r.get("id"))), reverse=direction == "desc")
        return self._page(path, rows, state, rid)

    def _page(self, path: str, rows: list[dict[str, Any]], state: dict[str, Any], rid: str) -> dict[str, Any]:
        """The page of ``rows`` the cursor state points at, with a ``next_url`` while rows remain."""
        size, off = min(state["limit"], self.page_size), state["offset"]
        body: dict[str, Any] = {"status": "OK", "request_id": rid, "count": len(rows[off:off + size]),
                                "results": rows[off:off + size]}
        if off + size < len(rows):
            cur = base64.urlsafe_b64encode(json.dumps(dict(state, offset=off + size)).encode())
            body["next_url"] = f"{self.next_base or self.url}{path}?cursor={cur.decode()}"
        return body

    def _tickers_page(self, path: str, query: dict[str, str], rid: str) -> dict[str, Any]:
        """One page of the ticker reference; the cursor carries the filters, as the real next_url does."""
        state = _page_state(query, 1000, lambda: {"market": query.get("market"),
                                                  "active": query.get("active", "true") != "false"})
        with self._lock:
            rows = [dict(r) for r in self._tickers if r.get("active", True) == state["active"]
                    and (state["market"] is None or r.get("market") == state["market"])]
        rows.sort(key=lambda r: (r["ticker"], str(r.get("delisted_utc"))))
        return self._page(path, rows, state, rid)

    def _asset_events(self, identifier: str) -> dict[str, Any] | None:
        """The events of a composite FIGI, or of the active holder of a ticker (as the API answers a ticker)."""
        with self._lock:
            if identifier in self._events:
                return self._events[identifier]
            holder = next((r.get("composite_figi") for r in self._tickers
                           if r["ticker"] == identifier and r.get("active", True)), None)
            return self._events.get(holder) if holder else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the client pools connections

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(("GET", split.path, query, headers))
                fault = fake._next_fault(split.path)
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    status, extra = fault.status, fault.headers
                    body = fault.body if fault.body is not None else {
                        "status": "ERROR", "request_id": uuid.uuid4().hex, "error": f"scripted {status}"}
                else:
                    (status, body), extra = fake._answer(split.path, query, headers), {}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler
