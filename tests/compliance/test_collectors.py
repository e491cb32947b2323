"""Live collectors against moto: a compliant account passes, each mutation fails its control, and every
kind of AWS failure (AccessDenied, throttling, unimplemented API) is ERROR naming the API, never PASS/FAIL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from compliance.assessment import assess
from compliance.collectors import collect
from compliance.controls import catalog
from compliance.model import Status
from tests.compliance.accounts import REGION, Account, build_compliant

# What moto cannot represent, and so is not PASS on an otherwise compliant emulated account.
MOTO_LIMITS = {
    "ec2-ssm-managed": Status.ERROR,  # ssm:DescribeInstanceInformation is not implemented
    "iam-root-mfa": Status.FAIL,  # moto has no way to give the root user an MFA device
}
NO_DATABASE = {"rds-encrypted-cmk", "rds-not-public", "rds-force-ssl", "rds-backups"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def account(aws: boto3.Session) -> Account:
    return build_compliant(aws)


def statuses(session: boto3.Session) -> dict[str, Status]:
    facts, _ = collect(session, [REGION], max_attempts=1)
    return {r.control.id: r.status for r in assess(facts, catalog(), [], "test").results if r.control.automated}


def test_compliant_account_passes_everything_moto_can_show(account: Account) -> None:
    result = statuses(account.session)
    expected = {
        cid: MOTO_LIMITS.get(cid, Status.NOT_APPLICABLE if cid in NO_DATABASE else Status.PASS) for cid in result
    }
    assert result == expected


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
    errors = {cid for cid, r in results.items() if r.status is Status.ERROR} - set(MOTO_LIMITS)
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
}


@pytest.mark.parametrize("control_id", sorted(MUTATIONS))
def test_each_live_mutation_fails_its_control(account: Account, control_id: str) -> None:
    MUTATIONS[control_id](account)
    assert statuses(account.session)[control_id] is Status.FAIL
