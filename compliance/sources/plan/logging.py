"""CloudTrail, CloudWatch Logs and alarms, SNS, GuardDuty and AWS Config as planned."""

from __future__ import annotations

from compliance.facts import Facts, Gap
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
    LogGroup,
    MetricAlarm,
    MetricFilter,
    SnsTopic,
    Trail,
    read_and_written,
)
from compliance.sources.plan._reader import PlanReader, arn_of, whole


def add(p: PlanReader, f: Facts) -> None:
    region = p.region
    trails = []
    for t in p.of("aws:cloudtrail/trail:Trail"):
        reads: list[str] = []
        writes: list[str] = []
        management = True
        for sel in t.get("eventSelectors", []):
            management = management and sel.get("includeManagementEvents", True)
            direction = sel.get("readWriteType") or "All"
            for res in sel.get("dataResources", []):
                if res.get("type") == "AWS::S3::Object":
                    for v in res.get("values", []):
                        name = str(v).removeprefix("arn:aws:s3:::").removeprefix("arn:aws-us-gov:s3:::").split("/")[0]
                        reads += [name or "*"] if direction in ("All", "ReadOnly") else []
                        writes += [name or "*"] if direction in ("All", "WriteOnly") else []
        data_buckets = read_and_written(reads, writes)
        trails.append(
            Trail(
                name=t.get("name") or t["_id"],
                arn=arn_of(t),
                region=region,
                home_region=region,
                multi_region=bool(t.get("isMultiRegionTrail")),
                logging=bool(t.get("enableLogging", True)),
                log_file_validation=bool(t.get("enableLogFileValidation")),
                kms_key_id=t.get("kmsKeyId"),
                cloudwatch_logs_group_arn=t.get("cloudWatchLogsGroupArn"),
                s3_bucket=t.get("s3BucketName"),
                data_event_buckets=data_buckets,
                management_events=management,
            )
        )
    f.add(TRAILS, trails)
    f.add(
        LOG_GROUPS,
        [
            LogGroup(
                name=g.get("name"),
                arn=arn_of(g),
                region=region,
                kms_key_id=g.get("kmsKeyId"),
                retention_days=whole(g.get("retentionInDays")) or None,
            )
            for g in p.of("aws:cloudwatch/logGroup:LogGroup")
        ],
    )
    f.add(
        METRIC_FILTERS,
        [
            MetricFilter(
                name=m.get("name"),
                region=region,
                log_group=m.get("logGroupName"),
                pattern=m.get("pattern"),
                metric_name=(m.get("metricTransformation") or {}).get("name"),
                metric_namespace=(m.get("metricTransformation") or {}).get("namespace"),
            )
            for m in p.of("aws:cloudwatch/logMetricFilter:LogMetricFilter")
        ],
    )
    f.add(
        METRIC_ALARMS,
        [
            MetricAlarm(
                name=a.get("name"),
                arn=arn_of(a),
                region=region,
                metric_name=a.get("metricName"),
                namespace=a.get("namespace"),
                actions=a.get("alarmActions", []),
                actions_enabled=a.get("actionsEnabled", True),
            )
            for a in p.of("aws:cloudwatch/metricAlarm:MetricAlarm")
        ],
    )
    f.add(
        SNS_TOPICS,
        [
            SnsTopic(arn=arn_of(t), region=region, kms_key_id=t.get("kmsMasterKeyId"))
            for t in p.of("aws:sns/topic:Topic")
        ],
    )
    detectors = p.of("aws:guardduty/detector:Detector")
    if detectors:
        f.add(
            GUARDDUTY_DETECTORS,
            [
                GuarddutyDetector(id=d["_id"], region=region, status="ENABLED" if d.get("enable", True) else "DISABLED")
                for d in detectors
            ],
        )
    else:
        f.missing(GUARDDUTY_DETECTORS, Gap("the plan does not manage GuardDuty (guardrail off)", "NOT_APPLICABLE"))
    f.missing(
        GUARDDUTY_FINDINGS,
        Gap("threat findings arise in a running account; the live audit reads them", "NOT_APPLICABLE"),
    )
    recorders = p.of("aws:cfg/recorder:Recorder")
    if recorders:
        status = {s.get("name"): s for s in p.of("aws:cfg/recorderStatus:RecorderStatus")}
        f.add(
            CONFIG_RECORDERS,
            [
                ConfigRecorder(
                    name=r.get("name"),
                    region=region,
                    recording=bool((status.get(r.get("name")) or {}).get("isEnabled")),
                    all_supported=bool((r.get("recordingGroup") or {}).get("allSupported")),
                )
                for r in recorders
            ],
        )
    else:
        f.missing(
            CONFIG_RECORDERS, Gap("the plan does not manage an AWS Config recorder (guardrail off)", "NOT_APPLICABLE")
        )
