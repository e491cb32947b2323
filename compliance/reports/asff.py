"""findings.asff.json: report.json's findings in the AWS Security Finding Format, for AWS Security Hub.

- One ASFF finding per exported record (compliance/reports/export.py), filed under the default product of the
  audited account (``product/ACCOUNT/default``): Security Hub accepts a custom finding only from the account it
  is about, in that account's own hub.
- Compliance.Status: PASS -> PASSED, FAIL and WAIVED -> FAILED (the waiver is named in ProductFields; a waived
  failure is still a failure), ERROR -> NOT_AVAILABLE (could not be evaluated), MANUAL -> WARNING (waits for
  an attestation). RelatedRequirements are the HIPAA paragraphs.
- Severity.Label is the control's severity, INFORMATIONAL for a PASSED finding (Security Hub's own convention);
  Severity.Original always keeps the control's severity.
- Resource types are Security Hub's names where it has one (AWS::EC2::Instance -> AwsEc2Instance), else Other.

The schema is botocore's Security Hub service model, the one the API checks requests against: ``problems``
walks a finding through it (required members, types, enums, patterns, lengths, unknown members) plus the
limits Security Hub's ASFF reference states but the model does not carry.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from compliance.reports.export import Record, clip, generated_at, partition, records
from compliance.reports.oscal import KIND_OF_FACT

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/HIPAA Controls (USA)"
COMPLIANCE = {"PASS": "PASSED", "FAIL": "FAILED", "WAIVED": "FAILED", "ERROR": "NOT_AVAILABLE", "MANUAL": "WARNING"}
SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
# From the ASFF reference (docs.aws.amazon.com/securityhub/latest/userguide/asff-top-level-attributes.html):
# lengths the API enforces that the service model does not state.
LIMITS = {"Id": 512, "GeneratorId": 512, "Title": 256, "Description": 1024, "Text": 512}
MAX_PRODUCT_FIELDS, MAX_FIELD_KEY, MAX_FIELD_VALUE, MAX_REQUIREMENTS, MAX_RESOURCES = 50, 128, 2048, 32, 32


@functools.cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("securityhub")


@functools.cache
def _resource_types() -> frozenset[str]:
    return frozenset(_model().shape_for("ResourceDetails").members)


def resource_type(cloudformation: str) -> str:
    """Security Hub's name for a CloudFormation type, or Other when it has none."""
    if cloudformation == "AWS::::Account":
        return "AwsAccount"
    parts = cloudformation.split("::")
    if len(parts) != 3 or parts[0] != "AWS":
        return "Other"
    name = "Aws" + "".join(_camel(p) for p in parts[1:])
    return name if name in _resource_types() else "Other"


def _camel(part: str) -> str:
    """EC2 -> Ec2, DBCluster -> DbCluster, CloudTrail -> CloudTrail: Security Hub's spelling of acronyms."""
    if part.isupper() or part.isdigit():
        return part.capitalize()
    acronym = re.match(r"([A-Z]+)([A-Z][a-z].*)", part)
    return acronym[1].capitalize() + acronym[2] if acronym else part


def product_arn(region: str, account: str) -> str:
    return f"arn:{partition(region)}:securityhub:{region}:{account}:product/{account}/default"


def _finding(report: dict[str, Any], record: Record, when: str) -> dict[str, Any]:
    control, finding, region = record.control, record.finding, record.region
    account = report["target"]["account"]
    status = finding["status"]
    fields = {
        "phistack/ControlId": control["id"],
        "phistack/Status": status,
        "phistack/Severity": control["severity"],
        "phistack/ToolVersion": report["tool"]["version"],
        "phistack/Target": report["target"]["kind"],
    }
    kind = KIND_OF_FACT.get(finding["resource_type"])
    if kind is not None:
        fields["phistack/EvidenceFile"] = f"evidence/{kind}.json"
    if finding.get("waiver"):
        waiver = finding["waiver"]
        for key in ("approver", "expires", "justification"):
            if waiver.get(key):
                fields[f"phistack/Waiver/{key.capitalize()}"] = clip(str(waiver[key]), MAX_FIELD_VALUE)
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": record.uid,
        "ProductArn": product_arn(region, account),
        "ProductName": "phistack",
        "CompanyName": "phistack",
        "GeneratorId": f"phistack/{control['id']}",
        "AwsAccountId": account,
        "Types": [FINDING_TYPE],
        "CreatedAt": when,
        "UpdatedAt": when,
        "Severity": {
            "Label": "INFORMATIONAL" if status == "PASS" else SEVERITY[control["severity"]],
            "Original": control["severity"],
        },
        "Title": clip(f"{control['id']}: {control['title']}", LIMITS["Title"]),
        "Description": clip(finding["message"], LIMITS["Description"]),
        "Remediation": {"Recommendation": {"Text": clip(control["remediation"], LIMITS["Text"])}},
        "ProductFields": fields,
        "Resources": [
            {
                "Type": resource_type(finding["resource_type"]),
                "Id": finding["resource_id"],
                "Partition": partition(region),
                "Region": region,
            }
        ],
        "Compliance": {
            "Status": COMPLIANCE[status],
            "RelatedRequirements": [f"HIPAA {c}" for c in control["hipaa"]][:MAX_REQUIREMENTS],
        },
        "RecordState": "ACTIVE",
        "Region": region,
    }


