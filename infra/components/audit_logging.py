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
        cfg = args.cfg
        p, account = cfg.partition, cfg.account_id
        same_account = {"StringEquals": {"aws:SourceAccount": account}}
        trail_arn = f"arn:{p}:cloudtrail:{cfg.region}:{account}:trail/{naming.trail_name(cfg)}"

        access_logs_arn = naming.bucket_arn(cfg, "access-logs")
        access_logs = HardenedBucket(
            f"{name}-access-logs",
            HardenedBucketArgs(
                cfg,
                "access-logs",
                args.logs_key_arn,
                access_log_bucket=None,
                expire_days=cfg.retention_days,
                extra_statements=[
                    {
                        "Sid": "S3ServerAccessLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{access_logs_arn}/*",
                        "Condition": {
                            **same_account,
                            "ArnLike": {"aws:SourceArn": f"arn:{p}:s3:::phistack-{cfg.client}-*"},
                        },
                    }
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        archive_arn = naming.bucket_arn(cfg, "audit-logs")
        archive = HardenedBucket(
            f"{name}-archive",
            HardenedBucketArgs(
                cfg,
                "audit-logs",
                args.logs_key_arn,
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
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        trail_group = log_group(
            self,
            f"{name}-trail-logs",
            cfg,
            naming.log_group_name(cfg, "cloudtrail"),
            args.logs_key_arn,
            "audit_logging",
        )
        trail_role = aws.iam.Role(
            f"{name}-trail-role",
            assume_role_policy=policies.service_trust("cloudtrail.amazonaws.com", account, trail_arn),
            tags=naming.tags(cfg, "audit_logging"),
            opts=pulumi.ResourceOptions(parent=self),
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
            opts=pulumi.ResourceOptions(parent=self),
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
            kms_key_id=args.logs_key_arn,
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[archive]),
        )

        topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"phistack-{cfg.client}-security-alarms",
            kms_master_key_id=args.logs_key_arn,
            tags=naming.tags(cfg, "audit_logging"),
            opts=pulumi.ResourceOptions(parent=self),
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        for i, email in enumerate(cfg.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarms-email-{i}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=self),
            )

        namespace = f"phistack/{cfg.client}/security"
        for alarm in SECURITY_ALARMS:
            aws.cloudwatch.LogMetricFilter(
                f"{name}-filter-{alarm.name}",
                name=f"phistack-{cfg.client}-{alarm.name}",
                log_group_name=trail_group.name,
                pattern=alarm.pattern,
                metric_transformation={"name": alarm.name, "namespace": namespace, "value": "1", "default_value": "0"},
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-{alarm.name}",
                name=f"phistack-{cfg.client}-{alarm.name}",
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
                opts=pulumi.ResourceOptions(parent=self),
            )

        session_group = log_group(
            self,
            f"{name}-ssm-sessions",
            cfg,
            naming.log_group_name(cfg, "ssm-sessions"),
            args.logs_key_arn,
            "audit_logging",
        )
        if cfg.guardrails.session_manager_preferences:
            aws.ssm.Document(
                f"{name}-session-preferences",
                name="SSM-SessionManagerRunShell",  # the name Session Manager reads its preferences from
                document_type="Session",
                document_format="JSON",
                content=pulumi.Output.all(session_group.name, args.logs_key_arn).apply(
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
                opts=pulumi.ResourceOptions(parent=self),
            )

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
                "trail_arn": self.trail_arn,
                "trail_log_group": self.trail_log_group,
                "alarm_topic_arn": self.alarm_topic_arn,
                "session_log_group": self.session_log_group,
            }
        )
