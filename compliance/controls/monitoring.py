"""Monitoring: alarms on the security events that matter, GuardDuty and AWS Config in every region."""

from __future__ import annotations

from typing import Any

from compliance.controls._base import Record, arn, control, each, finding
from compliance.facts import Facts
from compliance.facts.logging import (
    CONFIG_RECORDERS,
    GUARDDUTY_DETECTORS,
    GUARDDUTY_FINDINGS,
    METRIC_ALARMS,
    METRIC_FILTERS,
    SNS_TOPICS,
    TRAILS,
    ConfigRecorder,
)
from compliance.model import Control, Finding, Status

# Category -> words that a metric filter pattern must contain to catch it (the CIS monitoring patterns).
SECURITY_EVENTS: dict[str, tuple[str, ...]] = {
    "root account usage": ("Root",),
    "IAM policy changes": ("PutRolePolicy", "AttachRolePolicy"),
    "security group changes": ("AuthorizeSecurityGroupIngress",),
    "network ACL changes": ("CreateNetworkAclEntry",),
    "network gateway changes": ("CreateInternetGateway",),
    "route table changes": ("CreateRoute",),
    "VPC changes": ("CreateVpc",),
    "console sign-in failures": ("ConsoleLogin", "Failed authentication"),
    "unauthorized API calls": ("AccessDenied",),
    "CloudTrail configuration changes": ("StopLogging",),
    "KMS key disabling or deletion": ("ScheduleKeyDeletion",),
    "S3 bucket policy changes": ("PutBucketPolicy",),
}


def security_alarms(facts: Facts) -> list[Finding]:
    trail_groups = {
        str(t["cloudwatch_logs_group_arn"]).split(":log-group:")[-1].removesuffix(":*")
        for t in facts.get(TRAILS)
        if t.get("logging") and t.get("cloudwatch_logs_group_arn")
    }
    filters = [f for f in facts.get(METRIC_FILTERS) if f.get("log_group") in trail_groups]
    alarms = facts.get(METRIC_ALARMS)
    out = []
    for category, words in SECURITY_EVENTS.items():
        matching = [f for f in filters if all(w in (f.get("pattern") or "") for w in words)]
        armed = [
            a
            for f in matching
            for a in alarms
            if a.get("metric_name") == f.get("metric_name")
            and a.get("namespace") == f.get("metric_namespace")
            and a.get("actions")
            and a.get("actions_enabled", True)
        ]
        rid = f"{facts.account}/security-alarm/{category.replace(' ', '-').lower()}"
        if armed:
            out.append(
                finding(
                    Status.PASS,
                    armed[0].get("arn") or rid,
                    "AWS::CloudWatch::Alarm",
                    armed[0]["region"],
                    f"Alarm {armed[0]['name']} notifies {armed[0]['actions'][0]} on {category}.",
                    filter=matching[0]["name"],
                    alarm=armed[0]["name"],
                )
            )
        else:
            if matching:
                region = matching[0]["region"]
                why = f"Metric filter {matching[0]['name']} counts {category}, but no alarm with an action watches it."
            elif not trail_groups:
                region, why = (
                    "global",
                    f"No logging trail delivers to CloudWatch Logs, so {category} cannot raise an alarm.",
                )
            else:
                region, why = "global", f"No metric filter on the trail's log group catches {category}."
            out.append(finding(Status.FAIL, rid, "AWS::Logs::MetricFilter", region, why))
    return out


def alarm_topics_encrypted(facts: Facts) -> list[Finding]:
    used = {a for alarm in facts.get(METRIC_ALARMS) for a in alarm.get("actions") or [] if ":sns:" in a}
    topics = {t["arn"]: t for t in facts.get(SNS_TOPICS)}
    out = []
    for topic_arn in sorted(used):
        region = topic_arn.split(":")[3]
        topic = topics.get(topic_arn)
        if topic is None:
            out.append(
                finding(
                    Status.FAIL,
                    topic_arn,
                    "AWS::SNS::Topic",
                    region,
                    f"Alarm topic {topic_arn} does not exist: alarms notify nobody.",
                )
            )
        elif topic.get("kms_key_id"):
            out.append(
                finding(
                    Status.PASS,
                    topic_arn,
                    "AWS::SNS::Topic",
                    region,
                    f"Alarm topic {topic_arn} is encrypted with {topic['kms_key_id']}.",
                )
            )
        else:
            out.append(
                finding(
                    Status.FAIL,
                    topic_arn,
                    "AWS::SNS::Topic",
                    region,
                    f"Alarm topic {topic_arn} is not encrypted with a KMS key.",
                )
            )
    return out


def guardduty(facts: Facts) -> list[Finding]:
    detectors = {d["region"]: d for d in facts.get(GUARDDUTY_DETECTORS)}
    out = []
    for region in facts.regions:
        d = detectors.get(region)
        if d is None:
            out.append(
                finding(
                    Status.FAIL,
                    f"{facts.account}/{region}/guardduty",
                    "AWS::GuardDuty::Detector",
                    region,
                    f"GuardDuty is not enabled in {region}.",
                )
            )
        elif d.get("status") != "ENABLED":
            out.append(
                finding(
                    Status.FAIL,
                    arn(facts, "guardduty", region, f"detector/{d['id']}"),
                    "AWS::GuardDuty::Detector",
                    region,
                    f"GuardDuty detector {d['id']} in {region} is {d.get('status')}.",
                )
            )
        else:
            out.append(
                finding(
                    Status.PASS,
                    arn(facts, "guardduty", region, f"detector/{d['id']}"),
                    "AWS::GuardDuty::Detector",
                    region,
                    f"GuardDuty detector {d['id']} is enabled in {region}.",
                )
            )
    return out


