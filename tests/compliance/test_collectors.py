"""Live collectors against moto: a compliant account passes, each mutation fails its control, and every
kind of AWS failure (AccessDenied, throttling, unimplemented API) is ERROR naming the API, never PASS/FAIL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
import pytest

from compliance.assessment import assess, evaluate_control
from compliance.controls import by_id, catalog, hosts
from compliance.facts import Facts
from compliance.model import Status
from compliance.sources.live import ALL_TASKS, collect
from tests.compliance.accounts import (
    REGION,
    VPC_CIDR,
    Account,
    build_compliant,
    compliant_account,
    load_balancer,
    tls_only_queue,
)

# What moto cannot represent, and so is not PASS on an otherwise compliant emulated account.
MOTO_LIMITS = {
    "ec2-ssm-managed": Status.ERROR,  # ssm:DescribeInstanceInformation is not implemented
    "iam-root-mfa": Status.FAIL,  # moto has no way to give the root user an MFA device
    "iam-root-hardware-mfa": Status.FAIL,  # nor a hardware one
    "backup-phi-volumes": Status.ERROR,  # backup:ListBackupSelections is not implemented
    "ec2-patched": Status.ERROR,  # ssm:ListResourceComplianceSummaries is not implemented
    "monitoring-guardduty-findings": Status.ERROR,  # guardduty:ListFindings is not implemented
}
NO_DATABASE = {"rds-encrypted-cmk", "rds-not-public", "rds-force-ssl", "rds-backups", "rds-log-export", "rds-multi-az"}
# Judged from playbooks/verify.yml's evidence files, not the AWS API: ERROR in an AWS-only collection.
HOST_EVIDENCE = {c.id for c in hosts.CONTROLS}


@pytest.fixture
def account(aws: boto3.Session) -> Account:
    return compliant_account(aws)


def statuses(session: boto3.Session) -> dict[str, Status]:
    facts, _ = collect(session, [REGION], max_attempts=1)
    return {r.control.id: r.status for r in assess(facts, catalog(), [], "test").results if r.control.automated}


def status_of(session: boto3.Session, control_id: str) -> Status:
    """One control's status, collecting only the kinds of fact it declares (a tenth of a whole collection). The
    same status a whole collection gives: test_each_control_reads_only_the_facts_it_declares proves each control
    reads nothing else, and a read of an undeclared kind here would be ERROR, never a false FAIL."""
    control = by_id()[control_id]
    tasks = tuple(t for t in ALL_TASKS if t.kind.name in control.facts)
    facts, _ = collect(session, [REGION], max_attempts=1, tasks=tasks)
    return evaluate_control(control, facts, dt.date.today()).status


def test_compliant_account_passes_everything_moto_can_show(account: Account) -> None:
    result = statuses(account.session)
    expected = {
        cid: MOTO_LIMITS.get(cid, Status.NOT_APPLICABLE if cid in NO_DATABASE else Status.PASS) for cid in result
    } | dict.fromkeys(HOST_EVIDENCE, Status.ERROR)
    assert result == expected


def test_a_copied_compliant_account_is_judged_as_a_freshly_built_one(aws: boto3.Session) -> None:
    """What lets the `account` fixture copy moto's state back instead of building the account for every test: the
    copy is judged, control by control and finding by finding (ids aside), as an account built anew."""
    from moto.core.base_backend import BackendDict

    from tests.compliance import accounts

    compliant_account(aws)  # the process's snapshot, made now if no test made it before
    copied = accounts._SNAPSHOT[0].restore(aws)

    def judged(session: boto3.Session) -> dict[str, tuple[Status, int]]:
        facts, _ = collect(session, [REGION], max_attempts=1)
        return {r.control.id: (r.status, len(r.findings)) for r in assess(facts, catalog(), [], "t").results}

    from_copy = judged(copied.session)
    BackendDict.reset()  # an empty emulator again, as moto makes it between tests; then the account built by hand
    built = build_compliant(aws)
    assert judged(built.session) == from_copy
    assert (copied.account, copied.buckets.keys()) == (built.account, built.buckets.keys())


def test_each_control_reads_only_the_facts_it_declares(account: Account) -> None:
    """What lets status_of collect less: on the whole collection of a compliant account, each control judged on
    only the kinds it declares gives the same status and findings as on everything (an undeclared read would raise
    for the missing kind and come back ERROR)."""
    whole, _ = collect(account.session, [REGION], max_attempts=1)
    today = dt.date.today()
    for control in (c for c in catalog() if c.automated):
        declared = Facts(
            whole.source, whole.account, whole.regions,
            {k: v for k, v in whole.items.items() if k in control.facts},
            {k: v for k, v in whole.gaps.items() if k in control.facts}, whole.context,
        )  # fmt: skip
        everything, only_declared = evaluate_control(control, whole, today), evaluate_control(control, declared, today)
        assert (only_declared.status, only_declared.findings) == (everything.status, everything.findings), control.id


def deny(session: boto3.Session, service: str, operation: str, code: str = "AccessDenied") -> None:
    """Make every call of one API fail the way AWS does, through botocore's own event hooks."""

    def refuse(**_: Any) -> None:
        raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "test"}}, operation)

    session.events.register(f"before-call.{service}.{operation}", refuse)


