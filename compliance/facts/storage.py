"""Records of KMS keys and S3 buckets (with the account's S3 public access block)."""

from __future__ import annotations

from typing import Literal, TypedDict

from compliance.facts._kind import Kind, Unreadable


class KmsKey(TypedDict):
    id: str
    arn: str
    region: str
    manager: str | None  # CUSTOMER or AWS
    state: str | None
    spec: str  # SYMMETRIC_DEFAULT, or an asymmetric/HMAC spec (no rotation there)
    rotation_enabled: bool | Unreadable | None  # None where rotation does not apply
    deletion_date: str | None
    policy: str | Unreadable | None


class Encryption(TypedDict):
    algorithm: str | None
    kms_key_id: str | None


class PublicAccessBlock(TypedDict):
    block_public_acls: bool
    ignore_public_acls: bool
    block_public_policy: bool
    restrict_public_buckets: bool


class Grant(TypedDict):
    grantee: str | None
    permission: str | None


class ObjectLock(TypedDict):
    enabled: bool
    mode: str | None
    days: int | None


class Bucket(TypedDict):
    name: str
    arn: str
    region: str
    encryption: Encryption | Unreadable
    policy: str | Unreadable | None
    public_access_block: PublicAccessBlock | Unreadable
    ownership: str | Unreadable | None
    acl_grants: list[Grant] | Unreadable  # the grants in force: none where ACLs are disabled or ignored
    versioning: str | Unreadable | None
    object_lock: ObjectLock | Unreadable | None  # read for audit-log buckets only (trail destinations or tagged)
    logging_target: str | Unreadable | None
    tags: dict[str, str] | Unreadable


class AccountPublicAccessBlock(PublicAccessBlock):
    region: Literal["global"]


class SqsQueue(TypedDict):
    name: str
    arn: str
    region: str
    kms_key_id: str | Unreadable | None  # SSE-KMS key; None: SQS-managed encryption or none
    policy: str | Unreadable | None


KMS_KEYS = Kind("kms_keys", KmsKey)
SQS_QUEUES = Kind("sqs_queues", SqsQueue)
BUCKETS = Kind("buckets", Bucket)
ACCOUNT_PUBLIC_ACCESS_BLOCK = Kind("account_public_access_block", AccountPublicAccessBlock)
