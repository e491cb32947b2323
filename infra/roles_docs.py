"""Each Ansible role's README, generated from its meta/argument_specs.yml (the source of truth for its variables).
A test fails when a README is stale: `phistack roles-docs --write` regenerates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HEADER = "<!-- Generated from meta/argument_specs.yml by `phistack roles-docs --write`; edit that file instead. -->"


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cell(value: Any) -> str:
    text = "" if value is None else (", ".join(map(_scalar, value)) if isinstance(value, list) else _scalar(value))
    return text.replace("|", "\\|").replace("\n", " ")


def render(role: Path) -> str:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
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
    written = []
    for role in roles(playbooks):
        (role / "README.md").write_text(render(role))
        written.append(role / "README.md")
    return written


def mismatched_defaults(role: Path) -> list[str]:
    """Variables whose defaults/main.yml value differs from the spec's default, or that only one of them has."""
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    problems = [f"{name}: in defaults/main.yml, not in the spec" for name in sorted(set(defaults) - set(spec))]
    for name, option in spec.items():
        if option.get("required"):
            continue
        if name not in defaults:
            problems.append(f"{name}: in the spec, not in defaults/main.yml")
        elif defaults[name] != option.get("default"):
            problems.append(f"{name}: defaults/main.yml says {defaults[name]!r}, the spec {option.get('default')!r}")
    return problems