@pytest.mark.parametrize(
    ("service", "operation", "code", "controls"),
    [
        (
            "ec2",
            "DescribeSecurityGroups",
            "UnauthorizedOperation",
            {"net-default-sg-closed", "net-sg-no-internet-ingress", "net-sg-egress-within-vpc"},
        ),
        (
            "cloudtrail",
            "DescribeTrails",
            "AccessDeniedException",
            {
                "trail-multi-region",
                "trail-logging",
                "trail-log-file-validation",
                "trail-kms",
                "trail-cloudwatch",
                "trail-s3-data-events",
                "trail-bucket-not-public",
                "s3-audit-object-lock",
                "monitoring-security-alarms",
            },
        ),
        (
            "logs",
            "DescribeLogGroups",
            "ThrottlingException",
            {"logs-kms", "logs-retention", "logs-never-expire-configured"},
        ),
    ],
)
def test_a_denied_api_is_error_on_every_control_that_needs_it(
    account: Account, service: str, operation: str, code: str, controls: set[str]
) -> None:
    deny(account.session, service, operation, code)
    facts, _ = collect(account.session, [REGION], max_attempts=1)
    results = {r.control.id: r for r in assess(facts, catalog(), [], "t").results}
    errors = {cid for cid, r in results.items() if r.status is Status.ERROR} - set(MOTO_LIMITS) - HOST_EVIDENCE
    assert errors == controls
    for cid in controls:
        assert code in results[cid].note and operation in results[cid].note


def test_one_denied_bucket_call_is_error_for_that_bucket_only(account: Account) -> None:
    deny(account.session, "s3", "GetBucketVersioning")
    facts, _ = collect(account.session, [REGION], max_attempts=1)
    result = next(r for r in assess(facts, catalog(), [], "t").results if r.control.id == "s3-versioning")
    assert result.status is Status.ERROR
    assert {f.status for f in result.findings} == {Status.ERROR}
    assert all("s3:GetBucketVersioning answered AccessDenied" in f.message for f in result.findings)


Mutation = Callable[[Account], None]


def _allow_from_internet(a: Account, **entry: Any) -> None:
    """An allow entry from 0.0.0.0/0 at rule 50 of the stack VPC's network ACL, ahead of its own rules."""
    _ec2(a).create_network_acl_entry(
        NetworkAclId=_vpc_acl(a), RuleNumber=50, RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0", **entry
    )


def _ec2(a: Account) -> Any:
    return a.client("ec2")


