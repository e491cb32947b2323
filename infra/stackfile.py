"""Read a ``Pulumi.<client>.yaml`` stack file the way the Pulumi CLI hands its config to a program."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import userfiles
from infra.config_sections import NAMESPACE
from infra.errors import ConfigError


def _as_pulumi_value(value: Any) -> str:
    """Top-level config values reach a program as strings; objects and lists as JSON text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default, sort_keys=True)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def read_stack_config(path: Path) -> dict[str, str]:
    """Return the file's ``config:`` section as Pulumi would pass it (``{"ns:key": "value"}``).

    Raises ConfigError, naming the file, for anything a deploy engineer could get wrong: a missing or
    unreadable file, broken YAML, an empty file, no ``config:`` mapping, keys without a namespace, and
    encrypted (``secure:``) values under ``phistack:`` (the client config holds no secrets).
    """
    source = str(path)
    try:
        document = userfiles.load(path, "stack file")
    except userfiles.UserFileError as exc:
        raise ConfigError(source, [exc.problem]) from None
    if document is None:
        raise ConfigError(source, ["the stack file is empty; it needs a config: section."])
    if not isinstance(document, dict):
        raise ConfigError(source, [f"the stack file holds a {type(document).__name__}, not a mapping with config:."])
    config = document.get("config")
    if not isinstance(config, dict) or not config:
        raise ConfigError(source, ["the stack file has no config: mapping of settings."])
    out: dict[str, str] = {}
    problems: list[str] = []
    for key, value in config.items():
        if ":" not in key:
            problems.append(f"{key} has no namespace; write it as {NAMESPACE}:{key}.")
            continue
        if key.startswith(f"{NAMESPACE}:") and isinstance(value, dict) and "secure" in value:
            problems.append(f"{key} is encrypted (secure:); the phistack client config holds no secrets.")
            continue
        if isinstance(value, dict) and "secure" in value:
            continue  # another provider's secret: not ours to read, not needed for a plan
        out[key] = _as_pulumi_value(value)
    if problems:
        raise ConfigError(source, problems)
    return out
