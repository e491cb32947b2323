"""Creators for logs, metric filters and alarms, CloudTrail, SNS and the Session Manager document."""

from __future__ import annotations

from infra.sandbox.engine import Created, Creator, Inputs, Sandbox


def log_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    logs = sb.client("logs")
    group = i["name"]
    args = {"logGroupName": group, "tags": i.get("tags") or {}}
    if i.get("kmsKeyId"):
        args["kmsKeyId"] = i["kmsKeyId"]
    logs.create_log_group(**args)
    if i.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=group, retentionInDays=int(i["retentionInDays"]))
    return group, {"arn": f"arn:aws:logs:{sb.cfg.region}:{sb.account}:log-group:{group}", "name": group}


def log_stream(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("logs").create_log_stream(logGroupName=i["logGroupName"], logStreamName=i["name"])
    return i["name"], {"name": i["name"]}


def metric_filter(sb: Sandbox, name: str, i: Inputs) -> Created:
    t = i["metricTransformation"]
    sb.client("logs").put_metric_filter(
        logGroupName=i["logGroupName"],
        filterName=i["name"],
        filterPattern=i["pattern"],
        metricTransformations=[
            {
                "metricName": t["name"],
                "metricNamespace": t["namespace"],
                "metricValue": t["value"],
                "defaultValue": float(t.get("defaultValue", 0)),
            }
        ],
    )
    return i["name"], {}


def metric_alarm(sb: Sandbox, name: str, i: Inputs) -> Created:
    cw = sb.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=i["name"],
        AlarmDescription=i.get("alarmDescription", ""),
        Namespace=i["namespace"],
        MetricName=i["metricName"],
        Statistic=i["statistic"],
        Period=int(i["period"]),
        EvaluationPeriods=int(i["evaluationPeriods"]),
        Threshold=float(i["threshold"]),
        ComparisonOperator=i["comparisonOperator"],
        TreatMissingData=i.get("treatMissingData", "missing"),
        AlarmActions=i.get("alarmActions") or [],
    )
    return i["name"], {"arn": f"arn:aws:cloudwatch:{sb.cfg.region}:{sb.account}:alarm:{i['name']}"}


def trail(sb: Sandbox, name: str, i: Inputs) -> Created:
    ct = sb.client("cloudtrail")
    t = ct.create_trail(
        Name=i["name"],
        S3BucketName=i["s3BucketName"],
        S3KeyPrefix=i.get("s3KeyPrefix", ""),
        IsMultiRegionTrail=bool(i.get("isMultiRegionTrail")),
        IncludeGlobalServiceEvents=bool(i.get("includeGlobalServiceEvents", True)),
        EnableLogFileValidation=bool(i.get("enableLogFileValidation")),
        KmsKeyId=i.get("kmsKeyId", ""),
        CloudWatchLogsLogGroupArn=i.get("cloudWatchLogsGroupArn", ""),
        CloudWatchLogsRoleArn=i.get("cloudWatchLogsRoleArn", ""),
    )
    selectors = [
        {
            "ReadWriteType": s.get("readWriteType", "All"),
            "IncludeManagementEvents": bool(s.get("includeManagementEvents", True)),
            "DataResources": [{"Type": d["type"], "Values": d["values"]} for d in s.get("dataResources", [])],
        }
        for s in i.get("eventSelectors") or []
    ]
    if selectors:
        ct.put_event_selectors(TrailName=i["name"], EventSelectors=selectors)
    if i.get("enableLogging", True):
        ct.start_logging(Name=i["name"])
    return t["TrailARN"], {"arn": t["TrailARN"]}


def topic(sb: Sandbox, name: str, i: Inputs) -> Created:
    attributes = {"KmsMasterKeyId": i["kmsMasterKeyId"]} if i.get("kmsMasterKeyId") else {}
    arn = sb.client("sns").create_topic(Name=i.get("name") or name, Attributes=attributes)["TopicArn"]
    return arn, {"arn": arn}


def topic_policy(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("sns").set_topic_attributes(TopicArn=i["arn"], AttributeName="Policy", AttributeValue=i["policy"])
    return i["arn"], {}


def topic_subscription(sb: Sandbox, name: str, i: Inputs) -> Created:
    arn = sb.client("sns").subscribe(TopicArn=i["topic"], Protocol=i["protocol"], Endpoint=i["endpoint"])
    return arn.get("SubscriptionArn", f"{i['topic']}:pending"), {}


def ssm_document(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("ssm").create_document(
        Name=i["name"],
        Content=i["content"],
        DocumentType=i["documentType"],
        DocumentFormat=i.get("documentFormat", "JSON"),
    )
    return i["name"], {"arn": f"arn:aws:ssm:{sb.cfg.region}:{sb.account}:document/{i['name']}"}


CREATORS: dict[str, Creator] = {
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:cloudwatch/logStream:LogStream": log_stream,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": metric_filter,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
    "aws:cloudtrail/trail:Trail": trail,
    "aws:sns/topic:Topic": topic,
    "aws:sns/topicPolicy:TopicPolicy": topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": topic_subscription,
    "aws:ssm/document:Document": ssm_document,
}
