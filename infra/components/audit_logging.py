"""Audit logging (164.312(b)): who did what, kept where nobody can quietly remove it.

- an access-log bucket that receives the S3 server access logs of every other bucket;
- a log-archive bucket with Object Lock in COMPLIANCE mode for the configured days (nobody, root included,
  can delete or overwrite a locked log version before then), receiving CloudTrail and AWS Config;
- a multi-region CloudTrail with log-file validation, KMS encryption, CloudWatch Logs delivery and S3 data
  events on the PHI document bucket;
- metric filters and alarms on that log group (``infra.alarms``) to a KMS-encrypted SNS topic;
- Session Manager preferences that log every session to an encrypted log group (account/region singleton,
  switchable with guardrails.session_manager_preferences).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.alarms import SECURITY_ALARMS
from infra.components.bucket import HardenedBucket, HardenedBucketArgs
from infra.components.logs import log_group
from infra.config import ClientConfig


@dataclass
class AuditLoggingArgs:
    cfg: ClientConfig
    logs_key_arn: pulumi.Input[str]


class AuditLogging(pulumi.ComponentResource):
    access_log_bucket: pulumi.Output[str]
    archive_bucket: pulumi.Output[str]
    archive_bucket_arn: pulumi.Output[str]
    trail_arn: pulumi.Output[str]
    trail_log_group: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]
    session_log_group: pulumi.Output[str]

    def __init__(self, name: str, args: AuditLoggingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:audit_logging:AuditLogging", name, None, opts)
        self._name, self._cfg, self._key = name, args.cfg, args.logs_key_arn
        access_logs = self._access_logs()
        archive = self._archive(access_logs)
        trail, trail_group = self._trail(archive)
        topic = self._alarms(trail_group)
        session_group = self._session_logging()

        self.access_log_bucket = access_logs.bucket
        self.archive_bucket = archive.bucket
        self.archive_bucket_arn = archive.arn
        self.trail_arn = trail.arn
        self.trail_log_group = trail_group.name
        self.alarm_topic_arn = topic.arn
        self.session_log_group = session_group.name
        self.register_outputs(
            {
                "access_log_bucket": self.access_log_bucket,
                "archive_bucket": self.archive_bucket,
                "archive_bucket_arn": self.archive_bucket_arn,
                "trail_arn": self.trail_arn,
                "trail_log_group": self.trail_log_group,
                "alarm_topic_arn": self.alarm_topic_arn,
                "session_log_group": self.session_log_group,
            }
        )

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _access_logs(self) -> HardenedBucket:
        """The bucket that receives every other bucket's S3 server access logs."""
        name, cfg = self._name, self._cfg
        p, same_account = cfg.partition, _same_account(cfg)
        access_logs_arn = naming.bucket_arn(cfg, "access-logs")
        return HardenedBucket(
            f"{name}-access-logs",
            HardenedBucketArgs(
                cfg,
                "access-logs",
                self._key,
                access_log_bucket=None,
                expire_days=cfg.retention_days,
                extra_statements=[
                    *_load_balancer_log_delivery(cfg, access_logs_arn),
                    {
                        "Sid": "S3ServerAccessLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{access_logs_arn}/*",
                        "Condition": {
                            **same_account,
                            "ArnLike": {"aws:SourceArn": f"arn:{p}:s3:::{naming.physical(cfg, '*')}"},
                        },
                    },
                ],
            ),
            opts=self._child(),
        )

    def _archive(self, access_logs: HardenedBucket) -> HardenedBucket:
        """The Object-Locked (COMPLIANCE) archive that CloudTrail and AWS Config write to."""
        name, cfg = self._name, self._cfg
        account, same_account, trail_arn = cfg.account_id, _same_account(cfg), _trail_arn(cfg)
        archive_arn = naming.bucket_arn(cfg, "audit-logs")
        return HardenedBucket(
            f"{name}-archive",
            HardenedBucketArgs(
                cfg,
                "audit-logs",
                self._key,
                access_log_bucket=access_logs.bucket,
                object_lock_days=cfg.audit_log_lock_days,
                extra_statements=[
                    {
                        "Sid": "CloudTrailAclCheck",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:GetBucketAcl",
                        "Resource": archive_arn,
                        "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                    },
                    {
                        "Sid": "CloudTrailWrite",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{archive_arn}/cloudtrail/AWSLogs/{account}/*",
                        "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                    },
                    {
                        "Sid": "AwsConfigCheck",
                        "Effect": "Allow",
                        "Principal": {"Service": "config.amazonaws.com"},
                        "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                        "Resource": archive_arn,
                        "Condition": same_account,
                    },
                    {
                        "Sid": "AwsConfigWrite",
                        "Effect": "Allow",
                        "Principal": {"Service": "config.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{archive_arn}/config/AWSLogs/{account}/Config/*",
                        "Condition": same_account,
                    },
                    {
                        # An anchor is written once: a put that could replace one (no If-None-Match) is refused.
                        "Sid": "AuditAnchorsAreWrittenOnce",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"{archive_arn}/{naming.ANCHOR_PREFIX}/*",
                        "Condition": {"Null": {"s3:if-none-match": "true"}},
                    },
                ],
            ),
            opts=self._child(),
        )

    def _trail(self, archive: HardenedBucket) -> tuple[aws.cloudtrail.Trail, aws.cloudwatch.LogGroup]:
        """The multi-region trail, delivered to the archive and to an encrypted log group."""
        name, cfg = self._name, self._cfg
        account, trail_arn = cfg.account_id, _trail_arn(cfg)
        trail_group = log_group(
            self,
            f"{name}-trail-logs",
            cfg,
            naming.log_group_name(cfg, "cloudtrail"),
            self._key,
            "audit_logging",
        )
        trail_role = aws.iam.Role(
            f"{name}-trail-role",
            assume_role_policy=policies.service_trust("cloudtrail.amazonaws.com", account, trail_arn),
            tags=naming.tags(cfg, "audit_logging"),
            opts=self._child(),
        )
        aws.iam.RolePolicy(
            f"{name}-trail-role-write",
            role=trail_role.id,
            policy=policies.document(
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": trail_group.arn.apply(lambda a: f"{a}:log-stream:*"),
                }
            ),
            opts=self._child(),
        )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=naming.trail_name(cfg),
            s3_bucket_name=archive.bucket,
            s3_key_prefix="cloudtrail",
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=self._key,
            cloud_watch_logs_group_arn=trail_group.arn.apply(lambda a: f"{a}:*"),
            cloud_watch_logs_role_arn=trail_role.arn,
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [{"type": "AWS::S3::Object", "values": [f"{naming.bucket_arn(cfg, 'docs')}/"]}],
                }
            ],
            tags=naming.tags(cfg, "audit_logging", naming.trail_name(cfg)),
            # The bucket policy must admit CloudTrail before the trail is created.
            opts=self._child(depends_on=[archive]),
        )
        return trail, trail_group

    def _alarms(self, trail_group: aws.cloudwatch.LogGroup) -> aws.sns.Topic:
        """Metric filters and alarms on the trail's log group (infra.alarms), to an encrypted, TLS-only topic."""
        name, cfg, same_account = self._name, self._cfg, _same_account(self._cfg)
        topic = aws.sns.Topic(
            f"{name}-alarms",
            name=naming.physical(cfg, "security-alarms"),
            kms_master_key_id=self._key,
            tags=naming.tags(cfg, "audit_logging"),
            opts=self._child(),
        )
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=topic.arn,
            policy=policies.document(
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic.arn,
                    "Condition": same_account,
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic.arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ),
            opts=self._child(),
        )
        for i, email in enumerate(cfg.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarms-email-{i}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=self._child(),
            )

        namespace = f"phistack/{cfg.client}/security"
        for alarm in SECURITY_ALARMS:
            aws.cloudwatch.LogMetricFilter(
                f"{name}-filter-{alarm.name}",
                name=naming.physical(cfg, alarm.name),
                log_group_name=trail_group.name,
                pattern=alarm.pattern,
                metric_transformation={"name": alarm.name, "namespace": namespace, "value": "1", "default_value": "0"},
                opts=self._child(),
            )
            aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-{alarm.name}",
                name=naming.physical(cfg, alarm.name),
                alarm_description=alarm.description,
                namespace=namespace,
                metric_name=alarm.name,
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                threshold=alarm.threshold,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[topic.arn],
                tags=naming.tags(cfg, "audit_logging"),
                opts=self._child(),
            )
        return topic

    def _session_logging(self) -> aws.cloudwatch.LogGroup:
        """Session Manager's preferences: every session logged to an encrypted log group."""
        name, cfg = self._name, self._cfg
        session_group = log_group(
            self,
            f"{name}-ssm-sessions",
            cfg,
            naming.log_group_name(cfg, "ssm-sessions"),
            self._key,
            "audit_logging",
        )
        if cfg.guardrails.session_manager_preferences:
            aws.ssm.Document(
                f"{name}-session-preferences",
                name="SSM-SessionManagerRunShell",  # the name Session Manager reads its preferences from
                document_type="Session",
                document_format="JSON",
                content=pulumi.Output.all(session_group.name, self._key).apply(
                    lambda a: json.dumps(
                        {
                            "schemaVersion": "1.0",
                            "description": f"phistack {cfg.client}: every session logged, encrypted",
                            "sessionType": "Standard_Stream",
                            "inputs": {
                                "s3BucketName": "",
                                "cloudWatchLogGroupName": a[0],
                                "cloudWatchEncryptionEnabled": True,
                                "cloudWatchStreamingEnabled": True,
                                "kmsKeyId": a[1],
                                "runAsEnabled": False,
                                "idleSessionTimeout": "20",
                                "maxSessionDuration": "120",
                                "shellProfile": {"linux": "", "windows": ""},
                            },
                        },
                        sort_keys=True,
                    )
                ),
                tags=naming.tags(cfg, "audit_logging"),
                opts=self._child(),
            )
        return session_group


def _load_balancer_log_delivery(cfg: ClientConfig, bucket_arn: str) -> list[dict[str, Any]]:
    """Elastic Load Balancing's log delivery may check the bucket's ACL and write under the load-balancer prefix,
    for this account's load balancers only."""
    p, region, account = cfg.partition, cfg.region, cfg.account_id
    source = {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:{p}:logs:{region}:{account}:*"},
    }
    return [
        {
            "Sid": "LoadBalancerLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": source,
        },
        {
            "Sid": "LoadBalancerLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{naming.LOAD_BALANCER_LOG_PREFIX}/AWSLogs/{account}/*",
            "Condition": source,
        },
    ]


def _same_account(cfg: ClientConfig) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"aws:SourceAccount": cfg.account_id}}


def _trail_arn(cfg: ClientConfig) -> str:
    return f"arn:{cfg.partition}:cloudtrail:{cfg.region}:{cfg.account_id}:trail/{naming.trail_name(cfg)}"