def guardduty_findings_closed(facts: Facts) -> list[Finding]:
    def judge(d: Record) -> tuple[bool, str, dict[str, Any]]:
        found = d["open_high"]
        if not found:
            return True, f"GuardDuty detector {d['detector_id']} has no open finding of high severity.", {}
        counted = f"{len(found)}{'+' if len(found) >= 50 else ''}"
        first = sorted(found, key=lambda f: -f["severity"])[:3]
        named = "; ".join(f"{f['type']} ({f['severity']:g})" for f in first)
        return (
            False,
            f"GuardDuty detector {d['detector_id']} has {counted} open findings of high severity or worse: {named}.",
            {"finding_ids": [f["id"] for f in found]},
        )

    return each(
        facts.get(GUARDDUTY_FINDINGS),
        (),
        lambda d: arn(facts, "guardduty", d["region"], f"detector/{d['detector_id']}"),
        "AWS::GuardDuty::Detector",
        lambda d: f"detector {d['detector_id']}",
        judge,
    )


def config_recorder(facts: Facts) -> list[Finding]:
    recorders: dict[str, list[ConfigRecorder]] = {}
    for r in facts.get(CONFIG_RECORDERS):
        recorders.setdefault(r["region"], []).append(r)
    out = []
    for region in facts.regions:
        good = [r for r in recorders.get(region, []) if r.get("recording") and r.get("all_supported")]
        rid = f"{facts.account}/{region}/config-recorder"
        if good:
            out.append(
                finding(
                    Status.PASS,
                    rid,
                    "AWS::Config::ConfigurationRecorder",
                    region,
                    f"AWS Config recorder {good[0]['name']} records all supported resources in {region}.",
                )
            )
        elif recorders.get(region):
            r = recorders[region][0]
            out.append(
                finding(
                    Status.FAIL,
                    rid,
                    "AWS::Config::ConfigurationRecorder",
                    region,
                    f"AWS Config recorder {r['name']} in {region} is "
                    f"{'recording only some resource types' if r.get('recording') else 'stopped'}.",
                )
            )
        else:
            out.append(
                finding(
                    Status.FAIL,
                    rid,
                    "AWS::Config::ConfigurationRecorder",
                    region,
                    f"AWS Config has no recorder in {region}.",
                )
            )
    return out


CONTROLS: tuple[Control, ...] = (
    control(
        "monitoring-security-alarms",
        "Security events raise alarms with an action",
        "high",
        ("164.308(a)(1)(ii)(D)", "164.308(a)(6)(ii)", "164.308(a)(5)(ii)(C)"),
        ("trails", "metric_filters", "metric_alarms"),
        ("cloudtrail:DescribeTrails", "logs:DescribeMetricFilters", "cloudwatch:DescribeAlarms"),
        "Incidents must be noticed to be responded to: root use, IAM and network changes, failed sign-ins.",
        "Add a metric filter on the trail's log group and an alarm to the security topic for each listed event.",
        security_alarms,
    ),
    control(
        "monitoring-alarm-topic-encrypted",
        "Alarm topics exist and are encrypted",
        "low",
        ("164.312(a)(2)(iv)", "164.308(a)(6)(ii)"),
        ("metric_alarms", "sns_topics"),
        ("cloudwatch:DescribeAlarms", "sns:ListTopics", "sns:GetTopicAttributes"),
        "Alarm notifications name resources and principals; the topic should be encrypted like the logs.",
        "aws sns set-topic-attributes --attribute-name KmsMasterKeyId --attribute-value KEY",
        alarm_topics_encrypted,
    ),
    control(
        "monitoring-guardduty",
        "GuardDuty is enabled in every region",
        "high",
        ("164.308(a)(1)(ii)(D)", "164.308(a)(5)(ii)(B)", "164.308(a)(6)(ii)"),
        ("guardduty_detectors",),
        ("guardduty:ListDetectors", "guardduty:GetDetector"),
        "Threat detection on API, DNS and flow activity finds what static checks cannot.",
        "aws guardduty create-detector --enable in each region.",
        guardduty,
    ),
    control(
        "monitoring-guardduty-findings",
        "No high-severity GuardDuty finding is left open",
        "high",
        ("164.308(a)(6)(ii)", "164.308(a)(1)(ii)(D)"),
        ("guardduty_findings",),
        ("guardduty:ListDetectors", "guardduty:ListFindings", "guardduty:GetFindings"),
        "A detector nobody answers is not incident response: a high-severity finding (credentials used from "
        "outside AWS, a host talking to a known bad address) must be investigated and closed or archived.",
        "Investigate each finding (aws guardduty get-findings), contain, then archive it with the outcome recorded.",
        guardduty_findings_closed,
    ),
    control(
        "monitoring-config-recorder",
        "AWS Config records all resources in every region",
        "medium",
        ("164.308(a)(1)(ii)(D)", "164.308(a)(8)"),
        ("config_recorders",),
        ("config:DescribeConfigurationRecorders", "config:DescribeConfigurationRecorderStatus"),
        "A configuration history shows what the account looked like at any past moment an auditor asks about.",
        "Create a recorder for all supported resources with a delivery channel, and start it.",
        config_recorder,
    ),
)
