"""Configuration: the settings table, ``flatload.toml`` (lookup, checks, line numbers), and precedence.

``resolve_settings(flags, environ, config=None)`` gives the :class:`~flatload.settings.Settings` of
flags > environment > config file > defaults, with each setting's origin; ``config show`` prints it and
``config init`` writes :func:`render_template`. The table (:data:`SETTINGS`) is the one list the file,
the environment, the CLI help and the README are made from.
"""
from __future__ import annotations

from .file import ConfigFile, Located, find_config, read_config
from .resolve import Entry, Origin, Resolved, from_env, resolve_settings
from .table import CONFIG_ENV, FILE_NAME, SECTIONS, SETTINGS, Setting, markdown_table
from .template import init_path, render_template, write_template

__all__ = ["CONFIG_ENV", "FILE_NAME", "SECTIONS", "SETTINGS", "ConfigFile", "Entry", "Located", "Origin",
           "Resolved", "Setting", "find_config", "from_env", "init_path", "markdown_table", "read_config", "render_template",
           "resolve_settings", "write_template"]
