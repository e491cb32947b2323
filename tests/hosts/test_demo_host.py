"""`phistack demo --host`, as a user runs it: the example applied to emulated AWS, the stack installed by the real
playbooks onto a local Debian 13 host standing in for the GPU instance, a clinic user's question answered with a
citation, and the account audited with that host's evidence (host controls judged, not ERROR for lack of it).
Without what it needs, it says so in one line before anything is created."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phistack.testhost import demo, nspawn
from tests.conftest import ROOT


def _phistack(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phistack", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_readme_shows_the_reconcile_command_the_demo_runs() -> None:
    assert demo.RECONCILE_COMMAND in (ROOT / "README.md").read_text()


def test_without_its_tools_it_says_what_it_needs_in_one_line_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    result = _phistack("demo", "--host", "--out", str(out), env={"PATH": str(empty)})  # boots no host: refused first
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs root, systemd-nspawn" in lines[0], result.stderr
    assert "missing here:" in lines[0] and "systemd-nspawn" in lines[0].split("missing here:")[1]
    assert not out.exists()


def test_the_answer_printer_names_each_source_and_whether_the_answer_cites_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from phistack.sandbox_commands import _print_answer

    answer = demo.Answer("Q?", " An answer [1].\n\nSources:\n[1] Policy\n", [
        {"index": 1, "document": "Policy", "chunk": 0, "score": 0.625, "cited": True},
        {"index": 2, "document": "Other", "chunk": 3, "score": 0.4, "cited": False},
    ])  # fmt: skip
    _print_answer(answer)
    assert capsys.readouterr().out.splitlines() == [
        "Q: Q?",
        "A: An answer [1].",
        "",
        "Sources:",
        "[1] Policy",
        "citations:",
        "   [1] Policy (chunk 0, score 0.62, marked [n] in the answer)",
        "   [2] Other (chunk 3, score 0.40, not marked in the answer)",
    ]


needs_host = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(tool) is None for tool in demo.TOOLS),
    reason="needs root, systemd-nspawn, debootstrap, ssh and git (scripts/system-deps.sh installs them)",
)


@pytest.mark.host
@needs_host
def test_the_whole_flow_onto_a_local_debian_13_host() -> None:
    """The README's command as written (`phistack demo --host`, its report in out/demo)."""
    out = ROOT / "out" / "demo"
    result = _phistack("demo", "--host", timeout=2700)  # a guard against a hang: 9-12 min alone here
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert "4/7 installing the stack on i-" in result.stderr and "failed=0" in result.stderr
    # The README's point-in-time restore, run on the host: what was committed before the moment is back, what came
    # after is gone, the chain verifies, and the gateway answers again.
    drilled = re.search(
        r"restored to (.+?) in \d+ s: (\d+) events kept \(to sequence (\d+)\), the (\d+) after", result.stderr
    )
    assert drilled and int(drilled[2]) > 0 and int(drilled[4]) > 0, result.stderr[-3000:]
    assert f"audit trail intact: {drilled[2]} events, every hash and link verified" in result.stderr

    # The clinician's question, answered from the administrator's document, with the citation shown.
    assert result.stdout.startswith(f"Q: {demo.QUESTION}\nA: ")
    assert f"   [1] {demo.DOCUMENT_TITLE} (chunk 0, score " in result.stdout
    # A document put into the stack's document bucket, taken by the host's phistack-sync from the bucket's
    # event queue, retrievable and cited by its S3 key and version (issue 16).
    assert f"synced: s3://phistack-example-clinic-docs-111122223333/{demo.SYNCED_KEY}" in result.stdout
    # The README's reconcile command, run on the host as written: nothing left to repair.
    assert "reconciled s3://phistack-example-clinic-docs-111122223333: 0 ingested" in result.stderr
    assert "0 failed" in result.stderr.split("reconciled s3://")[1].splitlines()[0]

    report = json.loads((out / "report.json").read_text())
    controls = {c["id"]: c for c in report["controls"]}
    host_findings = [f for c in controls.values() if c["id"].startswith("host-") for f in c["findings"]]
    instance = host_findings[0]["resource_id"].split("/")[0]
    assert instance.startswith("i-")  # the local host stands in for the emulated account's GPU instance
    # Judged on the wire and from systemd: PostgreSQL, the engine and the gateway speak TLS 1.2+ only, each
    # service runs under its own user.
    assert controls["host-tls-only"]["status"] == "PASS" and len(controls["host-tls-only"]["findings"]) == 3
    assert controls["host-service-users"]["status"] == "PASS"
    # Read from the running server and the archive: every WAL file archived, the base backups there (the role's
    # first, the one the restore takes on its new timeline, and the daily unit's, started by the drill).
    archive = controls["host-db-point-in-time"]
    assert archive["status"] == "PASS" and archive["findings"][0]["evidence"]["base_backups"] >= 3, archive
    # The host anchored its audit chain in the emulated Object-Locked archive; the drill's restore acknowledged
    # itself there (phistack-db-archive), so the trail verifies against every anchor and the report says so.
    trail = controls["host-audit-trail-anchored"]
    assert trail["status"] == "PASS", trail
    said = trail["findings"][0]["message"]
    assert "The trail was restored (acknowledged by" in said and ": phistack-db-archive restore to " in said, said
    # The anchor taken as the restore stopped the gateway named an event the restore took back: replaced by it.
    (restore,) = trail["findings"][0]["evidence"]["restores"]
    assert restore["replaced_anchors"] >= 1 and restore["replaced_from_seq"] > int(drilled[3]), restore
    # Reached over SSH (no SSM here): a FAIL, shown as waived with the reason.
    no_ssh = controls["host-no-ssh"]
    assert no_ssh["status"] == "WAIVED" and "SSM" in no_ssh["findings"][0]["waiver"]["justification"]
    # What a container cannot have stays ERROR, with the reason, never PASS.
    assert controls["host-audit-rules"]["status"] == "ERROR"
    assert "overlay" in controls["host-phi-volume-encrypted"]["findings"][0]["message"]
    assert report["summary"]["FAIL"] == 0 and result.returncode == 0

    verify = _phistack("report", "verify", str(out))
    assert verify.returncode == 0, verify.stderr
    # Nothing left running: the host is powered off, its veth removed; the emulator is stopped.
    assert not nspawn._nspawn_pids(demo.HOST_NAME)
    assert subprocess.run(["ip", "link", "show", f"ve-{demo.HOST_NAME}"], capture_output=True).returncode != 0
