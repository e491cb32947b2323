"""KMS keys, S3 buckets (with the account-level public access block) and SQS queues."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from compliance.facts import Unreadable
from compliance.facts.storage import (
    ACCOUNT_PUBLIC_ACCESS_BLOCK,
    BUCKETS,
    KMS_KEYS,
    SQS_QUEUES,
    AccountPublicAccessBlock,
    Bucket,
    Encryption,
    KmsKey,
    SqsQueue,
)
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task, value_or_marker

FLAGS = {
    "BlockPublicAcls": "block_public_acls",
    "IgnorePublicAcls": "ignore_public_acls",
    "BlockPublicPolicy": "block_public_policy",
    "RestrictPublicBuckets": "restrict_public_buckets",
}


def kms_keys(scan: Scan, region: str, account: str) -> list[KmsKey]:
    kms = scan.client("kms", region)
    out: list[KmsKey] = []
    for k in scan.pages(kms, "list_keys", "Keys"):
        meta = scan.call(kms, "describe_key", KeyId=k["KeyId"])["KeyMetadata"]
        customer = meta.get("KeyManager") == "CUSTOMER"
        rotation = (
            value_or_marker(
                scan, kms, "get_key_rotation_status", lambda r: bool(r.get("KeyRotationEnabled")), KeyId=k["KeyId"]
            )
            if customer and meta.get("KeyState") == "Enabled" and meta.get("KeySpec") == "SYMMETRIC_DEFAULT"
            else None
        )
        policy = (
            value_or_marker(
                scan, kms, "get_key_policy", lambda r: r.get("Policy"), KeyId=k["KeyId"], PolicyName="default"
            )
            if customer
            else None
        )
        deletion = meta.get("DeletionDate")
        out.append(
            {
                "id": meta["KeyId"],
                "arn": meta["Arn"],
                "region": region,
                "manager": meta.get("KeyManager"),
                "state": meta.get("KeyState"),
                "spec": meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
                "rotation_enabled": rotation,
                "deletion_date": deletion.isoformat() if deletion else None,
                "policy": policy,
            }
        )
    return out


def _bucket(scan: Scan, s3: Any, listed: dict[str, Any], audit_candidate: bool) -> Bucket:
    name = listed["Name"]

    def get(operation: str, pick: Any, absent: tuple[str, ...] = (), default: Any = None) -> Any:
        return value_or_marker(scan, s3, operation, pick, absent=absent, default=default, Bucket=name)

    # ListBuckets gives BucketRegion on AWS today; ask GetBucketLocation only where it does not.
    location = listed.get("BucketRegion") or get(
        "get_bucket_location", lambda r: r.get("LocationConstraint") or "us-east-1"
    )
    rule = get(
        "get_bucket_encryption",
        lambda r: r["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"],
        absent=("ServerSideEncryptionConfigurationNotFoundError",),
        default={},
    )
    encryption: Encryption | Unreadable = (
        rule
        if "unreadable" in rule
        else {"algorithm": rule.get("SSEAlgorithm"), "kms_key_id": rule.get("KMSMasterKeyID")}
    )
    pab = get(
        "get_public_access_block",
        lambda r: {FLAGS[k]: bool(v) for k, v in r["PublicAccessBlockConfiguration"].items()},
        absent=("NoSuchPublicAccessBlockConfiguration",),
        default={v: False for v in FLAGS.values()},
    )
    ownership = get(
        "get_bucket_ownership_controls",
        lambda r: r["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        absent=("OwnershipControlsNotFoundError",),
        default="ObjectWriter",
    )
    # ACL grants matter only where ACLs are in force: not under BucketOwnerEnforced (ACLs disabled), not
    # where the bucket's block ignores public ACLs. There the effective grants are none, without asking.
    acls_in_force = ownership != "BucketOwnerEnforced" and not (isinstance(pab, dict) and pab.get("ignore_public_acls"))
    grants = (
        get(
            "get_bucket_acl",
            lambda r: [
                {"grantee": g["Grantee"].get("URI") or g["Grantee"].get("ID"), "permission": g.get("Permission")}
                for g in r.get("Grants", [])
            ],
        )
        if acls_in_force
        else []
    )
    tags = get(
        "get_bucket_tagging",
        lambda r: {t["Key"]: t["Value"] for t in r.get("TagSet", [])},
        absent=("NoSuchTagSet",),
        default={},
    )
    # Object Lock is judged on audit-log buckets only (trail destinations, or tagged as such).
    is_audit = audit_candidate or (isinstance(tags, dict) and tags.get("phistack:purpose") == "audit-logs")
    lock = (
        get(
            "get_object_lock_configuration",
            lambda r: {
                "enabled": r["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled",
                "mode": r["ObjectLockConfiguration"].get("Rule", {}).get("DefaultRetention", {}).get("Mode"),
                "days": r["ObjectLockConfiguration"].get("Rule", {}).get("DefaultRetention", {}).get("Days"),
            },
            absent=("ObjectLockConfigurationNotFoundError",),
            default={"enabled": False, "mode": None, "days": None},
        )
        if is_audit
        else None
    )
    return {
        "name": name,
        "arn": f"arn:aws:s3:::{name}",
        "region": location if isinstance(location, str) else "global",
        "encryption": encryption,
        "policy": get("get_bucket_policy", lambda r: r.get("Policy"), absent=("NoSuchBucketPolicy",)),
        "public_access_block": pab,
        "ownership": ownership,
        "acl_grants": grants,
        "versioning": get("get_bucket_versioning", lambda r: r.get("Status")),
        "object_lock": lock,
        "logging_target": get("get_bucket_logging", lambda r: (r.get("LoggingEnabled") or {}).get("TargetBucket")),
        "tags": tags,
    }


def _trail_destinations(scan: Scan) -> set[str] | None:
    """Buckets any trail in the scanned regions writes to; None if that cannot be read (then every bucket
    is treated as a possible audit-log bucket)."""
    found: set[str] = set()
    try:
        for region in scan.regions:
            ct = scan.client("cloudtrail", region)
            trails = scan.call(ct, "describe_trails", includeShadowTrails=True).get("trailList", [])
            found.update(t["S3BucketName"] for t in trails if t.get("S3BucketName"))
    except Unavailable:
        return None
    return found


BUCKET_WORKERS = 8


def buckets(scan: Scan, region: str, account: str) -> list[Bucket]:
    s3 = scan.client("s3", region)
    listed = list(scan.pages(s3, "list_buckets", "Buckets"))
    destinations = _trail_destinations(scan)
    # Each bucket takes up to nine reads in a row: read several buckets at once, or the buckets alone take
    # as long as every other task together.
    with ThreadPoolExecutor(max_workers=min(BUCKET_WORKERS, len(listed) or 1)) as pool:
        return list(pool.map(lambda b: _bucket(scan, s3, b, destinations is None or b["Name"] in destinations), listed))


def account_public_access_block(scan: Scan, region: str, account: str) -> list[AccountPublicAccessBlock]:
    response = scan.call(
        scan.client("s3control", region),
        "get_public_access_block",
        AccountId=account,
        absent=("NoSuchPublicAccessBlockConfiguration",),
    )
    flags = (response or {}).get("PublicAccessBlockConfiguration", {})
    return [
        AccountPublicAccessBlock(
            region="global",
            block_public_acls=bool(flags.get("BlockPublicAcls")),
            ignore_public_acls=bool(flags.get("IgnorePublicAcls")),
            block_public_policy=bool(flags.get("BlockPublicPolicy")),
            restrict_public_buckets=bool(flags.get("RestrictPublicBuckets")),
        )
    ]


def sqs_queues(scan: Scan, region: str, account: str) -> list[SqsQueue]:
    sqs = scan.client("sqs", region)
    out: list[SqsQueue] = []
    for url in scan.pages(sqs, "list_queues", "QueueUrls"):
        attributes = value_or_marker(
            scan, sqs, "get_queue_attributes", lambda r: r.get("Attributes", {}), QueueUrl=url, AttributeNames=["All"]
        )
        name = url.rstrip("/").rsplit("/", 1)[-1]
        readable = "unreadable" not in attributes
        out.append(
            {
                "name": name,
                "arn": attributes.get("QueueArn") if readable else f"arn:aws:sqs:{region}:{account}:{name}",
                "region": region,
                "kms_key_id": attributes.get("KmsMasterKeyId") if readable else attributes,
                "policy": attributes.get("Policy") if readable else attributes,
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (
    Task(KMS_KEYS, "regional", kms_keys),
    Task(SQS_QUEUES, "regional", sqs_queues),
    Task(BUCKETS, "global", buckets),
    Task(ACCOUNT_PUBLIC_ACCESS_BLOCK, "global", account_public_access_block),
)
