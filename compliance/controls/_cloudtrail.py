"""CloudTrail records as CloudTrail writes them to a trail's log group, for judging what a metric filter counts.

Each security-event category of the CIS AWS Foundations monitoring section (the event lists Prowler's cloudwatch_*
checks require) is a list of calls; each call becomes several full records: made by an IAM user and by an assumed
role (people and CI sign in through roles), in the audited account, in the stack's region and another, under two
record versions, with every field a real record carries. A filter that only counts one caller type, one region,
one account or one version, or that relies on a field being absent, misses some of them. Benign records (a
successful read) tell a filter that counts everything (noise that keeps an alarm ringing) from one that counts
the category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    source: str
    name: str
    caller: str = "person"  # person: an IAM user and an assumed role; root: the root user
    fields: dict[str, Any] = field(default_factory=dict)  # what the call adds: an error, a console sign-in


def _calls(source: str, *names: str, **fields: Any) -> tuple[Call, ...]:
    return tuple(Call(source, n, fields=fields) for n in names)


_EC2 = "ec2.amazonaws.com"
_SIGNIN = {"eventType": "AwsConsoleSignIn", "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/",
           "MobileVersion": "No", "MFAUsed": "No"}}  # fmt: skip

CATEGORIES: dict[str, tuple[Call, ...]] = {
    "root account usage": (
        Call("s3.amazonaws.com", "ListBuckets", "root", {"readOnly": True}),
        Call(
            "signin.amazonaws.com", "ConsoleLogin", "root", {**_SIGNIN, "responseElements": {"ConsoleLogin": "Success"}}
        ),
    ),
    "IAM policy changes": _calls(
        "iam.amazonaws.com",
        *("DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy"),
        *("PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion"),
        *("AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy"),
        "DetachGroupPolicy",
    ),
    "security group changes": _calls(
        _EC2,
        *("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress"),
        *("RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup"),
    ),
    "network ACL changes": _calls(
        _EC2,
        *("CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry"),
        *("ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"),
    ),
    "network gateway changes": _calls(
        _EC2,
        *("CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway"),
        *("DeleteInternetGateway", "DetachInternetGateway"),
    ),
    "route table changes": _calls(
        _EC2,
        *("CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable"),
        *("DeleteRoute", "DisassociateRouteTable"),
    ),
    "VPC changes": _calls(
        _EC2,
        *("CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection"),
        *("DeleteVpcPeeringConnection", "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc"),
        *("DisableVpcClassicLink", "EnableVpcClassicLink"),
    ),
    "console sign-in failures": (
        Call(
            "signin.amazonaws.com",
            "ConsoleLogin",
            fields={
                **_SIGNIN,
                "errorMessage": "Failed authentication",
                "responseElements": {"ConsoleLogin": "Failure"},
            },
        ),
    ),  # fmt: skip
    "unauthorized API calls": (
        Call(
            _EC2,
            "RunInstances",
            fields={
                "errorCode": "Client.UnauthorizedOperation",
                "errorMessage": "You are not authorized to perform this operation.",
            },
        ),
        Call(
            "s3.amazonaws.com",
            "GetObject",
            fields={"errorCode": "AccessDenied", "errorMessage": "Access Denied", "readOnly": True},
        ),
        Call(
            "kms.amazonaws.com",
            "Decrypt",
            fields={
                "errorCode": "AccessDeniedException",
                "errorMessage": "User is not authorized to perform: kms:Decrypt",
            },
        ),
    ),  # fmt: skip
    "CloudTrail configuration changes": _calls(
        "cloudtrail.amazonaws.com", "CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"
    ),
    "KMS key disabling or deletion": _calls("kms.amazonaws.com", "DisableKey", "ScheduleKeyDeletion"),
    "S3 bucket policy changes": _calls(
        "s3.amazonaws.com",
        *("PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication"),
        *("DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication"),
    ),
}

# Successful reads every account makes all day: a filter that counts them counts everything.
BENIGN = (
    Call(_EC2, "DescribeInstances", fields={"readOnly": True}),
    Call("sts.amazonaws.com", "GetCallerIdentity", fields={"readOnly": True}),
)


def _callers(caller: str, account: str) -> list[dict[str, Any]]:
    if caller == "root":
        return [{"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                 "accountId": account, "accessKeyId": "ASIAEXAMPLEROOT00001"}]  # fmt: skip
    return [
        {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001", "arn": f"arn:aws:iam::{account}:user/ops",
         "accountId": account, "accessKeyId": "AKIAEXAMPLEUSER00001", "userName": "ops"},
        {"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE00001:ci-deploy",
         "arn": f"arn:aws:sts::{account}:assumed-role/Deployer/ci-deploy", "accountId": account,
         "accessKeyId": "ASIAEXAMPLEROLE00001",
         "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE00001",
                                              "arn": f"arn:aws:iam::{account}:role/Deployer", "accountId": account,
                                              "userName": "Deployer"},
                            "attributes": {"creationDate": "2026-12-07T09:58:00Z", "mfaAuthenticated": "false"}}},
    ]  # fmt: skip


# How calls arrive: the CLI, an SDK, the console; over TLS 1.2 and 1.3. A filter pinned to one misses the others.
USER_AGENTS = ("aws-cli/2.22.0 Python/3.12.6 Linux/6.1", "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux",
               "AWS Internal")  # fmt: skip
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")


def records(call: Call, account: str, regions: list[str]) -> list[dict[str, Any]]:
    """The CloudTrail records of one call: each caller, in each region, varying the record version, the client and
    the TLS version between them."""
    out = []
    for i, (caller, region) in enumerate((c, r) for c in _callers(call.caller, account) for r in regions):
        if call.name == "ConsoleLogin":  # a console sign-in carries no access key
            caller = {k: v for k, v in caller.items() if k != "accessKeyId"}
        out.append(
            {
                "eventVersion": ("1.08", "1.10")[i % 2],
                "userIdentity": caller,
                "eventTime": "2026-12-07T10:00:00Z",
                "eventSource": call.source,
                "eventName": call.name,
                "awsRegion": region,
                "sourceIPAddress": "198.51.100.7",
                "userAgent": USER_AGENTS[i % len(USER_AGENTS)],
                "requestParameters": None if call.name == "ConsoleLogin" else {},
                "responseElements": None,
                "requestID": f"0f4c2a8e-0000-4000-8000-{i:012d}",
                "eventID": f"7d1b3c5e-0000-4000-8000-{i:012d}",
                "readOnly": False,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": account,
                "eventCategory": "Management",
                "tlsDetails": {"tlsVersion": TLS_VERSIONS[i // 2 % 2], "cipherSuite": "TLS_AES_128_GCM_SHA256"},
                **call.fields,
            }
        )
    return out


def other_region(region: str) -> str:
    """A second region for the records: a filter pinned to the stack's region misses calls made elsewhere."""
    return "eu-west-1" if region != "eu-west-1" else "us-west-2"
