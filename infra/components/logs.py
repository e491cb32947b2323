"""CloudWatch log groups: always encrypted with the logs key, always retained as configured."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import naming
from infra.config import ClientConfig


def log_group(
    parent: pulumi.Resource,
    resource_name: str,
    cfg: ClientConfig,
    group_name: str,
    kms_key_arn: pulumi.Input[str],
    component: str,
) -> aws.cloudwatch.LogGroup:
    """A log group created before any service writes to it, so AWS never makes an unencrypted,
    never-expiring one on first write (RDS, Lambda and VPN do exactly that)."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=group_name,
        kms_key_id=kms_key_arn,
        # 0 tells CloudWatch "never expire"; only reachable when log_retention_days is "never".
        retention_in_days=cfg.retention_days or 0,
        log_group_class="STANDARD",
        tags=naming.tags(cfg, component, group_name),
        opts=pulumi.ResourceOptions(parent=parent),
    )
