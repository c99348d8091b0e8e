"""``datasets``: the registry, what a store holds of each dataset, and what the bucket really holds."""
from __future__ import annotations

from .. import datasets as registry
from ..datasets.model import Dataset
from ..settings import Settings
from .common import iso, read_journal

_LOADED_SQL = ("SELECT dataset, count(*) FILTER (WHERE status IN ('flatfile', 'rest')), "
               "min(trade_date) FILTER (WHERE status IN ('flatfile', 'rest')), "
               "max(trade_date) FILTER (WHERE status IN ('flatfile', 'rest')), "
               "count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'suspect') "
               "FROM day_status GROUP BY dataset")


def _entry(ds: Dataset, loaded: tuple | None) -> dict:
    n, first, last, failed, suspect = loaded if loaded else (0, None, None, 0, 0)
    return {"name": ds.name, "family": ds.family.name, "kind": ds.kind, "key_prefix": ds.folder + "/",
            "description": ds.description,
            "columns": [{"name": c.name, "type": c.dtype, "required": c.required} for c in ds.columns],
            "derived_columns": [{"name": n_, "type": t} for n_, t in ds.derived_columns],
            "calendar": ds.calendar.name, "time_zone": ds.calendar.tz.key, "first_date": ds.first_date.isoformat(),
            "first_date_known": ds.first_date_known, "view": ds.view, "rest_fallback": ds.rest,
            "row_filter": ds.family.row_filter,
            "loaded": {"days": n, "first": iso(first), "last": iso(last), "failed": failed, "suspect": suspect}}


def remote_folders(source) -> dict:
    """The bucket's top two levels, each dataset folder matched to its registry entry (or marked unknown)."""
    by_folder = {ds.folder + "/": ds.name for ds in registry.REGISTRY.values()}
    folders = []
    for top in source.folders(""):
        for sub in source.folders(top) or [top]:
            folders.append({"prefix": sub, "dataset": by_folder.get(sub), "known": sub in by_folder})
    return {"source": source.describe(), "folders": folders,
            "unknown": [f["prefix"] for f in folders if not f["known"]],
            "missing": sorted(set(by_folder) - {f["prefix"] for f in folders})}


def datasets(settings: Settings, remote: bool = False) -> dict:
    """Every registered dataset with what this store has loaded of it; with ``remote``, the bucket's folders."""
    loaded: dict[str, tuple] = {}
    note = None
    if settings.data_dir.is_dir():
        rows, note = read_journal(settings, {"loaded": (_LOADED_SQL, [])})
        loaded = {r[0]: r[1:] for r in (rows or {}).get("loaded", [])}
    out = {"data_dir": str(settings.data_dir), "note": note,
           "datasets": [_entry(ds, loaded.get(ds.name)) for ds in registry.REGISTRY.values()]}
    if remote:
        from ..fetch import open_source

        out["remote"] = remote_folders(open_source(settings))
    return out
