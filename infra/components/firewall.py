"""Security-group rules, one TCP port each, always as separate rule resources with a description."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_aws as aws


def allow_tcp(
    direction: Literal["in", "out"],
    resource_name: str,
    parent: pulumi.Resource,
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    *,
    cidr: pulumi.Input[str] | None = None,
    security_group: pulumi.Input[str] | None = None,
    prefix_list: pulumi.Input[str] | None = None,
) -> None:
    """Admit (``in``) or permit (``out``) TCP ``port`` from/to exactly one peer: a CIDR, a group or a prefix list."""
    peers = [p for p in (cidr, security_group, prefix_list) if p is not None]
    if len(peers) != 1:
        raise ValueError(f"{resource_name}: a rule needs exactly one peer, got {len(peers)}")
    rule = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
    rule(
        resource_name,
        security_group_id=security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        cidr_ipv4=cidr,
        referenced_security_group_id=security_group,
        prefix_list_id=prefix_list,
        description=description,
        opts=pulumi.ResourceOptions(parent=parent),
    )
