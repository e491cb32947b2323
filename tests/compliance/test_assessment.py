"""Assessment, waivers, manual attestations and the report contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compliance.assessment import SCHEMA, assess, evaluate_control
from compliance.controls import by_id, catalog
from compliance.errors import InputError
from compliance.facts import Facts
from compliance.model import Finding, Status, aggregate
from compliance.sources.plan import facts_from_plan
from compliance.waivers import load_waivers
from tests.compliance.conftest import MakeFacts

IDS = set(by_id())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def waiver_yaml(resource: str, expires: str = "2099-01-01", control: str = "s3-versioning") -> str:
    return (
        f"waivers:\n  - control: {control}\n    resource: '{resource}'\n    justification: Scratch data only.\n"
        f"    approver: ciso@clinic.example\n    expires: {expires}\n"
    )


def test_example_plan_passes_every_automated_control(example_plan: dict[str, object]) -> None:
    assessment = assess(facts_from_plan(example_plan), catalog(), [], "test")
    for r in assessment.results:
        if r.control.automated:
            assert r.status in (Status.PASS, Status.NOT_APPLICABLE), (r.control.id, r.note, r.findings)
            if r.status is Status.NOT_APPLICABLE:
                assert r.note or any(f.message for f in r.findings), f"{r.control.id} gives no reason"
    assert not assessment.failed


def test_report_contract(compliant: MakeFacts) -> None:
    report = assess(compliant(), catalog(), [], "9.9.9").to_json()
    assert report["schema"] == SCHEMA == "phistack/assessment/v1"
    assert report["target"] == {
        "kind": "plan",
        "account": "111122223333",
        "regions": ["us-east-1"],
        "client": "example-clinic",
    }
    assert set(report["summary"]) == {"PASS", "FAIL", "ERROR", "WAIVED", "MANUAL", "NOT_APPLICABLE"}
    assert sum(report["summary"].values()) == len(report["controls"]) == len(catalog())
    control = next(c for c in report["controls"] if c["id"] == "s3-versioning")
    assert {"id", "title", "severity", "hipaa", "status", "findings"} <= set(control)
    finding = control["findings"][0]
    assert set(finding) == {"resource_id", "resource_type", "region", "status", "message", "evidence"}
    assert finding["resource_id"].startswith("arn:aws:s3:::") and finding["resource_type"] == "AWS::S3::Bucket"


def test_waiver_turns_matching_failures_into_waived_and_keeps_the_rest(compliant: MakeFacts, tmp_path: Path) -> None:
    facts = compliant()
    for b in facts.items["buckets"]:
        b["versioning"] = None
    waivers = load_waivers(write(tmp_path, waiver_yaml("arn:aws:s3:::phistack-example-clinic-ssm-xfer-*")), IDS)
    result = next(r for r in assess(facts, catalog(), waivers, "t").results if r.control.id == "s3-versioning")
    waived = [f for f in result.findings if f.status is Status.WAIVED]
    assert len(waived) == 1 and "ssm-xfer" in waived[0].resource_id
    assert waived[0].waiver is not None and waived[0].waiver["approver"] == "ciso@clinic.example"
    assert result.status is Status.FAIL  # the other buckets still fail


def test_fully_waived_control_is_waived_and_unused_waivers_are_reported(compliant: MakeFacts, tmp_path: Path) -> None:
    facts = compliant()
    facts.items["kms_keys"][0]["rotation_enabled"] = False
    text = waiver_yaml("arn:aws:kms:*", control="kms-rotation") + waiver_yaml("nothing-matches")[len("waivers:\n") :]
    assessment = assess(facts, catalog(), load_waivers(write(tmp_path, text), IDS), "t")
    result = next(r for r in assessment.results if r.control.id == "kms-rotation")
    assert result.status is Status.WAIVED
    assert [w.resource for w in assessment.unused_waivers] == ["nothing-matches"]


def test_errors_are_never_waived(compliant: MakeFacts, tmp_path: Path) -> None:
    facts = compliant()
    facts.items["buckets"][0]["versioning"] = {"unreadable": {"api": "s3:GetBucketVersioning", "error": "AccessDenied"}}
    waivers = load_waivers(write(tmp_path, waiver_yaml("*")), IDS)
    result = next(r for r in assess(facts, catalog(), waivers, "t").results if r.control.id == "s3-versioning")
    assert result.status is Status.ERROR


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (waiver_yaml("*", expires="2020-01-01"), "expired on 2020-01-01"),
        (waiver_yaml("*", control="no-such-control"), "not in the catalog"),
        (waiver_yaml("*", expires="soon"), "is not a date"),
        ("waivers:\n  - control: s3-versioning\n", "lacks resource, justification, approver, expires"),
        (waiver_yaml("*").replace("approver:", "owner: x\n    approver:"), "unknown field(s) owner"),
        ("waivers: [\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping with a 'waivers:' list"),
    ],
)
def test_bad_waiver_files_are_input_errors(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_waivers(write(tmp_path, text), IDS)


def test_manual_controls_follow_the_attestations(compliant: MakeFacts) -> None:
    facts: Facts = compliant()
    today = dt.date.today()
    facts.context.attestations["risk_analysis_completed"] = (today - dt.timedelta(days=400)).isoformat()
    facts.context.attestations["workforce_training_completed"] = None
    results = {c.id: evaluate_control(c, facts, today) for c in catalog() if not c.automated}
    assert results["manual-baa-aws"].status is Status.PASS
    assert "cannot verify" in results["manual-baa-aws"].findings[0].message
    assert results["manual-risk-analysis"].status is Status.FAIL
    assert "older than a year" in results["manual-risk-analysis"].findings[0].message
    assert results["manual-workforce-training"].status is Status.MANUAL
    assert "Training records" in results["manual-workforce-training"].note


def test_aggregate_order() -> None:
    def f(s: Status) -> Finding:
        return Finding(s, "r", "AWS::S3::Bucket", "m.")

    assert aggregate([f(Status.PASS), f(Status.FAIL), f(Status.ERROR)]) is Status.FAIL
    assert aggregate([f(Status.PASS), f(Status.ERROR)]) is Status.ERROR
    assert aggregate([f(Status.PASS), f(Status.WAIVED)]) is Status.WAIVED
    assert aggregate([f(Status.PASS)]) is Status.PASS
    assert aggregate([]) is Status.NOT_APPLICABLE
