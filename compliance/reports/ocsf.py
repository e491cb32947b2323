"""findings.ocsf.json: report.json's findings as OCSF 1.5 Compliance Finding events (class 2003), with the
cloud profile, one event per exported record (compliance/reports/export.py), as one JSON array.

- compliance.status_id: PASS -> Pass, FAIL and WAIVED -> Fail, ERROR and MANUAL -> Warning ("did not yield a
  result due to missing information"); the exact phistack status is in compliance.checks[0].status.
- status_id (the finding's workflow): New, or Suppressed for a waived failure (the waiver in ``unmapped``).
- severity_id is the control's severity, for every status: the compliance status says whether it held.
- resources[0].data carries the evidence the finding was decided on (configuration, never PHI).
Times are milliseconds since the epoch, as OCSF's timestamp type is.
"""

from __future__ import annotations

from typing import Any

from compliance.hipaa import PARAGRAPHS
from compliance.reports.export import Record, generated_at, partition, records

OCSF_VERSION = "1.5.0"
CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2003, 2, 1
STANDARD = "HIPAA Security Rule (45 CFR Part 164, Subpart C)"
COMPLIANCE_STATUS = {"PASS": 1, "FAIL": 3, "WAIVED": 3, "ERROR": 2, "MANUAL": 2}  # Pass, Fail, Warning
SEVERITY = {"low": (2, "Low"), "medium": (3, "Medium"), "high": (4, "High"), "critical": (5, "Critical")}


def _event(report: dict[str, Any], record: Record, millis: int) -> dict[str, Any]:
    control, finding = record.control, record.finding
    target = report["target"]
    status = finding["status"]
    status_id = COMPLIANCE_STATUS[status]
    severity_id, severity = SEVERITY[control["severity"]]
    requirements = [f"HIPAA Security Rule {c} {PARAGRAPHS.get(c, '')}".strip() for c in control["hipaa"]]
    unmapped: dict[str, Any] = {"phistack": {"status": status, "control_status": control["status"]}}
    if finding.get("waiver"):
        unmapped["phistack"]["waiver"] = finding["waiver"]
    resource: dict[str, Any] = {
        "uid": finding["resource_id"],
        "type": finding["resource_type"],
        "region": record.region,
        "cloud_partition": partition(record.region),
    }
    if finding.get("evidence"):
        resource["data"] = finding["evidence"]
    return {
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "phistack", "vendor_name": "phistack", "version": report["tool"]["version"]},
            "profiles": ["cloud"],
            "event_code": control["id"],
            "uid": record.uid,
        },
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "time": millis,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 3 if status == "WAIVED" else 1,
        "status": "Suppressed" if status == "WAIVED" else "New",
        "message": finding["message"],
        "finding_info": {
            "uid": record.uid,
            "title": f"{control['id']}: {control['title']}",
            "desc": control["rationale"],
            "types": [STANDARD],
            "created_time": millis,
        },
        "compliance": {
            "control": control["id"],
            "desc": control["title"],
            "requirements": requirements,
            "standards": [STANDARD],
            "status_id": status_id,
            "checks": [
                {
                    "uid": control["id"],
                    "name": control["title"],
                    "desc": control["rationale"],
                    "severity": control["severity"],
                    "severity_id": severity_id,
                    "standards": [STANDARD],
                    "status": status,
                    "status_id": status_id,
                }
            ],
        },
        "remediation": {"desc": control["remediation"]},
        "resources": [resource],
        "cloud": {
            "provider": "AWS",
            "region": record.region,
            "account": {
                "uid": target["account"],
                "name": target.get("client") or target["account"],
                "type_id": 10,
                "type": "AWS Account",
            },
        },
        "unmapped": unmapped,
    }


def render_ocsf(report: dict[str, Any], *, failing_only: bool = False) -> list[dict[str, Any]]:
    millis = int(generated_at(report).timestamp() * 1000)
    return [_event(report, r, millis) for r in records(report, failing_only=failing_only)]
