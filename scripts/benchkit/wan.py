"""A link shaped like a real one, on loopback: a proxy in front of the S3 server that caps each connection's
bandwidth, caps all of them together, and delays every request by a round-trip time.

Every contender (flatload and the peer scripts alike) reads S3 through it, so the comparison is fair.
Bodies are streamed in 64 KiB chunks through two token buckets (the connection's and the link's).
"""
from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHUNK = 64 * 1024
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}


class Bucket:
    """A token bucket: ``rate`` bytes per second, thread-safe; ``take(n)`` sleeps until n bytes may pass."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.allowance = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        with self.lock:
            now = time.monotonic()
            self.allowance = min(self.rate * 0.05, self.allowance + (now - self.last) * self.rate)
            self.last = now
            self.allowance -= n
            wait = -self.allowance / self.rate if self.allowance < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class WanProxy:
    """``per_conn_mbps`` and ``total_mbps`` in MB/s, ``rtt_ms`` added before each request is forwarded."""

    def __init__(self, upstream: str, per_conn_mbps: float, total_mbps: float, rtt_ms: float) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname, parts.port
        self.per_conn = per_conn_mbps * 1e6
        self.link = Bucket(total_mbps * 1e6)
        self.rtt = rtt_ms / 1000
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                proxy.forward(self)

            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WanProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else None
        time.sleep(self.rtt)  # the request's round trip (the answer's first byte comes back after it)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "expect")}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            h.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP:
                    h.send_header(k, v)
            h.end_headers()
            if h.command == "HEAD":
                return
            mine = Bucket(self.per_conn)
            while chunk := resp.read(CHUNK):
                mine.take(len(chunk))
                self.link.take(len(chunk))
                h.wfile.write(chunk)
        finally:
            conn.close()
