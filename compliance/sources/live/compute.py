"""EC2 compute facts: instances, launch templates, EBS defaults, volumes, snapshots, SSM registration."""

from __future__ import annotations

from typing import Any

from compliance.facts.compute import (
    EBS_ENCRYPTION_DEFAULTS,
    INSTANCES,
    LAUNCH_TEMPLATES,
    PATCH_COMPLIANCE,
    SNAPSHOTS,
    SSM_MANAGED_INSTANCES,
    VOLUMES,
    EbsEncryptionDefault,
    Instance,
    LaunchTemplate,
    PatchCompliance,
    Snapshot,
    SsmManagedInstance,
    Volume,
)
from compliance.sources.live._client import Scan
from compliance.sources.live._task import Task, value_or_marker


def _ec2(scan: Scan, region: str) -> Any:
    return scan.client("ec2", region)


def instances(scan: Scan, region: str, account: str) -> list[Instance]:
    out: list[Instance] = []
    for reservation in scan.pages(_ec2(scan, region), "describe_instances", "Reservations"):
        for i in reservation.get("Instances", []):
            meta = i.get("MetadataOptions") or {}
            out.append(
                {
                    "id": i["InstanceId"],
                    "region": region,
                    "state": (i.get("State") or {}).get("Name"),
                    "arn": f"arn:aws:ec2:{region}:{account}:instance/{i['InstanceId']}",
                    "public_ip": i.get("PublicIpAddress"),
                    "imds_http_tokens": meta.get("HttpTokens"),
                    "imds_hop_limit": meta.get("HttpPutResponseHopLimit"),
                    "instance_profile_arn": (i.get("IamInstanceProfile") or {}).get("Arn"),
                    "vpc_id": i.get("VpcId"),
                    "subnet_id": i.get("SubnetId"),
                    "launch_time": i["LaunchTime"].isoformat() if i.get("LaunchTime") else None,
                }
            )
    return out


def launch_templates(scan: Scan, region: str, account: str) -> list[LaunchTemplate]:
    ec2 = _ec2(scan, region)
    out: list[LaunchTemplate] = []
    for t in scan.pages(ec2, "describe_launch_templates", "LaunchTemplates"):
        tokens = value_or_marker(
            scan,
            ec2,
            "describe_launch_template_versions",
            lambda r: (
                (r["LaunchTemplateVersions"] or [{}])[0]
                .get("LaunchTemplateData", {})
                .get("MetadataOptions", {})
                .get("HttpTokens")
            ),
            LaunchTemplateId=t["LaunchTemplateId"],
            Versions=["$Default"],
        )
        out.append(
            {
                "id": t["LaunchTemplateId"],
                "name": t.get("LaunchTemplateName"),
                "region": region,
                "imds_http_tokens": tokens,
            }
        )
    return out


def ebs_encryption_defaults(scan: Scan, region: str, account: str) -> list[EbsEncryptionDefault]:
    ec2 = _ec2(scan, region)
    enabled = scan.call(ec2, "get_ebs_encryption_by_default")["EbsEncryptionByDefault"]
    key = value_or_marker(scan, ec2, "get_ebs_default_kms_key_id", lambda r: r.get("KmsKeyId"))
    return [{"region": region, "enabled": bool(enabled), "kms_key_id": key}]


def volumes(scan: Scan, region: str, account: str) -> list[Volume]:
    return [
        {
            "id": v["VolumeId"],
            "region": region,
            "encrypted": bool(v.get("Encrypted")),
            "kms_key_id": v.get("KmsKeyId"),
            "tags": {t["Key"]: t.get("Value", "") for t in v.get("Tags", [])},
        }
        for v in scan.pages(_ec2(scan, region), "describe_volumes", "Volumes")
    ]


def snapshots(scan: Scan, region: str, account: str) -> list[Snapshot]:
    ec2 = _ec2(scan, region)
    out: list[Snapshot] = []
    for s in scan.pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
        public = value_or_marker(
            scan,
            ec2,
            "describe_snapshot_attribute",
            lambda r: any(p.get("Group") == "all" for p in r.get("CreateVolumePermissions", [])),
            SnapshotId=s["SnapshotId"],
            Attribute="createVolumePermission",
        )
        out.append(
            {
                "id": s["SnapshotId"],
                "region": region,
                "public": public,
                "encrypted": bool(s.get("Encrypted")),
                "kms_key_id": s.get("KmsKeyId"),
            }
        )
    return out


def ssm_managed_instances(scan: Scan, region: str, account: str) -> list[SsmManagedInstance]:
    return [
        {"id": i["InstanceId"], "region": region, "ping_status": i.get("PingStatus")}
        for i in scan.pages(scan.client("ssm", region), "describe_instance_information", "InstanceInformationList")
    ]


_PATCH = [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}]


def patch_compliance(scan: Scan, region: str, account: str) -> list[PatchCompliance]:
    out: list[PatchCompliance] = []
    ssm = scan.client("ssm", region)
    for r in scan.pages(ssm, "list_resource_compliance_summaries", "ResourceComplianceSummaryItems", Filters=_PATCH):
        if r.get("ResourceType") != "ManagedInstance":
            continue
        when = (r.get("ExecutionSummary") or {}).get("ExecutionTime")
        out.append(
            {
                "resource_id": r["ResourceId"],
                "region": region,
                "status": r.get("Status"),
                "non_compliant": int((r.get("NonCompliantSummary") or {}).get("NonCompliantCount") or 0),
                "scanned_at": when.isoformat() if when else None,
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (
    Task(INSTANCES, "regional", instances),
    Task(LAUNCH_TEMPLATES, "regional", launch_templates),
    Task(EBS_ENCRYPTION_DEFAULTS, "regional", ebs_encryption_defaults),
    Task(VOLUMES, "regional", volumes),
    Task(SNAPSHOTS, "regional", snapshots),
    Task(SSM_MANAGED_INSTANCES, "regional", ssm_managed_instances),
    Task(PATCH_COMPLIANCE, "regional", patch_compliance),
)
