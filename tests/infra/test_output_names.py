"""Every stack output the docs and help texts name ("stack output buckets.artifacts") exists in the outputs the
program exports: a renamed or invented output name (the roles once said `artifactBucket`) fails here."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.config import ClientConfig
from infra.plan import Plan
from tests.conftest import ROOT

# A name: dotted, snake_case or camelCase (so prose such as "stack outputs and ..." is not one).
NAMED = re.compile(r"stack outputs? ((?=[a-z]*(?:[._][a-zA-Z]|[A-Z]))[a-zA-Z]+(?:[._][a-zA-Z]+)*)")


def _sources() -> list[Path]:
    files = [*ROOT.glob("playbooks/roles/*/meta/argument_specs.yml"), *ROOT.glob("playbooks/roles/*/defaults/*.yml")]
    return [*files, *ROOT.glob("phistack/*.py"), *ROOT.glob("infra/*.py"), ROOT / "README.md"]


def _has(outputs: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(outputs, dict) or part not in outputs:
            return False
        outputs = outputs[part]
    return True


def test_every_named_stack_output_exists(planned: Callable[[str], tuple[ClientConfig, Plan]]) -> None:
    _, plan = planned("example")
    named = {(path.relative_to(ROOT).as_posix(), m) for path in _sources() for m in NAMED.findall(path.read_text())}
    assert any(name == "buckets.artifacts" for _, name in named)  # the scan finds what it should
    unknown = sorted((where, name) for where, name in named if not _has(plan.outputs, name))
    assert unknown == []
