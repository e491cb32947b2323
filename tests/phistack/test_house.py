"""The house holds (docs/architecture.md): errors caught by their package's root, imports one way (import-linter
contracts), no cycle in the command, and a core that installs and runs without the extras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.phistack.test_cli import phistack


@pytest.mark.parametrize(
    ("root", "code"),
    [("infra.errors:InfraError", 3), ("compliance.errors:ComplianceError", 3), ("phistack.errors:PhistackError", 3),
     ("infra.errors:ConfigError", 2), ("compliance.errors:InputError", 2), ("phistack.errors:UsageError", 2),
     ("userfiles:UserFileError", 2)],
)  # fmt: skip
def test_errors_are_caught_by_their_root_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: str, code: int
) -> None:
    """A kind of error added later (a new subclass of a package's root) is one line and its code, never a
    traceback: main() catches the three roots, not a list of subclasses."""
    import importlib

    import phistack.cli as cli

    module, name = root.split(":")
    base = getattr(importlib.import_module(module), name)
    new_kind = type("NewKind", (base,), {})

    def failing(_: object) -> int:
        if name in ("ConfigError", "UserFileError"):
            raise new_kind("no-such-thing", ["a problem."] if name == "ConfigError" else "a problem.")
        raise new_kind("a problem.")

    monkeypatch.setattr(cli, "cmd_plan", failing)
    assert cli.main(["plan"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "a problem." in err


def test_the_command_modules_do_not_import_the_cli_back() -> None:
    """phistack/cli.py parses arguments and dispatches; what commands share lives in phistack/pipeline.py, so no
    module of the package imports cli.py (no import cycle)."""
    import ast

    importers = []
    for path in sorted((ROOT / "phistack").rglob("*.py")):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "phistack.cli":
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == []


def test_the_packages_import_one_way() -> None:
    """The house's import rules (docs/architecture.md), as import-linter contracts in pyproject.toml: infra knows
    nothing of compliance, compliance never imports infra (it reads plan.json as data), stack stands apart and never
    deploys its dev tooling, the userfiles and contract leaves import none of ours, compliance flows sources → facts
    → controls → assessment → reports, and the phistack command has no cycle."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "8 kept, 0 broken" in result.stdout


BLOCK_EXTRAS = """
import sys
from importlib.abc import MetaPathFinder

EXTRAS = {"torch", "sentence_transformers", "fastapi", "psycopg", "llama_cpp", "ansible", "molecule",
          "pulumi_policy", "cfnlint", "sympy", "networkx", "stack"}


class NoExtras(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in EXTRAS:
            raise ImportError(f"the core imported {name}, which only an extra installs")
        return None


sys.meta_path.insert(0, NoExtras())
"""


def test_the_core_commands_need_no_extra(tmp_path: Path) -> None:
    """`bash scripts/demo.sh` installs the core only (setup.sh core): plan, check, audit, reports, sandbox and demo
    must never import the gateway's model stack, the installer, the policy pack or moto's server extras, in the
    command or in the emulator it starts (a sitecustomize on PYTHONPATH blocks them in every Python process)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_EXTRAS)
    env = {"PYTHONPATH": f"{blocker}:{ROOT}", "PHISTACK_SANDBOX_DIR": str(tmp_path / "sandbox")}
    probe = subprocess.run(
        [sys.executable, "-c", "import stack"], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert "only an extra installs" in probe.stderr  # the blocker is in force
    for args in (
        ["plan", "--client", "example", "--out", str(tmp_path / "plan.json")],
        ["check", "--plan", str(tmp_path / "plan.json"), "--no-pdf", "--out", str(tmp_path / "check")],
        ["demo", "--no-pdf", "--out", str(tmp_path / "demo")],
    ):
        result = phistack(*args, env=env)
        assert "only an extra installs" not in result.stderr, result.stderr[-2000:]
        assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "demo" / "report.json").read_text())["summary"]["FAIL"] == 0


def test_an_emulator_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    """Without a package the emulator needs (here flask, blocked), the demo stops with one line and exit 3."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_EXTRAS.replace('"stack"}', '"stack", "flask"}'))
    result = phistack("demo", "--no-pdf", "--out", str(tmp_path / "demo"), env={"PYTHONPATH": f"{blocker}:{ROOT}"})
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "moto server on http://127.0.0.1:" in result.stderr and "did not start" in result.stderr