MUTATIONS: dict[str, Mutation] = {
    "net-no-internet-gateway": lambda a: _ec2(a).attach_internet_gateway(
        InternetGatewayId=_ec2(a).create_internet_gateway()["InternetGateway"]["InternetGatewayId"], VpcId=a.vpc_id
    ),
    "net-no-default-route": lambda a: _ec2(a).create_route(
        RouteTableId=_ec2(a).describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [a.vpc_id]}])["RouteTables"][
            0
        ]["RouteTableId"],
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=_ec2(a).create_internet_gateway()["InternetGateway"]["InternetGatewayId"],
    ),
    "net-no-nat-gateway": lambda a: _ec2(a).create_nat_gateway(
        SubnetId=a.subnet_ids[0], AllocationId=_ec2(a).allocate_address(Domain="vpc")["AllocationId"]
    ),
    "net-sg-no-internet-ingress": lambda a: _ec2(a).authorize_security_group_ingress(
        GroupId=a.sg_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    ),
    "net-sg-egress-within-vpc": lambda a: _ec2(a).authorize_security_group_egress(
        GroupId=a.sg_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ),
    "ec2-imdsv2-instances": lambda a: _ec2(a).modify_instance_metadata_options(
        InstanceId=a.instance_id, HttpTokens="optional"
    ),
    "kms-rotation": lambda a: a.client("kms").disable_key_rotation(KeyId=a.key_arn),
    "s3-versioning": lambda a: a.client("s3").put_bucket_versioning(
        Bucket=a.buckets["docs"], VersioningConfiguration={"Status": "Suspended"}
    ),
    "s3-sse-kms-cmk": lambda a: a.client("s3").put_bucket_encryption(
        Bucket=a.buckets["docs"],
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    ),
    "trail-log-file-validation": lambda a: a.client("cloudtrail").update_trail(
        Name="phistack-acme-trail", EnableLogFileValidation=False
    ),
    "trail-logging": lambda a: a.client("cloudtrail").stop_logging(Name="phistack-acme-trail"),
    "logs-retention": lambda a: a.client("logs").put_retention_policy(
        logGroupName="/phistack/acme/cloudtrail", retentionInDays=365
    ),
    "logs-never-expire-configured": lambda a: a.client("logs").delete_retention_policy(
        logGroupName="/phistack/acme/cloudtrail"
    ),
    "monitoring-guardduty": lambda a: a.client("guardduty").delete_detector(
        DetectorId=a.client("guardduty").list_detectors()["DetectorIds"][0]
    ),
    "iam-no-star-policies": lambda a: a.client("iam").put_role_policy(
        RoleName="gpu",
        PolicyName="admin",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
    ),
    # Issue 33: a role any AWS principal may assume.
    "iam-role-trust-not-public": lambda a: a.client("iam").create_role(
        RoleName="open-door",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        '{"AWS": "*"}, "Action": "sts:AssumeRole"}]}',
    ),
    # Issue 33: a customer-managed policy, attached to the host's role, that lets it start an instance with any role.
    "iam-no-privilege-escalation": lambda a: a.client("iam").attach_role_policy(
        RoleName="gpu",
        PolicyArn=a.client("iam").create_policy(
            PolicyName="launcher",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:PassRole", '
            '"ec2:RunInstances"], "Resource": "*"}]}',
        )["Policy"]["Arn"],
    ),
}


def _default_sg(a: Account) -> str:
    groups = _ec2(a).describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [a.vpc_id]}])["SecurityGroups"]
    return str(next(g["GroupId"] for g in groups if g["GroupName"] == "default"))


def _vpc_acl(a: Account) -> str:
    acls = _ec2(a).describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [a.vpc_id]}])["NetworkAcls"]
    return str(acls[0]["NetworkAclId"])


def _public_bucket(a: Account) -> None:
    s3 = a.client("s3")
    name = a.buckets["docs"]
    s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_bucket_acl(Bucket=name, ACL="public-read")


def _public_trail_bucket(a: Account) -> None:
    s3 = a.client("s3")
    name = a.buckets["audit-logs"]
    s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_policy(
        Bucket=name,
        Policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        f'"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{name}/*"}}]}}',
    )


def _second_trail(a: Account) -> None:
    """A plain trail: no KMS, no CloudWatch delivery."""
    a.client("cloudtrail").create_trail(Name="plain", S3BucketName=a.buckets["audit-logs"])
    a.client("cloudtrail").start_logging(Name="plain")


