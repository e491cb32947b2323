"""The playbooks: ansible-lint's production profile and a syntax check, then Molecule on a real Debian 12 host
(systemd-nspawn, tests/hosts/nspawn.py): converge, a second run with changed=0, --check with changed=0, verify."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
BIN = Path(sys.executable).parent


def _run(*cmd: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    return subprocess.run(cmd, cwd=PLAYBOOKS, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_ansible_lint_production_profile_and_syntax() -> None:
    lint = _run(str(BIN / "ansible-lint"), "--offline")
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in lint.stdout + lint.stderr
    syntax = _run(str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", "site.yml")
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("debootstrap") is None,
    reason="needs root, systemd-nspawn and debootstrap (scripts/system-deps.sh installs them)",
)
def test_molecule_converges_idempotently_on_a_real_host() -> None:
    result = _run(str(BIN / "molecule"), "test")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    for step in ("converge", "idempotence", "check", "verify"):
        assert f"default > {step}: Executed: Successful" in out, step
