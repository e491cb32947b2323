"""Role READMEs are generated from meta/argument_specs.yml, and defaults/main.yml agrees with the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.hosts.roles_docs import mismatched_defaults, render, roles, stale

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def test_every_role_readme_is_current() -> None:
    assert {r.name for r in roles(PLAYBOOKS)} >= {"artifacts", "base"}
    assert stale(PLAYBOOKS) == [], "run `phistack roles-docs --write`"


@pytest.mark.parametrize("role", roles(PLAYBOOKS), ids=lambda r: r.name)
def test_defaults_match_the_argument_spec(role: Path) -> None:
    assert mismatched_defaults(role) == []
    assert "**required**" in render(role) or "required: true" not in (role / "meta/argument_specs.yml").read_text()


def test_a_drifted_default_is_named(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: d\n    options:\n"
        "      demo_port: {type: int, default: 5432, description: p}\n"
    )
    (role / "defaults" / "main.yml").write_text("demo_port: 5433\ndemo_extra: 1\n")
    assert mismatched_defaults(role) == [
        "demo_extra: in defaults/main.yml, not in the spec",
        "demo_port: defaults/main.yml says 5433, the spec 5432",
    ]
    assert stale(tmp_path) == [role / "README.md"]