def _bad_database(a: Account) -> None:
    rds = a.client("rds")
    # An explicit parameter group: moto names a default group for aurora-postgresql that it cannot describe
    # (the collector then rightly reports ERROR, not FAIL).
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="legacy-pg16", DBParameterGroupFamily="aurora-postgresql16", Description="legacy"
    )
    rds.create_db_cluster(
        DBClusterIdentifier="legacy",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="not-a-real-secret-1",
        StorageEncrypted=False,
        BackupRetentionPeriod=1,
        DBClusterParameterGroupName="legacy-pg16",
    )
    rds.create_db_instance(
        DBInstanceIdentifier="legacy-0",
        DBClusterIdentifier="legacy",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
        PubliclyAccessible=True,
    )


def _public_database_snapshot(a: Account) -> None:
    _bad_database(a)
    rds = a.client("rds")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="legacy", DBClusterSnapshotIdentifier="legacy-copy")
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="legacy-copy", AttributeName="restore", ValuesToAdd=["all"]
    )


def _plain_snapshot(a: Account) -> None:
    volume = _ec2(a).create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=False)["VolumeId"]
    _ec2(a).create_snapshot(VolumeId=volume)


def _public_snapshot(a: Account) -> None:
    volume = _ec2(a).describe_volumes()["Volumes"][0]["VolumeId"]
    snap = _ec2(a).create_snapshot(VolumeId=volume)["SnapshotId"]
    _ec2(a).modify_snapshot_attribute(
        SnapshotId=snap, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )


def _instance(a: Account, **extra: Any) -> None:
    _ec2(a).run_instances(
        ImageId="ami-0123456789abcdef0",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=a.subnet_ids[0],
        MetadataOptions={"HttpTokens": "required"},
        **extra,
    )


