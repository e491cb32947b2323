"""CloudTrail: a complete, validated, encrypted record of every API call, PHI object access included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compliance.controls._base import Record, control, each, finding
from compliance.controls.s3 import not_public
from compliance.facts import Facts
from compliance.facts.logging import TRAILS
from compliance.facts.storage import BUCKETS
from compliance.model import Control, Finding, Status

TRAIL = "AWS::CloudTrail::Trail"
AUDIT = ("164.312(b)", "164.308(a)(1)(ii)(D)")


def _trails(facts: Facts, needs: tuple[str, ...], judge: Any) -> list[Finding]:
    trails = facts.get(TRAILS)
    if not trails:
        return [
            finding(Status.FAIL, facts.account, TRAIL, "global", f"Account {facts.account} has no CloudTrail trail.")
        ]
    return each(trails, needs, lambda t: t["arn"], TRAIL, lambda t: f"trail {t['name']}", judge)


def multi_region(facts: Facts) -> list[Finding]:
    trails = facts.get(TRAILS)
    good = [t for t in trails if t.get("multi_region") and t.get("logging") and t.get("management_events", True)]
    if good:
        return [
            finding(
                Status.PASS,
                t["arn"],
                TRAIL,
                t.get("home_region", "global"),
                f"Trail {t['name']} records management events in every region.",
            )
            for t in good
        ]
    detail = (
        f"its trails ({', '.join(t['name'] for t in trails)}) are single-region or stopped"
        if trails
        else "it has no trail"
    )
    return [
        finding(
            Status.FAIL,
            facts.account,
            TRAIL,
            "global",
            f"No logging multi-region trail covers account {facts.account}: {detail}.",
        )
    ]


def _trail_setting(key: str, yes: str, no: str) -> Callable[[Facts], list[Finding]]:
    """A control that passes each trail whose ``key`` is set; ``yes``/``no`` are format strings over the trail."""

    def evaluate(facts: Facts) -> list[Finding]:
        def judge(t: Record) -> tuple[bool, str, dict[str, Any]]:
            return (True, yes.format(**t), {}) if t.get(key) else (False, no.format(**t), {})

        return _trails(facts, (key,), judge)

    return evaluate


logging_on = _trail_setting(
    "logging", "Trail {name} is logging.", "Trail {name} is stopped: API activity is not being recorded."
)
validation = _trail_setting(
    "log_file_validation",
    "Trail {name} writes signed digest files (log-file validation).",
    "Trail {name} has log-file validation off: altered or deleted log files go unnoticed.",
)
kms = _trail_setting(
    "kms_key_id",
    "Trail {name} encrypts its log files with {kms_key_id}.",
    "Trail {name} does not encrypt log files with a KMS key (SSE-S3 only).",
)
cloudwatch = _trail_setting(
    "cloudwatch_logs_group_arn",
    "Trail {name} delivers to CloudWatch Logs ({cloudwatch_logs_group_arn}).",
    "Trail {name} does not deliver to CloudWatch Logs, so no alarm can fire on it.",
)


def data_events(facts: Facts) -> list[Finding]:
    trails = [t for t in facts.get(TRAILS) if t.get("logging")]
    phi = [
        b
        for b in facts.get(BUCKETS)
        if (b.get("tags") or {}).get("phistack:purpose") == "docs"
        or (b.get("tags") or {}).get("data-classification") == "phi-documents"
    ]
    if not phi:
        return [
            finding(
                Status.NOT_APPLICABLE,
                facts.account,
                "AWS::S3::Bucket",
                "global",
                "No bucket is tagged as holding PHI documents (phistack:purpose=docs).",
            )
        ]
    out = []
    for b in phi:
        covering = [
            t["name"]
            for t in trails
            if "*" in (t.get("data_event_buckets") or []) or b["name"] in (t.get("data_event_buckets") or [])
        ]
        arn = str(b.get("arn") or f"arn:aws:s3:::{b['name']}")
        if covering:
            out.append(
                finding(
                    Status.PASS,
                    arn,
                    "AWS::S3::Bucket",
                    b.get("region", "global"),
                    f"Every object read and write in PHI bucket {b['name']} is recorded by trail {covering[0]}.",
                )
            )
        else:
            out.append(
                finding(
                    Status.FAIL,
                    arn,
                    "AWS::S3::Bucket",
                    b.get("region", "global"),
                    f"No logging trail records S3 data events for PHI bucket {b['name']}: object access is unaudited.",
                )
            )
    return out


def trail_bucket_not_public(facts: Facts) -> list[Finding]:
    destinations = {t.get("s3_bucket") for t in facts.get(TRAILS)}
    buckets = [b for b in facts.get(BUCKETS) if b["name"] in destinations]
    if not buckets:
        return [
            finding(
                Status.NOT_APPLICABLE,
                facts.account,
                "AWS::S3::Bucket",
                "global",
                "No trail delivers to a bucket in this account.",
            )
        ]
    restricted = Facts(
        facts.source, facts.account, facts.regions, {**facts.items, "buckets": buckets}, facts.gaps, facts.context
    )
    return not_public(restricted)


CONTROLS: tuple[Control, ...] = (
    control(
        "trail-multi-region",
        "A logging multi-region trail records management events",
        "critical",
        AUDIT,
        ("trails",),
        ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"),
        "A single-region trail misses activity in every other region, where an attacker would go.",
        "Create (or convert to) a multi-region trail with management events and start logging.",
        multi_region,
    ),
    control(
        "trail-logging",
        "Every trail is logging",
        "high",
        AUDIT,
        ("trails",),
        ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"),
        "A stopped trail records nothing; stopping it is what an intruder does first.",
        "aws cloudtrail start-logging --name TRAIL, and alarm on StopLogging.",
        logging_on,
    ),
    control(
        "trail-log-file-validation",
        "Trails validate their log files",
        "high",
        ("164.312(b)", "164.312(c)(1)"),
        ("trails",),
        ("cloudtrail:DescribeTrails",),
        "Digest files prove after the fact that no log file was changed or removed.",
        "aws cloudtrail update-trail --name TRAIL --enable-log-file-validation",
        validation,
    ),
    control(
        "trail-kms",
        "Trails encrypt log files with a KMS key",
        "medium",
        ("164.312(b)", "164.312(a)(2)(iv)"),
        ("trails",),
        ("cloudtrail:DescribeTrails",),
        "Logs can contain identifiers and request parameters; a CMK limits who can read them.",
        "aws cloudtrail update-trail --name TRAIL --kms-key-id KEY",
        kms,
    ),
    control(
        "trail-cloudwatch",
        "Trails deliver to CloudWatch Logs",
        "medium",
        AUDIT,
        ("trails",),
        ("cloudtrail:DescribeTrails",),
        "Metric filters and alarms can only watch events that reach CloudWatch Logs.",
        "Set the trail's CloudWatch Logs log group and delivery role.",
        cloudwatch,
    ),
    control(
        "trail-s3-data-events",
        "PHI buckets' object access is recorded (S3 data events)",
        "high",
        ("164.312(b)", "164.308(a)(1)(ii)(D)"),
        ("trails", "buckets"),
        ("cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "s3:ListAllMyBuckets", "s3:GetBucketTagging"),
        "Management events do not show who read which document; data events do.",
        "Add an event selector for AWS::S3::Object on the document bucket's ARN.",
        data_events,
    ),
    control(
        "trail-bucket-not-public",
        "The trail's bucket is not public",
        "critical",
        ("164.312(b)", "164.312(a)(1)"),
        ("trails", "buckets"),
        ("cloudtrail:DescribeTrails", "s3:ListAllMyBuckets", "s3:GetBucketPolicy", "s3:GetBucketAcl"),
        "Public audit logs tell an attacker what is watched, and expose request details.",
        "Remove public statements and grants from the trail bucket.",
        trail_bucket_not_public,
    ),
)
