"""Each Ansible role's README, generated from its meta/argument_specs.yml (the source of truth for its variables).
A test fails when a README is stale: `phistack roles-docs --write` regenerates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from userfiles import UserFileError, load

HEADER = "<!-- Generated from meta/argument_specs.yml by `phistack roles-docs --write`; edit that file instead. -->"


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cell(value: Any) -> str:
    text = "" if value is None else (", ".join(map(_scalar, value)) if isinstance(value, list) else _scalar(value))
    return text.replace("|", "\\|").replace("\n", " ")


def _spec(role: Path) -> dict[str, Any]:
    """argument_specs.main of a role; UserFileError naming the file when it is not one."""
    path = role / "meta" / "argument_specs.yml"
    document = load(path, "argument spec")
    specs = document.get("argument_specs") if isinstance(document, dict) else None
    main = specs.get("main") if isinstance(specs, dict) else None
    if not isinstance(main, dict) or not isinstance(main.get("options", {}), dict) or "short_description" not in main:
        raise UserFileError(path, "no argument_specs.main with short_description and options.")
    for name, option in main.get("options", {}).items():
        if not isinstance(option, dict):
            raise UserFileError(path, f"option {name} is not a mapping.")
    return main


def render(role: Path) -> str:
    spec = _spec(role)
    lines = [HEADER, "", f"# Role `{role.name}`", "", spec["short_description"], ""]
    lines += [f"{' '.join(str(d).split())}\n" for d in spec.get("description", [])]
    lines += ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, option in spec.get("options", {}).items():
        kind = option.get("type", "str") + (f" of {option['elements']}" if option.get("elements") else "")
        default = "**required**" if option.get("required") else f"`{_cell(option.get('default'))}`"
        choices = f" One of: {_cell(option['choices'])}." if option.get("choices") else ""
        lines.append(f"| `{name}` | {kind} | {default} | {_cell(option.get('description'))}{choices} |")
    return "\n".join(lines) + "\n"


def roles(playbooks: Path) -> list[Path]:
    return sorted(p.parent.parent for p in playbooks.glob("roles/*/meta/argument_specs.yml"))


def stale(playbooks: Path) -> list[Path]:
    """The role READMEs that differ from what their specs generate."""
    out = []
    for role in roles(playbooks):
        readme = role / "README.md"
        if not readme.exists() or readme.read_text() != render(role):
            out.append(readme)
    return out


def write(playbooks: Path) -> list[Path]:
    """Every role's README, all rendered before the first is written: a broken spec changes nothing."""
    rendered = [(role / "README.md", render(role)) for role in roles(playbooks)]
    for path, text in rendered:
        path.write_text(text)
    return [path for path, _ in rendered]


def mismatched_defaults(role: Path) -> list[str]:
    """Variables whose defaults/main.yml value differs from the spec's default, or that only one of them has."""
    spec = _spec(role).get("options", {})
    defaults = load(role / "defaults" / "main.yml", "defaults file") or {}
    problems = [f"{name}: in defaults/main.yml, not in the spec" for name in sorted(set(defaults) - set(spec))]
    for name, option in spec.items():
        if option.get("required"):
            continue
        if name not in defaults:
            problems.append(f"{name}: in the spec, not in defaults/main.yml")
        elif defaults[name] != option.get("default"):
            problems.append(f"{name}: defaults/main.yml says {defaults[name]!r}, the spec {option.get('default')!r}")
    return problems
