"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real S3 server (moto's).

Point the loader's ``endpoint_url`` at ``proxy.url``: every request is forwarded
unchanged to the upstream server, except those a :class:`Fault` matches, which
get a scripted answer instead (503 SlowDown, 500, 403 AccessDenied XML), or no
answer at all (the socket is closed after the request is read), or the real
answer cut short (headers promise the whole body, half of it is sent, then the
socket closes). Faults are consumed in request order, so a run is deterministic:
"the first 2 GETs of this key get 503" means exactly that.

Every request is recorded (method, path, query, what was done) so a test can
count the attempts a client made. ``on_request`` runs before a request is handled
(in the proxy's thread): a test can use it as a synchronization point, e.g. to
start a process that takes a lock just before the first object is fetched.
"""
from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        '<Resource>{resource}</Resource><RequestId>proxy-{n}</RequestId></Error>')
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te",
               "trailer", "upgrade"}


@dataclass
class Fault:
    """One scripted answer for requests that match.

    ``key``: match object requests whose path ends with ``/<key>`` (None: any request);
    ``prefix``: match object requests whose key starts with ``prefix``.
    ``method``: HTTP method to match (None: any). ``times``: how many matching
    requests get the fault before it is used up (None: every one, forever).
    ``action``: "status" (answer ``status`` with an S3 error XML ``code``),
    "drop" (read the request, close the socket without answering), "truncate"
    (forward, then send only the first half of the body and close) or "short" (forward,
    but answer with the first half of the body as if it were all of it, without the
    checksum headers: a consistent, short response) or "short-checked" (the same, with
    the server's checksum headers kept).
    """

    key: str | None = None
    prefix: str | None = None
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    times: int | None = 1
    method: str | None = "GET"
    action: str = "status"
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        if self.prefix is not None and f"/{self.prefix}" not in path:
            return False
        return self.key is None or path.endswith("/" + self.key)


@dataclass(frozen=True)
class Seen:
    """One request the proxy received and what it did with it."""

    method: str
    path: str  # URL-decoded, without the query
    query: str
    outcome: str  # "forwarded" | "status 503" | "drop" | "truncate" | "short" | "short-checked"
    range: str | None = None  # the Range header of a ranged GET


@dataclass
class S3FaultProxy:
    """``with S3FaultProxy(upstream, faults) as proxy: ... proxy.url ... proxy.count(key)``."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    on_request: Callable[[str, str], None] | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._up_host, self._up_port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- public -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "use the proxy as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, key: str | None = None, method: str | None = "GET") -> int:
        """Requests received (whatever their outcome) for object ``key`` (None: all)."""
        with self._lock:
            return sum(1 for s in self.seen
                       if (method is None or s.method == method) and (key is None or s.path.endswith("/" + key)))

    def object_requests(self) -> list[Seen]:
        """Requests for objects (not listings or bucket operations)."""
        with self._lock:
            return [s for s in self.seen if s.path.count("/") >= 2 and "list-type" not in s.query]

    def __enter__(self) -> "S3FaultProxy":
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- used by the handler -------------------------------------------------------------
    def _decide(self, method: str, path: str, query: str, range_: str | None = None) -> Fault | None:
        with self._lock:
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.used += 1
            outcome = "forwarded" if fault is None else (
                f"status {fault.status}" if fault.action == "status" else fault.action)
            self.seen.append(Seen(method, path, query, outcome, range_))
            return fault


class _Handler(BaseHTTPRequestHandler):
    owner: S3FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parts.query
        body = self._body()
        if self.owner.on_request is not None:
            self.owner.on_request(self.command, path)
        fault = self.owner._decide(self.command, path, query, self.headers.get("Range"))
        if fault is not None and fault.action == "drop":
            self._drop()
            return
        if fault is not None and fault.action == "status":
            n = len(self.owner.seen)
            payload = _XML.format(code=fault.code, message=fault.message, resource=path, n=n).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amz-request-id", f"proxy-{n}")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        status, reason, headers, data = self._forward(body)
        if fault is not None and fault.action in ("short", "short-checked"):
            data = data[: len(data) // 2]
            if fault.action == "short":  # a server that sends no checksum: only the size tells
                headers = [(k, v) for k, v in headers if not k.lower().startswith("x-amz-checksum")]
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault is not None and fault.action == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._drop()
            return
        self.wfile.write(data)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.owner._up_host, self.owner._up_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