MUTATIONS.update(
    {
        # No plan at all: nothing can cover the PHI volume, whatever selections moto cannot show.
        "backup-phi-volumes": lambda a: [
            a.client("backup").delete_backup_plan(BackupPlanId=p["BackupPlanId"])
            for p in a.client("backup").list_backup_plans()["BackupPlansList"]
        ],
        "backup-vault-locked": lambda a: a.client("backup").delete_backup_vault_lock_configuration(
            BackupVaultName="phistack-backups"
        ),
        "backup-vault-encrypted-cmk": lambda a: (
            a.client("backup").create_backup_vault(BackupVaultName="aws-managed"),
            a.client("backup").create_backup_plan(
                BackupPlan={
                    "BackupPlanName": "other",
                    "Rules": [
                        {
                            "RuleName": "r",
                            "TargetBackupVaultName": "aws-managed",
                            "ScheduleExpression": "cron(0 6 * * ? *)",
                        }
                    ],
                }  # fmt: skip
            ),
        ),
        "net-no-egress-only-gateway": lambda a: _ec2(a).create_egress_only_internet_gateway(VpcId=a.vpc_id),
        "net-subnets-no-public-ip": lambda a: _ec2(a).modify_subnet_attribute(
            SubnetId=a.subnet_ids[0], MapPublicIpOnLaunch={"Value": True}
        ),
        "net-default-sg-closed": lambda a: _ec2(a).authorize_security_group_egress(
            GroupId=_default_sg(a),
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": VPC_CIDR}]}],
        ),
        "net-nacl-no-admin-ports": lambda a: _allow_from_internet(a, Protocol="6", PortRange={"From": 22, "To": 22}),
        "net-flow-logs": lambda a: _ec2(a).delete_flow_logs(
            FlowLogIds=[f["FlowLogId"] for f in _ec2(a).describe_flow_logs()["FlowLogs"]]
        ),
        "net-required-endpoints": lambda a: _ec2(a).delete_vpc_endpoints(
            VpcEndpointIds=[
                e["VpcEndpointId"]
                for e in _ec2(a).describe_vpc_endpoints()["VpcEndpoints"]
                if e["ServiceName"].endswith(".kms")
            ]
        ),
        "net-nacl-no-all-traffic": lambda a: _allow_from_internet(a, Protocol="-1"),
        "ec2-no-public-ip": lambda a: _ec2(a).associate_address(
            InstanceId=a.instance_id, AllocationId=_ec2(a).allocate_address(Domain="vpc")["AllocationId"]
        ),
        "ec2-imdsv2-launch-templates": lambda a: _ec2(a).create_launch_template(
            LaunchTemplateName="legacy", LaunchTemplateData={"MetadataOptions": {"HttpTokens": "optional"}}
        ),
        "ec2-instance-profile": lambda a: _instance(a),
        "ec2-ebs-default-encryption": lambda a: _ec2(a).disable_ebs_encryption_by_default(),
        "ec2-volumes-cmk": lambda a: _ec2(a).create_volume(AvailabilityZone=f"{REGION}a", Size=10),
        "ec2-no-public-snapshots": _public_snapshot,
        "ec2-snapshots-encrypted": _plain_snapshot,
        "kms-no-pending-deletion": lambda a: a.client("kms").schedule_key_deletion(
            KeyId=a.client("kms").create_key()["KeyMetadata"]["KeyId"], PendingWindowInDays=7
        ),
        "kms-no-wildcard-principal": lambda a: a.client("kms").put_key_policy(
            KeyId=a.key_arn,
            PolicyName="default",
            Policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}]}',
        ),
        "s3-tls-only": lambda a: a.client("s3").delete_bucket_policy(Bucket=a.buckets["docs"]),
        "s3-bucket-public-access-block": lambda a: a.client("s3").delete_public_access_block(Bucket=a.buckets["docs"]),
        "s3-account-public-access-block": lambda a: a.client("s3control").delete_public_access_block(
            AccountId=a.account
        ),
        "s3-not-public": _public_bucket,
        "s3-acls-disabled": lambda a: a.client("s3").put_bucket_ownership_controls(
            Bucket=a.buckets["docs"], OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
        ),
        "s3-audit-object-lock": lambda a: a.client("s3").put_object_lock_configuration(
            Bucket=a.buckets["audit-logs"],
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
            },
        ),
        "s3-access-logging": lambda a: a.client("s3").put_bucket_logging(
            Bucket=a.buckets["docs"], BucketLoggingStatus={}
        ),
        "trail-multi-region": lambda a: a.client("cloudtrail").update_trail(
            Name="phistack-acme-trail", IsMultiRegionTrail=False
        ),
        "trail-kms": _second_trail,
        "trail-cloudwatch": _second_trail,
        "trail-s3-data-events": lambda a: a.client("cloudtrail").put_event_selectors(
            TrailName="phistack-acme-trail", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
        ),
        "trail-bucket-not-public": _public_trail_bucket,
        "logs-kms": lambda a: a.client("logs").create_log_group(logGroupName="/app/unencrypted"),
        "monitoring-security-alarms": lambda a: a.client("cloudwatch").delete_alarms(AlarmNames=["root-account-usage"]),
        "monitoring-alarm-topic-encrypted": lambda a: a.client("sns").delete_topic(TopicArn=a.topic_arn),
        "monitoring-config-recorder": lambda a: a.client("config").stop_configuration_recorder(
            ConfigurationRecorderName="phistack"
        ),
        "iam-console-mfa": lambda a: (
            a.client("iam").create_user(UserName="bob"),
            a.client("iam").create_login_profile(UserName="bob", Password="Temp-Passw0rd!x"),
        ),
        "rds-encrypted-cmk": _bad_database,
        "rds-not-public": _bad_database,
        "rds-force-ssl": _bad_database,
        "rds-backups": _bad_database,
        "rds-log-export": _bad_database,
        "rds-multi-az": _bad_database,
        "rds-snapshots-not-public": _public_database_snapshot,
        "sqs-encrypted-cmk": lambda a: tls_only_queue(a, "plain", None),
        "elb-deletion-protection": lambda a: load_balancer(a, "legacy", protected=False, log_to="somewhere"),
        "elb-access-logs": lambda a: load_balancer(a, "legacy"),
        "elb-tls-listeners": lambda a: load_balancer(a, "legacy", policy="ELBSecurityPolicy-TLS13-1-0-2021-06"),
        "acm-certificates-valid": lambda a: load_balancer(a, "legacy", cert_days=10),
        "iam-password-policy": lambda a: a.client("iam").delete_account_password_policy(),
        "sqs-tls-only": lambda a: a.client("sqs").create_queue(
            QueueName="open", Attributes={"KmsMasterKeyId": a.key_arn}
        ),
    }
)

