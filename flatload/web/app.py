"""The ASGI app (``create_app``) and the server that runs it (``serve``, behind ``flatload serve``)."""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..errors import ConfigError, FlatloadError, JournalLocked
from ..settings import Settings
from ..store.files import fs
from . import api
from .jobs import Jobs

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
#: after Ctrl-C, requests still being answered get this long before they are cancelled
GRACEFUL_SHUTDOWN_S = 3.0
#: the Host headers a loopback server answers (brackets: how an IPv6 address appears in a Host header)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: the one inline style the page has: the chart library's attribution logo (changes with its version;
#: tests/test_web_page.py fails on any CSP violation, and the browser's message gives the new hash)
CHART_LOGO_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
#: the page loads nothing from elsewhere: scripts, styles and data all come from this server
_HEADERS = {
    "Content-Security-Policy": f"default-src 'self'; img-src 'self' data:; style-src 'self' {CHART_LOGO_STYLE}; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_DESCRIPTION = """Start, watch and stop backfills of a flatload data dir, and read what it holds.

A job is an ordinary `flatload load` run in a process of its own: the same lock (one run per data
dir: a second job gets 409), the same run records (`flatload status` shows it) and the same exit
codes. With a server token, `POST` and `DELETE` need `Authorization: Bearer <token>`.
Errors are `{"error": "<one line>"}`; a 422 names the field and lists each in `detail`."""


def create_app(settings: Settings, token: str | None = None, *, allowed_hosts: Sequence[str] | None = None,
               config: Path | None = None) -> FastAPI:
    """The dashboard and the JSON API for the data dir of ``settings`` (created when missing).

    ``token``: when set, starting and stopping jobs needs ``Authorization: Bearer <token>``.
    ``config``: the flatload.toml the settings were read with, handed to every job.
    ``allowed_hosts``: the Host headers answered (a loopback server refuses other names, which
    keeps web pages from reaching it through DNS rebinding); None: any.
    """
    fs.prepare_data_dir(settings.data_dir)
    settings = settings.replace(data_dir=Path(settings.data_dir).resolve())  # the page shows where it is
    app = FastAPI(title="flatload", version=__version__, description=_DESCRIPTION,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None)  # their UIs load from a CDN
    app.state.settings, app.state.token, app.state.jobs = settings, token, Jobs(settings, config)
    app.include_router(api.router, prefix=API_PREFIX)
    _add_error_handlers(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(_HEADERS)
        if request.url.path.startswith(API_PREFIX) or request.url.path == "/":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _problem(status: int, message: str, headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    body = {"error": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": "<one line>"}``; a 422 names each invalid field."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")) or "body"
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "json_invalid":  # "JSON decode error" at position 0 says nothing to a person
                why, at = (err.get("ctx") or {}).get("error", "invalid"), err["loc"][-1]
                message = f"the body is not valid JSON ({why}, at character {at}); send an object like {{\"start\": \"2024-03-04\", " \
                          f"\"end\": \"2024-03-08\"}} with Content-Type: application/json"
                field = "body"
            detail.append({"field": field, "message": message, "loc": list(err["loc"]), "type": err["type"]})
        return _problem(422, "; ".join(f"{d['field']}: {d['message']}" for d in detail), detail=detail)

    @app.exception_handler(api.ApiProblem)
    async def problem(_request: Request, exc: api.ApiProblem) -> JSONResponse:
        return _problem(exc.status, exc.message, exc.headers, job_id=exc.job_id)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(FlatloadError)
    async def library_error(_request: Request, exc: FlatloadError) -> JSONResponse:
        if isinstance(exc, JournalLocked):  # a commit or an analyst's session: a moment later it answers
            return _problem(503, exc.one_line(), {"Retry-After": "5"})
        return _problem(404 if isinstance(exc, ConfigError) else 500, exc.one_line())


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); ConfigError when it cannot be had."""
    try:
        return socket.create_server((host.strip("[]"), port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                    reuse_port=False)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="pick another --port (or stop what uses it)") from None


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          announce: Callable[[str], None] | None = None, config: Path | None = None) -> None:
    """Serve the dashboard and API until interrupted; ``announce(url)`` once it serves (and Ctrl-C stops it).

    Binding anything but loopback needs a token (ConfigError otherwise). Stopping the server
    leaves running jobs running: they are processes of their own, and the next server finds them.
    """
    loopback = is_loopback(host)
    if not loopback and not token:
        raise ConfigError(f"--host {host} is reachable from other machines: it needs a token",
                          hint="pass --token, set FLATLOAD_TOKEN or serve.token in flatload.toml; clients then send "
                                "Authorization: Bearer <token>")
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    sock = bind(host, port)
    try:
        app = create_app(settings, token, allowed_hosts=[*LOOPBACK_NAMES, shown] if loopback else None,
                         config=config)
    except BaseException:
        sock.close()
        raise
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    # in-flight requests get a few seconds after Ctrl-C, not forever (a poll held up on a busy machine)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    _Server(config, (lambda: announce(url)) if announce is not None else None).run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn's server, announcing its URL only once it serves, with its SIGINT/SIGTERM handlers in place.

    Announced any earlier, a Ctrl-C right after the URL could land before uvicorn takes the signals over:
    it then raises wherever the start happens to be, or, in a server started with SIGINT ignored (a
    background job of a script, nohup, CI), is lost, and the server runs on. The slower the machine,
    the wider that window was.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's serve() installs the signal handlers before it calls startup(), which starts listening
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit and self._on_started is not None:
            self._on_started()
