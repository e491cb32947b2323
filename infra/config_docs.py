"""The client config reference, generated from the config model (the source of truth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infra.config import ClientConfig
from infra.config_sections import REGION_KEY

BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE (phistack config-docs --write README.md) -->"
END = "<!-- END GENERATED CONFIG REFERENCE -->"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in getattr(annotation, "__args__", (annotation,)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"
    return f"`{json.dumps(field.default)}`" if field.default is not None else "unset"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = REGION_KEY if (model is ClientConfig and name == "region") else f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            rows.append(
                f"| `{key}` | {_default(field)} | {(nested.__doc__ or nested.__name__).strip().splitlines()[0]} |"
            )
            rows.extend(_rows(nested, f"{key}."))
        else:
            rows.append(f"| `{key}` | {_default(field)} | {field.description or ''} |")
    return rows


def render_markdown() -> str:
    header = ["| key | default | meaning |", "|---|---|---|"]
    return "\n".join(header + _rows(ClientConfig, "phistack:"))


def update_readme(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + render_markdown() + "\n" + text[end:]
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
