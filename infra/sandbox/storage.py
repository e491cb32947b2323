"""Creators for S3 buckets, their separate configuration resources, and the document bucket's event queues."""

from __future__ import annotations

import json
from typing import Any

from infra.sandbox.engine import Created, Creator, Inputs, Sandbox, renamed


def _camel_to_pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[0].upper() + k[1:]: _camel_to_pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_to_pascal(v) for v in value]
    return value


def bucket(sb: Sandbox, name: str, i: Inputs) -> Created:
    s3 = sb.client("s3")
    bucket_name = i.get("bucket") or name
    args: dict[str, Any] = {"Bucket": bucket_name, "ObjectLockEnabledForBucket": bool(i.get("objectLockEnabled"))}
    if sb.cfg.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": sb.cfg.region}
    s3.create_bucket(**args)
    if i.get("tags"):
        s3.put_bucket_tagging(
            Bucket=bucket_name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in i["tags"].items()]}
        )
    return bucket_name, {"arn": f"arn:aws:s3:::{bucket_name}", "bucket": bucket_name}


def ownership(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("s3").put_bucket_ownership_controls(
        Bucket=i["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]}
    )
    return i["bucket"], {}


def public_access_block(sb: Sandbox, name: str, i: Inputs) -> Created:
    flags = {
        k[0].upper() + k[1:]: bool(i.get(k))
        for k in ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    }
    sb.client("s3").put_public_access_block(Bucket=i["bucket"], PublicAccessBlockConfiguration=flags)
    return i["bucket"], {}


def versioning(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("s3").put_bucket_versioning(
        Bucket=i["bucket"], VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]}
    )
    return i["bucket"], {}


def encryption(sb: Sandbox, name: str, i: Inputs) -> Created:
    rules = []
    for r in i["rules"]:
        default = r["applyServerSideEncryptionByDefault"]
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}}
        if default.get("kmsMasterKeyId"):
            rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        if "bucketKeyEnabled" in r:
            rule["BucketKeyEnabled"] = bool(r["bucketKeyEnabled"])
        rules.append(rule)
    sb.client("s3").put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return i["bucket"], {}


def policy(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("s3").put_bucket_policy(Bucket=i["bucket"], Policy=i["policy"])
    return i["bucket"], {}


def logging(sb: Sandbox, name: str, i: Inputs) -> Created:
    with sb.s3_logging_lock:  # the target's policy is lifted and restored: one bucket at a time
        return _logging(sb, i)


def _logging(sb: Sandbox, i: Inputs) -> Created:
    s3 = sb.client("s3")
    target = i["targetBucket"]
    # moto's put_bucket_logging crashes on a target policy whose Principal is the string "*" (ours has one:
    # the TLS-only deny). Set logging with that statement briefly lifted, then put the policy back whole.
    current = s3.get_bucket_policy(Bucket=target)["Policy"] if _has_policy(s3, target) else None
    if current is not None:
        doc = json.loads(current)
        kept = [st for st in doc["Statement"] if st.get("Principal") != "*"]
        s3.put_bucket_policy(Bucket=target, Policy=json.dumps({**doc, "Statement": kept}))
    try:
        s3.put_bucket_logging(
            Bucket=i["bucket"],
            BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": i.get("targetPrefix", "")}},
        )
    finally:
        if current is not None:
            s3.put_bucket_policy(Bucket=target, Policy=current)
    return i["bucket"], {}


def _has_policy(s3: Any, bucket_name: str) -> bool:
    try:
        s3.get_bucket_policy(Bucket=bucket_name)
    except s3.exceptions.ClientError:
        return False
    return True


def object_lock(sb: Sandbox, name: str, i: Inputs) -> Created:
    retention = i["rule"]["defaultRetention"]
    sb.client("s3").put_object_lock_configuration(
        Bucket=i["bucket"],
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": retention["mode"], "Days": int(retention["days"])}},
        },
    )
    return i["bucket"], {}


def lifecycle(sb: Sandbox, name: str, i: Inputs) -> Created:
    rules = []
    for r in i["rules"]:
        rule = _camel_to_pascal({k: v for k, v in r.items() if k not in ("id", "filter")})
        rule["ID"] = r["id"]
        rule["Filter"] = {"Prefix": ""}
        for key in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
            if key in rule:
                rule[key] = {k: int(v) for k, v in rule[key].items()}
        rules.append(rule)
    sb.client("s3").put_bucket_lifecycle_configuration(Bucket=i["bucket"], LifecycleConfiguration={"Rules": rules})
    return i["bucket"], {}


def queue(sb: Sandbox, name: str, i: Inputs) -> Created:
    names = {
        "kmsMasterKeyId": "KmsMasterKeyId",
        "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
        "messageRetentionSeconds": "MessageRetentionSeconds",
        "maxMessageSize": "MaximumMessageSize",
        "visibilityTimeoutSeconds": "VisibilityTimeout",
        "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
        "redrivePolicy": "RedrivePolicy",
    }
    attributes = {attr: str(value) for attr, value in renamed(i, names).items()}  # SQS takes strings
    sqs = sb.client("sqs")
    url = sqs.create_queue(QueueName=i["name"], Attributes=attributes, tags=i.get("tags") or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {"arn": arn, "url": url, "name": i["name"]}


def queue_policy(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("sqs").set_queue_attributes(QueueUrl=i["queueUrl"], Attributes={"Policy": i["policy"]})
    return i["queueUrl"], {}


def notification(sb: Sandbox, name: str, i: Inputs) -> Created:
    queues = [{"QueueArn": q["queueArn"], "Events": list(q["events"])} for q in i.get("queues") or []]
    sb.client("s3").put_bucket_notification_configuration(
        Bucket=i["bucket"], NotificationConfiguration={"QueueConfigurations": queues}
    )
    return i["bucket"], {}


CREATORS: dict[str, Creator] = {
    "aws:s3/bucket:Bucket": bucket,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ownership,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": public_access_block,
    "aws:s3/bucketVersioning:BucketVersioning": versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": encryption,
    "aws:s3/bucketPolicy:BucketPolicy": policy,
    "aws:s3/bucketLogging:BucketLogging": logging,
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": object_lock,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": lifecycle,
    "aws:s3/bucketNotification:BucketNotification": notification,
    "aws:sqs/queue:Queue": queue,
    "aws:sqs/queuePolicy:QueuePolicy": queue_policy,
}
