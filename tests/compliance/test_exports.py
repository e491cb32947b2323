"""Findings exports from report.json: ASFF checked against botocore's Security Hub model, OCSF against
py-ocsf-models' Compliance Finding; what leaves, with which status, and that the validation itself can fail."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pydantic
import pytest

from compliance.reports.asff import problems, render_asff, resource_type
from compliance.reports.export import records
from compliance.reports.ocsf import render_ocsf

Mixed = tuple[dict[str, Any], Any]


def _expected_records(report: dict[str, Any]) -> int:
    return sum(len(c["findings"]) or (1 if c["status"] in ("ERROR", "MANUAL") else 0) for c in report["controls"])


def test_asff_findings_are_valid_for_security_hub(mixed_report: Mixed) -> None:
    report, _ = mixed_report
    findings = render_asff(report)
    assert len(findings) == _expected_records(report) > 50
    for finding in findings:
        assert problems(finding) == [], finding["Id"]
    assert len({f["Id"] for f in findings}) == len(findings)  # one id each: a re-import updates, never doubles
    assert render_asff(report) == findings  # the same report gives the same findings
    by_status = Counter((f["ProductFields"]["phistack/Status"], f["Compliance"]["Status"]) for f in findings)
    assert set(by_status) == {
        ("PASS", "PASSED"), ("FAIL", "FAILED"), ("WAIVED", "FAILED"), ("ERROR", "NOT_AVAILABLE"), ("MANUAL", "WARNING")
    }  # fmt: skip
    passed = [f for f in findings if f["Compliance"]["Status"] == "PASSED"]
    assert {f["Severity"]["Label"] for f in passed} == {"INFORMATIONAL"}
    failed = [f for f in findings if f["ProductFields"]["phistack/Status"] == "FAIL"]
    assert {f["Severity"]["Label"] for f in failed} <= {"CRITICAL", "HIGH", "MEDIUM", "LOW"}
    versioning = next(f for f in failed if f["GeneratorId"] == "phistack/s3-versioning")
    assert versioning["Resources"][0]["Type"] == "AwsS3Bucket"
    assert versioning["Compliance"]["RelatedRequirements"] and all(
        r.startswith("HIPAA 164.") for r in versioning["Compliance"]["RelatedRequirements"]
    )
    waived = [f for f in findings if f["ProductFields"]["phistack/Status"] == "WAIVED"]
    assert waived and all(f["ProductFields"]["phistack/Waiver/Approver"] == "ciso@clinic.example" for f in waived)


def test_an_unknown_never_disappears_on_the_way_out(mixed_report: Mixed) -> None:
    """A MANUAL control has no finding of its own; it leaves as one WARNING on the account."""
    report, _ = mixed_report
    manual = [c for c in report["controls"] if c["status"] == "MANUAL" and not c["findings"]]
    assert manual
    findings = {f["GeneratorId"]: f for f in render_asff(report)}
    for control in manual:
        finding = findings[f"phistack/{control['id']}"]
        assert finding["Compliance"]["Status"] == "WARNING"
        assert finding["Resources"][0] == {
            "Type": "AwsAccount",
            "Id": f"AWS::::Account:{report['target']['account']}",
            "Partition": "aws",
            "Region": report["target"]["regions"][0],
        }
    not_applicable = [c["id"] for c in report["controls"] if c["status"] == "NOT_APPLICABLE" and not c["findings"]]
    assert not_applicable and not any(f"phistack/{c}" in findings for c in not_applicable)


def test_failing_only_keeps_fail_error_and_waived(mixed_report: Mixed) -> None:
    report, _ = mixed_report
    failing = render_asff(report, failing_only=True)
    statuses = Counter(f["ProductFields"]["phistack/Status"] for f in failing)
    assert set(statuses) == {"FAIL", "ERROR", "WAIVED"}
    every = Counter(f["ProductFields"]["phistack/Status"] for f in render_asff(report))
    assert all(statuses[s] == every[s] for s in statuses)
    assert len(render_ocsf(report, failing_only=True)) == len(failing)


def test_long_text_is_cut_to_asffs_limits(mixed_report: Mixed) -> None:
    report = copy.deepcopy(mixed_report[0])
    control = next(c for c in report["controls"] if c["findings"])
    control["findings"][0]["message"] = "word " * 2000
    control["findings"][0]["resource_id"] = "arn:aws:s3:::" + "b" * 700
    control["remediation"] = "step " * 300
    finding = render_asff(report)[0]
    assert problems(finding) == []
    assert len(finding["Description"]) == 1024 and finding["Description"].endswith("…")
    assert len(finding["Id"]) <= 512 and "sha256-" in finding["Id"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.pop("Title"), "finding: Title is required"),
        (lambda f: f["Compliance"].update(Status="OK"), "Compliance.Status: 'OK' is not one of PASSED"),
        (lambda f: f.update(Titel="x"), "finding: Titel is not a member of AwsSecurityFinding"),
        (lambda f: f.update(Title="t" * 300), "Title: 300 characters, more than 256"),
        (lambda f: f.update(AwsAccountId="12345"), "AwsAccountId: not a 12-digit account id"),
        (lambda f: f["Severity"].update(Label="SEVERE"), "Severity.Label: 'SEVERE' is not one of"),
        (lambda f: f.update(Resources=[]), "Resources: 0 resources; a finding names 1 to 32"),
        (lambda f: f.update(Description=" "), r"Description: does not match .*\S.*"),
    ],
)
def test_asff_validation_is_real(mixed_report: Mixed, change: Any, expected: str) -> None:
    finding = render_asff(mixed_report[0])[0]
    change(finding)
    assert any(p.startswith(expected) for p in problems(finding)), problems(finding)


def test_resource_types_are_security_hubs_names() -> None:
    assert resource_type("AWS::EC2::Instance") == "AwsEc2Instance"
    assert resource_type("AWS::S3::Bucket") == "AwsS3Bucket"
    assert resource_type("AWS::KMS::Key") == "AwsKmsKey"
    assert resource_type("AWS::CloudTrail::Trail") == "AwsCloudTrailTrail"
    assert resource_type("AWS::RDS::DBCluster") == "AwsRdsDbCluster"
    assert resource_type("AWS::EC2::Snapshot") == "Other"  # Security Hub has no details shape for it
    assert resource_type("phistack::Host") == "Other"


def _ocsf_models() -> tuple[Any, Any]:
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.objects.cloud import Cloud

    return ComplianceFinding, Cloud


def _validate_ocsf(event: dict[str, Any]) -> dict[str, Any]:
    """The event through py-ocsf-models and back: a field the model does not know would be dropped, so the
    round trip must give the event back exactly. ``cloud`` belongs to OCSF's cloud profile, which the package's
    Compliance Finding class does not carry: it is checked with the package's Cloud object on its own."""
    compliance_finding, cloud = _ocsf_models()
    rest = {k: v for k, v in event.items() if k != "cloud"}
    model = compliance_finding.model_validate(rest)
    cloud_back = cloud.model_validate(event["cloud"]).model_dump(mode="json", exclude_none=True)
    back: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    back["cloud"] = cloud_back
    return back


