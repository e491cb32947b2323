"""`phistack report export` as a user runs it: from a verified bundle only, files written whole, mistakes
named with exit 2, and --to-security-hub importing, updating and archiving on emulated Security Hub (moto)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from compliance.assessment import write_report
from compliance.reports.bundle import load_or_create_key, sign_bundle
from compliance.reports.write import write_bundle
from phistack.cli import main
from tests.compliance.conftest import MakeFacts

MOTO_ACCOUNT = "123456789012"  # the account moto's default credentials are in


def _bundle(tmp_path: Path, compliant: MakeFacts, name: str = "bundle", account: str = MOTO_ACCOUNT) -> Path:
    """A live audit's signed bundle: one FAIL (versioning), one ERROR (an unreadable policy), the rest PASS."""
    from compliance.assessment import assess
    from compliance.controls import catalog

    facts = compliant()
    facts.source, facts.account = "live", account
    facts.items["buckets"][0]["versioning"] = None
    facts.items["buckets"][1]["policy"] = {"unreadable": {"api": "s3:GetBucketPolicy", "error": "AccessDenied"}}
    assessment = assess(facts, catalog(), [], "test")
    folder = tmp_path / name
    report = write_report(assessment, folder)
    write_bundle(report, facts, load_or_create_key(tmp_path / "keys" / "client.pem"), pdf=False)
    return folder


def _resign(folder: Path, tmp_path: Path, change: Any) -> None:
    report = json.loads((folder / "report.json").read_text())
    change(report)
    (folder / "report.json").write_text(json.dumps(report))
    sign_bundle(folder, load_or_create_key(tmp_path / "keys" / "client.pem"))


def test_export_writes_both_formats_from_a_verified_bundle(
    tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bundle(tmp_path, compliant)
    assert main(["report", "export", str(folder), "--out", str(tmp_path / "f.asff.json")]) == 0
    asff = json.loads((tmp_path / "f.asff.json").read_text())
    assert asff and all(f["AwsAccountId"] == MOTO_ACCOUNT for f in asff)
    assert "bundle verified" in capsys.readouterr().out
    assert main(["report", "export", str(folder), "--format", "ocsf", "--failing-only"]) == 0
    captured = capsys.readouterr()
    ocsf = json.loads(captured.out)  # standard output is the document alone; the summary goes to stderr
    assert {e["unmapped"]["phistack"]["status"] for e in ocsf} == {"FAIL", "ERROR"}
    assert f"{len(ocsf)} OCSF findings" in captured.err
    assert not list(tmp_path.glob(".*.partial"))


def test_a_bundle_that_does_not_verify_is_not_exported(
    tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bundle(tmp_path, compliant)
    report = folder / "report.json"
    report.write_text(report.read_text().replace('"FAIL"', '"PASS"'))  # a failure made to look clean
    out = tmp_path / "f.json"
    assert main(["report", "export", str(folder), "--out", str(out)]) == 1
    assert "does not verify: report.json" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--out", "{bundle}/f.json"], "whose manifest would then no longer verify"),
        (["--out", "{tmp}/missing/f.json"], "does not exist"),
        (["--format", "ocsf", "--to-security-hub"], "cannot be combined with --format ocsf"),
    ],
)
def test_export_mistakes_exit_2_and_write_nothing(
    tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    folder = _bundle(tmp_path, compliant)
    before = sorted(p.name for p in folder.iterdir())
    args = [a.format(bundle=folder, tmp=tmp_path) for a in extra]
    assert main(["report", "export", str(folder), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_bare_report_is_exported_and_said_unverified(
    tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bundle(tmp_path, compliant)
    bare = tmp_path / "report.json"
    bare.write_bytes((folder / "report.json").read_bytes())
    assert main(["report", "export", str(bare), "--out", str(tmp_path / "f.json")]) == 0
    assert "not verified" in capsys.readouterr().out
    assert main(["report", "export", str(bare), "--public-key", str(folder / "signing-key.pub.pem")]) == 2


def _hub_findings(session: boto3.Session) -> dict[str, dict[str, Any]]:
    pages = session.client("securityhub").get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


def test_to_security_hub_imports_updates_and_archives(
    aws: boto3.Session, tmp_path: Path, compliant: MakeFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _bundle(tmp_path, compliant)
    hub = aws.client("securityhub")
    hub.enable_security_hub()
    calls: list[int] = []
    real = boto3.Session.client

    def counting(self: boto3.Session, service: str, *args: Any, **kwargs: Any) -> Any:
        client = real(self, service, *args, **kwargs)
        client.meta.events.register(
            "provide-client-params.securityhub.BatchImportFindings",
            lambda params, **_: calls.append(len(params["Findings"])),
        )
        return client

    monkeypatch.setattr(boto3.Session, "client", counting)
    # more findings than one call takes: the same check on 150 more volumes
    _resign(folder, tmp_path, lambda r: _more_volumes(r, 150))
    assert main(["report", "export", str(folder), "--to-security-hub"]) == 0
    expected = json.loads((folder / "report.json").read_text())
    sent = sum(calls)
    assert max(calls) <= 100 and len(calls) >= 2
    first = _hub_findings(aws)
    assert len(first) == sent and all(f["RecordState"] == "ACTIVE" for f in first.values())
    assert {f["AwsAccountId"] for f in first.values()} == {expected["target"]["account"]}

    calls.clear()
    assert main(["report", "export", str(folder), "--to-security-hub"]) == 0  # again: updated, not doubled
    assert _hub_findings(aws).keys() == first.keys()

    _resign(folder, tmp_path, lambda r: _more_volumes(r, 0))  # the 150 volumes are gone
    assert main(["report", "export", str(folder), "--to-security-hub"]) == 0
    now = _hub_findings(aws)
    archived = {i for i, f in now.items() if f["RecordState"] == "ARCHIVED"}
    assert len(archived) == 150 and all("vol-extra" in i for i in archived)
    assert all(f["RecordState"] == "ACTIVE" for i, f in now.items() if i not in archived)


def _more_volumes(report: dict[str, Any], count: int) -> None:
    control = next(c for c in report["controls"] if c["id"] == "ec2-volumes-cmk")
    control["findings"] = [f for f in control["findings"] if "vol-extra" not in f["resource_id"]]
    template = control["findings"][0]
    for n in range(count):
        extra = copy.deepcopy(template)
        extra["resource_id"] = f"arn:aws:ec2:us-east-1:{report['target']['account']}:volume/vol-extra{n:04d}"
        control["findings"].append(extra)


def test_to_security_hub_only_from_the_audited_account(
    aws: boto3.Session, tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bundle(tmp_path, compliant, account="111122223333")
    assert main(["report", "export", str(folder), "--to-security-hub"]) == 2
    err = capsys.readouterr().err
    assert "credentials are for account 123456789012" in err and "only from 111122223333" in err
    assert _hub_findings(aws) == {}


def test_a_plan_is_not_sent_to_security_hub(
    aws: boto3.Session, tmp_path: Path, compliant: MakeFacts, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bundle(tmp_path, compliant)
    _resign(folder, tmp_path, lambda r: r["target"].update(kind="plan"))
    assert main(["report", "export", str(folder), "--to-security-hub"]) == 2
    assert "assesses a plan, not a live account" in capsys.readouterr().err
    assert _hub_findings(aws) == {}
