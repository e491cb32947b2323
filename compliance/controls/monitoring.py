"""Monitoring: alarms on the security events that matter, GuardDuty and AWS Config in every region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compliance.controls._base import Record, arn, control, each, finding
from compliance.controls._cloudtrail import BENIGN, CATEGORIES, Call, other_region, records
from compliance.controls._filterpattern import PatternError, compile_pattern
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


def _what(call: Call) -> str:
    said = call.name
    if call.fields.get("errorCode") or call.fields.get("errorMessage"):
        said += f" ({call.fields.get('errorCode') or call.fields.get('errorMessage')})"
    return f"{said} by the root user" if call.caller == "root" else said


def _who(record: dict[str, Any]) -> str:
    kind = {"IAMUser": "an IAM user", "AssumedRole": "an assumed role", "Root": "the root user"}
    return f"by {kind.get(record['userIdentity']['type'], 'someone')} in {record['awsRegion']}"


def _log_group(arn: str) -> tuple[str, str, str]:
    """(region, account, name) of a log group's ARN: arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]."""
    parts = arn.split(":")
    name = arn.split(":log-group:", 1)[-1].removesuffix(":*")
    return (parts[3], parts[4], name) if len(parts) > 5 else ("", "", name)


def _armed(f: Record, alarms: Sequence[Record]) -> list[Record]:
    """The alarms watching a filter's metric: same name and namespace, in the filter's region (metrics are
    regional), with an enabled action."""
    return [
        a
        for a in alarms
        if a.get("metric_name") == f.get("metric_name")
        and a.get("region") == f.get("region")
        and a.get("namespace") == f.get("metric_namespace")
        and a.get("actions")
        and a.get("actions_enabled", True)
    ]


def security_alarms(facts: Facts) -> list[Finding]:
    """Each category caught when every one of its CloudTrail records is counted by a filter on a logging trail's
    log group whose metric an alarm with an action watches (one filter or several together)."""
    trail_groups = {
        _log_group(str(t["cloudwatch_logs_group_arn"]))
        for t in facts.get(TRAILS)
        if t.get("logging") is True and t.get("cloudwatch_logs_group_arn")  # an unreadable status is not logging
    }
    # A filter counts only on the trail's own log group: that name, in that region, in this account.
    filters = [
        f for f in facts.get(METRIC_FILTERS) if (f.get("region"), facts.account, f.get("log_group")) in trail_groups
    ]
    alarms = facts.get(METRIC_ALARMS)
    tests, unreadable, noisy = [], [], []
    regions = [facts.regions[0], other_region(facts.regions[0])]
    benign = [r for call in BENIGN for r in records(call, facts.account, regions)]
    for f in filters:
        try:
            test = compile_pattern(str(f.get("pattern") or ""))
        except PatternError as exc:
            unreadable.append(f"{f['name']} ({exc})")
            continue
        if any(test(r) for r in benign):  # counts routine reads: an alarm on it rings all day, heard by nobody
            noisy.append(str(f["name"]))
            continue
        tests.append((f, test, _armed(f, alarms)))
    out = []
    for category, calls in CATEGORIES.items():
        rid = f"{facts.account}/security-alarm/{category.replace(' ', '-').lower()}"
        counted: dict[str, list[tuple[Record, list[Record]]]] = {}
        missed, where = [], {}
        for call in calls:
            what = _what(call)
            for record in records(call, facts.account, regions):
                found = [(f, armed) for f, test, armed in tests if test(record)]
                counted.setdefault(what, []).extend(found)
                if not any(armed for _, armed in found) and what not in where:
                    missed.append(what)
                    where[what] = _who(record)
        if not missed:
            chosen, armed = next((f, armed) for found in counted.values() for f, armed in found if armed)
            out.append(
                finding(
                    Status.PASS,
                    armed[0].get("arn") or rid,
                    "AWS::CloudWatch::Alarm",
                    armed[0]["region"],
                    f"Alarm {armed[0]['name']} notifies {armed[0]['actions'][0]} on {category} "
                    f"({len(calls)} kinds of event, each counted whoever makes it, wherever).",
                    category=category,
                    filter=chosen["name"],
                    alarm=armed[0]["name"],
                )
            )
            continue
        unarmed = sorted({str(f["name"]) for found in counted.values() for f, armed in found if not armed})
        shown = ", ".join(f"{m} {where[m]}" for m in missed[:4]) + (
            f" and {len(missed) - 4} more" if len(missed) > 4 else ""
        )
        if noisy:
            shown += f"; filter {', '.join(noisy)} counts routine reads too, so its alarm says nothing"
        if unreadable:
            out.append(
                finding(
                    Status.ERROR,
                    rid,
                    "AWS::Logs::MetricFilter",
                    "global",
                    f"No alarm is known to catch {category} ({shown}): the pattern of metric filter "
                    f"{'; '.join(unreadable)} could not be read, so what it counts is unknown.",
                    category=category,
                    missed=missed,
                )
            )
        elif unarmed:
            out.append(finding(Status.FAIL, rid, "AWS::Logs::MetricFilter", "global",
                               f"Metric filter {unarmed[0]} counts {category}, but no alarm with an action watches "
                               f"it for {shown}.", category=category, missed=missed))  # fmt: skip
        elif not trail_groups:
            out.append(finding(Status.FAIL, rid, "AWS::Logs::MetricFilter", "global",
                               f"No logging trail delivers to CloudWatch Logs, so {category} cannot raise an alarm.",
                               category=category, missed=missed))  # fmt: skip
        else:
            out.append(finding(Status.FAIL, rid, "AWS::Logs::MetricFilter", "global",
                               f"No metric filter on the trail's log group with an armed alarm counts {category}: "
                               f"{shown} would go unnoticed.", category=category, missed=missed))  # fmt: skip
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
