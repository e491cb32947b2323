"""Audit and detection facts: CloudTrail, CloudWatch Logs and alarms, SNS, GuardDuty, AWS Config."""

from __future__ import annotations

from typing import Any

from compliance.facts.logging import (
    CONFIG_RECORDERS,
    GUARDDUTY_DETECTORS,
    GUARDDUTY_FINDINGS,
    LOG_GROUPS,
    METRIC_ALARMS,
    METRIC_FILTERS,
    SNS_TOPICS,
    TRAILS,
    ConfigRecorder,
    GuarddutyDetector,
    GuarddutyFindings,
    LogGroup,
    MetricAlarm,
    MetricFilter,
    SnsTopic,
    Trail,
    read_and_written,
)
from compliance.sources.live._client import Scan
from compliance.sources.live._task import Task, value_or_marker


def trails(scan: Scan, region: str, account: str) -> list[Trail]:
    ct = scan.client("cloudtrail", region)
    out: list[Trail] = []
    for t in scan.call(ct, "describe_trails", includeShadowTrails=False).get("trailList", []):
        arn = t["TrailARN"]
        logging = value_or_marker(scan, ct, "get_trail_status", lambda r: bool(r.get("IsLogging")), Name=arn)
        selectors = value_or_marker(scan, ct, "get_event_selectors", lambda r: r, TrailName=arn)
        reads: list[str] = []
        writes: list[str] = []
        management = True
        if isinstance(selectors, dict) and "unreadable" not in selectors:
            for sel in selectors.get("EventSelectors") or []:
                management = management and sel.get("IncludeManagementEvents", True)
                direction = sel.get("ReadWriteType", "All")
                for res in sel.get("DataResources", []):
                    if res.get("Type") == "AWS::S3::Object":
                        buckets = [v.split(":::", 1)[-1].split("/")[0] or "*" for v in res.get("Values", [])]
                        reads += buckets if direction in ("All", "ReadOnly") else []
                        writes += buckets if direction in ("All", "WriteOnly") else []
            for sel in selectors.get("AdvancedEventSelectors") or []:
                fields = {f["Field"]: f for f in sel.get("FieldSelectors", [])}
                if fields.get("resources.type", {}).get("Equals") == ["AWS::S3::Object"]:
                    prefixes = fields.get("resources.ARN", {}).get("StartsWith")
                    buckets = [p.split(":::", 1)[-1].split("/")[0] for p in prefixes] if prefixes else ["*"]
                    read_only = fields.get("readOnly", {}).get("Equals")  # ["true"]: reads only; ["false"]: writes
                    reads += buckets if read_only != ["false"] else []
                    writes += buckets if read_only != ["true"] else []
        data_buckets = read_and_written(reads, writes)
        out.append(
            {
                "name": t["Name"],
                "arn": arn,
                "region": region,
                "home_region": t.get("HomeRegion", region),
                "multi_region": bool(t.get("IsMultiRegionTrail")),
                "logging": logging,
                "log_file_validation": bool(t.get("LogFileValidationEnabled")),
                "kms_key_id": t.get("KmsKeyId"),
                "cloudwatch_logs_group_arn": t.get("CloudWatchLogsLogGroupArn"),
                "s3_bucket": t.get("S3BucketName"),
                "data_event_buckets": data_buckets,
                "management_events": management,
            }
        )
    return out


def log_groups(scan: Scan, region: str, account: str) -> list[LogGroup]:
    return [
        {
            "name": g["logGroupName"],
            "arn": str(g.get("arn", "")).removesuffix(":*"),
            "region": region,
            "kms_key_id": g.get("kmsKeyId"),
            "retention_days": g.get("retentionInDays"),
        }
        for g in scan.pages(scan.client("logs", region), "describe_log_groups", "logGroups")
    ]


