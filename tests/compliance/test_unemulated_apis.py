"""The APIs moto does not implement (GuardDuty's ListFindings/GetFindings, SSM's ListResourceComplianceSummaries):
the collectors' requests and their reading of the answers, checked with botocore's Stubber. The Stubber is a
stand-in for AWS, named as such: it checks every request against botocore's own service model (parameter names,
types, enums) and answers with documented shapes, so a wrong filter key or field name fails here, where moto
(which would answer ERROR) cannot tell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.facts import Facts
from compliance.facts.compute import PATCH_COMPLIANCE
from compliance.facts.logging import GUARDDUTY_FINDINGS
from compliance.sources.live._client import Scan
from compliance.sources.live.compute import patch_compliance
from compliance.sources.live.logging import guardduty_findings
from tests.compliance.test_fact_records import record_problems

REGION = "us-east-1"


@pytest.fixture
def scan() -> Scan:
    session = boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=REGION)
    return Scan(session, None, max_attempts=1)


def assert_records(kind: str, items: list[Any]) -> None:
    """The items are exactly their kind's record type, field by field (as for every kind moto can produce)."""
    facts = Facts("live", "111122223333", [REGION])
    facts.items[kind] = items
    assert record_problems(facts) == []


def stubbed(scan: Scan, service: str) -> Iterator[Stubber]:
    client = scan.client(service, REGION)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_guardduty_findings_asks_for_open_high_severity_only_and_reads_them(scan: Scan) -> None:
    criteria = {
        "Criterion": {"severity": {"GreaterThanOrEqual": 7}, "service.archived": {"Equals": ["false"]}}
    }  # fmt: skip
    finding: dict[str, Any] = {
        "AccountId": "111122223333", "Arn": "arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1",
        "CreatedAt": "2026-12-01T00:00:00Z", "Id": "f1", "Region": REGION, "Resource": {}, "SchemaVersion": "2.0",
        "Severity": 8.0, "Type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "UpdatedAt": "2026-12-01T00:00:00Z",
    }  # fmt: skip
    for stub in stubbed(scan, "guardduty"):
        stub.add_response("list_detectors", {"DetectorIds": ["d1", "d2"]}, {})
        stub.add_response(
            "list_findings", {"FindingIds": ["f1"]}, {"DetectorId": "d1", "FindingCriteria": criteria, "MaxResults": 50}
        )
        stub.add_response("get_findings", {"Findings": [finding]}, {"DetectorId": "d1", "FindingIds": ["f1"]})
        stub.add_response(
            "list_findings", {"FindingIds": []}, {"DetectorId": "d2", "FindingCriteria": criteria, "MaxResults": 50}
        )
        got = guardduty_findings(scan, REGION, "111122223333")
    assert got == [
        {"detector_id": "d1", "region": REGION, "open_high": [
            {"id": "f1", "type": finding["Type"], "severity": 8.0}
        ]},
        {"detector_id": "d2", "region": REGION, "open_high": []},
    ]  # fmt: skip
    assert_records(GUARDDUTY_FINDINGS.name, got)


def test_patch_compliance_reads_managed_instances_patch_summaries(scan: Scan) -> None:
    when = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    items = [
        {"ComplianceType": "Patch", "ResourceType": "ManagedInstance", "ResourceId": "i-1", "Status": "COMPLIANT",
         "ExecutionSummary": {"ExecutionTime": when}, "NonCompliantSummary": {"NonCompliantCount": 0}},
        {"ComplianceType": "Patch", "ResourceType": "ManagedInstance", "ResourceId": "i-2",
         "Status": "NON_COMPLIANT", "ExecutionSummary": {"ExecutionTime": when},
         "NonCompliantSummary": {"NonCompliantCount": 4}},
    ]  # fmt: skip
    for stub in stubbed(scan, "ssm"):
        stub.add_response(
            "list_resource_compliance_summaries",
            {"ResourceComplianceSummaryItems": items},
            {"Filters": [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}]},
        )
        got = patch_compliance(scan, REGION, "111122223333")
    assert got == [
        {"resource_id": "i-1", "region": REGION, "status": "COMPLIANT", "non_compliant": 0,
         "scanned_at": when.isoformat()},
        {"resource_id": "i-2", "region": REGION, "status": "NON_COMPLIANT", "non_compliant": 4,
         "scanned_at": when.isoformat()},
    ]  # fmt: skip
    assert_records(PATCH_COMPLIANCE.name, got)
