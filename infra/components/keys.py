"""Customer-managed KMS keys: one for data (S3, Aurora), one for logs, one for EBS.

Every key rotates yearly and has a 30-day deletion window. Each key policy has three parts:
- the account root, so IAM policies can delegate use (AWS's recommended guard against an unmanageable key;
  use is then limited by the instance role's own policy);
- the configured admin roles, for administration only (they cannot encrypt or decrypt);
- only the AWS services that must use that key themselves, scoped to this account: CloudWatch Logs,
  CloudTrail, S3 log delivery, CloudWatch alarms (to the encrypted SNS topic) and AWS Config on the logs key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import ClientConfig

KeyPurpose = Literal["data", "logs", "ebs"]

ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]


@dataclass
class KeysArgs:
    cfg: ClientConfig


def _base_statements(cfg: ClientConfig) -> list[policies.Statement]:
    return [
        {
            "Sid": "AccountRootDelegatesToIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{cfg.partition}:iam::{cfg.account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "KeyAdministratorsCannotUseTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": list(cfg.admin_role_arns)},
            "Action": ADMIN_ACTIONS,
            "Resource": "*",
        },
    ]


def _service(sid: str, service: str, actions: list[str], condition: dict[str, Any]) -> policies.Statement:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
        "Resource": "*",
        "Condition": condition,
    }


def log_key_statements(cfg: ClientConfig) -> list[policies.Statement]:
    p, region, account = cfg.partition, cfg.region, cfg.account_id
    same_account = {"StringEquals": {"aws:SourceAccount": account}}
    trail_arn = f"arn:{p}:cloudtrail:{region}:{account}:trail/{naming.trail_name(cfg)}"
    return [
        _service(
            "CloudWatchLogsEncryptsThisAccountsLogGroups",
            f"logs.{region}.amazonaws.com",
            ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{p}:logs:{region}:{account}:log-group:*"}},
        ),
        _service(
            "CloudTrailEncryptsTheStackTrail",
            "cloudtrail.amazonaws.com",
            ["kms:GenerateDataKey*"],
            {
                "StringEquals": {"aws:SourceArn": trail_arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{p}:cloudtrail:*:{account}:trail/*"},
            },
        ),
        _service(
            "CloudTrailDescribesKey",
            "cloudtrail.amazonaws.com",
            ["kms:DescribeKey"],
            {"StringEquals": {"aws:SourceArn": trail_arn}},
        ),
        _service("S3ServerAccessLogDelivery", "logging.s3.amazonaws.com", ["kms:GenerateDataKey*"], same_account),
        # The gateway load balancer's access logs, written to the access-log bucket by the log delivery service.
        _service(
            "LoadBalancerAccessLogDelivery",
            "delivery.logs.amazonaws.com",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            same_account,
        ),
        _service(
            "CloudWatchAlarmsPublishToEncryptedTopic",
            "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            same_account,
        ),
        _service("AwsConfigDelivery", "config.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"], same_account),
    ]


def data_key_statements(cfg: ClientConfig) -> list[policies.Statement]:
    """S3 encrypts the document bucket's events for their queue, which the data key protects."""
    same_account = {"StringEquals": {"aws:SourceAccount": cfg.account_id}}
    return [
        _service(
            "S3SendsDocumentEventsToEncryptedQueue",
            "s3.amazonaws.com",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            same_account,
        )
    ]


class Keys(pulumi.ComponentResource):
    data_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]
    ebs_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:keys:Keys", name, None, opts)
        cfg = args.cfg
        extra: dict[KeyPurpose, list[policies.Statement]] = {
            "data": data_key_statements(cfg),
            "logs": log_key_statements(cfg),
            "ebs": [],
        }
        arns: dict[KeyPurpose, pulumi.Output[str]] = {}
        purposes: tuple[tuple[KeyPurpose, str], ...] = (
            ("data", "PHI at rest: document and artifact buckets, Aurora, secrets"),
            ("logs", "Audit and application logs: CloudWatch Logs, CloudTrail, log archive, alarm topic"),
            ("ebs", "EBS volumes of the GPU hosts"),
        )
        for purpose, description in purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"phistack {cfg.client}: {description}",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=30,
                multi_region=False,
                policy=policies.document(*_base_statements(cfg), *extra[purpose]),
                tags=naming.tags(cfg, "keys", naming.physical(cfg, f"{purpose}")),
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            aws.kms.Alias(
                f"{name}-{purpose}-alias",
                name=f"alias/phistack/{cfg.client}/{purpose}",
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            arns[purpose] = key.arn
        self.data_key_arn = arns["data"]
        self.logs_key_arn = arns["logs"]
        self.ebs_key_arn = arns["ebs"]
        self.register_outputs(
            {"data_key_arn": self.data_key_arn, "logs_key_arn": self.logs_key_arn, "ebs_key_arn": self.ebs_key_arn}
        )