def metric_filters(scan: Scan, region: str, account: str) -> list[MetricFilter]:
    out: list[MetricFilter] = []
    for m in scan.pages(scan.client("logs", region), "describe_metric_filters", "metricFilters"):
        transform = (m.get("metricTransformations") or [{}])[0]
        out.append(
            {
                "name": m["filterName"],
                "region": region,
                "log_group": m.get("logGroupName"),
                "pattern": m.get("filterPattern"),
                "metric_name": transform.get("metricName"),
                "metric_namespace": transform.get("metricNamespace"),
            }
        )
    return out


def metric_alarms(scan: Scan, region: str, account: str) -> list[MetricAlarm]:
    return [
        {
            "name": a["AlarmName"],
            "arn": a.get("AlarmArn"),
            "region": region,
            "metric_name": a.get("MetricName"),
            "namespace": a.get("Namespace"),
            "actions": a.get("AlarmActions", []),
            "actions_enabled": bool(a.get("ActionsEnabled", True)),
        }
        for a in scan.pages(scan.client("cloudwatch", region), "describe_alarms", "MetricAlarms")
    ]


def sns_topics(scan: Scan, region: str, account: str) -> list[SnsTopic]:
    sns = scan.client("sns", region)
    return [
        {
            "arn": t["TopicArn"],
            "region": region,
            "kms_key_id": value_or_marker(
                scan,
                sns,
                "get_topic_attributes",
                lambda r: r.get("Attributes", {}).get("KmsMasterKeyId"),
                TopicArn=t["TopicArn"],
            ),
        }
        for t in scan.pages(sns, "list_topics", "Topics")
    ]


def guardduty_detectors(scan: Scan, region: str, account: str) -> list[GuarddutyDetector]:
    gd = scan.client("guardduty", region)
    return [
        {"id": d, "region": region, "status": scan.call(gd, "get_detector", DetectorId=d).get("Status")}
        for d in scan.pages(gd, "list_detectors", "DetectorIds")
    ]


# GuardDuty's high band starts at 7.0 (critical: 9.0 and up).
HIGH_SEVERITY = 7
_OPEN_HIGH = {
    "Criterion": {"severity": {"GreaterThanOrEqual": HIGH_SEVERITY}, "service.archived": {"Equals": ["false"]}}
}


def guardduty_findings(scan: Scan, region: str, account: str) -> list[GuarddutyFindings]:
    """One page of open high-severity findings per detector (50: enough to judge and to name the first ones)."""
    gd = scan.client("guardduty", region)
    out: list[GuarddutyFindings] = []
    for d in scan.pages(gd, "list_detectors", "DetectorIds"):
        ids = scan.call(gd, "list_findings", DetectorId=d, FindingCriteria=_OPEN_HIGH, MaxResults=50)["FindingIds"]
        found = scan.call(gd, "get_findings", DetectorId=d, FindingIds=ids)["Findings"] if ids else []
        out.append(
            {
                "detector_id": d,
                "region": region,
                "open_high": [{"id": f["Id"], "type": f.get("Type"), "severity": float(f["Severity"])} for f in found],
            }
        )
    return out


def config_recorders(scan: Scan, region: str, account: str) -> list[ConfigRecorder]:
    cfg = scan.client("config", region)
    status = {
        s["name"]: s
        for s in scan.call(cfg, "describe_configuration_recorder_status").get("ConfigurationRecordersStatus", [])
    }
    return [
        {
            "name": r["name"],
            "region": region,
            "recording": bool(status.get(r["name"], {}).get("recording")),
            "all_supported": bool((r.get("recordingGroup") or {}).get("allSupported")),
        }
        for r in scan.call(cfg, "describe_configuration_recorders").get("ConfigurationRecorders", [])
    ]


TASKS: tuple[Task[Any], ...] = (
    Task(TRAILS, "regional", trails),
    Task(LOG_GROUPS, "regional", log_groups),
    Task(METRIC_FILTERS, "regional", metric_filters),
    Task(METRIC_ALARMS, "regional", metric_alarms),
    Task(SNS_TOPICS, "regional", sns_topics),
    Task(GUARDDUTY_DETECTORS, "regional", guardduty_detectors),
    Task(GUARDDUTY_FINDINGS, "regional", guardduty_findings),
    Task(CONFIG_RECORDERS, "regional", config_recorders),
)
