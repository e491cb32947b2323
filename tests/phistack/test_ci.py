"""CI's own scripts (scripts/test.sh and its helpers): uv installs from where pip would, the lanes' results add up
to one honest closing line, a stage's line and exit status survive its failure, and every test that boots a Debian
13 host is in the host lane (where it does not crowd the cores the other tests need)."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


def _script(name: str) -> ModuleType:
    """A module of scripts/ (not a package: setup and CI run them as files), loaded from its path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


uv_env = _script("uv_env")

PIP_CONFIG = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/other.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/srv/ignored'
install.index-url='https://mirror.example/simple'
"""


def test_pip_configuration_is_said_in_uvs_words_the_environment_winning() -> None:
    config = uv_env.parse(PIP_CONFIG)
    assert config["find-links"] == "/opt/wheels"  # :env: beats global
    assert config["cert"] == "/etc/ssl/certs/ca-certificates.crt"
    lines = dict(line.removeprefix("export ").split("=", 1) for line in uv_env.exports(config))
    assert lines == {
        "PHISTACK_FIND_LINKS": "/opt/wheels",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        "UV_CONSTRAINT": "/etc/xdg/pip/constraints.txt",
        "UV_EXTRA_INDEX_URL": "'file:///opt/pypi/simple file:///opt/pypi-more/simple'",
        "UV_HTTP_TIMEOUT": "180",
        "UV_INDEX_URL": "https://mirror.example/simple",
        "UV_INDEX_STRATEGY": "unsafe-best-match",  # pip's choice: the best version from any index
        "UV_NATIVE_TLS": "1",
    }


def test_several_values_one_per_line_are_all_kept() -> None:
    config = uv_env.parse("global.extra-index-url='\\nhttps://a.example/simple\\nhttps://b.example/simple'")
    assert config["extra-index-url"] == "https://a.example/simple https://b.example/simple"


@pytest.mark.parametrize("listing", ["global.proxy='http://proxy:3128'", "install.only-binary=':all:'"])
def test_a_setting_uv_would_not_follow_sends_setup_to_pip(listing: str) -> None:
    with pytest.raises(uv_env.Untranslatable):
        uv_env.exports(uv_env.parse(listing))


def test_no_pip_configuration_leaves_uv_on_its_defaults_but_picks_versions_as_pip_does() -> None:
    assert uv_env.exports(uv_env.parse("")) == ["export UV_INDEX_STRATEGY=unsafe-best-match"]


def _junit(folder: Path, name: str, cases: str) -> Path:
    path = folder / name
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')
    return path


def _total(*paths: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true" if ci else "false"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "junit_total.py"), *map(str, paths)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def test_the_lanes_add_up_to_one_closing_line(tmp_path: Path) -> None:
    a = _junit(tmp_path, "a.xml", '<testcase classname="t" name="one"/><testcase classname="t" name="two"/>')
    b = _junit(
        tmp_path, "b.xml",
        '<testcase classname="u" name="three"><failure message="boom"/></testcase>'
        '<testcase classname="u" name="four"><skipped message="on demand: set X"/></testcase>',
    )  # fmt: skip
    result = _total(a, b, ci=True)
    assert result.stdout.splitlines()[-1] == "pytest: 2 passed, 1 failed, 1 skipped"
    assert result.returncode == 1  # a failure anywhere fails the run
    clean = _total(a, _junit(tmp_path, "c.xml", '<testcase classname="u" name="x"/>'), ci=True)
    assert clean.returncode == 0 and clean.stdout.splitlines()[-1] == "pytest: 3 passed, 0 failed, 0 skipped"


def test_under_ci_a_skip_for_a_missing_tool_fails_the_run(tmp_path: Path) -> None:
    """A machine without systemd-nspawn would skip the host tests: CI must say so by failing, not pass unrun."""
    lane = _junit(tmp_path, "a.xml", '<testcase classname="t" name="h"><skipped message="needs root"/></testcase>')
    assert _total(lane, ci=True).returncode == 1
    assert "skipped: t::h: needs root" in _total(lane, ci=True).stdout
    assert _total(lane, ci=False).returncode == 0  # a developer's machine may lack it


def test_a_lane_that_wrote_no_results_fails_the_run(tmp_path: Path) -> None:
    result = _total(tmp_path / "never-written.xml", ci=True)
    assert result.returncode == 1 and "did not run its tests" in result.stdout


def test_a_stage_prints_its_time_and_keeps_its_exit_status(tmp_path: Path) -> None:
    script = f""". {ROOT}/scripts/stages.sh
stage quick true
stage broken sh -c 'exit 7' || echo "returned $?"
stages_report
"""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    out = result.stdout
    assert re.search(r"^== quick: ok in \d+\.\d s$", out, re.M), out
    assert re.search(r"^== broken: FAILED \(exit 7\) in \d+\.\d s$", out, re.M), out
    assert "returned 7" in out
    table = out.split("== stage timings", 1)[1]
    assert re.search(r"\d+\.\d s  quick +ok", table) and re.search(r"broken +FAILED \(exit 7\)", table), table


HOST_BOOTING = re.compile(r"nspawn\.up\(|nspawn\.rootfs\(|BIN / \"molecule\"|\"demo\", \"--host\"|debs\.download\(")


@pytest.mark.parametrize("module", sorted((ROOT / "tests").rglob("test_*.py")), ids=lambda p: p.name)
def test_every_test_that_boots_a_host_is_in_the_host_lane(module: Path) -> None:
    """scripts/test.sh runs tests marked `host` in a lane of their own; an unmarked one would run among the fast
    tests, holding one of their workers for minutes. Judged per function: a test that boots a host carries the
    marker itself or through the module's pytestmark; a fixture or helper that does needs the module's. A test that
    only looks like it (the refusal before any host exists) says `boots no host` in a comment."""
    source = module.read_text()
    tree = ast.parse(source)
    marked_module = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and "pytest.mark.host" in (ast.get_source_segment(source, node.value) or "")
        for node in tree.body
    )
    for node in tree.body:
        text = ast.get_source_segment(source, node) or ""
        if not isinstance(node, ast.FunctionDef) or not HOST_BOOTING.search(text) or "boots no host" in text:
            continue
        marked = marked_module or any(
            "pytest.mark.host" in (ast.get_source_segment(source, d) or "") for d in node.decorator_list
        )
        where = f"{module.relative_to(ROOT)}::{node.name}"
        assert marked, f"{where} boots a Debian 13 host: mark it (or its module, for a fixture) pytest.mark.host"