# Controls whose FAIL moto cannot produce, each covered by its facts-level FAIL test in test_controls.py.
LIVE_FAIL_UNREPRESENTABLE = {
    "ec2-ssm-managed": "moto does not implement ssm:DescribeInstanceInformation (ERROR, asserted above)",
    "iam-root-mfa": "already FAIL on every moto account: moto cannot give the root user MFA",
    "iam-root-hardware-mfa": "already FAIL on every moto account: moto cannot give the root user MFA",
    "iam-root-no-access-keys": "moto cannot create access keys for the root user",
    "iam-access-keys-rotated": "moto dates every new access key now; keys cannot be aged",
    "iam-unused-credentials": "moto dates every new user and key now and records no use; none can be aged",
    "services-hipaa-eligible": "every service moto's tagging API reports is HIPAA-eligible",
    "ec2-patched": "moto does not implement ssm:ListResourceComplianceSummaries (ERROR, asserted above; the request "
    "and parsing are checked against botocore's model in test_unemulated_apis.py)",
    "ec2-instance-age": "moto dates every instance's launch now; instances cannot be aged",
    "monitoring-guardduty-findings": "moto does not implement guardduty:ListFindings (ERROR, asserted above; see "
    "test_unemulated_apis.py)",
} | dict.fromkeys(HOST_EVIDENCE, "judged from host evidence files (FAIL cases: tests/compliance/test_hosts.py)")


def test_every_automated_control_has_a_live_fail_case_or_a_stated_reason() -> None:
    automated = {c.id for c in catalog() if c.automated}
    assert set(MUTATIONS) | set(LIVE_FAIL_UNREPRESENTABLE) == automated
    assert not set(MUTATIONS) & set(LIVE_FAIL_UNREPRESENTABLE)


@pytest.mark.parametrize("control_id", sorted(MUTATIONS))
def test_each_live_mutation_fails_its_control(account: Account, control_id: str) -> None:
    MUTATIONS[control_id](account)
    assert status_of(account.session, control_id) is Status.FAIL


# IAM action -> (botocore event service id, API operation), where they differ from the obvious mapping.
_S3_ACTIONS = {
    "s3:GetEncryptionConfiguration": ("s3", "GetBucketEncryption"),
    "s3:GetBucketPublicAccessBlock": ("s3", "GetPublicAccessBlock"),
    "s3:GetAccountPublicAccessBlock": ("s3-control", "GetPublicAccessBlock"),
    "s3:GetBucketObjectLockConfiguration": ("s3", "GetObjectLockConfiguration"),
    "s3:ListAllMyBuckets": ("s3", "ListBuckets"),
}
_EVENT_SERVICE = {"logs": "cloudwatch-logs", "config": "config-service", "tag": "resource-groups-tagging-api",
                  "elasticloadbalancing": "elastic-load-balancing-v2"}  # fmt: skip


def api_of(permission: str) -> tuple[str, str]:
    if permission in _S3_ACTIONS:
        return _S3_ACTIONS[permission]
    prefix, action = permission.split(":")
    return _EVENT_SERVICE.get(prefix, prefix), action


@pytest.mark.parametrize("control_id", sorted(c.id for c in catalog() if c.automated))
def test_denying_a_controls_declared_permissions_makes_it_error(account: Account, control_id: str) -> None:
    """The permissions a control declares are the ones its facts come from: deny them, and it is ERROR."""
    control = next(c for c in catalog() if c.id == control_id)
    for permission in control.permissions:
        deny(account.session, *api_of(permission))
    assert status_of(account.session, control_id) is Status.ERROR


ADMIN = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


