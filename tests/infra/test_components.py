"""The components follow the house's rules for them (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path


def test_every_public_attribute_of_a_component_is_a_registered_output() -> None:
    """A component's public attributes are what other components and the stack outputs read: each is registered
    with register_outputs, so `pulumi stack output` and the component's state show what the program uses."""
    missing = []
    for path in sorted((Path(__file__).resolve().parents[2] / "infra" / "components").glob("*.py")):
        for cls in [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]:
            assigned, registered = set(), set()
            for node in ast.walk(cls):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                    node, ast.AnnAssign) else []  # fmt: skip
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        assigned |= {t.attr} if not t.attr.startswith("_") else set()
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register_outputs":
                    assert isinstance(node.args[0], ast.Dict), f"{cls.name}: register_outputs takes a literal dict"
                    registered |= {k.value for k in node.args[0].keys if isinstance(k, ast.Constant)}
            missing += [f"{path.name}: {cls.name}.{a}" for a in sorted(assigned - registered)]
    assert missing == []
