"""Shared option groups (decorator factories), date parsing, and Settings from the options given."""
from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..settings import Settings, parse_symbols


def parse_date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-11", param=param) from None


def _datasets(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ..datasets import resolve
    from ..errors import ConfigError

    if value is None:
        return None
    try:
        return ",".join(d.name for d in resolve(value))
    except ConfigError as exc:
        raise click.BadParameter(exc.one_line(), param=param) from None


def dataset_option(default: str | None = "stocks") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--dataset`` (also ``--datasets``): registry names or families, comma-separated."""
    return click.option("--dataset", "--datasets", "dataset", default=default, callback=_datasets,
                        show_default=default is not None, metavar="NAMES",
                        help="Datasets, comma-separated: <family>/<kind> or a family (stocks = both stocks "
                             "aggregates and the journal; tick data such as stocks/trades only when named); "
                             "`flatload datasets` lists them")


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir."""
    return click.option("--data-dir", type=click.Path(path_type=Path), envvar="FLATLOAD_DATA_DIR",
                        default=None, help="Holds flatload.duckdb and parquet/ [env FLATLOAD_DATA_DIR; ./flatload-data]")(fn)


def _group(*options: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator applying ``options`` so that --help lists them in the order given."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


#: where flat files come from
source_options = _group(
    click.option("--endpoint-url", default=None, help="S3 endpoint [env FLATLOAD_ENDPOINT_URL; https://files.massive.com]"),
    click.option("--bucket", default=None, help="S3 bucket [env FLATLOAD_BUCKET; flatfiles]"),
    click.option("--profile", default=None, help="AWS profile holding the flat-files keys"),
    click.option("--mirror", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Read a local directory laid out like the bucket instead of S3 (its files are read in place)"),
)

#: the REST fallback
rest_options = _group(
    click.option("--rest-url", default=None, help="REST base URL [env FLATLOAD_REST_URL; https://api.massive.com]"),
    click.option("--no-rest", is_flag=True, help="Never fall back to the REST API for missing files"),
    click.option("--rest-rpm", type=click.IntRange(min=1), default=None,
                 help="Client-side REST rate limit, requests/minute (free tier: 5)"),
)

#: how a load runs
run_options = _group(
    click.option("--symbols", default=None, help="Comma-separated tickers (case-sensitive): the journal's scope, and the only rows "
                      "stocks trades/quotes keep [env FLATLOAD_SYMBOLS]"),
    click.option("--underlyings", default=None,
                 help="Options: keep only contracts on these underlyings, e.g. SPY,QQQ [env FLATLOAD_UNDERLYINGS]"),
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes [cores, capped by memory]"),
    click.option("--prefetch", "prefetch_mb", type=click.IntRange(min=1), default=None, metavar="MB",
                 help="Download at most this many MB ahead of the workers [env FLATLOAD_PREFETCH_MB; a quarter of "
                      "free memory, half the free disk, at most 2048]"),
    click.option("--force", is_flag=True, help="Reload even when the ledger has the same ETag"),
    click.option("--dry-run", is_flag=True, help="Print the plan and write nothing"),
    click.option("--lock-timeout", type=click.FloatRange(min=0), default=None,
                 help="Seconds to wait for a DuckDB file held by another process [60]"),
    click.option("--quiet", "-q", is_flag=True, help="No progress, only the summary and errors"),
    click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs"),
)


def settings_from(**opts: Any) -> Settings:
    """Settings from the options given (None: not given), the environment, then the defaults."""
    symbols = parse_symbols(opts.pop("symbols", None))
    underlyings = parse_symbols(opts.pop("underlyings", None))
    no_rest = opts.pop("no_rest", False)
    return Settings.from_env(symbols=symbols, underlyings=underlyings, use_rest=False if no_rest else None, **opts)


def setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s flatload %(levelname)s %(message)s")
    if not verbose:
        for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
