"""EC2 hosts and their disks: private, IMDSv2 only, managed through SSM, encrypted with our keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance.controls._base import (
    Record,
    arn,
    control,
    customer_managed_key,
    each,
    ec2_arn,
    finding,
    regional_absence,
)
from compliance.facts import Facts
from compliance.facts.compute import (
    EBS_ENCRYPTION_DEFAULTS,
    INSTANCES,
    LAUNCH_TEMPLATES,
    PATCH_COMPLIANCE,
    SNAPSHOTS,
    SSM_MANAGED_INSTANCES,
    VOLUMES,
)
from compliance.model import Control, Finding, Status

RUNNING = ("pending", "running", "stopping", "stopped")
# Prowler's default for ec2_instance_older_than_specific_days: a host this old was built from an image this old.
MAX_INSTANCE_AGE_DAYS = 180


def _live(facts: Facts) -> list[Record]:
    return [i for i in facts.get(INSTANCES) if i.get("state") in RUNNING]


def _instance(facts: Facts, judge: Any, needs: tuple[str, ...] = ()) -> list[Finding]:
    return each(
        _live(facts),
        needs,
        lambda i: ec2_arn(facts, i, "instance"),
        "AWS::EC2::Instance",
        lambda i: f"instance {i['id']}",
        judge,
    )


def no_public_ip(facts: Facts) -> list[Finding]:
    def judge(i: Record) -> tuple[bool, str, dict[str, Any]]:
        if i.get("public_ip"):
            return False, f"Instance {i['id']} has public IP {i['public_ip']}.", {"public_ip": i["public_ip"]}
        return True, f"Instance {i['id']} has no public IP.", {}

    return _instance(facts, judge)


def imdsv2_instances(facts: Facts) -> list[Finding]:
    def judge(i: Record) -> tuple[bool, str, dict[str, Any]]:
        tokens, hops = i.get("imds_http_tokens"), i.get("imds_hop_limit")
        evidence = {"http_tokens": tokens, "hop_limit": hops}
        if tokens != "required":
            return (
                False,
                f"Instance {i['id']} accepts IMDSv1 (HttpTokens {tokens}): SSRF can read its role's credentials.",
                evidence,
            )
        if hops is not None and int(hops) > 1:
            return (
                False,
                f"Instance {i['id']} requires IMDSv2 but allows {hops} hops: containers can reach its credentials.",
                evidence,
            )
        return True, f"Instance {i['id']} requires IMDSv2 with hop limit {hops}.", evidence

    return _instance(facts, judge, ("imds_http_tokens",))


def imdsv2_launch_templates(facts: Facts) -> list[Finding]:
    def judge(t: Record) -> tuple[bool, str, dict[str, Any]]:
        tokens = t.get("imds_http_tokens")
        if tokens != "required":
            return False, f"Launch template {t['name']} ({t['id']}) does not require IMDSv2 (HttpTokens {tokens}).", {}
        return True, f"Launch template {t['name']} ({t['id']}) requires IMDSv2.", {}

    return each(
        facts.get(LAUNCH_TEMPLATES),
        ("imds_http_tokens",),
        lambda t: ec2_arn(facts, t, "launch-template"),
        "AWS::EC2::LaunchTemplate",
        lambda t: f"launch template {t['id']}",
        judge,
    )


def instance_profile(facts: Facts) -> list[Finding]:
    def judge(i: Record) -> tuple[bool, str, dict[str, Any]]:
        if not i.get("instance_profile_arn"):
            return False, f"Instance {i['id']} has no instance profile: it cannot use SSM, and keys end up on disk.", {}
        return True, f"Instance {i['id']} runs with instance profile {i['instance_profile_arn']}.", {}

    return _instance(facts, judge)


def ssm_managed(facts: Facts) -> list[Finding]:
    managed = {m["id"]: m for m in facts.get(SSM_MANAGED_INSTANCES)}

    def judge(i: Record) -> tuple[bool, str, dict[str, Any]]:
        m = managed.get(i["id"])
        if m is None:
            return (
                False,
                f"Instance {i['id']} is not registered with Systems Manager: "
                "it cannot be patched or reached without SSH.",
                {},
            )
        if m.get("ping_status") != "Online":
            return (
                False,
                f"Instance {i['id']} is registered with Systems Manager but {m.get('ping_status')}.",
                {"ssm": m},
            )
        return True, f"Instance {i['id']} is managed by Systems Manager and online.", {"ssm": m}

    return each(
        [i for i in _live(facts) if i.get("state") == "running"],
        (),
        lambda i: ec2_arn(facts, i, "instance"),
        "AWS::EC2::Instance",
        lambda i: f"instance {i['id']}",
        judge,
    )


def patched(facts: Facts) -> list[Finding]:
    """Each running instance against its last Patch Manager scan; one never scanned cannot be judged (ERROR)."""
    scans = {p["resource_id"]: p for p in facts.get(PATCH_COMPLIANCE)}
    out: list[Finding] = []
    for i in [i for i in _live(facts) if i.get("state") == "running"]:
        rid, p = ec2_arn(facts, i, "instance"), scans.get(i["id"])
        if p is None:
            out.append(
                finding(Status.ERROR, rid, "AWS::EC2::Instance", i["region"],
                        f"Instance {i['id']} has no patch compliance in Systems Manager: Patch Manager has never "
                        "scanned it, so whether it is patched cannot be judged.")
            )  # fmt: skip
            continue
        ok = p.get("status") == "COMPLIANT" and not p["non_compliant"]
        message = (
            f"Instance {i['id']} had every approved patch at its last scan ({p['scanned_at']})."
            if ok
            else f"Instance {i['id']} lacks {p['non_compliant']} approved patches (missing or failed) at its last "
            f"scan ({p['scanned_at']})."
        )
        out.append(
            finding(Status.PASS if ok else Status.FAIL, rid, "AWS::EC2::Instance", i["region"], message, patches=p)
        )
    return out


def instance_age(facts: Facts) -> list[Finding]:
    now = dt.datetime.now(dt.UTC)

    def judge(i: Record) -> tuple[bool, str, dict[str, Any]]:
        days = (now - dt.datetime.fromisoformat(i["launch_time"])).days
        if days > MAX_INSTANCE_AGE_DAYS:
            return (
                False,
                f"Instance {i['id']} has run {days} days since launch (over {MAX_INSTANCE_AGE_DAYS}).",
                {"launch_time": i["launch_time"]},
            )
        return True, f"Instance {i['id']} was launched {days} days ago.", {"launch_time": i["launch_time"]}

    # A plan's instances are not launched yet: nothing to judge there.
    return each(
        [i for i in _live(facts) if i.get("launch_time")],
        (),
        lambda i: ec2_arn(facts, i, "instance"),
        "AWS::EC2::Instance",
        lambda i: f"instance {i['id']}",
        judge,
    )


def ebs_default_encryption(facts: Facts) -> list[Finding]:
    def judge(d: Record) -> tuple[bool, str, dict[str, Any]]:
        if not d.get("enabled"):
            return False, f"EBS encryption by default is off in {d['region']}.", {}
        return (
            True,
            f"EBS encryption by default is on in {d['region']} (key {d.get('kms_key_id')}).",
            {"kms_key_id": d.get("kms_key_id")},
        )

    return each(
        facts.get(EBS_ENCRYPTION_DEFAULTS),
        ("enabled",),
        lambda d: f"{facts.account}/{d['region']}/ebs-encryption-by-default",
        "AWS::EC2::EBSEncryptionByDefault",
        lambda d: f"EBS defaults in {d['region']}",
        judge,
    )


def volumes_cmk(facts: Facts) -> list[Finding]:
    is_cmk = customer_managed_key(facts)

    def judge(v: Record) -> tuple[bool, str, dict[str, Any]]:
        key = v.get("kms_key_id")
        if not v.get("encrypted"):
            return False, f"EBS volume {v['id']} is not encrypted.", {}
        if not is_cmk(key):
            return (
                False,
                f"EBS volume {v['id']} is encrypted with {key or 'the AWS-managed key'}, not a customer-managed key.",
                {"kms_key_id": key},
            )
        return True, f"EBS volume {v['id']} is encrypted with customer-managed key {key}.", {"kms_key_id": key}

    return each(
        facts.get(VOLUMES),
        ("encrypted",),
        lambda v: ec2_arn(facts, v, "volume"),
        "AWS::EC2::Volume",
        lambda v: f"volume {v['id']}",
        judge,
    )


def snapshots_encrypted_cmk(facts: Facts) -> list[Finding]:
    is_cmk = customer_managed_key(facts)

    def judge(s: Record) -> tuple[bool, str, dict[str, Any]]:
        key = s.get("kms_key_id")
        if not s.get("encrypted"):
            return False, f"EBS snapshot {s['id']} is not encrypted: a copy of the disk in the clear.", {}
        if not is_cmk(key):
            return (
                False,
                f"EBS snapshot {s['id']} is encrypted with {key or 'the AWS-managed key'}, not a customer-managed key.",
                {"kms_key_id": key},
            )
        return True, f"EBS snapshot {s['id']} is encrypted with customer-managed key {key}.", {"kms_key_id": key}

    if not facts.get(SNAPSHOTS):
        return regional_absence(facts, "AWS::EC2::Snapshot", "EBS snapshot")
    return each(
        facts.get(SNAPSHOTS),
        ("encrypted",),
        lambda s: arn(facts, "ec2", s["region"], f"snapshot/{s['id']}"),
        "AWS::EC2::Snapshot",
        lambda s: f"snapshot {s['id']}",
        judge,
    )


def no_public_snapshots(facts: Facts) -> list[Finding]:
    def judge(s: Record) -> tuple[bool, str, dict[str, Any]]:
        if s.get("public"):
            return False, f"EBS snapshot {s['id']} can be restored by any AWS account.", {}
        return True, f"EBS snapshot {s['id']} is private.", {}

    snaps = facts.get(SNAPSHOTS)
    if not snaps:
        return [
            finding(
                Status.PASS,
                f"{facts.account}/{r}",
                "AWS::EC2::Snapshot",
                r,
                f"No EBS snapshot is owned by this account in {r}.",
            )
            for r in facts.regions
        ]
    return each(
        snaps,
        ("public",),
        lambda s: arn(facts, "ec2", s["region"], f"snapshot/{s['id']}"),
        "AWS::EC2::Snapshot",
        lambda s: f"snapshot {s['id']}",
        judge,
    )


ACCESS = ("164.312(a)(1)",)
ENCRYPTION = ("164.312(a)(2)(iv)", "164.310(d)(1)")

CONTROLS: tuple[Control, ...] = (
    control(
        "ec2-no-public-ip",
        "No instance has a public IP",
        "critical",
        ("164.312(a)(1)", "164.312(e)(1)"),
        ("instances",),
        ("ec2:DescribeInstances",),
        "A public IP makes the host addressable from the internet, whatever the security groups say today.",
        "Launch without a public IP (associate_public_ip_address false) in a private subnet; release Elastic IPs.",
        no_public_ip,
    ),
    control(
        "ec2-imdsv2-instances",
        "Instances require IMDSv2 with hop limit 1",
        "high",
        ACCESS,
        ("instances",),
        ("ec2:DescribeInstances",),
        "IMDSv1 lets a server-side request forgery read the instance role's credentials.",
        "aws ec2 modify-instance-metadata-options --instance-id ID --http-tokens required "
        "--http-put-response-hop-limit 1",
        imdsv2_instances,
    ),
    control(
        "ec2-imdsv2-launch-templates",
        "Launch templates require IMDSv2",
        "medium",
        ACCESS,
        ("launch_templates",),
        ("ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"),
        "Instances launched later inherit their metadata options from the template.",
        "Create a template version with MetadataOptions.HttpTokens=required and make it the default.",
        imdsv2_launch_templates,
    ),
    control(
        "ec2-instance-profile",
        "Instances run with an instance profile",
        "medium",
        ("164.312(a)(1)", "164.312(d)"),
        ("instances",),
        ("ec2:DescribeInstances",),
        "Without a role, hosts need long-lived keys on disk and cannot be managed through SSM.",
        "Attach the stack's least-privilege instance profile.",
        instance_profile,
    ),
    control(
        "ec2-ssm-managed",
        "Running instances are managed by Systems Manager",
        "medium",
        ("164.308(a)(5)(ii)(B)", "164.312(a)(1)"),
        ("instances", "ssm_managed_instances"),
        ("ec2:DescribeInstances", "ssm:DescribeInstanceInformation"),
        "SSM is how hosts without SSH are patched, inspected and reached, with every session logged.",
        "Attach AmazonSSMManagedInstanceCore and make sure the ssm, ssmmessages and ec2messages endpoints exist.",
        ssm_managed,
    ),
    control(
        "ec2-patched",
        "Running instances have every approved patch (Patch Manager)",
        "high",
        ("164.308(a)(5)(ii)(B)", "164.308(a)(1)(ii)(B)"),
        ("instances", "patch_compliance"),
        ("ec2:DescribeInstances", "ssm:ListResourceComplianceSummaries"),
        "Known vulnerabilities left unpatched on a host that holds PHI are the risk the Security Rule's risk "
        "management and malware protection exist for.",
        "Run AWS-RunPatchBaseline (Scan, then Install in a maintenance window) on the hosts, through the ssm "
        "endpoint, from the stack's own package mirror.",
        patched,
    ),
    control(
        "ec2-instance-age",
        f"Instances are rebuilt within {MAX_INSTANCE_AGE_DAYS} days",
        "low",
        ("164.308(a)(1)(ii)(B)",),
        ("instances",),
        ("ec2:DescribeInstances",),
        "A long-running host drifts from the image and the playbooks that describe it; rebuilding from a current "
        "Debian image proves the deploy still works and drops what accumulated by hand. The PHI volume is "
        "separate and survives a rebuild.",
        "Replace the instance (pulumi up --replace URN) and re-run the playbooks; the data volume is reattached.",
        instance_age,
    ),
    control(
        "ec2-ebs-default-encryption",
        "EBS encryption by default is on in every region",
        "high",
        ENCRYPTION,
        ("ebs_encryption_defaults",),
        ("ec2:GetEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId"),
        "Any volume created outside the stack, by hand or by a tool, is then still encrypted.",
        "aws ec2 enable-ebs-encryption-by-default; aws ec2 modify-ebs-default-kms-key-id --kms-key-id KEY",
        ebs_default_encryption,
    ),
    control(
        "ec2-volumes-cmk",
        "EBS volumes are encrypted with a customer-managed key",
        "high",
        ENCRYPTION,
        ("volumes", "kms_keys"),
        ("ec2:DescribeVolumes", "kms:ListKeys", "kms:DescribeKey"),
        "A customer-managed key keeps who may decrypt the disks, and the record of it, in the client's hands.",
        "Snapshot, copy the snapshot with the stack's EBS key, and replace the volume.",
        volumes_cmk,
    ),
    control(
        "ec2-no-public-snapshots",
        "No EBS snapshot is public",
        "critical",
        ("164.312(a)(1)", "164.310(d)(1)"),
        ("snapshots",),
        ("ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute"),
        "A public snapshot lets any AWS account restore a copy of the disk.",
        "aws ec2 modify-snapshot-attribute --snapshot-id ID --attribute createVolumePermission "
        "--operation-type remove --group-names all",
        no_public_snapshots,
    ),
    control(
        "ec2-snapshots-encrypted",
        "EBS snapshots are encrypted with a customer-managed key",
        "high",
        ("164.312(a)(2)(iv)", "164.310(d)(1)"),
        ("snapshots", "kms_keys"),
        ("ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "kms:ListKeys", "kms:DescribeKey"),
        "A snapshot is a full copy of a PHI volume; it must be as protected as the volume it came from.",
        "Copy the snapshot with --encrypted --kms-key-id set to the stack's EBS key, and delete the unencrypted one.",
        snapshots_encrypted_cmk,
    ),
)