def test_ocsf_events_are_valid_compliance_findings(mixed_report: Mixed) -> None:
    report, _ = mixed_report
    events = render_ocsf(report)
    assert len(events) == _expected_records(report)
    for event in events:
        back = _validate_ocsf(event)
        back["compliance"]["checks"][0].pop("status", None)
        event = copy.deepcopy(event)
        event["compliance"]["checks"][0].pop("status", None)
        assert back == event, event["finding_info"]["uid"]
        assert event["class_uid"] == 2003 and event["type_uid"] == 200301
    asff_ids = [f["Id"] for f in render_asff(report)]
    assert [e["finding_info"]["uid"] for e in events] == asff_ids  # one id per finding in both formats
    by_status = Counter((e["unmapped"]["phistack"]["status"], e["compliance"]["status_id"]) for e in events)
    assert set(by_status) == {("PASS", 1), ("FAIL", 3), ("WAIVED", 3), ("ERROR", 2), ("MANUAL", 2)}
    waived = [e for e in events if e["unmapped"]["phistack"]["status"] == "WAIVED"]
    assert waived and {e["status"] for e in waived} == {"Suppressed"}
    assert "waiver" in waived[0]["unmapped"]["phistack"]


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["finding_info"].pop("title"),
        lambda e: e["compliance"].update(status_id=7),
        lambda e: e.update(severity_id="very"),
        lambda e: e["cloud"].pop("provider"),
    ],
)
def test_ocsf_validation_is_real(mixed_report: Mixed, change: Any) -> None:
    event = render_ocsf(mixed_report[0])[0]
    change(event)
    with pytest.raises(pydantic.ValidationError):
        _validate_ocsf(event)


def test_a_misspelled_ocsf_field_fails_the_round_trip(mixed_report: Mixed) -> None:
    event = render_ocsf(mixed_report[0])[0]
    event["finding_infos"] = event.pop("finding_info")
    event["finding_info"] = {"uid": "x", "title": "y"}
    assert _validate_ocsf(event) != event


def test_global_findings_are_filed_under_the_first_region(mixed_report: Mixed) -> None:
    report, _ = mixed_report
    home = report["target"]["regions"][0]
    global_ones = [r for r in records(report) if r.finding["region"] == "global"]
    assert global_ones and {r.region for r in global_ones} == {home}
