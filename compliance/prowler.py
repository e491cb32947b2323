"""Prowler's HIPAA framework for AWS (``hipaa_aws``, shipped in the public ``prowler`` package), check by check:
the phistack controls that judge the same condition, or why none does.

An auditor who runs both tools must never see phistack PASS what Prowler FAILs without a documented reason.
tests/compliance/test_prowler_crosswalk.py reads the framework from the pinned package (installed as data by
scripts/setup.sh) and fails when a check on a service this stack uses has no answer here, or an answer names
a control that does not exist. Bump PROWLER_VERSION to take in Prowler's new checks. docs/controls.md shows
the table.

Kinds: ``same`` (a control judges that condition), ``stricter`` (a control judges a stronger one, so it fails
whatever Prowler's check fails), ``not-applicable`` (the condition cannot arise in this stack, with why), and
``gap`` (not judged yet: phistack may pass what Prowler fails; each is named so it is visible and tracked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROWLER_VERSION = "5.46.0"
FRAMEWORK = "prowler/compliance/aws/hipaa_aws.json"
# Prowler check-name prefixes of the services the stack uses or audits.
APPLICABLE = (
    "iam_", "ec2_", "vpc_", "s3_", "kms_", "cloudtrail_", "cloudwatch_", "sns_", "config_", "guardduty_", "ssm_",
    "rds_", "elbv2_", "elb_", "securityhub_", "acm_",
)  # fmt: skip

Kind = Literal["same", "stricter", "not-applicable", "gap"]


@dataclass(frozen=True)
class Answer:
    kind: Kind
    controls: tuple[str, ...] = ()
    why: str = ""


def same(*controls: str, why: str = "") -> Answer:
    return Answer("same", controls, why)


def stricter(*controls: str, why: str) -> Answer:
    return Answer("stricter", controls, why)


def not_applicable(why: str) -> Answer:
    return Answer("not-applicable", (), why)


def gap(why: str) -> Answer:
    return Answer("gap", (), why)


ENCLAVES = "no key here is used by Nitro Enclaves; the stack's keys carry no attestation conditions"
CONFIDENTIAL = "the stack runs no confidential-computing (enclave) hosts"

CROSSWALK: dict[str, Answer] = {
    "acm_certificates_expiration_check": stricter(
        "acm-certificates-valid", why="certificates in use must have 30 days left (Prowler's default: 7)"
    ),
    "cloudtrail_bedrock_logging_enabled": not_applicable("Bedrock is not used: the model runs on the stack's hosts"),
    "cloudtrail_cloudwatch_logging_enabled": same("trail-cloudwatch"),
    "cloudtrail_kms_encryption_enabled": same("trail-kms"),
    "cloudtrail_log_file_validation_enabled": same("trail-log-file-validation"),
    "cloudtrail_multi_region_enabled": same("trail-multi-region", "trail-logging"),
    "cloudtrail_s3_dataevents_read_enabled": stricter(
        "trail-s3-data-events", why="reads and writes of every PHI bucket, not any bucket's reads"
    ),
    "cloudtrail_s3_dataevents_write_enabled": stricter(
        "trail-s3-data-events", why="reads and writes of every PHI bucket, not any bucket's writes"
    ),
    "cloudwatch_changes_to_network_acls_alarm_configured": same("monitoring-security-alarms"),
    "cloudwatch_changes_to_network_gateways_alarm_configured": same("monitoring-security-alarms"),
    "cloudwatch_changes_to_network_route_tables_alarm_configured": same("monitoring-security-alarms"),
    "cloudwatch_changes_to_vpcs_alarm_configured": same("monitoring-security-alarms"),
    "cloudwatch_log_group_kms_encryption_enabled": stricter("logs-kms", why="a customer-managed key, not any key"),
    "cloudwatch_log_group_retention_policy_specific_days_enabled": same(
        "logs-retention", "logs-never-expire-configured"
    ),
    "cloudwatch_log_metric_filter_authentication_failures": same("monitoring-security-alarms"),
    "cloudwatch_log_metric_filter_root_usage": same("monitoring-security-alarms"),
    "config_recorder_all_regions_enabled": same("monitoring-config-recorder"),
    "ec2_confidential_workload_host_imdsv2_not_enforced": not_applicable(CONFIDENTIAL),
    "ec2_confidential_workload_host_public_ip": not_applicable(CONFIDENTIAL),
    "ec2_confidential_workload_host_unrestricted_ingress": not_applicable(CONFIDENTIAL),
    "ec2_confidential_workload_host_vsock_proxy_exposed": not_applicable(CONFIDENTIAL),
    "ec2_ebs_default_encryption": same("ec2-ebs-default-encryption"),
    "ec2_ebs_public_snapshot": same("ec2-no-public-snapshots"),
    "ec2_ebs_volume_encryption": stricter("ec2-volumes-cmk", why="a customer-managed key, not any encryption"),
    "ec2_instance_managed_by_ssm": same("ec2-ssm-managed"),
    "ec2_instance_older_than_specific_days": same("ec2-instance-age", why="180 days, Prowler's default"),
    "ec2_instance_public_ip": same("ec2-no-public-ip"),
    "ec2_networkacl_allow_ingress_any_port": same("net-nacl-no-all-traffic"),
    "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22": stricter(
        "net-sg-no-internet-ingress", why="no port at all from the internet, not only 22"
    ),
    "elb_logging_enabled": not_applicable("Classic Load Balancers are not used; the stack's one is an NLB (ELBv2)"),
    "elb_ssl_listeners": not_applicable("Classic Load Balancers are not used; the stack's one is an NLB (ELBv2)"),
    "elbv2_deletion_protection": same("elb-deletion-protection"),
    "elbv2_logging_enabled": same("elb-access-logs"),
    "guardduty_is_enabled": same("monitoring-guardduty"),
    "guardduty_no_high_severity_findings": same(
        "monitoring-guardduty-findings", why="open (not archived) findings of severity 7 and up"
    ),
    "iam_aws_attached_policy_no_administrative_privileges": same("iam-no-star-policies"),
    "iam_customer_attached_policy_no_administrative_privileges": same("iam-no-star-policies"),
    "iam_inline_policy_no_administrative_privileges": same("iam-no-star-policies"),
    "iam_inline_policy_no_wildcard_marketplace_subscribe": not_applicable(
        "a Marketplace subscription is a purchasing right, not a path to PHI"
    ),
    "iam_policy_no_wildcard_marketplace_subscribe": not_applicable(
        "a Marketplace subscription is a purchasing right, not a path to PHI"
    ),
    "iam_no_root_access_key": same("iam-root-no-access-keys"),
    "iam_password_policy_lowercase": same("iam-password-policy"),
    "iam_password_policy_minimum_length_14": same("iam-password-policy"),
    "iam_password_policy_number": same("iam-password-policy"),
    "iam_password_policy_reuse_24": same("iam-password-policy"),
    "iam_password_policy_symbol": same("iam-password-policy"),
    "iam_password_policy_uppercase": same("iam-password-policy"),
    "iam_root_hardware_mfa_enabled": same("iam-root-hardware-mfa"),
    "iam_root_mfa_enabled": same("iam-root-mfa"),
    "iam_rotate_access_key_90_days": same("iam-access-keys-rotated"),
    "iam_user_accesskey_unused": same("iam-unused-credentials"),
    "iam_user_console_access_unused": same("iam-unused-credentials"),
    "iam_user_mfa_enabled_console_access": same("iam-console-mfa"),
    "kms_cmk_rotation_enabled": same("kms-rotation"),
    "kms_key_enclave_attestation_bypassable_path": not_applicable(ENCLAVES),
    "kms_key_enclave_attestation_not_enforced": not_applicable(ENCLAVES),
    "kms_key_enclave_attestation_pcr_mismatch": not_applicable(ENCLAVES),
    "kms_key_enclave_attestation_unknown_image": not_applicable(ENCLAVES),
    "kms_key_enclave_debug_attestation_detected": not_applicable(ENCLAVES),
    "rds_instance_backup_enabled": stricter("rds-backups", why="at least 7 days kept, not any retention"),
    "rds_instance_integration_cloudwatch_logs": same(
        "rds-log-export", why="judged on the Aurora cluster, where its instances' log export is set"
    ),
    "rds_instance_multi_az": same("rds-multi-az", why="Aurora: instances of the cluster in more than one AZ"),
    "rds_instance_no_public_access": same("rds-not-public"),
    "rds_instance_storage_encrypted": stricter("rds-encrypted-cmk", why="a customer-managed key, not any encryption"),
    "rds_snapshots_public_access": same("rds-snapshots-not-public"),
    "s3_account_level_public_access_blocks": same("s3-account-public-access-block"),
    "s3_bucket_default_encryption": stricter("s3-sse-kms-cmk", why="SSE-KMS with a customer-managed key, not SSE-S3"),
    "s3_bucket_object_versioning": same("s3-versioning"),
    "s3_bucket_policy_public_write_access": stricter("s3-not-public", why="no public read or write"),
    "s3_bucket_public_access": same("s3-not-public", "s3-bucket-public-access-block"),
    "s3_bucket_secure_transport_policy": same("s3-tls-only"),
    "s3_bucket_server_access_logging_enabled": same("s3-access-logging"),
    "securityhub_enabled": not_applicable(
        "phistack is the stack's compliance scanner; a client who runs Security Hub gets its findings there "
        "(`phistack report export --to-security-hub`)"
    ),
    "sns_topics_kms_encryption_at_rest_enabled": stricter(
        "monitoring-alarm-topic-encrypted", why="the alarm topics exist and use a customer-managed key"
    ),
    "ssm_managed_compliant_patching": stricter(
        "ec2-patched", why="a running instance Patch Manager never scanned is ERROR, not left out"
    ),
    "vpc_flow_logs_enabled": stricter("net-flow-logs", why="ALL traffic recorded, not only rejected"),
}


def applicable(check: str) -> bool:
    return check.startswith(APPLICABLE)
