"""oscal-assessment-results.json: NIST OSCAL 1.1 assessment-results from report.json.

- one observation per finding (what was examined, the resource, the message, the evidence file);
- one OSCAL finding per (phistack control, HIPAA paragraph), whose target is the paragraph as an OSCAL token
  (``164.312(e)(2)(ii)`` -> ``hipaa-164.312-e-2-ii``), linked to the control's observations;
- OSCAL knows only "satisfied" and "not-satisfied": PASS is satisfied; everything else is not-satisfied,
  and the exact phistack status (FAIL, WAIVED, ERROR, MANUAL, NOT_APPLICABLE) is kept in a prop and the
  remarks, so an unknown is never presented as satisfied.
UUIDs are version 5, derived from the report, so rendering the same report.json twice gives the same file.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from compliance.hipaa import PARAGRAPHS

OSCAL_VERSION = "1.1.2"
NS = "https://github.com/phistack/phistack/ns/oscal"
ROOT = uuid.UUID("6f1c3d2a-4b5e-5f60-8a71-92b3c4d5e6f7")
KIND_OF_FACT = {  # resource type prefix -> evidence file the finding was decided on
    "AWS::EC2::VPC": "vpcs", "AWS::EC2::Subnet": "subnets", "AWS::EC2::InternetGateway": "internet_gateways",
    "AWS::EC2::NatGateway": "nat_gateways", "AWS::EC2::RouteTable": "route_tables",
    "AWS::EC2::SecurityGroup": "security_groups", "AWS::EC2::NetworkAcl": "network_acls",
    "AWS::EC2::Instance": "instances", "AWS::EC2::Volume": "volumes", "AWS::EC2::Snapshot": "snapshots",
    "AWS::EC2::LaunchTemplate": "launch_templates", "AWS::KMS::Key": "kms_keys", "AWS::S3::Bucket": "buckets",
    "AWS::CloudTrail::Trail": "trails", "AWS::Logs::LogGroup": "log_groups", "AWS::SNS::Topic": "sns_topics",
    "AWS::IAM::Policy": "iam_policies", "AWS::IAM::User": "iam_users", "AWS::RDS::DBCluster": "db_clusters",
}  # fmt: skip


def token(citation: str) -> str:
    """An OSCAL token (letters, digits, . - _) for a HIPAA paragraph."""
    return "hipaa-" + "-".join(p for p in re.split(r"[()]+", citation) if p)


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(ROOT, "\x1f".join(parts)))


def _prop(name: str, value: Any) -> dict[str, str]:
    text = " ".join(str(value).split()) or "-"
    return {"name": name, "ns": NS, "value": text}


def render_oscal(report: dict[str, Any]) -> dict[str, Any]:
    target, when = report["target"], report["generated_at"]
    seed = f"{target['account']}|{target['kind']}|{when}"
    plan_uuid = _uuid(seed, "plan")
    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    reviewed: list[str] = []
    for control in report["controls"]:
        related = []
        manual = not control.get("automated", True)
        for n, f in enumerate(control["findings"]):
            obs_uuid = _uuid(seed, control["id"], f["resource_id"], str(n))
            kind = KIND_OF_FACT.get(f["resource_type"])
            observation: dict[str, Any] = {
                "uuid": obs_uuid,
                "title": f"{control['id']}: {f['resource_id']}",
                "description": f["message"],
                "props": [
                    _prop("resource-id", f["resource_id"]),
                    _prop("resource-type", f["resource_type"]),
                    _prop("region", f["region"]),
                    _prop("phistack-status", f["status"]),
                ],
                "methods": ["INTERVIEW" if manual else "EXAMINE"],
                "collected": when,
            }
            if kind is not None:
                observation["relevant-evidence"] = [
                    {"href": f"evidence/{kind}.json", "description": f"The {kind} facts this finding was decided on."}
                ]
            observations.append(observation)
            related.append({"observation-uuid": obs_uuid})
        satisfied = control["status"] == "PASS"
        remarks = f"phistack status {control['status']}." + (f" {control['note']}" if control.get("note") else "")
        for citation in control["hipaa"]:
            reviewed.append(citation)
            finding: dict[str, Any] = {
                "uuid": _uuid(seed, control["id"], citation),
                "title": f"{citation} {PARAGRAPHS.get(citation, '')}: {control['title']}",
                "description": control["rationale"],
                "props": [
                    _prop("control-id", control["id"]),
                    _prop("hipaa-citation", citation),
                    _prop("severity", control["severity"]),
                    _prop("phistack-status", control["status"]),
                ],
                "target": {
                    "type": "objective-id",
                    "target-id": token(citation),
                    "status": {"state": "satisfied" if satisfied else "not-satisfied", "remarks": remarks},
                },
            }
            if related:
                finding["related-observations"] = related
            findings.append(finding)
    result: dict[str, Any] = {
        "uuid": _uuid(seed, "result"),
        "title": f"HIPAA Security Rule assessment of {target.get('client') or target['account']}",
        "description": f"phistack {report['tool']['version']} {target['kind']} assessment of AWS account "
        f"{target['account']} in {', '.join(target['regions'])}.",
        "start": when,
        "end": when,
        "props": [_prop("target-kind", target["kind"])],
        "reviewed-controls": {
            "control-selections": [{"include-controls": [{"control-id": token(c)} for c in dict.fromkeys(reviewed)]}]
        },
        "observations": observations,
        "findings": findings,
    }
    return {
        "assessment-results": {
            "uuid": _uuid(seed, "assessment-results"),
            "metadata": {
                "title": f"phistack HIPAA assessment results: {target.get('client') or target['account']}",
                "last-modified": when,
                "version": report["tool"]["version"],
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": f"#{plan_uuid}"},
            "results": [result],
            "back-matter": {
                "resources": [
                    {
                        "uuid": plan_uuid,
                        "title": "phistack HIPAA control catalog (the assessment plan)",
                        "description": "Every control, its HIPAA paragraphs and what it checks (docs/controls.md).",
                    }
                ]
            },
        }
    }
