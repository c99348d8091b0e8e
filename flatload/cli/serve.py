"""``flatload serve``: the dashboard and the JSON job API on a local port."""
from __future__ import annotations

from typing import Any

import click

from .exits import handle_errors
from ..config.table import flag_help
from .options import resolved_from, rest_options, setup_logging, source_options, store_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one)")
@click.option("--token", default=None,
              help=flag_help("token", "Starting and stopping jobs needs 'Authorization: Bearer <token>'"))
@store_options
@source_options
@rest_options
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes of each job [cores]")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
              help="Seconds a job (or a read) waits for a DuckDB file held by another process [60]")
@click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs")
@handle_errors
def serve(host: str, port: int, token: str | None, verbose: bool, **opts: Any) -> None:
    """A dashboard and a JSON API (/api/v1) to start, watch and stop backfills of the data dir.

    Each backfill runs as an ordinary `flatload load` process with these settings. Ctrl-C stops
    the server (exit 0); a running backfill goes on (`flatload status` shows it, the next server too).
    """
    from ..web import serve as run_server

    setup_logging(quiet=not verbose, verbose=verbose)
    # the universe is read here so that jobs load what `flatload load` would; each job gets this
    # config file too, which its settings without a flag come from
    resolved = resolved_from(scope=True, token=token, **opts)
    settings, token = resolved.settings, resolved.value("token")
    config = resolved.config.path if resolved.config else None

    def announce(url: str) -> None:
        click.echo(f"flatload serve: dashboard at {url}  (API: {url}api/v1/, OpenAPI: {url}api/v1/openapi.json)")
        click.echo(f"data dir: {settings.data_dir.resolve()}" + ("; starting and stopping jobs needs the token"
                                                                  if token else ""))
        click.echo("press Ctrl-C to stop the server (running backfills go on)")

    try:
        run_server(settings, host=host, port=port, token=token or None, announce=announce, config=config)
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then passes the signal on: the usual way to stop
        pass
    click.echo("flatload serve: stopped")