def test_admin_rights_by_any_route_fail_no_star_policies(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS's own AdministratorAccess attached to a user, and "*:*" inline on a user or on a group, each FAIL,
    named; an AWS managed policy that is not "*:*" passes. (The control once read customer-managed policies and
    roles' inline ones only, so all three passed unseen.)"""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # moto then knows AWS's managed policies
    account = build_compliant(aws)
    iam = account.client("iam")
    iam.attach_role_policy(RoleName="gpu", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")

    def no_star() -> tuple[Status, dict[str, str]]:
        facts, _ = collect(account.session, [REGION], max_attempts=1)
        result = next(r for r in assess(facts, catalog(), [], "test").results if r.control.id == "iam-no-star-policies")
        return result.status, {f.resource_id: f.message for f in result.findings if f.status is Status.FAIL}

    status, failing = no_star()
    assert status is Status.PASS and failing == {}
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_user(UserName="dave")
    iam.put_user_policy(UserName="dave", PolicyName="everything", PolicyDocument=ADMIN)
    iam.create_group(GroupName="ops")
    iam.put_group_policy(GroupName="ops", PolicyName="everything", PolicyDocument=ADMIN)
    status, failing = no_star()
    assert status is Status.FAIL
    account_id = account.account
    assert failing == {
        "arn:aws:iam::aws:policy/AdministratorAccess":
            'IAM AWS-managed policy AdministratorAccess allows every action on every resource ("*:*").',
        f"arn:aws:iam::{account_id}:user/dave/inline/everything":
            'IAM inline policy dave/everything allows every action on every resource ("*:*").',
        f"arn:aws:iam::{account_id}:group/ops/inline/everything":
            'IAM inline policy ops/everything allows every action on every resource ("*:*").',
    }  # fmt: skip


@pytest.mark.parametrize(
    ("selectors", "status"),
    [
        ([("WriteOnly", "{docs}")], Status.FAIL),  # who changed a document is recorded, not who read it
        ([("ReadOnly", "{docs}")], Status.FAIL),
        ([("ReadOnly", "{docs}"), ("WriteOnly", "")], Status.PASS),  # reads of docs, writes of every bucket
        ([("All", "{docs}")], Status.PASS),
    ],
)
def test_phi_object_access_counts_only_when_reads_and_writes_are_recorded(
    account: Account, selectors: list[tuple[str, str]], status: Status
) -> None:
    docs = account.buckets["docs"]
    account.client("cloudtrail").put_event_selectors(
        TrailName="phistack-acme-trail",
        EventSelectors=[
            {
                "ReadWriteType": direction,
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket.format(docs=docs)}/"]}],
            }
            for direction, bucket in selectors
        ],
    )
    assert status_of(account.session, "trail-s3-data-events") is status


def test_a_standalone_rds_instance_is_judged_like_a_cluster(account: Account) -> None:
    """Issue 33: a public, unencrypted standalone PostgreSQL instance (no Aurora cluster) beside the compliant
    stack. Only clusters were read, so it produced no finding; now each rds-* control judges it, as a
    DBInstance, and fails it for what it lacks."""
    rds = account.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="old-reporting",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="admin",
        MasterUserPassword="not-a-real-secret-1",
        AllocatedStorage=20,
        PubliclyAccessible=True,
        StorageEncrypted=False,
        BackupRetentionPeriod=1,
        MultiAZ=False,
        VpcSecurityGroupIds=[account.sg_id],
    )
    facts, _ = collect(account.session, [REGION], max_attempts=1)
    results = {r.control.id: r for r in assess(facts, catalog(), [], "test").results}
    expected = {
        "rds-encrypted-cmk": "is not encrypted at rest",
        "rds-not-public": "has a publicly accessible instance",
        "rds-backups": "1 days, under 7",
        "rds-log-export": "does not export its postgresql log",
        "rds-multi-az": "no instance outside one availability zone",
        "rds-force-ssl": "accepts connections without TLS",
    }
    for control_id, said in expected.items():
        result = results[control_id]
        assert result.status is Status.FAIL, (control_id, result.findings)
        (failed,) = [f for f in result.findings if f.status is Status.FAIL]
        assert failed.resource_type == "AWS::RDS::DBInstance" and failed.resource_id.endswith(":db:old-reporting")
        assert said in failed.message, (control_id, failed.message)
