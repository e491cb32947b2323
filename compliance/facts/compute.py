"""Records of EC2 compute and EBS: instances, launch templates, EBS defaults, volumes, snapshots, SSM registration."""

from __future__ import annotations

from typing import TypedDict

from compliance.facts._kind import Kind, Unreadable


class Instance(TypedDict):
    id: str
    arn: str | None
    region: str
    state: str | None
    public_ip: str | None
    imds_http_tokens: str | None  # "required" is IMDSv2 only
    imds_hop_limit: int | None
    instance_profile_arn: str | None
    vpc_id: str | None
    subnet_id: str | None
    launch_time: str | None  # ISO 8601; None in a plan (not launched yet)


class LaunchTemplate(TypedDict):
    id: str
    name: str | None
    region: str
    imds_http_tokens: str | Unreadable | None


class EbsEncryptionDefault(TypedDict):
    """One per region."""

    region: str
    enabled: bool
    kms_key_id: str | Unreadable | None


class Volume(TypedDict):
    id: str
    region: str
    encrypted: bool
    kms_key_id: str | None
    tags: dict[str, str]


class Snapshot(TypedDict):
    id: str
    region: str
    public: bool | Unreadable
    encrypted: bool
    kms_key_id: str | None


class SsmManagedInstance(TypedDict):
    id: str
    region: str
    ping_status: str | None


class PatchCompliance(TypedDict):
    """Systems Manager's patch compliance of one managed instance, as its last Patch Manager scan reported it."""

    resource_id: str  # the instance id
    region: str
    status: str | None  # COMPLIANT, NON_COMPLIANT
    non_compliant: int  # patches missing or failed
    scanned_at: str | None  # ISO 8601


INSTANCES = Kind("instances", Instance)
LAUNCH_TEMPLATES = Kind("launch_templates", LaunchTemplate)
EBS_ENCRYPTION_DEFAULTS = Kind("ebs_encryption_defaults", EbsEncryptionDefault)
VOLUMES = Kind("volumes", Volume)
SNAPSHOTS = Kind("snapshots", Snapshot)
SSM_MANAGED_INSTANCES = Kind("ssm_managed_instances", SsmManagedInstance)
PATCH_COMPLIANCE = Kind("patch_compliance", PatchCompliance)
