"""S3: every bucket encrypted with a customer-managed key, private, TLS-only, versioned and logged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from compliance.controls._base import Record, control, denies_insecure_transport, each, finding, open_statements
from compliance.facts import Facts
from compliance.facts.logging import TRAILS
from compliance.facts.storage import ACCOUNT_PUBLIC_ACCESS_BLOCK, BUCKETS, KMS_KEYS
from compliance.model import Control, Finding, Status

BUCKET = "AWS::S3::Bucket"
FLAGS = ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                   "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")  # fmt: skip


def _arn(b: Record) -> str:
    return str(b.get("arn") or f"arn:aws:s3:::{b['name']}")


def _buckets(facts: Facts, needs: tuple[str, ...], judge: Any, items: Sequence[Record] | None = None) -> list[Finding]:
    chosen = facts.get(BUCKETS) if items is None else items
    return each(chosen, needs, _arn, BUCKET, lambda b: f"bucket {b['name']}", judge)


def _policy(b: Record) -> dict[str, Any]:
    raw = b.get("policy")
    if not raw:
        return {}
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    return parsed if isinstance(parsed, dict) else {}


def sse_kms_cmk(facts: Facts) -> list[Finding]:
    cmks = {k["arn"] for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"}

    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        enc = b["encryption"] or {}
        algorithm, key = enc.get("algorithm"), enc.get("kms_key_id")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            return (
                False,
                f"Bucket {b['name']} uses {algorithm or 'no'} default encryption, "
                "not SSE-KMS with a customer-managed key.",
                {"encryption": enc},
            )
        if key not in cmks and not any(key and c.endswith(str(key).rsplit("/", 1)[-1]) for c in cmks):
            return (
                False,
                f"Bucket {b['name']} uses SSE-KMS with {key or 'the AWS-managed aws/s3 key'}, "
                "not a customer-managed key.",
                {"encryption": enc},
            )
        return True, f"Bucket {b['name']} encrypts by default with customer-managed key {key}.", {"encryption": enc}

    return _buckets(facts, ("encryption",), judge)


def tls_only(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        if denies_insecure_transport(_policy(b)):
            return True, f"Bucket {b['name']}'s policy denies every request without TLS.", {}
        return (
            False,
            f"Bucket {b['name']} has no policy statement denying requests where aws:SecureTransport is false.",
            {"policy": b.get("policy")},
        )

    return _buckets(facts, ("policy",), judge)


def bucket_public_access_block(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        pab = b["public_access_block"] or {}
        off = [f for f in FLAGS if not pab.get(f)]
        if off:
            return (
                False,
                f"Bucket {b['name']}'s public access block leaves off: {', '.join(off)}.",
                {"public_access_block": pab},
            )
        return True, f"Bucket {b['name']} blocks all four kinds of public access.", {"public_access_block": pab}

    return _buckets(facts, ("public_access_block",), judge)


def account_public_access_block(facts: Facts) -> list[Finding]:
    def judge(a: Record) -> tuple[bool, str, dict[str, Any]]:
        off = [f for f in FLAGS if not a.get(f)]
        if off:
            return (
                False,
                f"Account {facts.account}'s S3 public access block leaves off: {', '.join(off)}.",
                {"flags": a},
            )
        return True, f"Account {facts.account} blocks public access to every bucket.", {"flags": a}

    items = facts.get(ACCOUNT_PUBLIC_ACCESS_BLOCK)
    if not items:
        return [
            finding(
                Status.FAIL,
                facts.account,
                "AWS::S3::AccountPublicAccessBlock",
                "global",
                f"Account {facts.account} has no S3 public access block.",
            )
        ]
    return each(
        items,
        FLAGS,
        lambda a: facts.account,
        "AWS::S3::AccountPublicAccessBlock",
        lambda a: f"account {facts.account}",
        judge,
    )


def not_public(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        wide = open_statements(_policy(b), facts.account)
        grants = [g for g in (b.get("acl_grants") or []) if g.get("grantee") in PUBLIC_GRANTEES]
        if wide or grants:
            what = (
                "its policy allows anyone or another account"
                if wide
                else f"its ACL grants {grants[0]['permission']} to {grants[0]['grantee'].rsplit('/', 1)[-1]}"
            )
            return False, f"Bucket {b['name']} is public: {what}.", {"statements": wide, "grants": grants}
        return True, f"Bucket {b['name']} grants nothing to the public by policy or ACL.", {}

    return _buckets(facts, ("policy", "acl_grants"), judge)


def acls_disabled(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        if b.get("ownership") == "BucketOwnerEnforced":
            return True, f"Bucket {b['name']} has ACLs disabled (BucketOwnerEnforced).", {}
        return False, f"Bucket {b['name']} still honours ACLs (object ownership {b.get('ownership') or 'not set'}).", {}

    return _buckets(facts, ("ownership",), judge)


def versioning(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        if b.get("versioning") == "Enabled":
            return True, f"Bucket {b['name']} keeps every version of every object.", {}
        return (
            False,
            f"Bucket {b['name']} is not versioned ({b.get('versioning') or 'never enabled'}): "
            "an overwrite or delete loses data.",
            {},
        )

    return _buckets(facts, ("versioning",), judge)


def audit_object_lock(facts: Facts) -> list[Finding]:
    trail_buckets = {t.get("s3_bucket") for t in facts.get(TRAILS)}
    audit = [
        b
        for b in facts.get(BUCKETS)
        if b["name"] in trail_buckets or (b.get("tags") or {}).get("phistack:purpose") == "audit-logs"
    ]

    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        lock = b["object_lock"] or {}
        if not lock.get("enabled"):
            return False, f"Audit-log bucket {b['name']} has no Object Lock: logs can be deleted or overwritten.", {}
        if lock.get("mode") != "COMPLIANCE":
            return (
                False,
                f"Audit-log bucket {b['name']} locks in {lock.get('mode') or 'no default'} mode, "
                "which privileged users can bypass.",
                {"object_lock": lock},
            )
        return (
            True,
            f"Audit-log bucket {b['name']} locks every object in COMPLIANCE mode for {lock.get('days')} days.",
            {"object_lock": lock},
        )

    if not audit:
        return [
            finding(
                Status.FAIL,
                facts.account,
                BUCKET,
                "global",
                "No bucket receives CloudTrail logs, so no audit archive can be checked.",
            )
        ]
    return _buckets(facts, ("object_lock",), judge, audit)


def access_logging(facts: Facts) -> list[Finding]:
    buckets = facts.get(BUCKETS)
    targets = {b.get("logging_target") for b in buckets if isinstance(b.get("logging_target"), str)}

    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        if b.get("logging_target"):
            return True, f"Bucket {b['name']} writes server access logs to {b['logging_target']}.", {}
        if b["name"] in targets:
            return True, f"Bucket {b['name']} is the server-access-log destination (it does not log into itself).", {}
        return False, f"Bucket {b['name']} has no server access logging.", {}

    return _buckets(facts, ("logging_target",), judge)


ENCRYPTION = ("164.312(a)(2)(iv)", "164.310(d)(1)")
ACCESS = ("164.312(a)(1)", "164.308(a)(4)(ii)(B)")

CONTROLS: tuple[Control, ...] = (
    control(
        "s3-sse-kms-cmk",
        "Buckets encrypt by default with a customer-managed KMS key",
        "high",
        ENCRYPTION,
        ("buckets", "kms_keys"),
        ("s3:ListAllMyBuckets", "s3:GetEncryptionConfiguration", "kms:ListKeys", "kms:DescribeKey"),
        "SSE-S3 and the aws/s3 key leave key use and its audit trail outside the client's control.",
        "Set default encryption to aws:kms with the stack's data key and bucket keys on.",
        sse_kms_cmk,
    ),
    control(
        "s3-tls-only",
        "Bucket policies refuse requests without TLS",
        "high",
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        ("buckets",),
        (
            "s3:ListAllMyBuckets",
            "s3:GetBucketPolicy",
        ),
        "Without the deny, a client can read or write PHI over plain HTTP.",
        "Add a Deny for Principal * on s3:* when aws:SecureTransport is false.",
        tls_only,
    ),
    control(
        "s3-bucket-public-access-block",
        "Every bucket blocks all public access",
        "high",
        ACCESS,
        ("buckets",),
        (
            "s3:ListAllMyBuckets",
            "s3:GetBucketPublicAccessBlock",
        ),
        "The block overrides any later policy or ACL mistake that would make data public.",
        "aws s3api put-public-access-block with all four flags true.",
        bucket_public_access_block,
    ),
    control(
        "s3-account-public-access-block",
        "The account blocks public access to S3",
        "high",
        ACCESS,
        ("account_public_access_block",),
        ("s3:GetAccountPublicAccessBlock",),
        "An account-wide block also covers buckets created outside the stack.",
        "aws s3control put-public-access-block --account-id ACCOUNT with all four flags true.",
        account_public_access_block,
    ),
    control(
        "s3-not-public",
        "No bucket is public by policy or ACL",
        "critical",
        ACCESS,
        ("buckets",),
        ("s3:ListAllMyBuckets", "s3:GetBucketPolicy", "s3:GetBucketAcl"),
        "A public bucket discloses everything in it to anyone on the internet.",
        "Remove Principal * statements (or pin them with aws:SourceAccount) and public ACL grants.",
        not_public,
    ),
    control(
        "s3-acls-disabled",
        "Bucket ACLs are disabled (BucketOwnerEnforced)",
        "medium",
        ACCESS,
        ("buckets",),
        (
            "s3:ListAllMyBuckets",
            "s3:GetBucketOwnershipControls",
        ),
        "With ACLs disabled, access is decided by policies alone, which are auditable in one place.",
        "aws s3api put-bucket-ownership-controls --ownership-controls Rules=[{ObjectOwnership=BucketOwnerEnforced}]",
        acls_disabled,
    ),
    control(
        "s3-versioning",
        "Buckets are versioned",
        "medium",
        ("164.312(c)(1)", "164.308(a)(7)(ii)(A)"),
        ("buckets",),
        (
            "s3:ListAllMyBuckets",
            "s3:GetBucketVersioning",
        ),
        "Versioning keeps PHI and logs recoverable after an overwrite or delete.",
        "aws s3api put-bucket-versioning --versioning-configuration Status=Enabled",
        versioning,
    ),
    control(
        "s3-audit-object-lock",
        "Audit-log buckets use Object Lock in COMPLIANCE mode",
        "high",
        ("164.312(b)", "164.312(c)(1)", "164.316(b)(2)(i)"),
        ("buckets", "trails"),
        ("s3:ListAllMyBuckets", "s3:GetBucketObjectLockConfiguration", "cloudtrail:DescribeTrails"),
        "Audit logs nobody can delete, not even the root user, until their retention ends.",
        "Object Lock is set at bucket creation: create a locked bucket and point the trail at it.",
        audit_object_lock,
    ),
    control(
        "s3-access-logging",
        "Buckets log server access",
        "medium",
        ("164.312(b)",),
        ("buckets",),
        (
            "s3:ListAllMyBuckets",
            "s3:GetBucketLogging",
        ),
        "Server access logs record requests CloudTrail data events may not, such as denied anonymous ones.",
        "aws s3api put-bucket-logging with the stack's access-log bucket as target.",
        access_logging,
    ),
)