def render_asff(report: dict[str, Any], *, failing_only: bool = False) -> list[dict[str, Any]]:
    when = generated_at(report).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [_finding(report, r, when) for r in records(report, failing_only=failing_only)]


def problems(finding: dict[str, Any]) -> list[str]:
    """Why Security Hub would refuse this finding; empty when it is well-formed."""
    found: list[str] = []
    _walk(finding, _model().shape_for("AwsSecurityFinding"), "", found)
    for key, limit in LIMITS.items():
        value = finding.get(key) if key != "Text" else finding.get("Remediation", {}).get("Recommendation", {}).get(key)
        if isinstance(value, str) and len(value) > limit:
            found.append(f"{key}: {len(value)} characters, more than {limit}")
    fields = finding.get("ProductFields", {})
    if len(fields) > MAX_PRODUCT_FIELDS:
        found.append(f"ProductFields: {len(fields)} pairs, more than {MAX_PRODUCT_FIELDS}")
    for key, value in fields.items():
        if len(key) > MAX_FIELD_KEY or len(str(value)) > MAX_FIELD_VALUE:
            found.append(f"ProductFields.{key}: longer than {MAX_FIELD_KEY} (key) or {MAX_FIELD_VALUE} (value)")
    resources = len(finding.get("Resources") or [])
    if not 1 <= resources <= MAX_RESOURCES:
        found.append(f"Resources: {resources} resources; a finding names 1 to {MAX_RESOURCES}")
    if not re.fullmatch(r"\d{12}", str(finding.get("AwsAccountId", ""))):
        found.append("AwsAccountId: not a 12-digit account id")
    return found


_NUMBERS: dict[str, type | tuple[type, ...]] = {
    "integer": int,
    "long": int,
    "double": (int, float),
    "float": (int, float),
}


def _walk(value: Any, shape: Any, path: str, found: list[str]) -> None:
    where = path or "finding"
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object")
            return
        for name in shape.required_members:
            if name not in value:
                found.append(f"{where}: {name} is required")
        for name, item in value.items():
            if name not in shape.members:
                found.append(f"{where}: {name} is not a member of {shape.name}")
            else:
                _walk(item, shape.members[name], f"{path}.{name}" if path else name, found)
    elif kind == "list":
        if not isinstance(value, list):
            found.append(f"{where}: expected a list")
            return
        _length(len(value), shape.metadata, where, found)
        for n, item in enumerate(value):
            _walk(item, shape.member, f"{where}[{n}]", found)
    elif kind == "map":
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object")
            return
        for key, item in value.items():
            _walk(key, shape.key, f"{where} key", found)
            _walk(item, shape.value, f"{where}.{key}", found)
    elif kind == "string":
        if not isinstance(value, str):
            found.append(f"{where}: expected string, got {type(value).__name__}")
            return
        if "enum" in shape.metadata and value not in shape.metadata["enum"]:
            found.append(f"{where}: {value!r} is not one of {', '.join(shape.metadata['enum'])}")
        if "pattern" in shape.metadata and not re.fullmatch(shape.metadata["pattern"], value, re.DOTALL):
            found.append(f"{where}: does not match {shape.metadata['pattern']}")
        _length(len(value), shape.metadata, where, found)
    elif kind == "boolean" and not isinstance(value, bool):
        found.append(f"{where}: expected boolean, got {type(value).__name__}")
    elif kind in _NUMBERS and (isinstance(value, bool) or not isinstance(value, _NUMBERS[kind])):
        found.append(f"{where}: expected {kind}, got {type(value).__name__}")


def _length(size: int, metadata: dict[str, Any], where: str, found: list[str]) -> None:
    if "min" in metadata and size < metadata["min"]:
        found.append(f"{where}: length {size} is under {metadata['min']}")
    if "max" in metadata and size > metadata["max"]:
        found.append(f"{where}: length {size} is over {metadata['max']}")
