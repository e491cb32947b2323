"""KMS keys and S3 buckets as planned, with the defaults a new bucket gets from AWS."""

from __future__ import annotations

from typing import Any

from compliance.facts import Facts, Gap, Item
from compliance.facts.storage import (
    ACCOUNT_PUBLIC_ACCESS_BLOCK,
    BUCKETS,
    KMS_KEYS,
    SQS_QUEUES,
    AccountPublicAccessBlock,
    Bucket,
    KmsKey,
    PublicAccessBlock,
    SqsQueue,
)
from compliance.sources.plan._reader import PlanReader, arn_of, whole


def _public_access_block(flags: Item) -> PublicAccessBlock:
    """A bucket's block as declared; a flag left out (or no block at all) is on, as for every new bucket."""
    return PublicAccessBlock(
        block_public_acls=bool(flags.get("blockPublicAcls", True)),
        ignore_public_acls=bool(flags.get("ignorePublicAcls", True)),
        block_public_policy=bool(flags.get("blockPublicPolicy", True)),
        restrict_public_buckets=bool(flags.get("restrictPublicBuckets", True)),
    )


def _queues(p: PlanReader) -> list[SqsQueue]:
    """Queues as planned, each with the policy a QueuePolicy sets on it (matched by the queue's URL)."""
    policies = {r.get("queueUrl"): r.get("policy") for r in p.of("aws:sqs/queuePolicy:QueuePolicy")}
    return [
        SqsQueue(
            name=q.get("name") or q["_id"],
            arn=arn_of(q),
            region=p.region,
            kms_key_id=q.get("kmsMasterKeyId") or None,
            policy=policies.get(q.get("url")) or q.get("policy") or None,
        )
        for q in p.of("aws:sqs/queue:Queue")
    ]


def add(p: PlanReader, f: Facts) -> None:
    region = p.region
    f.add(SQS_QUEUES, _queues(p))
    f.add(
        KMS_KEYS,
        [
            KmsKey(
                id=k.get("keyId") or k["_id"],
                arn=arn_of(k),
                region=region,
                manager="CUSTOMER",
                state="Enabled",
                spec=k.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
                rotation_enabled=bool(k.get("enableKeyRotation")),
                deletion_date=None,
                policy=k.get("policy"),
            )
            for k in p.of("aws:kms/key:Key")
        ],
    )

    def per_bucket(token: str) -> dict[Any, Item]:
        return {r.get("bucket"): r for r in p.of(token)}

    enc = per_bucket("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    pol = per_bucket("aws:s3/bucketPolicy:BucketPolicy")
    pab = per_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    own = per_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    ver = per_bucket("aws:s3/bucketVersioning:BucketVersioning")
    log = per_bucket("aws:s3/bucketLogging:BucketLogging")
    lock = per_bucket("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    buckets = []
    for b in p.of("aws:s3/bucket:Bucket"):
        name: str = b.get("bucket") or b["_id"]
        rule = ((enc.get(name) or {}).get("rules") or [{}])[0].get("applyServerSideEncryptionByDefault") or {}
        flags = pab.get(name)
        lock_rule = ((lock.get(name) or {}).get("rule") or {}).get("defaultRetention") or {}
        buckets.append(
            Bucket(
                name=name,
                arn=b.get("arn", f"arn:aws:s3:::{name}"),
                region=region,
                encryption={
                    "algorithm": rule.get("sseAlgorithm", "AES256"),
                    "kms_key_id": rule.get("kmsMasterKeyId"),
                },
                policy=(pol.get(name) or {}).get("policy"),
                public_access_block=_public_access_block(flags or {}),
                ownership=((own.get(name) or {}).get("rule") or {}).get("objectOwnership", "BucketOwnerEnforced"),
                acl_grants=[],
                versioning=((ver.get(name) or {}).get("versioningConfiguration") or {}).get("status"),
                object_lock={
                    "enabled": bool(b.get("objectLockEnabled")),
                    "mode": lock_rule.get("mode"),
                    "days": whole(lock_rule.get("days")),
                },
                logging_target=(log.get(name) or {}).get("targetBucket"),
                tags=b.get("tags", {}),
            )
        )
    f.add(BUCKETS, buckets)
    account_pab = p.of("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
    if account_pab:
        a = account_pab[0]
        f.add(
            ACCOUNT_PUBLIC_ACCESS_BLOCK,
            [
                AccountPublicAccessBlock(
                    region="global",
                    block_public_acls=bool(a.get("blockPublicAcls")),
                    ignore_public_acls=bool(a.get("ignorePublicAcls")),
                    block_public_policy=bool(a.get("blockPublicPolicy")),
                    restrict_public_buckets=bool(a.get("restrictPublicBuckets")),
                )
            ],
        )
    else:
        f.missing(
            ACCOUNT_PUBLIC_ACCESS_BLOCK,
            Gap("the plan does not manage the account's S3 public access block", "NOT_APPLICABLE"),
        )
