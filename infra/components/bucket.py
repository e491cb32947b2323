"""One S3 bucket, hardened the same way wherever the stack needs one.

SSE-KMS with a customer-managed key (bucket keys on), all four public-access-block flags, ACLs disabled
(BucketOwnerEnforced), versioning, a policy that refuses plain HTTP and TLS below 1.2, server access
logging to the access-log bucket, and optional Object Lock in COMPLIANCE mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import ClientConfig


@dataclass
class HardenedBucketArgs:
    cfg: ClientConfig
    purpose: naming.BucketPurpose
    kms_key_arn: pulumi.Input[str]
    # None only for the access-log bucket itself: a bucket does not log into itself.
    access_log_bucket: pulumi.Input[str] | None
    object_lock_days: int | None = None
    extra_statements: list[policies.Statement] = field(default_factory=list)
    noncurrent_version_days: int | None = None
    expire_days: int | None = None


class HardenedBucket(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: HardenedBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:storage:HardenedBucket", name, None, opts)
        cfg = args.cfg
        child = pulumi.ResourceOptions(parent=self)
        physical = naming.bucket_name(cfg, args.purpose)

        bucket = aws.s3.Bucket(
            name,
            bucket=physical,
            object_lock_enabled=args.object_lock_days is not None,
            force_destroy=False,
            tags=naming.tags(cfg, "storage", physical) | {"phistack:purpose": args.purpose},
            opts=pulumi.ResourceOptions(parent=self, protect=args.object_lock_days is not None),
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": args.kms_key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=policies.document(
                policies.deny_insecure_transport(bucket.arn),
                policies.deny_old_tls(bucket.arn),
                *args.extra_statements,
            ),
            # The public access block must exist first, and ownership first so ACL-based
            # grants can never be what log delivery relies on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block, ownership]),
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=bucket.id,
                target_bucket=args.access_log_bucket,
                target_prefix=f"{physical}/",
                opts=child,
            )
        if args.object_lock_days is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": "COMPLIANCE", "days": args.object_lock_days}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=_lifecycle_rules(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

        # The name other resources use resolves only once the policy exists: a log target (S3 access logs,
        # CloudTrail, Config) is usable only then, so everything pointed at it waits for it.
        self.bucket = pulumi.Output.all(bucket.bucket, bucket_policy.id).apply(lambda values: str(values[0]))
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})


def _lifecycle_rules(args: HardenedBucketArgs) -> list[dict[str, object]]:
    """Incomplete uploads aborted after 7 days; old versions and objects expired only where the args say."""
    rules: list[dict[str, object]] = [
        {
            "id": "abort-incomplete-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        },
    ]
    if args.noncurrent_version_days is not None:
        rules.append(
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            }
        )
    if args.expire_days is not None:
        rules.append(
            {"id": "expire-objects", "status": "Enabled", "filter": {}, "expiration": {"days": args.expire_days}}
        )
    return rules
