"""The registry: one entry per dataset of the vendor's flat files, looked up by ``<family>/<kind>``.

Adding a dataset means adding an entry here (and a sample generator in ``flatload.sample``);
the engine, the store, the views and the contract tests follow the registry.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError
from .aggregates import aggregate_datasets
from .derived import JOURNAL, DerivedTable, derived_tables
from .futures import futures_datasets
from .model import Column, Dataset, Family
from .ticks import tick_datasets

__all__ = ["Column", "Dataset", "Family", "REGISTRY", "DERIVED", "DerivedTable", "JOURNAL", "get", "resolve",
           "names", "derived_for", "DEFAULT_SPEC"]

REGISTRY: dict[str, Dataset] = {d.name: d for d in [*aggregate_datasets(), *futures_datasets(), *tick_datasets()]}
#: the tables derived from datasets, by name (their partition folder)
DERIVED: dict[str, DerivedTable] = {t.name: t for t in derived_tables()}
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


def derived_for(datasets: Iterable[Dataset]) -> tuple[DerivedTable, ...]:
    """The derived tables whose inputs are all among ``datasets``: a load of them derives these too."""
    have = [d.name for d in datasets]
    return tuple(t for t in DERIVED.values() if t.wanted(have))
