"""Facts: the seam between where the data comes from (live collectors, a plan) and the controls.

Facts are plain JSON-able dicts grouped by kind. Both sources produce the same shapes; the collectors and
the plan reader are tested against them, and the controls only ever read these. The shapes:

=========================  ======================================================================================
kind                       fields of each item (every item also has ``region``)
=========================  ======================================================================================
vpcs                       id, cidr, is_default, tags
subnets                    id, vpc_id, map_public_ip_on_launch
internet_gateways          id, vpc_ids
nat_gateways               id, vpc_id, state
egress_only_gateways       id, vpc_ids
route_tables               id, vpc_id, routes: [{destination, target}]
security_groups            id, vpc_id, name, is_default, ingress/egress: [Rule]; Rule = {protocol, from_port,
                           to_port, and one of cidr, ipv6, security_group, prefix_list}
network_acls               id, vpc_id, is_default, entries: [{egress, rule_no, protocol, action, cidr, from_port,
                           to_port}]
flow_logs                  id, resource_id, traffic_type, destination_type, destination
vpc_endpoints              id, vpc_id, service (short: s3, ssm, ecr.api), type, private_dns
instances                  id, arn, state, public_ip, imds_http_tokens, imds_hop_limit, instance_profile_arn,
                           vpc_id, subnet_id
launch_templates           id, name, imds_http_tokens
ebs_encryption_defaults    enabled, kms_key_id                       (one item per region)
volumes                    id, encrypted, kms_key_id
snapshots                  id, public
ssm_managed_instances      id, ping_status
kms_keys                   id, arn, manager (CUSTOMER|AWS), state, rotation_enabled, deletion_date, policy
buckets                    name, arn, encryption {algorithm, kms_key_id}, policy, public_access_block
                           {block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets},
                           ownership, acl_grants [{grantee, permission}] (the grants in force: none where ACLs are
                           disabled or public ACLs ignored), versioning, object_lock {enabled, mode, days} (read
                           for audit-log buckets: trail destinations or tagged; None elsewhere), logging_target, tags
account_public_access_block  the four flags                          (one item, region "global")
trails                     name, arn, home_region, multi_region, logging, log_file_validation, kms_key_id,
                           cloudwatch_logs_group_arn, s3_bucket, data_event_buckets, management_events
log_groups                 name, arn, kms_key_id, retention_days (None = never expire)
metric_filters             name, log_group, pattern, metric_name, metric_namespace
metric_alarms              name, metric_name, namespace, actions, actions_enabled
sns_topics                 arn, kms_key_id
guardduty_detectors        id, status                                (regions without one have no item)
config_recorders           name, recording, all_supported
iam_policies               arn, name, kind (managed|inline), attached, document
iam_root                   access_keys_present, mfa_enabled          (one item, region "global")
iam_users                  name, arn, password_enabled, mfa_active, access_keys [{id, active, created}]
db_clusters                id, arn, engine, storage_encrypted, kms_key_id, iam_auth, backup_retention_days,
                           publicly_accessible, parameters {name: value}
services_in_use            service, evidence
hosts                      id, tls {service: {address, accepted {TLSv1..TLSv1.3: bool|None}, plaintext} | {error}},
                           auditd {rules_loaded, enabled, phi_paths_watched} | {error}, phi_paths, ssh {units,
                           port_22_listening}, services {unit: {expected_user, user, active}}, data_volume {path,
                           source, fstype, ebs_volume_id} | {error}   (from playbooks/verify.yml, --host-evidence)
=========================  ======================================================================================

A value that could not be read for one resource (say, AccessDenied on one bucket's policy) is an
``unreadable`` marker, ``{"unreadable": {"api": "s3:GetBucketPolicy", "error": "AccessDenied"}}``, and the
controls turn it into an ERROR finding for that resource. A whole kind that could not be collected is a
``Gap``: ERROR for a live account, NOT_APPLICABLE for a plan that cannot know it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contract import INTERFACE_ENDPOINTS, SIX_YEARS_DAYS, StackContext

Item = dict[str, Any]

KNOWN_KINDS: tuple[str, ...] = (
    "vpcs", "subnets", "internet_gateways", "nat_gateways", "egress_only_gateways", "route_tables",
    "security_groups", "network_acls", "flow_logs", "vpc_endpoints", "instances", "launch_templates",
    "ebs_encryption_defaults", "volumes", "snapshots", "ssm_managed_instances", "kms_keys", "buckets",
    "account_public_access_block", "trails", "log_groups", "metric_filters", "metric_alarms", "sns_topics",
    "guardduty_detectors", "config_recorders", "iam_policies", "iam_root", "iam_users", "db_clusters",
    "services_in_use", "attestations", "hosts",
)  # fmt: skip


@dataclass(frozen=True)
class Gap:
    """Why a kind of fact is missing. ``status`` is what a control reading it must report."""

    reason: str
    status: Literal["ERROR", "NOT_APPLICABLE"] = "ERROR"
    api: str = ""


class FactsUnavailable(Exception):
    def __init__(self, kind: str, gap: Gap) -> None:
        super().__init__(f"{kind}: {gap.reason}")
        self.kind = kind
        self.gap = gap


@dataclass
class Context:
    """What the client configured, when known: controls compare the account against it."""

    client: str | None = None
    log_retention_days: int | None = SIX_YEARS_DAYS  # None: "never" was configured
    allow_short_log_retention: bool = False
    required_endpoints: tuple[str, ...] = INTERFACE_ENDPOINTS
    attestations: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: StackContext) -> Context:
        """The context a stack declares (``context`` in plan.json, or ``ClientConfig.context()``)."""
        return cls(
            client=stack["client"],
            log_retention_days=stack["log_retention_days"],
            allow_short_log_retention=stack["allow_short_log_retention"],
            required_endpoints=tuple(stack["required_endpoints"]),
            attestations=dict(stack["attestations"]),
        )


@dataclass
class Facts:
    source: Literal["live", "plan"]
    account: str
    regions: list[str]
    items: dict[str, list[Item]] = field(default_factory=dict)
    gaps: dict[str, Gap] = field(default_factory=dict)
    context: Context = field(default_factory=Context)

    def get(self, kind: str) -> list[Item]:
        if kind in self.gaps:
            raise FactsUnavailable(kind, self.gaps[kind])
        if kind not in self.items:
            raise FactsUnavailable(kind, Gap(f"no collector produced {kind}"))
        return self.items[kind]

    def add(self, kind: str, items: list[Item]) -> None:
        self.items.setdefault(kind, []).extend(items)

    def missing(self, kind: str, gap: Gap) -> None:
        """Record that ``kind`` could not be collected (first reason wins; partial items are dropped)."""
        self.gaps.setdefault(kind, gap)


def unreadable(value: Any) -> dict[str, str] | None:
    """The reason a per-resource value could not be read, or None if it was read."""
    if isinstance(value, dict) and set(value) == {"unreadable"}:
        reason: dict[str, str] = value["unreadable"]
        return reason
    return None


def unreadable_marker(api: str, error: str) -> dict[str, dict[str, str]]:
    return {"unreadable": {"api": api, "error": error}}
