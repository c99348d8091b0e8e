"""Precedence and provenance: flags > environment > config file > defaults, for every setting of the table.

:func:`resolve_settings` is what the CLI (and any program that wants the user's configuration, such as
the web job API) calls: it returns the :class:`~flatload.settings.Settings` and, for each setting,
the value and where it came from, which ``flatload config show`` prints.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from ..universe import Universe, parse_symbols, read_symbols, union
from .file import ConfigFile, find_config, read_config
from .table import BY_NAME, SCOPE, SETTINGS, Invalid, Setting, from_text

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


@dataclass(frozen=True)
class Origin:
    """Where a value came from: ``flag --x``, ``env VAR``, ``FILE:LINE`` or ``default``."""

    kind: str
    name: str = ""
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            return f"{self.name}:{self.line}"
        return f"{self.kind} {self.name}" if self.name else self.kind


DEFAULT = Origin("default")
_Layer = dict[str, tuple[Any, Origin]]


@dataclass(frozen=True)
class Entry:
    """One setting's effective value and its origin."""

    setting: Setting
    value: Any
    origin: Origin

    def shown(self) -> str:
        """The value as text, secrets masked."""
        return self.setting.shown(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, secrets masked."""
        s, value = self.setting, self.value
        if s.secret and value is not None:
            value = self.shown()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, Path):
            value = str(value)
        return {"key": s.dotted, "name": s.name, "value": value, "from": str(self.origin),
                "source": self.origin.kind, "flag": s.flag, "env": list(s.env), "secret": s.secret,
                **({"file": self.origin.name, "line": self.origin.line} if self.origin.kind == "file" else {})}


@dataclass(frozen=True)
class Resolved:
    """The settings, each table setting's value and origin, the config file read (if any) and the universe."""

    settings: Settings
    entries: tuple[Entry, ...]
    config: ConfigFile | None = None
    universe: Universe | None = None

    def entry(self, name: str) -> Entry:
        """The entry of the setting called ``name`` (a Settings field, ``symbols_file`` or ``datasets``)."""
        return next(e for e in self.entries if e.setting.name == name)

    def value(self, name: str) -> Any:
        """The effective value of ``name``."""
        return self.entry(name).value

    def warnings(self) -> list[str]:
        """Problems that did not stop anything: the symbols file's skipped lines."""
        return self.universe.warnings() if self.universe else []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, secrets masked: what ``flatload config show --json`` prints."""
        cfg = {"path": str(self.config.path), "found_by": self.config.how} if self.config else None
        symbols = self.settings.symbols
        return {"config_file": cfg, "settings": [e.to_dict() for e in self.entries],
                "scope": {"symbols": len(symbols) if symbols is not None else None,
                          "from_file": len(self.universe.symbols) if self.universe else None},
                "warnings": self.warnings()}


def resolve_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, *,
                     config: str | os.PathLike[str] | None = None, read_file: bool = True,
                     flag_names: Mapping[str, str] | None = None, read_universe: bool = True) -> Resolved:
    """Settings from ``flags`` (None: not given) > ``environ`` > the config file > the defaults.

    ``flags`` are table settings by name (``workers``, ``symbols`` as text or a set, ``symbols_file``...)
    and any other Settings field (``force``...). ``config`` is ``--config``; ``read_file=False`` skips the
    file entirely; ``read_universe=False`` leaves the symbols file unread (commands the scope does not
    concern: their Settings hold only ``symbols``). ``flag_names`` says how each flag was spelled
    (``sync_to`` → ``--to``) for the origins.
    ``symbols`` and ``symbols_file`` form one scope: the highest level that sets either decides both,
    and the settings' symbols are their union.
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    for name in given:
        if name not in BY_NAME and name not in _FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
    flag_layer = _flag_layer(given, flag_names or {})
    env_layer = _env_layer(env)
    file = _config_file(config, env, flag_layer, env_layer) if read_file else None
    file_layer: _Layer = {n: (fv.value, Origin("file", str(file.path), fv.line))
                          for n, fv in file.values.items()} if file else {}
    chosen = _choose((flag_layer, env_layer, file_layer))
    universe = read_symbols(chosen["symbols_file"][0]) if read_universe and "symbols_file" in chosen else None
    values = {n: v for n, (v, _) in chosen.items() if BY_NAME[n].field}
    values.update({k: v for k, v in given.items() if k not in BY_NAME})
    if universe is not None:
        values["symbols"] = union(values.get("symbols"), universe.symbols)
    try:
        settings = Settings(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid setting: {exc}") from exc
    entries = tuple(Entry(s, _value(s, chosen, settings), chosen[s.name][1] if s.name in chosen else DEFAULT)
                    for s in SETTINGS)
    return Resolved(settings, entries, file, universe)


def _flag_layer(given: Mapping[str, Any], names: Mapping[str, str]) -> _Layer:
    layer: _Layer = {}
    for name, value in given.items():
        spec = BY_NAME.get(name)
        if spec is None:
            continue
        if spec.kind == "symbols" and isinstance(value, str):
            try:
                value = parse_symbols(value)
            except ConfigError as exc:  # name the flag the user typed
                raise ConfigError(f"{names.get(name) or spec.flag}: {exc.message}", hint=exc.hint) from None
            if value is None:  # --symbols "": as if not given (all symbols), as before
                continue
        elif spec.kind == "path" and isinstance(value, str):
            value = Path(value)
        elif spec.kind == "url" and isinstance(value, str):
            try:  # a URL sync cannot use fails now, not after the load it follows
                value = from_text(spec, value)
            except Invalid as exc:
                raise ConfigError(f"{names.get(name) or spec.flag} {exc}") from None
        layer[name] = (value, Origin("flag", names.get(name) or spec.flag or name))
    return layer


def _env_layer(environ: Mapping[str, str]) -> _Layer:
    layer: _Layer = {}
    for spec in SETTINGS:
        var = next((v for v in spec.env if environ.get(v)), None)
        if var is None:
            continue
        try:
            layer[spec.name] = (from_text(spec, environ[var]), Origin("env", var))
        except Invalid as exc:  # name the variable: the user did not type a flag
            raise ConfigError(f"{var}: {exc}", hint=f"fix or unset {var}") from None
    return layer


def _config_file(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str], flag_layer: _Layer,
                 env_layer: _Layer) -> ConfigFile | None:
    """The file the lookup finds (the data directory from the flag, else the environment, else the default)."""
    chosen = flag_layer.get("data_dir") or env_layer.get("data_dir")
    data_dir = Path(chosen[0]) if chosen else _FIELDS["data_dir"].default
    located = find_config(explicit, environ, data_dir)
    if located is None:
        return None
    config = read_config(located)
    moved = config.values.get("data_dir")
    if located.how == "data directory" and chosen is None and moved is not None \
            and moved.value.resolve() != data_dir.resolve():
        raise ConfigError(f"store.data_dir: this file was found in the data directory {data_dir}, so it cannot "
                          f"move the data to {moved.value}", key=config.where("data_dir"),
                          hint="remove the key, or pass the file with --config or FLATLOAD_CONFIG")
    return config


def _choose(layers: tuple[_Layer, ...]) -> _Layer:
    """The first layer's value of each setting; the scope (symbols, symbols_file) from one layer only."""
    chosen: _Layer = {}
    for spec in SETTINGS:
        if spec.name not in SCOPE:
            found = next((layer[spec.name] for layer in layers if spec.name in layer), None)
            if found is not None:
                chosen[spec.name] = found
    for layer in layers:
        scope = {n: layer[n] for n in SCOPE if n in layer}
        if scope:
            chosen.update(scope)
            break
    return chosen


def _value(spec: Setting, chosen: _Layer, settings: Settings) -> Any:
    if spec.name in chosen:
        return chosen[spec.name][0]
    if spec.name == "datasets":
        return spec.default  # "stocks", the registry's DEFAULT_SPEC (not imported: resolving stays light)
    if spec.field and spec.name not in SCOPE:
        return getattr(settings, spec.name)  # the default, computed ones (workers) included
    return None


def from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Defaults, then the environment (``FLATLOAD_*``, the API key variables, ``AWS_PROFILE``), then
    ``overrides`` (None = not given); no config file (:func:`resolve_settings` adds it)."""
    return resolve_settings(overrides, environ, read_file=False).settings
