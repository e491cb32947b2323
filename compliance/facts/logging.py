"""Records of audit logging and monitoring: CloudTrail, CloudWatch Logs, metric filters and alarms, SNS topics,
GuardDuty detectors, AWS Config recorders."""

from __future__ import annotations

from typing import TypedDict

from compliance.facts._kind import Kind, Unreadable


class Trail(TypedDict):
    name: str
    arn: str
    region: str
    home_region: str
    multi_region: bool
    logging: bool | Unreadable
    log_file_validation: bool
    kms_key_id: str | None
    cloudwatch_logs_group_arn: str | None
    s3_bucket: str | None
    data_event_buckets: list[str] | Unreadable  # buckets whose object reads AND writes are recorded; "*" for all
    management_events: bool | Unreadable


def read_and_written(reads: list[str], writes: list[str]) -> list[str]:
    """The buckets whose object reads and writes are both recorded ("*": every bucket), from the buckets a trail
    records reads of and writes to. A write-only selector records who changed a document, not who read it."""
    if "*" in reads and "*" in writes:
        return ["*"]
    if "*" in reads:
        return list(dict.fromkeys(writes))
    if "*" in writes:
        return list(dict.fromkeys(reads))
    return [b for b in dict.fromkeys(reads) if b in writes]


class LogGroup(TypedDict):
    name: str | None
    arn: str
    region: str
    kms_key_id: str | None
    retention_days: int | None  # None: never expire


class MetricFilter(TypedDict):
    name: str | None
    region: str
    log_group: str | None
    pattern: str | None
    metric_name: str | None
    metric_namespace: str | None


class MetricAlarm(TypedDict):
    name: str | None
    arn: str | None
    region: str
    metric_name: str | None
    namespace: str | None
    actions: list[str]
    actions_enabled: bool


class SnsTopic(TypedDict):
    arn: str | None
    region: str
    kms_key_id: str | Unreadable | None


class GuarddutyDetector(TypedDict):
    """Regions without a detector have no item."""

    id: str
    region: str
    status: str | None


class ConfigRecorder(TypedDict):
    name: str | None
    region: str
    recording: bool
    all_supported: bool


class ThreatFinding(TypedDict):
    id: str
    type: str | None  # e.g. "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    severity: float


class GuarddutyFindings(TypedDict):
    """Per detector: its high and critical findings (severity 7 and up) not archived, at most 50 read."""

    detector_id: str
    region: str
    open_high: list[ThreatFinding]


TRAILS = Kind("trails", Trail)
LOG_GROUPS = Kind("log_groups", LogGroup)
METRIC_FILTERS = Kind("metric_filters", MetricFilter)
METRIC_ALARMS = Kind("metric_alarms", MetricAlarm)
SNS_TOPICS = Kind("sns_topics", SnsTopic)
GUARDDUTY_DETECTORS = Kind("guardduty_detectors", GuarddutyDetector)
GUARDDUTY_FINDINGS = Kind("guardduty_findings", GuarddutyFindings)
CONFIG_RECORDERS = Kind("config_recorders", ConfigRecorder)
