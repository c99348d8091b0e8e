"""Shared option groups (decorator factories), date parsing, and Settings from the options given (flags >
environment > config file > defaults: :mod:`flatload.config`)."""
from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config.table import CONFIG_ENV, FILE_NAME, flag_help
from ..settings import Settings

if TYPE_CHECKING:
    from ..config.resolve import Resolved


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


def dataset_option(default: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--dataset`` (also ``--datasets``): registry names or families, comma-separated. Without a ``default``
    the config's ``run.datasets`` applies (read it with ``resolved_from(...).value("datasets")``)."""
    what = ("Datasets, comma-separated: <family>/<kind> or a family (stocks = both stocks aggregates and the "
            "journal; tick data such as stocks/trades only when named); `flatload datasets` lists them")
    return click.option("--dataset", "--datasets", "dataset", default=default, callback=_datasets,
                        show_default=default is not None, metavar="NAMES",
                        help=what if default is not None else flag_help("datasets", what))


#: ``--config``: the commands that read settings take it, as does the ``flatload`` group
config_option = click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
    help=f"The config file [env {CONFIG_ENV}; <data dir>/{FILE_NAME}, else ./{FILE_NAME}]")


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --data-dir and --store."""
    fn = click.option("--store", default=None, metavar="s3://BUCKET/PREFIX",
                      help=flag_help("store", "Keep the Parquet partitions on object storage"))(fn)
    fn = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                      help=flag_help("data_dir", "Holds flatload.duckdb and parquet/"))(fn)
    return config_option(fn)


def option_group(*options: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator applying ``options`` so that --help lists them in the order given."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


#: where flat files come from
source_options = option_group(
    click.option("--endpoint-url", default=None, help=flag_help("endpoint_url", "S3 endpoint")),
    click.option("--bucket", default=None, help=flag_help("bucket", "S3 bucket")),
    click.option("--profile", default=None, help=flag_help("profile", "AWS profile holding the flat-files keys")),
    click.option("--mirror", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help=flag_help("mirror", "Read a local directory laid out like the bucket instead of S3 (its files "
                                          "are read in place)")),
)

#: the REST fallback
rest_options = option_group(
    click.option("--rest-url", default=None, help=flag_help("rest_url", "REST base URL")),
    click.option("--no-rest", is_flag=True, help="Never fall back to the REST API for missing files "
                                                 "[file rest.enabled = false]"),
    click.option("--rest-rpm", type=click.IntRange(min=1), default=None,
                 help=flag_help("rest_rpm", "Client-side REST rate limit, requests/minute (free tier: 5)")),
)

symbols_option = click.option(
    "--symbols", default=None, help=flag_help("symbols", "Comma-separated tickers (case-sensitive): the journal's "
                                                         "scope, and the only rows stocks trades/quotes keep"))
symbols_file_option = click.option(
    "--symbols-file", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help=flag_help("symbols_file", "Symbols from a file (one per line, a CSV with a symbol or ticker column, or "
                                   "JSON), added to --symbols"))
#: ``--symbols-file`` of the commands whose own filter ``--symbols`` is (sync, corporate-actions): not a setting
symbols_filter_file_option = click.option(
    "--symbols-file", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help="Only the symbols in this file (one per line, a CSV with a symbol or ticker column, or JSON), added to "
         "--symbols [all]")
lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=None,
    help=flag_help("lock_timeout", "Seconds to wait for a DuckDB file held by another process"))

#: the settings of a load that ``config show`` also takes
tuning_options = option_group(
    symbols_option,
    symbols_file_option,
    click.option("--underlyings", default=None,
                 help=flag_help("underlyings", "Options: keep only contracts on these underlyings, e.g. SPY,QQQ")),
    click.option("--workers", type=click.IntRange(min=1), default=None, help=flag_help("workers", "Worker processes")),
    click.option("--cluster", default=None, metavar="local[:N]|ADDRESS",
                 help=flag_help("cluster", "Run the tasks on a Dask cluster: local:N starts one, or a scheduler "
                                "address (tcp://host:8786)")),
    click.option("--prefetch", "prefetch_mb", type=click.IntRange(min=1), default=None, metavar="MB",
                 help=flag_help("prefetch_mb", "Download at most this many MB ahead of the workers")),
    click.option("--slices", type=click.IntRange(min=1), default=None, metavar="N",
                 help=flag_help("slices", "Parse a large tick file with N workers at once")),
    lock_timeout_option,
)

#: how a load runs
run_options = option_group(
    tuning_options,
    click.option("--force", is_flag=True, help="Reload even when the ledger has the same ETag"),
    click.option("--dry-run", is_flag=True, help="Print the plan and write nothing"),
    click.option("--quiet", "-q", is_flag=True, help="No progress, only the summary and errors"),
    click.option("--verbose", "-v", is_flag=True, help="Tracebacks and debug logs"),
)


def resolved_from(*, scope: bool = False, **opts: Any) -> Resolved:
    """The settings of the options given (None: not given) > the environment > the config file > the defaults,
    with each one's origin. ``scope``: read the symbols file too (the commands whose journal scope it is);
    its skipped lines are printed as warnings."""
    from ..config.resolve import resolve_settings

    ctx = click.get_current_context(silent=True)
    config = opts.pop("config", None) or (ctx.find_root().params.get("config") if ctx else None)
    if opts.pop("no_rest", False):
        opts["use_rest"] = False
    if "dataset" in opts:
        opts["datasets"] = opts.pop("dataset")
    resolved = resolve_settings(opts, config=config, flag_names=_spelled(ctx), read_universe=scope)
    for line in resolved.warnings():
        click.echo(f"warning: {line}", err=True)
    return resolved


def settings_from(*, scope: bool = False, **opts: Any) -> Settings:
    """The Settings of :func:`resolved_from`."""
    return resolved_from(scope=scope, **opts).settings


def _spelled(ctx: click.Context | None) -> dict[str, str]:
    """Each option's name → its flag as the command spells it (``sync_to`` → ``--to`` in ``flatload sync``)."""
    names = {"use_rest": "--no-rest", "datasets": "--datasets"}
    if ctx is not None:
        for param in ctx.command.params:
            if isinstance(param, click.Option) and param.name and param.name not in ("no_rest", "dataset"):
                names[param.name] = max(param.opts, key=len)
    return names


def symbols_from(symbols: str | None, symbols_file: Path | None) -> frozenset[str] | None:
    """``--symbols`` ∪ ``--symbols-file`` (None: neither given), for the commands whose own filter they are;
    the file's skipped lines are printed as warnings."""
    from ..universe import parse_symbols, read_symbols, union

    universe = read_symbols(symbols_file) if symbols_file is not None else None
    for line in universe.warnings() if universe else []:
        click.echo(f"warning: {line}", err=True)
    return union(parse_symbols(symbols), universe.symbols if universe else None)


def setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s flatload %(levelname)s %(message)s")
    if not verbose:
        for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
