"""Security metric filters on the CloudTrail log group, after the CIS AWS Foundations monitoring section.

Each entry: (short name, what it catches, CloudWatch Logs filter pattern, alarm threshold per 5 minutes).
"""

from __future__ import annotations

from typing import NamedTuple


class SecurityAlarm(NamedTuple):
    name: str
    description: str
    pattern: str
    threshold: int


def _any_event(*names: str, source: str | None = None) -> str:
    events = " || ".join(f"($.eventName = {n})" for n in names)
    return f"{{ ($.eventSource = {source}) && ({events}) }}" if source else f"{{ {events} }}"


SECURITY_ALARMS: tuple[SecurityAlarm, ...] = (
    SecurityAlarm(
        "root-account-usage",
        "The root user signed in or called an API.",
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }',
        1,
    ),
    SecurityAlarm(
        "iam-policy-changes",
        "An IAM policy was created, changed, attached or detached.",
        _any_event(
            "DeleteGroupPolicy",
            "DeleteRolePolicy",
            "DeleteUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "SetDefaultPolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
        ),
        1,
    ),
    SecurityAlarm(
        "security-group-changes",
        "A security group or one of its rules changed.",
        _any_event(
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "CreateSecurityGroup",
            "DeleteSecurityGroup",
            "ModifySecurityGroupRules",
        ),
        1,
    ),
    SecurityAlarm(
        "nacl-changes",
        "A network ACL or one of its entries changed.",
        _any_event(
            "CreateNetworkAcl",
            "CreateNetworkAclEntry",
            "DeleteNetworkAcl",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
        ),
        1,
    ),
    SecurityAlarm(
        "network-gateway-changes",
        "An internet, NAT, egress-only, customer or transit gateway changed.",
        _any_event(
            "CreateCustomerGateway",
            "DeleteCustomerGateway",
            "AttachInternetGateway",
            "CreateInternetGateway",
            "DeleteInternetGateway",
            "DetachInternetGateway",
            "CreateNatGateway",
            "DeleteNatGateway",
            "CreateEgressOnlyInternetGateway",
            "CreateTransitGatewayVpcAttachment",
        ),
        1,
    ),
    SecurityAlarm(
        "route-table-changes",
        "A route or route table changed.",
        _any_event(
            "CreateRoute",
            "CreateRouteTable",
            "ReplaceRoute",
            "ReplaceRouteTableAssociation",
            "DeleteRouteTable",
            "DeleteRoute",
            "DisassociateRouteTable",
        ),
        1,
    ),
    SecurityAlarm(
        "vpc-changes",
        "A VPC, its attributes, peering or endpoints changed.",
        _any_event(
            "CreateVpc",
            "DeleteVpc",
            "ModifyVpcAttribute",
            "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection",
            "DeleteVpcPeeringConnection",
            "RejectVpcPeeringConnection",
            "CreateVpcEndpoint",
            "ModifyVpcEndpoint",
            "DeleteVpcEndpoints",
            # Retired with EC2-Classic in 2023, still in CIS's list: an API AWS may answer is an API to watch.
            "AttachClassicLinkVpc",
            "DetachClassicLinkVpc",
            "DisableVpcClassicLink",
            "EnableVpcClassicLink",
        ),
        1,
    ),
    SecurityAlarm(
        "console-auth-failures",
        "Console sign-in failed (possible credential guessing).",
        '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
        3,
    ),
    SecurityAlarm(
        "access-denied-burst",
        "A burst of unauthorized or denied API calls.",
        '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
        10,
    ),
    SecurityAlarm(
        "cloudtrail-changes",
        "A trail was created, changed, stopped or deleted.",
        _any_event("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging", "PutEventSelectors"),
        1,
    ),
    SecurityAlarm(
        "kms-key-disabled-or-deleted",
        "A KMS key was disabled or scheduled for deletion.",
        _any_event("DisableKey", "ScheduleKeyDeletion", source="kms.amazonaws.com"),
        1,
    ),
    SecurityAlarm(
        "s3-bucket-policy-changes",
        "A bucket policy, ACL, public access block or encryption changed.",
        _any_event(
            "PutBucketAcl",
            "PutBucketPolicy",
            "PutBucketCors",
            "PutBucketLifecycle",
            "PutBucketReplication",
            "DeleteBucketPolicy",
            "DeleteBucketCors",
            "DeleteBucketLifecycle",
            "DeleteBucketReplication",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            source="s3.amazonaws.com",
        ),
        1,
    ),
)
