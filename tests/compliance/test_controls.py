"""Every automated control: PASS on compliant facts, FAIL on one targeted mutation, ERROR when a fact it
reads could not be collected (and NOT_APPLICABLE when a plan cannot know it). A control added without a
FAIL case here fails ``test_every_automated_control_has_a_fail_case``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from compliance.assessment import assess, evaluate_control
from compliance.controls import by_id, catalog
from compliance.facts import Facts, FactsUnavailable, Gap, Item, unreadable_marker
from compliance.model import Status
from tests.compliance.conftest import MakeFacts

TODAY = dt.date.today()
AUTOMATED = [c for c in catalog() if c.automated]


def first(facts: Facts, kind: str, **where: Any) -> Item:
    return next(i for i in facts.items[kind] if all(i.get(k) == v for k, v in where.items()))


def bucket(facts: Facts, purpose: str) -> Item:
    return next(b for b in facts.items["buckets"] if b["tags"].get("phistack:purpose") == purpose)


def add_sg_rule(facts: Facts, direction: str, rule: Item) -> None:
    next(g for g in facts.items["security_groups"] if not g["is_default"])[direction].append(rule)


def set_policy(item: Item, key: str, statements: list[Item]) -> None:
    item[key] = json.dumps({"Version": "2012-10-17", "Statement": statements})


def fail_alarms(f: Facts) -> None:
    f.items["metric_alarms"] = [a for a in f.items["metric_alarms"] if a["metric_name"] != "root-account-usage"]


# control id -> (mutation that must make it FAIL, words the FAIL message must contain)
FAIL_CASES: dict[str, tuple[Callable[[Facts], None], str]] = {
    "net-no-internet-gateway": (
        lambda f: f.items["internet_gateways"].append({"id": "igw-1", "region": f.regions[0], "vpc_ids": ["vpc-1"]}),
        "Internet gateway igw-1 exists",
    ),
    "net-no-default-route": (
        lambda f: f.items["route_tables"][1]["routes"].append({"destination": "0.0.0.0/0", "target": "igw-1"}),
        "0.0.0.0/0 -> igw-1",
    ),
    "net-no-nat-gateway": (
        lambda f: f.items["nat_gateways"].append(
            {"id": "nat-1", "region": f.regions[0], "vpc_id": "vpc-1", "state": "available"}
        ),
        "NAT gateway nat-1",
    ),
    "net-no-egress-only-gateway": (
        lambda f: f.items["egress_only_gateways"].append(
            {"id": "eigw-1", "region": f.regions[0], "vpc_ids": ["vpc-1"]}
        ),
        "eigw-1",
    ),
    "net-subnets-no-public-ip": (
        lambda f: f.items["subnets"][0].update(map_public_ip_on_launch=True),
        "gives every instance launched in it a public IP",
    ),
    "net-default-sg-closed": (
        lambda f: first(f, "security_groups", is_default=True)["egress"].append(
            {"protocol": "-1", "from_port": 0, "to_port": 65535, "cidr": "0.0.0.0/0"}
        ),
        "0 inbound and 1 outbound",
    ),
    "net-sg-no-internet-ingress": (
        lambda f: add_sg_rule(f, "ingress", {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}),
        "admits the internet: tcp 22-22 0.0.0.0/0",
    ),
    "net-sg-egress-within-vpc": (
        lambda f: add_sg_rule(f, "egress", {"protocol": "-1", "from_port": 0, "to_port": 65535, "cidr": "0.0.0.0/0"}),
        "allows egress beyond its VPC",
    ),
    "net-nacl-no-admin-ports": (
        lambda f: first(f, "network_acls", is_default=False)["entries"].insert(
            0,
            {
                "egress": False,
                "rule_no": 50,
                "protocol": "6",
                "action": "allow",
                "cidr": "0.0.0.0/0",
                "from_port": 0,
                "to_port": 65535,
            },
        ),
        "allows port(s) 22, 3389 in from the internet",
    ),
    "net-nacl-no-all-traffic": (
        lambda f: first(f, "network_acls", is_default=False)["entries"].insert(
            0, {"egress": False, "rule_no": 50, "protocol": "-1", "action": "allow", "cidr": "0.0.0.0/0"}
        ),
        "allows all traffic, every port and protocol, in from the internet",
    ),
    "net-flow-logs": (lambda f: f.items.update(flow_logs=[]), "has no flow log"),
    "net-required-endpoints": (
        lambda f: f.items.update(vpc_endpoints=[e for e in f.items["vpc_endpoints"] if e["service"] != "kms"]),
        "lacks VPC endpoints for: kms",
    ),
    "ec2-no-public-ip": (lambda f: f.items["instances"][0].update(public_ip="203.0.113.7"), "public IP 203.0.113.7"),
    "ec2-imdsv2-instances": (lambda f: f.items["instances"][0].update(imds_http_tokens="optional"), "accepts IMDSv1"),
    "ec2-imdsv2-launch-templates": (
        lambda f: f.items["launch_templates"][0].update(imds_http_tokens="optional"),
        "does not require IMDSv2",
    ),
    "ec2-instance-profile": (
        lambda f: f.items["instances"][0].update(instance_profile_arn=None),
        "has no instance profile",
    ),
    "ec2-ssm-managed": (
        lambda f: f.items["ssm_managed_instances"][0].update(ping_status="ConnectionLost"),
        "ConnectionLost",
    ),
    "ec2-ebs-default-encryption": (
        lambda f: f.items["ebs_encryption_defaults"][0].update(enabled=False),
        "EBS encryption by default is off",
    ),
    "ec2-volumes-cmk": (
        lambda f: f.items["volumes"][0].update(kms_key_id="alias/aws/ebs"),
        "not a customer-managed key",
    ),
    "ec2-no-public-snapshots": (lambda f: f.items["snapshots"][0].update(public=True), "any AWS account"),
    "ec2-snapshots-encrypted": (
        lambda f: f.items["snapshots"][0].update(encrypted=False, kms_key_id=None),
        "is not encrypted: a copy of the disk in the clear",
    ),
    "rds-log-export": (
        lambda f: f.items["db_clusters"][0].update(log_exports=[]),
        "does not export its postgresql log to CloudWatch Logs (exports: none)",
    ),
    "rds-multi-az": (
        lambda f: f.items["db_clusters"][0].update(multi_az=False),
        "has no instance outside one availability zone",
    ),
    "iam-root-hardware-mfa": (
        lambda f: f.items["iam_root"][0].update(mfa_virtual=True),
        "signs in with a virtual MFA device (an app on a phone), not a hardware key",
    ),
    "ec2-patched": (
        lambda f: f.items["patch_compliance"][0].update(status="NON_COMPLIANT", non_compliant=3),
        "lacks 3 approved patches (missing or failed) at its last scan",
    ),
    "ec2-instance-age": (
        lambda f: f.items["instances"][0].update(launch_time="2025-01-02T03:04:05+00:00"),
        "days since launch (over 180)",
    ),
    "monitoring-guardduty-findings": (
        lambda f: f.items["guardduty_findings"][0]["open_high"].extend(
            [
                {"id": "a1", "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 7.2},
                {
                    "id": "b2",
                    "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                    "severity": 8.0,
                },
            ]
        ),
        "has 2 open findings of high severity or worse: UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration"
        ".OutsideAWS (8); Recon:EC2/PortProbeUnprotectedPort (7.2)",
    ),
    "elb-deletion-protection": (
        lambda f: f.items["load_balancers"][0].update(deletion_protection=False),
        "can be deleted by one API call",
    ),
    "elb-access-logs": (
        lambda f: f.items["load_balancers"][0].update(access_logs_bucket=None),
        "Load balancer gateway keeps no access logs",
    ),
    "elb-tls-listeners": (
        lambda f: f.items["load_balancers"][0]["listeners"].append({"port": 80, "protocol": "TCP", "ssl_policy": None}),
        "has listeners without TLS 1.2 or later: TCP 80",
    ),
    "acm-certificates-valid": (
        lambda f: f.items["certificates"][0].update(
            not_after=(dt.datetime.now(dt.UTC) - dt.timedelta(days=3, hours=1)).isoformat()
        ),
        "Certificate rag.clinic.example expired 3 days ago and is still used by",
    ),
    "rds-snapshots-not-public": (
        lambda f: f.items["db_snapshots"][0].update(public=True),
        "Aurora cluster snapshot phistack-db-before-upgrade can be restored by any AWS account",
    ),
    "sqs-encrypted-cmk": (
        lambda f: f.items["sqs_queues"][0].update(kms_key_id=None),
        "no KMS key (SQS-managed encryption at most), not a customer-managed key",
    ),
    "sqs-tls-only": (
        lambda f: f.items["sqs_queues"][0].update(policy=None),
        "has no policy statement denying requests where aws:SecureTransport is false",
    ),
    "iam-unused-credentials": (
        lambda f: f.items["iam_users"][0]["access_keys"][0].update(created="2026-01-02T00:00:00+00:00", last_used=None),
        "keeps credentials unused for over 45 days: access key AKIAEXAMPLE (never used",
    ),
    "iam-password-policy": (
        lambda f: f.items["iam_password_policy"][0].update(minimum_length=8, require_symbols=False),
        "password policy is weak: minimum length 8 (under 14); symbols not required",
    ),
    "kms-rotation": (lambda f: f.items["kms_keys"][0].update(rotation_enabled=False), "does not rotate"),
    "kms-no-pending-deletion": (
        lambda f: f.items["kms_keys"][0].update(state="PendingDeletion", deletion_date="2026-12-24"),
        "scheduled for deletion on 2026-12-24",
    ),
    "kms-no-wildcard-principal": (
        lambda f: set_policy(
            f.items["kms_keys"][0],
            "policy",
            [{"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}],
        ),
        "lets any principal or another account use it (statement Open)",
    ),
    "s3-sse-kms-cmk": (
        lambda f: bucket(f, "docs").update(encryption={"algorithm": "AES256", "kms_key_id": None}),
        "uses AES256 default encryption",
    ),
    "s3-tls-only": (lambda f: set_policy(bucket(f, "docs"), "policy", []), "no policy statement denying"),
    "s3-bucket-public-access-block": (
        lambda f: bucket(f, "docs")["public_access_block"].update(restrict_public_buckets=False),
        "leaves off: restrict_public_buckets",
    ),
    "s3-account-public-access-block": (
        lambda f: f.items["account_public_access_block"][0].update(block_public_policy=False),
        "leaves off: block_public_policy",
    ),
    "s3-not-public": (
        lambda f: bucket(f, "artifacts").update(
            acl_grants=[{"grantee": "http://acs.amazonaws.com/groups/global/AllUsers", "permission": "READ"}]
        ),
        "grants READ to AllUsers",
    ),
    "s3-acls-disabled": (lambda f: bucket(f, "docs").update(ownership="ObjectWriter"), "still honours ACLs"),
    "s3-versioning": (lambda f: bucket(f, "docs").update(versioning="Suspended"), "is not versioned (Suspended)"),
    "s3-audit-object-lock": (
        lambda f: bucket(f, "audit-logs")["object_lock"].update(mode="GOVERNANCE"),
        "locks in GOVERNANCE mode",
    ),
    "s3-access-logging": (lambda f: bucket(f, "docs").update(logging_target=None), "has no server access logging"),
    "trail-multi-region": (lambda f: f.items["trails"][0].update(multi_region=False), "are single-region or stopped"),
    "trail-logging": (lambda f: f.items["trails"][0].update(logging=False), "is stopped"),
    "trail-log-file-validation": (
        lambda f: f.items["trails"][0].update(log_file_validation=False),
        "log-file validation off",
    ),
    "trail-kms": (lambda f: f.items["trails"][0].update(kms_key_id=None), "does not encrypt log files"),
    "trail-cloudwatch": (
        lambda f: f.items["trails"][0].update(cloudwatch_logs_group_arn=None),
        "does not deliver to CloudWatch Logs",
    ),
    "trail-s3-data-events": (
        lambda f: f.items["trails"][0].update(data_event_buckets=[]),
        "No logging trail records S3 data events for PHI bucket",
    ),
    "trail-bucket-not-public": (
        lambda f: set_policy(
            bucket(f, "audit-logs"),
            "policy",
            [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}],
        ),
        "is public: its policy allows anyone",
    ),
    "logs-kms": (lambda f: f.items["log_groups"][0].update(kms_key_id=None), "only with CloudWatch's own key"),
    "logs-retention": (lambda f: f.items["log_groups"][0].update(retention_days=365), "only 365 days"),
    "logs-never-expire-configured": (
        lambda f: f.items["log_groups"][0].update(retention_days=None),
        "never expires, but the client configured 2192 days",
    ),
    "monitoring-security-alarms": (fail_alarms, "counts root account usage, but no alarm with an action"),
    "monitoring-alarm-topic-encrypted": (
        lambda f: f.items["sns_topics"][0].update(kms_key_id=None),
        "is not encrypted",
    ),
    "monitoring-guardduty": (lambda f: f.items.update(guardduty_detectors=[]), "GuardDuty is not enabled in"),
    "monitoring-config-recorder": (lambda f: f.items["config_recorders"][0].update(recording=False), "is stopped"),
    "iam-no-star-policies": (
        lambda f: set_policy(
            f.items["iam_policies"][0], "document", [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        ),
        "allows every action on every resource",
    ),
    "iam-no-privilege-escalation": (
        lambda f: set_policy(
            f.items["iam_policies"][0], "document", [{"Effect": "Allow", "Action": "iam:Attach*", "Resource": "*"}]
        ),
        "allows privilege escalation: iam:AttachGroupPolicy; iam:AttachRolePolicy; iam:AttachUserPolicy",
    ),
    "iam-role-trust-not-public": (
        lambda f: set_policy(
            f.items["iam_roles"][0],
            "trust",
            [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        ),
        "may be assumed by any AWS principal with no condition",
    ),
    "iam-root-no-access-keys": (lambda f: f.items["iam_root"][0].update(access_keys_present=True), "has access keys"),
    "iam-root-mfa": (lambda f: f.items["iam_root"][0].update(mfa_enabled=False), "has no MFA device"),
    "iam-console-mfa": (lambda f: f.items["iam_users"][0].update(mfa_active=False), "no MFA device"),
    "iam-access-keys-rotated": (
        lambda f: f.items["iam_users"][0]["access_keys"][0].update(created="2020-01-01T00:00:00+00:00"),
        "older than 90 days",
    ),
    "rds-encrypted-cmk": (lambda f: f.items["db_clusters"][0].update(storage_encrypted=False), "not encrypted at rest"),
    "rds-not-public": (lambda f: f.items["db_clusters"][0].update(publicly_accessible=True), "publicly accessible"),
    "rds-force-ssl": (
        lambda f: f.items["db_clusters"][0].update(parameters={"rds.force_ssl": "0"}),
        "accepts connections without TLS",
    ),
    "rds-backups": (lambda f: f.items["db_clusters"][0].update(backup_retention_days=1), "1 days, under 7"),
    "backup-phi-volumes": (
        lambda f: f.items["volumes"][-1]["tags"].pop("phistack:backup"),
        "holds PHI and no backup plan selects it",
    ),
    "backup-vault-encrypted-cmk": (
        lambda f: f.items["backup_vaults"][0].update(kms_key_arn="arn:aws:kms:us-east-1:111122223333:alias/aws/backup"),
        "not a customer-managed key",
    ),
    "backup-vault-locked": (lambda f: f.items["backup_vaults"][0].update(min_retention_days=None), "is not locked"),
    "services-hipaa-eligible": (
        lambda f: f.items["services_in_use"].append({"service": "gamelift", "region": "global", "evidence": "test"}),
        "gamelift is in use but not on",
    ),
    "host-tls-only": (
        lambda f: f.items["hosts"][0]["tls"]["postgresql"]["accepted"].update({"TLSv1.1": True}),
        "accepts TLSv1.1",
    ),
    "host-audit-rules": (lambda f: f.items["hosts"][0]["auditd"].update(rules_loaded=0), "no audit rules loaded"),
    "host-no-ssh": (lambda f: f.items["hosts"][0]["ssh"].update(port_22_listening=True), "runs an SSH server"),
    "host-service-users": (
        lambda f: f.items["hosts"][0]["services"]["phistack-gateway.service"].update(user="root"),
        "runs as root",
    ),
    "host-phi-volume-encrypted": (
        lambda f: f.items["volumes"][0].update(encrypted=False),
        "NOT encrypted with a customer-managed key",
    ),
    "host-db-point-in-time": (
        lambda f: f.items["hosts"][0]["archive"].update(archive_mode="off"),
        "no WAL is archived",
    ),
    "host-audit-trail-anchored": (
        lambda f: f.items["hosts"][0]["audit_trail"].update(outcome="broken", problems=["Anchor 1 of host gw-a ..."]),
        "contradicts what was anchored or shipped: Anchor 1 of host gw-a",
    ),
}


def run(control_id: str, facts: Facts) -> tuple[Status, list[str], str]:
    result = evaluate_control(by_id()[control_id], facts, TODAY)
    return result.status, [f.message for f in result.findings], result.note


def test_every_automated_control_has_a_fail_case() -> None:
    assert sorted(FAIL_CASES) == sorted(c.id for c in AUTOMATED)


@pytest.mark.parametrize("control_id", [c.id for c in AUTOMATED])
def test_pass_on_compliant_facts(compliant: MakeFacts, control_id: str) -> None:
    status, messages, note = run(control_id, compliant())
    assert status is Status.PASS, (messages, note)
    assert messages and all(m.endswith(".") for m in messages)


@pytest.mark.parametrize("control_id", sorted(FAIL_CASES))
def test_fail_on_the_targeted_mutation(compliant: MakeFacts, control_id: str) -> None:
    facts = compliant()
    mutate, words = FAIL_CASES[control_id]
    mutate(facts)
    status, messages, _ = run(control_id, facts)
    assert status is Status.FAIL
    assert any(words in m for m in messages), messages


@pytest.mark.parametrize(("control_id", "kind"), [(c.id, k) for c in AUTOMATED for k in c.facts], ids=lambda v: str(v))
def test_error_when_a_fact_it_reads_could_not_be_collected(compliant: MakeFacts, control_id: str, kind: str) -> None:
    facts = compliant()
    facts.missing(kind, Gap("AccessDenied", api=f"denied:{kind}"))
    status, messages, note = run(control_id, facts)
    assert status is Status.ERROR
    assert messages == [] and f"denied:{kind}" in note and "AccessDenied" in note


@pytest.mark.parametrize("control_id", [c.id for c in AUTOMATED])
def test_not_applicable_when_a_plan_cannot_know(compliant: MakeFacts, control_id: str) -> None:
    facts = compliant()
    kind = by_id()[control_id].facts[0]
    facts.missing(kind, Gap("known only after deployment", "NOT_APPLICABLE"))
    status, _, note = run(control_id, facts)
    assert status is Status.NOT_APPLICABLE and "known only after deployment" in note


class _Recording(Facts):
    read: set[str]

    def get(self, kind: Any) -> list[Any]:
        self.read.add(kind if isinstance(kind, str) else kind.name)  # controls ask by Kind, tests by name
        return super().get(kind)


@pytest.mark.parametrize("control_id", [c.id for c in AUTOMATED])
def test_controls_read_only_the_facts_they_declare(compliant: MakeFacts, control_id: str) -> None:
    base = compliant()
    recording = _Recording(base.source, base.account, base.regions, base.items, base.gaps, base.context)
    recording.read = set()
    control = by_id()[control_id]
    run(control_id, recording)
    assert recording.read <= set(control.facts), "declare every fact kind read, so ERROR paths stay honest"


@pytest.mark.parametrize(
    ("control_id", "kind", "key", "api"),
    [
        ("s3-tls-only", "buckets", "policy", "s3:GetBucketPolicy"),
        ("s3-versioning", "buckets", "versioning", "s3:GetBucketVersioning"),
        ("kms-rotation", "kms_keys", "rotation_enabled", "kms:GetKeyRotationStatus"),
        ("net-sg-no-internet-ingress", "security_groups", "ingress", "ec2:DescribeSecurityGroupRules"),
        ("logs-retention", "log_groups", "retention_days", "logs:DescribeLogGroups"),
    ],
)
def test_one_unreadable_resource_is_error_for_that_resource_only(
    compliant: MakeFacts, control_id: str, kind: str, key: str, api: str
) -> None:
    facts = compliant()
    facts.items[kind][0][key] = unreadable_marker(api, "AccessDenied")
    result = evaluate_control(by_id()[control_id], facts, TODAY)
    statuses = [f.status for f in result.findings]
    assert result.status is Status.ERROR
    assert statuses.count(Status.ERROR) == 1 and Status.PASS in statuses
    error = next(f for f in result.findings if f.status is Status.ERROR)
    assert api in error.message and "AccessDenied" in error.message


def test_nacl_rules_are_evaluated_in_order(compliant: MakeFacts) -> None:
    facts = compliant()
    acl = first(facts, "network_acls", is_default=False)
    entry = {"egress": False, "protocol": "6", "action": "deny", "cidr": "0.0.0.0/0"}
    acl["entries"][:0] = [
        {**entry, "rule_no": 10, "from_port": 22, "to_port": 22},
        {**entry, "rule_no": 20, "from_port": 3389, "to_port": 3389},
        {**entry, "rule_no": 30, "protocol": "-1", "action": "allow", "from_port": 0, "to_port": 0},
    ]
    status, _, _ = run("net-nacl-no-admin-ports", facts)
    assert status is Status.PASS  # denies for 22 and 3389 come first


def test_conditions_that_pin_a_wildcard_principal_are_not_public(compliant: MakeFacts) -> None:
    facts = compliant()
    set_policy(bucket(facts, "docs"), "policy", [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}},
    ])  # fmt: skip
    assert run("s3-not-public", facts)[0] is Status.PASS
    assert run("s3-tls-only", facts)[0] is Status.PASS


def test_a_pending_deletion_key_is_still_checked(compliant: MakeFacts) -> None:
    facts = compliant()
    facts.items["kms_keys"][0]["state"] = "PendingDeletion"
    facts.items["kms_keys"][0]["policy"] = "{not json"
    status, messages, _ = run("kms-no-wildcard-principal", facts)
    assert status is Status.FAIL and any("not valid JSON" in m for m in messages)


def test_unknown_kind_is_error_not_pass() -> None:
    facts = Facts("live", "111122223333", ["us-east-1"])
    with pytest.raises(FactsUnavailable, match="no collector produced buckets"):
        facts.get("buckets")
    status, _, note = run("s3-versioning", facts)
    assert status is Status.ERROR and "no collector produced buckets" in note


def test_a_backup_plan_counts_only_with_retention_and_readable_selections(compliant: MakeFacts) -> None:
    control = by_id()["backup-phi-volumes"]
    short = compliant()
    short.items["backup_plans"][0]["rules"][0]["delete_after_days"] = 1  # a plan that keeps a day is no plan
    assert evaluate_control(control, short, TODAY).status == Status.FAIL
    blind = compliant()
    blind.items["backup_plans"][0]["selections"] = unreadable_marker("backup:ListBackupSelections", "AccessDenied")
    result = evaluate_control(control, blind, TODAY)
    assert result.status == Status.ERROR and "backup:ListBackupSelections answered AccessDenied" in str(result)
    elsewhere = compliant()  # a selection by ARN that names another volume does not cover this one
    elsewhere.items["backup_plans"][0]["selections"][0]["resources"] = ["arn:aws:ec2:*:*:volume/vol-other"]
    assert evaluate_control(control, elsewhere, TODAY).status == Status.FAIL
    roots = compliant()  # root volumes hold Debian and the bundle, no PHI: not judged
    judged = {f.resource_id for f in evaluate_control(control, roots, TODAY).findings}
    assert judged and not any(r.endswith("-root") for r in judged)


def test_a_plan_attaching_aws_administrator_access_fails(example_plan: dict[str, object]) -> None:
    """The plan knows AdministratorAccess's document (AWS publishes it), so attaching it fails before deploy."""
    import copy

    from compliance.sources.plan import facts_from_plan

    plan: dict[str, Any] = copy.deepcopy(example_plan)  # type: ignore[arg-type]
    plan["resources"].append(
        {
            "urn": "urn:pulumi:example::phistack::aws:iam/rolePolicyAttachment:RolePolicyAttachment::admin",
            "type": "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "name": "admin",
            "custom": True,
            "id": "admin",
            "inputs": {"role": "example-clinic-gpu", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            "computed": {},
        }
    )
    result = next(
        r
        for r in assess(facts_from_plan(plan), catalog(), [], "test").results
        if r.control.id == "iam-no-star-policies"
    )
    assert result.status is Status.FAIL
    assert [f.resource_id for f in result.findings if f.status is Status.FAIL] == [
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ]


def test_a_planned_write_only_data_event_selector_does_not_record_phi_reads(example_plan: dict[str, object]) -> None:
    import copy

    from compliance.sources.plan import facts_from_plan

    plan: dict[str, Any] = copy.deepcopy(example_plan)  # type: ignore[arg-type]
    trail = next(r for r in plan["resources"] if r["type"] == "aws:cloudtrail/trail:Trail")
    assert facts_from_plan(plan).items["trails"][0]["data_event_buckets"]  # the example records reads and writes
    for selector in trail["inputs"]["eventSelectors"]:
        selector["readWriteType"] = "WriteOnly"
    results = assess(facts_from_plan(plan), catalog(), [], "test").results
    assert next(r for r in results if r.control.id == "trail-s3-data-events").status is Status.FAIL


def test_an_unreadable_key_use_is_error_not_fail(compliant: MakeFacts) -> None:
    facts = compliant()
    facts.items["iam_users"][0]["access_keys"][0]["last_used"] = unreadable_marker(
        "iam:GetAccessKeyLastUsed", "AccessDenied"
    )
    result = evaluate_control(by_id()["iam-unused-credentials"], facts, TODAY)
    assert result.status is Status.ERROR
    assert "iam:GetAccessKeyLastUsed" in result.findings[0].message


@pytest.mark.parametrize(
    ("policy", "modern"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", True),
        ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", True),
        ("ELBSecurityPolicy-FS-1-2-Res-2020-10", True),
        ("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", True),
        ("ELBSecurityPolicy-2016-08", False),  # the console's old default: TLS 1.0
        ("ELBSecurityPolicy-TLS-1-1-2017-01", False),
        ("ELBSecurityPolicy-TLS13-1-0-2021-06", False),
        ("ELBSecurityPolicy-FS-2018-06", False),
        (None, False),
    ],
)
def test_tls_listeners_accept_only_policies_whose_floor_is_tls_1_2(
    compliant: MakeFacts, policy: str | None, modern: bool
) -> None:
    facts = compliant()
    facts.items["load_balancers"][0]["listeners"] = [{"port": 443, "protocol": "TLS", "ssl_policy": policy}]
    assert evaluate_control(by_id()["elb-tls-listeners"], facts, TODAY).status is (
        Status.PASS if modern else Status.FAIL
    )


def test_certificates_nobody_uses_are_not_judged(compliant: MakeFacts) -> None:
    facts = compliant()
    facts.items["certificates"][0].update(in_use_by=[], not_after="2020-01-01T00:00:00+00:00")
    assert evaluate_control(by_id()["acm-certificates-valid"], facts, TODAY).status is Status.NOT_APPLICABLE


def test_an_instance_patch_manager_never_scanned_is_error_not_pass(compliant: MakeFacts) -> None:
    facts = compliant()
    facts.items["patch_compliance"] = []
    result = evaluate_control(by_id()["ec2-patched"], facts, TODAY)
    assert result.status is Status.ERROR
    assert "Patch Manager has never scanned it" in result.findings[0].message


def _alarms_result(facts: Facts) -> Any:
    return evaluate_control(by_id()["monitoring-security-alarms"], facts, dt.date.today())


def _category(result: Any, category: str) -> Any:
    (found,) = [f for f in result.findings if f.evidence["category"] == category]
    return found


def test_an_alarm_filter_is_judged_by_what_it_counts_not_by_a_word_in_it(compliant: MakeFacts) -> None:
    """Issue 33: the network ACL filter passed when it named one of the six calls, the root filter on the word
    Root. Now each must count every call of its category."""
    facts = compliant()
    filters = {f["metric_name"]: f for f in facts.items["metric_filters"]}
    filters["nacl-changes"]["pattern"] = "{ $.eventName = CreateNetworkAclEntry }"
    filters["root-account-usage"]["pattern"] = '{ $.eventName = "Root" }'
    result = _alarms_result(facts)
    assert result.status is Status.FAIL
    nacl = _category(result, "network ACL changes")
    assert nacl.status is Status.FAIL
    assert nacl.evidence["missed"] == [
        "CreateNetworkAcl", "DeleteNetworkAcl", "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry",
        "ReplaceNetworkAclAssociation",
    ]  # fmt: skip
    root = _category(result, "root account usage")
    assert root.status is Status.FAIL and root.evidence["missed"] == [
        "ListBuckets by the root user",
        "ConsoleLogin by the root user",
    ]
    assert {f.resource_id.rsplit("/", 1)[1] for f in result.findings if f.status is Status.FAIL} == {
        "network-acl-changes",
        "root-account-usage",
    }


def test_several_armed_filters_together_catch_a_category(compliant: MakeFacts) -> None:
    facts = compliant()
    nacl = next(f for f in facts.items["metric_filters"] if f["metric_name"] == "nacl-changes")
    alarm = next(a for a in facts.items["metric_alarms"] if a["metric_name"] == "nacl-changes")
    nacl["pattern"] = "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) }"
    rest = {**nacl, "name": "nacl-rest", "metric_name": "nacl-rest", "pattern": "{ $.eventName = *NetworkAcl* }"}
    facts.items["metric_filters"].append(rest)
    facts.items["metric_alarms"].append({**alarm, "name": "nacl-rest", "metric_name": "nacl-rest"})
    assert _category(_alarms_result(facts), "network ACL changes").status is Status.PASS
    facts.items["metric_alarms"][-1]["actions"] = []  # the second filter's alarm notifies nobody
    unarmed = _category(_alarms_result(facts), "network ACL changes")
    assert (
        unarmed.status is Status.FAIL and "counts network ACL changes, but no alarm with an action" in unarmed.message
    )


def test_a_filter_whose_pattern_cannot_be_read_is_error_unless_another_catches_the_events(
    compliant: MakeFacts,
) -> None:
    facts = compliant()
    nacl = next(f for f in facts.items["metric_filters"] if f["metric_name"] == "nacl-changes")
    facts.items["metric_filters"].append({**nacl, "name": "space-delimited", "pattern": "[version, account, ...]"})
    assert _alarms_result(facts).status is Status.PASS  # every category is caught by a filter it can read
    nacl["pattern"] = "{ $.eventName = CreateVpc }"
    result = _alarms_result(facts)
    acl = _category(result, "network ACL changes")
    assert result.status is Status.ERROR and acl.status is Status.ERROR
    assert "space-delimited (space-delimited patterns are not read)" in acl.message


def _one_policy(compliant: MakeFacts, control_id: str, statements: list[Item]) -> Any:
    facts = compliant()
    set_policy(facts.items["iam_policies"][0], "document", statements)
    result = evaluate_control(by_id()[control_id], facts, dt.date.today())
    name = facts.items["iam_policies"][0]["arn"]
    return next(f for f in result.findings if f.resource_id == name)


@pytest.mark.parametrize(
    ("statements", "administrator"),
    [
        ([{"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": "*"}], True),  # all but one action
        ([{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"}], True),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ],
            True,
        ),  # a condition that always holds for a caller who wants it to
        ([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::one-bucket"}], True),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": ["*:*"],
                    "Resource": ["*"],
                    "Condition": {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
                }
            ],
            True,
        ),  # holds when the key is absent
        (
            [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:SourceVpc": "*"}}}],
            True,
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
                }
            ],
            True,
        ),  # from one network: still administrator rights (Prowler flags it too)
        ([{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::one-bucket/*"}], False),
        (
            [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}],
            False,
        ),
        ([{"Effect": "Allow", "Action": ["s3:*", "ec2:*", "kms:*"], "Resource": "*"}], False),  # broad, not all
    ],
)
def test_administrator_rights_are_judged_by_effect_not_by_wording(
    compliant: MakeFacts, statements: list[Item], administrator: bool
) -> None:
    """Issue 33: a policy allowing everything through NotAction, or "*:*" behind a condition that always holds,
    passed "does not grant *:*"."""
    found = _one_policy(compliant, "iam-no-star-policies", statements)
    assert found.status is (Status.FAIL if administrator else Status.PASS), found.message
    if administrator:
        assert "administrator rights" in found.message or '("*:*")' in found.message


@pytest.mark.parametrize(
    ("statements", "methods"),
    [
        (
            [{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "arn:aws:iam::1:policy/app"}],
            ["iam:CreatePolicyVersion"],
        ),
        (
            [{"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}],
            ["iam:PassRole + ec2:RunInstances"],
        ),
        (
            [{"Effect": "Allow", "Action": ["iam:Pass*", "lambda:Create*", "lambda:InvokeFunction"], "Resource": "*"}],
            # lambda:Create* includes CreateEventSourceMapping: both Lambda methods
            [
                "iam:PassRole + lambda:CreateEventSourceMapping + lambda:CreateFunction",
                "iam:PassRole + lambda:CreateFunction + lambda:InvokeFunction",
            ],
        ),
        ([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}], []),  # nothing to pass it to
        ([{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}], []),
        (
            [{"Effect": "Allow", "Action": ["ecs:RunTask", "iam:PassRole", "ssm:SendCommand"], "Resource": "*"}],
            ["ssm:SendCommand", "iam:PassRole + ecs:RunTask"],  # the review's: PassRole to a task, a shell on hosts
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "NotAction": ["iam:*", "organizations:*", "account:*"],
                    "Resource": "arn:aws:*:*:*:*",
                }
            ],
            "many",  # PowerUser written with an ARN wildcard: every resource all the same
        ),
    ],
)
def test_privilege_escalation_is_judged_by_the_actions_allowed(
    compliant: MakeFacts, statements: list[Item], methods: list[str] | str
) -> None:
    found = _one_policy(compliant, "iam-no-privilege-escalation", statements)
    assert found.status is (Status.FAIL if methods else Status.PASS), found.message
    if methods == "many":
        assert {"ssm:SendCommand", "lambda:UpdateFunctionConfiguration"} <= set(found.evidence["methods"])
    else:
        assert found.evidence.get("methods", []) == methods


@pytest.mark.parametrize(
    ("principal", "condition", "open_to"),
    [
        ({"AWS": "*"}, None, ["any AWS principal"]),
        ("*", {"Bool": {"aws:SecureTransport": "true"}}, ["anyone"]),  # not a condition on who
        ({"AWS": "arn:aws:iam::999988887777:root"}, None, ["arn:aws:iam::999988887777:root"]),
        ({"AWS": "999988887777"}, None, ["account 999988887777"]),
        (
            {"Federated": "token.actions.githubusercontent.com"},
            None,
            ["any user of token.actions.githubusercontent.com"],
        ),
        ({"AWS": "*"}, {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"}}, ["any AWS principal"]),
        ({"AWS": "arn:aws:iam::999988887777:root"}, {"StringEquals": {"sts:ExternalId": "x-1"}}, []),
        ({"AWS": "AROAEXAMPLEDELETED123"}, None, []),  # a deleted role's unique id: nobody
        (
            {"Federated": "cognito-identity.amazonaws.com"},
            {
                "StringEquals": {
                    "cognito-identity.amazonaws.com:aud": "us-east-1:12345678-1234-1234-1234-123456789012"
                },
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"},
            },
            ["any user of cognito-identity.amazonaws.com"],
        ),  # guests
        (
            {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acm*"}},
            ["any user of arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"],
        ),
        ({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, []),
        ({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": "*"}}, ["any AWS principal"]),
        ({"Service": "ec2.amazonaws.com"}, None, []),
        ({"AWS": "arn:aws:iam::111122223333:role/deployer"}, None, []),  # this account's own role
        # The review's: keys that narrow nothing, or values that pin nothing down.
        ({"AWS": "*"}, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:*"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringLike": {"aws:PrincipalOrgID": "o-*"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringEquals": {"aws:PrincipalTag/team": "phi"}}, ["any AWS principal"]),  # callers tag
        ({"AWS": "*"}, {"StringEquals": {"aws:ResourceAccount": "111122223333"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringLike": {"aws:userid": "AROA*:*"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, []),  # one office's range
        # Naming another account in the condition lets that account in, as naming it as the principal would.
        ({"AWS": "*"}, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::999988887777:role/*"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": "999988887777"}}, ["any AWS principal"]),
        ({"AWS": "*"}, {"StringEquals": {"sts:ExternalId": "12345"}}, ["any AWS principal"]),  # not a secret
        ({"AWS": "*"}, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/*"}}, []),  # this account
        # The account's own identity provider (IAM Identity Center), and a web identity pinned to one repository.
        (
            {"Federated": "arn:aws:iam::111122223333:saml-provider/AWSSSO_0123_DO_NOT_DELETE"},
            {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            [],
        ),
        (
            {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:clinic/deploy:ref:refs/heads/main"}},
            [],
        ),
        (
            {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}},
            ["any user of arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"],
        ),
    ],
)
def test_a_role_trust_is_judged_by_who_it_lets_in(
    compliant: MakeFacts, principal: Any, condition: Any, open_to: list[str]
) -> None:
    """Issue 33: a role whose trust policy lets any AWS principal assume it was not judged at all."""
    facts = compliant()
    role = facts.items["iam_roles"][0]
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    set_policy(role, "trust", [statement | ({"Condition": condition} if condition else {})])
    result = evaluate_control(by_id()["iam-role-trust-not-public"], facts, dt.date.today())
    (found,) = [f for f in result.findings if f.resource_id == role["arn"]]
    assert found.status is (Status.FAIL if open_to else Status.PASS), found.message
    assert found.evidence.get("outsiders", []) == open_to


@pytest.mark.parametrize(
    ("principal", "condition", "public"),
    [
        ("*", {"StringEquals": {"aws:SourceVpce": "vpce-1"}}, False),
        ("*", {"StringLike": {"aws:SourceVpce": "*"}}, True),  # any endpoint at all: no restriction
        ("*", {"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}}, True),  # holds when absent
        ("*", {"StringNotEquals": {"aws:SourceAccount": "999988887777"}}, True),  # everyone but one account
        ({"AWS": ["*"]}, None, True),
        ({"AWS": "arn:aws:iam::999988887777:root"}, None, True),  # another account, unconditionally
        ({"AWS": "arn:aws:iam::999988887777:root"}, {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, False),
        ({"AWS": "arn:aws:iam::111122223333:role/reader"}, None, False),  # this account's own role
        ({"Service": "cloudtrail.amazonaws.com"}, None, False),
    ],
)
def test_a_resource_policy_is_open_when_outsiders_get_in_with_no_condition_that_narrows(
    compliant: MakeFacts, principal: Any, condition: Any, public: bool
) -> None:
    """Issue 33: a restricting key counted whatever its operator or value (StringLike "*", ...IfExists), and
    another account given access unconditionally was not judged."""
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}
    facts = compliant()
    set_policy(bucket(facts, "docs"), "policy", [statement | ({"Condition": condition} if condition else {})])
    assert run("s3-not-public", facts)[0] is (Status.FAIL if public else Status.PASS)
    keys = compliant()
    key = next(k for k in keys.items["kms_keys"] if k.get("manager") == "CUSTOMER")
    set_policy(key, "policy", [statement | {"Action": "kms:Decrypt"} | ({"Condition": condition} if condition else {})])
    assert run("kms-no-wildcard-principal", keys)[0] is (Status.FAIL if public else Status.PASS)


def test_a_trust_open_to_everyone_but_fenced_by_a_deny_outside_the_organization_is_not_open(
    compliant: MakeFacts,
) -> None:
    facts = compliant()
    role = facts.items["iam_roles"][0]
    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    fence = {"Effect": "Deny", "Principal": "*", "Action": "*",
             "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}}  # fmt: skip
    everyone_but = {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*"}
    weak_fences = [  # the review's: each lets some outsiders past the Deny
        fence | {"Condition": {**fence["Condition"], "Bool": {"aws:SecureTransport": "false"}}},
        fence | {"Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123", "aws:PrincipalTag/team": "ops"}}},
        fence | {"Resource": "arn:aws:s3:::nothing/*"},
    ]
    cases = [([allow, fence], Status.PASS), ([allow], Status.FAIL), ([everyone_but], Status.FAIL)]
    cases += [([allow, weak], Status.FAIL) for weak in weak_fences]
    for statements, status in cases:
        set_policy(role, "trust", statements)
        result = evaluate_control(by_id()["iam-role-trust-not-public"], facts, dt.date.today())
        assert next(f for f in result.findings if f.resource_id == role["arn"]).status is status, statements


NACL_EVENTS = " || ".join(
    f"($.eventName = {name})"
    for name in ("CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
                 "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation")
)  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "status", "said"),
    [
        (f"{{ {NACL_EVENTS} }}", Status.PASS, "each counted whoever makes it"),
        (f"{{ ({NACL_EVENTS}) && $.errorCode NOT EXISTS }}", Status.PASS, "each counted"),  # failures: the
        # unauthorized-calls alarm's
        # The review's blind filters: each counts none, or only some, of what CloudTrail writes.
        (f"{{ ({NACL_EVENTS}) && $.eventID NOT EXISTS }}", Status.FAIL, "CreateNetworkAcl by an IAM user in"),
        (f"{{ ({NACL_EVENTS}) && $.userIdentity.type = IAMUser }}", Status.FAIL, "by an assumed role in"),
        (f'{{ ({NACL_EVENTS}) && $.awsRegion = "us-east-1" }}', Status.FAIL, "in eu-west-1"),
        (f'{{ ({NACL_EVENTS}) && $.eventVersion = "1.09" }}', Status.FAIL, "would go unnoticed"),
        (f'{{ ({NACL_EVENTS}) && $.userAgent = "aws-cli*" }}', Status.FAIL, "would go unnoticed"),  # SDKs, console
        (f'{{ ({NACL_EVENTS}) && $.tlsDetails.tlsVersion = "TLSv1.3" }}', Status.FAIL, "would go unnoticed"),
        ("{ $.eventName = * }", Status.FAIL, "counts routine reads too"),
        ("ec2.amazonaws.com", Status.FAIL, "counts routine reads too"),
        ("{ $.eventName = %NetworkAcl% }", Status.ERROR, "regular expressions (%NetworkAcl%) are not read"),
        ('{ $.userAgent = "C:\\Tools\\*" }', Status.ERROR, "cannot read the quoted value"),  # not a traceback
    ],
)
def test_an_alarm_filter_must_count_every_record_cloudtrail_writes_for_its_events(
    compliant: MakeFacts, pattern: str, status: Status, said: str
) -> None:
    facts = compliant()
    nacl = next(f for f in facts.items["metric_filters"] if f["metric_name"] == "nacl-changes")
    nacl["pattern"] = pattern
    found = _category(_alarms_result(facts), "network ACL changes")
    assert found.status is status, found.message
    assert said in found.message, found.message


@pytest.mark.parametrize(
    ("engine", "parameters", "status"),
    [
        ("aurora-postgresql", {"rds.force_ssl": "1"}, Status.PASS),
        ("sqlserver-se", {"rds.force_ssl": "1"}, Status.PASS),
        ("sqlserver-se", {"require_secure_transport": "ON"}, Status.FAIL),  # MySQL's parameter means nothing here
        ("aurora-mysql", {"require_secure_transport": "ON"}, Status.PASS),
        ("docdb", {"tls": "enabled"}, Status.PASS),
        ("docdb", {"tls": "disabled"}, Status.FAIL),
        ("neptune", {"neptune_enforce_ssl": "1"}, Status.PASS),
        ("oracle-ee", {}, Status.ERROR),  # TLS is in an option group: no verdict from parameters
    ],
)
def test_tls_is_read_from_each_engines_own_setting(
    compliant: MakeFacts, engine: str, parameters: dict[str, str], status: Status
) -> None:
    facts = compliant()
    facts.items["db_clusters"][0].update(engine=engine, parameters=parameters)
    assert run("rds-force-ssl", facts)[0] is status


def test_a_control_that_fails_on_an_unforeseen_fact_is_error_not_a_crash(compliant: MakeFacts) -> None:
    facts = compliant()
    del facts.items["metric_filters"][0]["name"]  # a record without a field the control reads
    facts.items["metric_filters"][0]["pattern"] = "[unreadable, space, delimited]"
    result = evaluate_control(by_id()["monitoring-security-alarms"], facts, dt.date.today())
    assert result.status is Status.ERROR and "failed on a fact it did not foresee (KeyError)" in result.note


def test_a_failing_control_with_unjudged_resources_keeps_the_audit_incomplete(compliant: MakeFacts) -> None:
    """The review's: a control with one FAIL and some ERROR findings aggregates to FAIL, and the audit read as
    complete (exit 1, no incomplete line)."""
    from phistack.pipeline import exit_code

    facts = compliant()
    facts.items["buckets"][0]["versioning"] = None  # FAIL for this bucket
    facts.items["buckets"][1]["versioning"] = unreadable_marker("s3:GetBucketVersioning", "AccessDenied")
    assessment = assess(facts, catalog(), [], "test")
    versioning = next(r for r in assessment.results if r.control.id == "s3-versioning")
    assert versioning.status is Status.FAIL
    assert assessment.unjudged >= 1 and exit_code(assessment) == 4


def test_an_aws_managed_policy_is_judged_on_escalation_that_needs_no_role_passing(compliant: MakeFacts) -> None:
    """The review's: AWS-managed IAMFullAccess was skipped (its holder can attach AdministratorAccess to itself);
    a service role's managed policy passing roles to its own service (AWS Backup's restores) is not the holder
    escalating."""
    full_iam = [{"Effect": "Allow", "Action": ["iam:*", "organizations:DescribeOrganization"], "Resource": "*"}]
    restores = [{"Effect": "Allow", "Action": ["ec2:RunInstances", "iam:PassRole"], "Resource": "*"}]
    for statements, status in ((full_iam, Status.FAIL), (restores, Status.PASS)):
        facts = compliant()
        policy = facts.items["iam_policies"][0]
        policy.update(kind="aws-managed", arn="arn:aws:iam::aws:policy/Example")
        set_policy(policy, "document", statements)
        result = evaluate_control(by_id()["iam-no-privilege-escalation"], facts, dt.date.today())
        assert next(f for f in result.findings if f.resource_id == policy["arn"]).status is status


@pytest.mark.parametrize(
    "mutation",
    [
        lambda f: [m.update(region="ap-southeast-2") for m in f.items["metric_filters"]],  # not the trail's group
        lambda f: [a.update(region="ap-southeast-2") for a in f.items["metric_alarms"]],  # watching nothing
        lambda f: [
            t.update(logging=unreadable_marker("cloudtrail:GetTrailStatus", "AccessDenied")) for t in f.items["trails"]
        ],  # fmt: skip
    ],
    ids=["filters-in-another-region", "alarms-in-another-region", "trail-logging-unknown"],
)
def test_alarms_count_only_on_the_logging_trails_own_log_group_in_its_region(
    compliant: MakeFacts, mutation: Callable[[Facts], object]
) -> None:
    facts = compliant()
    mutation(facts)
    assert _alarms_result(facts).status is Status.FAIL


@pytest.mark.parametrize("document", ["[]", [], '{"Statement": "x"}', {"Statement": []}, "not json"])
def test_a_policy_document_that_is_not_a_policy_is_error_not_pass(compliant: MakeFacts, document: Any) -> None:
    """The review's: such documents PASSed both IAM controls (read as allowing nothing)."""
    for control_id in ("iam-no-star-policies", "iam-no-privilege-escalation"):
        facts = compliant()
        policy = facts.items["iam_policies"][0]
        policy["document"] = document
        result = evaluate_control(by_id()[control_id], facts, dt.date.today())
        found = next(f for f in result.findings if f.resource_id == policy["arn"])
        assert found.status is Status.ERROR and "a document that is not a policy" in found.message
    facts = compliant()  # a role's trust policy alike (it PASSed, read as trusting nobody)
    role = facts.items["iam_roles"][0]
    role["trust"] = document
    result = evaluate_control(by_id()["iam-role-trust-not-public"], facts, dt.date.today())
    found = next(f for f in result.findings if f.resource_id == role["arn"])
    assert found.status is Status.ERROR and "a document that is not a policy" in found.message


@pytest.mark.parametrize(
    ("metric", "category", "pattern"),
    [
        ("root-account-usage", "root account usage",
         '{ $.userIdentity.type = "Root" && $.readOnly IS FALSE }'),  # a root user reading PHI goes unseen
        ("access-denied-burst", "unauthorized API calls",
         '{ ($.errorCode = "*UnauthorizedOperation" || $.errorCode = "AccessDenied*") && $.readOnly IS FALSE }'),
        ("console-auth-failures", "console sign-in failures",
         '{ $.eventName = ConsoleLogin && $.errorMessage = "Failed authentication" '
         '&& $.userIdentity.accessKeyId = "A*" }'),
    ],
)  # fmt: skip
def test_a_filter_blind_to_reads_or_console_sign_ins_misses_them(
    compliant: MakeFacts, metric: str, category: str, pattern: str
) -> None:
    facts = compliant()
    next(f for f in facts.items["metric_filters"] if f["metric_name"] == metric)["pattern"] = pattern
    assert _category(_alarms_result(facts), category).status is Status.FAIL
