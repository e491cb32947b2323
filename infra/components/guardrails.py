"""Account guardrails. Each is an account-wide (per region) singleton, so each can be switched off
(``phistack:guardrails``) where the account already manages it, e.g. from an organization's landing zone.
A switched-off guardrail is not assumed to be in place: the compliance audit checks the account itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import ClientConfig


@dataclass
class GuardrailsArgs:
    cfg: ClientConfig
    ebs_key_arn: pulumi.Input[str]
    archive_bucket: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]


class AccountGuardrails(pulumi.ComponentResource):
    guardduty_detector_id: pulumi.Output[str] | None
    config_recorder: pulumi.Output[str] | None

    def __init__(self, name: str, args: GuardrailsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:guardrails:AccountGuardrails", name, None, opts)
        cfg, wanted = args.cfg, args.cfg.guardrails
        child = pulumi.ResourceOptions(parent=self)
        self.guardduty_detector_id = None
        self.config_recorder = None

        if wanted.ebs_encryption_by_default:
            aws.ebs.EncryptionByDefault(f"{name}-ebs-encryption", enabled=True, opts=child)
            aws.ebs.DefaultKmsKey(f"{name}-ebs-default-key", key_arn=args.ebs_key_arn, opts=child)
        if wanted.s3_account_public_access_block:
            aws.s3.AccountPublicAccessBlock(
                f"{name}-s3-public-access-block",
                account_id=cfg.account_id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
        if wanted.iam_password_policy:  # for the few IAM users left; people should sign in through the IdP
            aws.iam.AccountPasswordPolicy(
                f"{name}-password-policy",
                minimum_password_length=14,
                require_lowercase_characters=True,
                require_uppercase_characters=True,
                require_numbers=True,
                require_symbols=True,
                password_reuse_prevention=24,
                max_password_age=90,
                allow_users_to_change_password=True,
                opts=child,
            )
        if wanted.imds_defaults:
            aws.ec2.InstanceMetadataDefaults(
                f"{name}-imds-defaults",
                http_tokens="required",
                http_put_response_hop_limit=1,
                http_endpoint="enabled",
                instance_metadata_tags="disabled",
                opts=child,
            )
        if wanted.config_recorder:
            self.config_recorder = self._config_recorder(name, cfg, args)
        if wanted.guardduty:
            detector = aws.guardduty.Detector(
                f"{name}-guardduty",
                enable=True,
                finding_publishing_frequency="FIFTEEN_MINUTES",
                tags=naming.tags(cfg, "guardrails"),
                opts=child,
            )
            for feature in ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION"):
                aws.guardduty.DetectorFeature(
                    f"{name}-guardduty-{feature.lower().replace('_', '-')}",
                    detector_id=detector.id,
                    name=feature,
                    status="ENABLED",
                    opts=child,
                )
            self.guardduty_detector_id = detector.id
        self.register_outputs(
            {"guardduty_detector_id": self.guardduty_detector_id, "config_recorder": self.config_recorder}
        )

    def _config_recorder(self, name: str, cfg: ClientConfig, args: GuardrailsArgs) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-config-role",
            assume_role_policy=policies.service_trust("config.amazonaws.com", cfg.account_id),
            tags=naming.tags(cfg, "guardrails"),
            opts=child,
        )
        # With a custom role (not the service-linked one), Config delivers as that role: let it write
        # only its own prefix of the archive, encrypted with the logs key.
        archive_arn = pulumi.Output.concat(f"arn:{cfg.partition}:s3:::", args.archive_bucket)
        aws.iam.RolePolicy(
            f"{name}-config-delivery-write",
            role=role.id,
            policy=policies.document(
                {"Effect": "Allow", "Action": "s3:GetBucketAcl", "Resource": archive_arn},
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(archive_arn, f"/config/AWSLogs/{cfg.account_id}/*"),
                },
                {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": args.logs_key_arn},
            ),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-config-role-policy",
            role=role.name,
            policy_arn=f"arn:{cfg.partition}:iam::aws:policy/service-role/AWS_ConfigRole",
            opts=child,
        )
        recorder = aws.cfg.Recorder(
            f"{name}-config-recorder",
            name=naming.physical(cfg),
            role_arn=role.arn,
            recording_group={"all_supported": True, "include_global_resource_types": True},
            opts=child,
        )
        channel = aws.cfg.DeliveryChannel(
            f"{name}-config-delivery",
            name=naming.physical(cfg),
            s3_bucket_name=args.archive_bucket,
            s3_key_prefix="config",
            s3_kms_key_arn=args.logs_key_arn,
            snapshot_delivery_properties={"delivery_frequency": "TwentyFour_Hours"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[recorder]),
        )
        aws.cfg.RecorderStatus(
            f"{name}-config-recorder-status",
            name=recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[channel]),
        )
        recorder_name: pulumi.Output[str] = recorder.name
        return recorder_name
