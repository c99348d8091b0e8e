"""The registry: one entry per dataset of the vendor's flat files, looked up by ``<family>/<kind>``.

Adding a dataset means adding an entry here (and a sample generator in ``flatload.sample``);
the engine, the store, the views and the contract tests follow the registry.
"""
from __future__ import annotations

from ..errors import ConfigError
from .aggregates import aggregate_datasets
from .model import Column, Dataset, Family
from .ticks import tick_datasets

__all__ = ["Column", "Dataset", "Family", "REGISTRY", "get", "resolve", "names", "JOURNAL_INPUTS",
           "DEFAULT_SPEC"]

REGISTRY: dict[str, Dataset] = {d.name: d for d in [*aggregate_datasets(), *tick_datasets()]}
#: the stocks journal is derived from these two, loaded together for each session
JOURNAL_INPUTS = ("stocks/minute_aggs", "stocks/day_aggs")
DEFAULT_SPEC = "stocks"


def names() -> list[str]:
    """Every registered dataset name, in registry order."""
    return list(REGISTRY)


def get(name: str) -> Dataset:
    """The entry for ``name``; ConfigError naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}", hint=f"known: {', '.join(REGISTRY)}") from None


def resolve(spec: str | None) -> list[Dataset]:
    """``"stocks"`` → both stocks aggregates; ``"options/day_aggs,indices"`` → those; in registry order.

    A family name means its aggregates: tick data (``stocks/trades``, ...) is loaded only when named.
    """
    wanted: set[str] = set()
    for part in (spec or DEFAULT_SPEC).split(","):
        part = part.strip()
        if not part:
            continue
        family = [n for n, d in REGISTRY.items() if n.split("/")[0] == part and not d.streamed]
        if family:
            wanted.update(family)
        else:
            wanted.add(get(part).name)
    if not wanted:
        raise ConfigError("no dataset named", hint=f"known: {', '.join(REGISTRY)}")
    return [d for n, d in REGISTRY.items() if n in wanted]


def journal_wanted(datasets: list[Dataset]) -> bool:
    """True when both journal inputs are requested: the stocks journal is derived from them."""
    return set(JOURNAL_INPUTS) <= {d.name for d in datasets}
