"""A monthly cost estimate of a planned stack, before anything is deployed: the plan's resources priced from a
table of AWS list prices (infra/prices.py), under stated usage assumptions.

Every resource type the program can plan is either priced by a rule below, or listed in NO_CHARGE (it costs
nothing of its own); anything else is reported as not priced (a test keeps the program and the rules in
step). A price the table lacks (a region, an instance type, a whole service) is reported as not
priced, never guessed, and the total then says it is incomplete. Aurora Serverless v2 bills the ACUs its
instances use, anywhere between the planned minimum and maximum: the total is a range.

A month is the table's ``hours_per_month`` (730, AWS's own convention). Usage that the plan cannot know (log
volume, requests, events) comes from ``Assumptions``, printed with every estimate.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from infra.catalog import GPU_TYPES, MODELS, fits
from infra.errors import ConfigError
from infra.prices import PriceTable

SCHEMA = "phistack/cost/v1"
Term = tuple[str, str, float]  # (table service, price name, amount)


@dataclass(frozen=True)
class Assumptions:
    """Monthly usage the plan cannot know. Each is printed with the estimate; ``--assume NAME=VALUE`` changes it."""

    gpu_hours_per_day: float = 24.0  # GPU hosts running; everything else bills around the clock
    endpoint_gb: float = 50.0  # through the interface endpoints (SSM, logs, KMS, STS, ...)
    nat_gb: float = 50.0  # through a NAT gateway (only with allow_internet_egress)
    nlcu: float = 1.0  # average load balancer capacity units
    aurora_storage_gb: float = 50.0
    aurora_io_million: float = 10.0
    kms_requests: float = 200_000.0
    cloudtrail_data_events: float = 1_000_000.0  # object-level events on the document bucket
    logs_ingest_gb: float = 20.0  # all log groups together (flow logs, audit trail, journald, auditd, trail copy)
    logs_months_kept: float = 12.0  # the estimate is for month 12: storage holds that many months (or retention)
    s3_other_gb: float = 50.0  # documents, trail logs, the audit archive, by month 12; the weights are added
    s3_bundle_overhead_gb: float = 10.0  # the offline bundle beside the weights (wheels, Debian packages)
    s3_put_thousands: float = 100.0
    s3_get_thousands: float = 500.0
    guardduty_cloudtrail_million: float = 1.0
    guardduty_flow_dns_gb: float = 10.0
    guardduty_s3_million: float = 1.0  # with S3 protection; the same document-bucket events as CloudTrail's
    guardduty_ebs_scanned_gb: float = 0.0  # malware scans run only on a finding
    config_items: float = 1_000.0
    backup_used_fraction: float = 0.5  # of each PHI volume, in the first full snapshot
    backup_daily_change: float = 0.02  # of the used data, kept for each extra day of retention
    sqs_requests_million: float = 0.5
    sns_publishes: float = 1_000.0
    sns_emails: float = 1_000.0
    tgw_gb: float = 10.0
    vpn_connection_hours: float = 160.0

    def with_overrides(self, pairs: list[str]) -> Assumptions:
        known = {f.name for f in dataclasses.fields(self)}
        changes: dict[str, float] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or name not in known:
                hint = _nearest(name, known) if sep else ", ".join(sorted(known))
                raise ConfigError(
                    "--assume", [f"{pair!r}: expected NAME=NUMBER with NAME one of the assumptions ({hint})"]
                )
            try:
                number = float(value)
            except ValueError:
                raise ConfigError("--assume", [f"{name}: {value!r} is not a number"]) from None
            if not math.isfinite(number) or number < 0 or (name == "gpu_hours_per_day" and number > 24):
                raise ConfigError("--assume", [f"{name}: {value} is out of range (0 or more; hours at most 24)"])
            changes[name] = number
        return dataclasses.replace(self, **changes)


def _nearest(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f"did you mean {' or '.join(close)}?" if close else ", ".join(sorted(known))


@dataclass
class Line:
    service: str
    item: str
    quantity: str  # e.g. "730 h x 1", "200 GB"
    low: float | None  # None: not priced (``reason`` says why)
    high: float | None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "item": self.item, "quantity": self.quantity}
        if self.low is None:
            out["priced"], out["reason"] = False, self.reason
        else:
            out["priced"], out["monthly_low"], out["monthly_high"] = True, round(self.low, 2), round(self.high or 0, 2)
        return out


@dataclass
class Estimate:
    client: str
    region: str
    lines: list[Line] = field(default_factory=list)
    gpu_options: list[dict[str, Any]] = field(default_factory=list)

    @property
    def low(self) -> float:
        return sum(line.low for line in self.lines if line.low is not None)

    @property
    def high(self) -> float:
        return sum(line.high for line in self.lines if line.high is not None)

    @property
    def unpriced(self) -> list[Line]:
        return [line for line in self.lines if line.low is None]


class _Pricer:
    """Turns one plan into lines; every price lookup goes through ``price`` so a missing one is named."""

    def __init__(self, plan: dict[str, Any], table: PriceTable, assume: Assumptions, cfg: Any) -> None:
        self.plan, self.table, self.assume, self.cfg = plan, table, assume, cfg
        self.region = cfg.region
        self.month = table.hours_per_month
        self.lines: list[Line] = []

    def price(self, service: str, name: str) -> float | None:
        return self.table.price(self.region, service, name)

    def add(self, service: str, item: str, quantity: str, cost: Term | list[Term]) -> None:
        """One line: the sum of price(service, name) x amount over ``cost``'s terms, or not priced."""
        terms = cost if isinstance(cost, list) else [cost]
        total = 0.0
        for svc, name, amount in terms:
            unit = self.price(svc, name)
            if unit is None:
                what = name if svc == "ec2" else f"{svc}.{name}"
                reason = f"no price for {what} in {self.region} in the table"
                self.lines.append(Line(service, item, quantity, None, None, reason))
                return
            total += unit * amount
        self.lines.append(Line(service, item, quantity, total, total))

    def ranged(self, service: str, item: str, quantity: str, term: tuple[str, str], low: float, high: float) -> None:
        """A line whose amount is anywhere between ``low`` and ``high`` (Aurora's ACUs)."""
        unit = self.price(*term)
        if unit is None:
            reason = f"no price for {term[0]}.{term[1]} in {self.region} in the table"
            self.lines.append(Line(service, item, quantity, None, None, reason))
        else:
            self.lines.append(Line(service, item, quantity, unit * low, unit * high))


def _gpu_hours(p: _Pricer) -> float:
    return p.month * p.assume.gpu_hours_per_day / 24


def _instance(p: _Pricer, r: dict[str, Any]) -> None:
    i = r["inputs"]
    hours = _gpu_hours(p)
    p.add("EC2", f"{i['instanceType']} ({r['name']})", f"{hours:g} h", ("ec2", i["instanceType"], hours))
    root = i.get("rootBlockDevice") or {}
    if root.get("volumeSize"):
        _gp3(p, f"root volume of {r['name']}", float(root["volumeSize"]), root.get("iops"), root.get("throughput"))


def _gp3(p: _Pricer, item: str, size: float, iops: Any, throughput: Any) -> None:
    terms = [("ebs", "gp3_gb_month", size)]
    extra_iops = max(0.0, float(iops or 3000) - 3000)
    extra_mbps = max(0.0, float(throughput or 125) - 125)
    if extra_iops:
        terms.append(("ebs", "gp3_iops_month", extra_iops))
    if extra_mbps:
        terms.append(("ebs", "gp3_mbps_month", extra_mbps))
    p.add("EBS", item, f"{size:g} GB gp3", terms)


def _volume(p: _Pricer, r: dict[str, Any]) -> None:
    i = r["inputs"]
    if (i.get("type") or "gp3") != "gp3":
        p.lines.append(Line("EBS", r["name"], f"{i.get('size')} GB {i.get('type')}", None, None, "only gp3 is priced"))
        return
    _gp3(p, r["name"], float(i["size"]), i.get("iops"), i.get("throughput"))


def _endpoints(p: _Pricer, endpoints: list[dict[str, Any]]) -> None:
    """Interface endpoints bill per AZ-hour and per GB; gateway endpoints (S3) cost nothing."""
    interface = [r["inputs"] for r in endpoints if r["inputs"].get("vpcEndpointType") == "Interface"]
    if not interface:
        return
    az_hours = sum(len(i.get("subnetIds") or []) for i in interface) * p.month
    names = ", ".join(sorted(str(i.get("serviceName", "")).rsplit(".", 1)[-1] for i in interface))
    gb = p.assume.endpoint_gb
    p.add("PrivateLink", f"{len(interface)} interface endpoints ({names})", f"{az_hours:,.0f} AZ-hours + {gb:g} GB",
          [("privatelink", "interface_endpoint_az_hour", az_hours), ("privatelink", "gb_processed", gb)])  # fmt: skip


def _nat(p: _Pricer, r: dict[str, Any]) -> None:
    p.add("VPC", f"NAT gateway {r['name']}", f"{p.month:g} h + {p.assume.nat_gb:g} GB",
          [("nat", "gateway_hour", p.month), ("nat", "gb_processed", p.assume.nat_gb)])  # fmt: skip


def _eip(p: _Pricer, r: dict[str, Any]) -> None:
    p.add("VPC", f"public IPv4 {r['name']}", f"{p.month:g} h", ("nat", "public_ipv4_hour", p.month))


def _nlb(p: _Pricer, r: dict[str, Any]) -> None:
    if r["inputs"].get("loadBalancerType") != "network":
        p.lines.append(Line("ELB", r["name"], "1", None, None, "only network load balancers are priced"))
        return
    p.add("ELB", f"NLB {r['name']}", f"{p.month:g} h, {p.assume.nlcu:g} NLCU",
          [("elb", "nlb_hour", p.month), ("elb", "nlcu_hour", p.assume.nlcu * p.month)])  # fmt: skip


def _aurora_cluster(p: _Pricer, r: dict[str, Any]) -> None:
    scaling = r["inputs"].get("serverlessv2ScalingConfiguration") or {}
    low, high = float(scaling.get("minCapacity", 0)), float(scaling.get("maxCapacity", 0))
    instances = sum(
        1
        for x in p.plan["resources"]
        if x["type"] == "aws:rds/clusterInstance:ClusterInstance"
        and x["inputs"].get("instanceClass") == "db.serverless"
    )
    p.ranged("Aurora", f"{instances} serverless v2 instances, {low:g}-{high:g} ACU each",
             f"{instances} x {low:g}-{high:g} ACU x {p.month:g} h", ("aurora", "acu_hour"),
             instances * low * p.month, instances * high * p.month)  # fmt: skip
    a = p.assume
    terms = [("aurora", "storage_gb_month", a.aurora_storage_gb), ("aurora", "io_million", a.aurora_io_million)]
    p.add("Aurora", "storage and I/O", f"{a.aurora_storage_gb:g} GB, {a.aurora_io_million:g} M I/O", terms)


def _kms_keys(p: _Pricer, keys: int) -> None:
    a = p.assume
    p.add("KMS", "customer-managed keys and requests", f"{keys} keys, {a.kms_requests:,.0f} requests",
          [("kms", "key_month", keys), ("kms", "requests_10k", a.kms_requests / 10_000)])  # fmt: skip


def _trail(p: _Pricer, r: dict[str, Any]) -> None:
    i = r["inputs"]
    data = any(s.get("dataResources") for s in i.get("eventSelectors") or []) or bool(i.get("advancedEventSelectors"))
    if data:
        n = p.assume.cloudtrail_data_events
        p.add("CloudTrail", "data events (document bucket objects)", f"{n:,.0f} events",
              ("cloudtrail", "data_events_100k", n / 100_000))  # fmt: skip
    # management events: the first copy of each is free, and this trail is the account's first


def _logs(p: _Pricer, groups: list[dict[str, Any]]) -> None:
    a = p.assume
    retention = [float(g["inputs"].get("retentionInDays") or 0) for g in groups]
    kept_months = min(a.logs_months_kept, min((d / 30 for d in retention if d), default=a.logs_months_kept))
    stored = a.logs_ingest_gb * kept_months
    p.add("CloudWatch", f"logs: ingestion into {len(groups)} log groups", f"{a.logs_ingest_gb:g} GB",
          ("cloudwatch", "logs_ingest_gb", a.logs_ingest_gb))  # fmt: skip
    p.add("CloudWatch", f"logs: storage at month {a.logs_months_kept:g}", f"{stored:g} GB",
          ("cloudwatch", "logs_store_gb_month", stored))  # fmt: skip


def _alarms(p: _Pricer, count: int) -> None:
    p.add("CloudWatch", "alarms", f"{count} alarms", ("cloudwatch", "alarm_month", count))


def _s3(p: _Pricer, buckets: int) -> None:
    a, cfg = p.assume, p.cfg
    weights = MODELS[cfg.model.name].weights_gb(cfg.model.quantization)
    stored = weights + a.s3_bundle_overhead_gb + a.s3_other_gb
    p.add("S3", f"{buckets} buckets: the offline bundle ({weights:.0f} GB of weights) and the rest",
          f"{stored:.0f} GB, {a.s3_put_thousands:g}k PUT, {a.s3_get_thousands:g}k GET",
          [("s3", "standard_gb_month", stored), ("s3", "put_1k", a.s3_put_thousands),
           ("s3", "get_1k", a.s3_get_thousands)])  # fmt: skip


def _guardduty(p: _Pricer, features: set[str]) -> None:
    a = p.assume
    terms = [("guardduty", "cloudtrail_events_million", a.guardduty_cloudtrail_million),
             ("guardduty", "flow_dns_gb", a.guardduty_flow_dns_gb)]  # fmt: skip
    described = f"{a.guardduty_cloudtrail_million:g} M events, {a.guardduty_flow_dns_gb:g} GB flow/DNS"
    if "S3_DATA_EVENTS" in features:
        terms.append(("guardduty", "s3_events_million", a.guardduty_s3_million))
        described += f", {a.guardduty_s3_million:g} M S3 events"
    if "EBS_MALWARE_PROTECTION" in features and a.guardduty_ebs_scanned_gb:
        terms.append(("guardduty", "ebs_scanned_gb", a.guardduty_ebs_scanned_gb))
        described += f", {a.guardduty_ebs_scanned_gb:g} GB scanned"
    p.add("GuardDuty", "threat detection", described, terms)


def _config(p: _Pricer, r: dict[str, Any]) -> None:
    n = p.assume.config_items
    p.add("Config", "configuration items recorded", f"{n:,.0f} items", ("config", "item", n))


def _backup(p: _Pricer, r: dict[str, Any]) -> None:
    a = p.assume
    rules = r["inputs"].get("rules") or []
    days = max((float((rule.get("lifecycle") or {}).get("deleteAfter") or 1) for rule in rules), default=1.0)
    volumes = [float(v["inputs"]["size"]) for v in p.plan["resources"] if v["type"] == "aws:ebs/volume:Volume"]
    used = sum(volumes) * a.backup_used_fraction
    stored = used * (1 + a.backup_daily_change * (days - 1))
    p.add("Backup", f"EBS snapshots kept {days:g} days", f"{stored:.0f} GB",
          ("backup", "ebs_warm_gb_month", stored))  # fmt: skip


def _sqs(p: _Pricer, queues: int) -> None:
    n = p.assume.sqs_requests_million
    p.add("SQS", f"queues: {queues}", f"{n:g} M requests", ("sqs", "requests_million", n))


def _sns(p: _Pricer, topics: int) -> None:
    a = p.assume
    p.add("SNS", f"alarm topics: {topics}", f"{a.sns_publishes:,.0f} publishes, {a.sns_emails:,.0f} emails",
          [("sns", "publishes_million", a.sns_publishes / 1e6), ("sns", "email_100k", a.sns_emails / 1e5)])  # fmt: skip


def _tgw(p: _Pricer, r: dict[str, Any]) -> None:
    terms = [("transit_gateway", "attachment_hour", p.month), ("transit_gateway", "gb_processed", p.assume.tgw_gb)]
    p.add("Transit Gateway", "VPC attachment", f"{p.month:g} h + {p.assume.tgw_gb:g} GB", terms)


def _vpn_association(p: _Pricer, r: dict[str, Any]) -> None:
    p.add("Client VPN", f"subnet association {r['name']}", f"{p.month:g} h",
          ("client_vpn", "association_hour", p.month))  # fmt: skip


def _vpn_endpoint(p: _Pricer, r: dict[str, Any]) -> None:
    n = p.assume.vpn_connection_hours
    p.add("Client VPN", "connections", f"{n:g} connection-hours", ("client_vpn", "connection_hour", n))


SERVICES = (
    "EC2",
    "EBS",
    "PrivateLink",
    "VPC",
    "ELB",
    "Aurora",
    "S3",
    "KMS",
    "CloudTrail",
    "CloudWatch",
    "GuardDuty",
    "Config",
    "Backup",
    "SQS",
    "SNS",
    "Transit Gateway",
    "Client VPN",
)  # the lines' order

# One resource, one rule.
PER_RESOURCE = {
    "aws:ec2/instance:Instance": _instance,
    "aws:ebs/volume:Volume": _volume,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:lb/loadBalancer:LoadBalancer": _nlb,
    "aws:rds/cluster:Cluster": _aurora_cluster,
    "aws:cloudtrail/trail:Trail": _trail,
    "aws:cfg/recorder:Recorder": _config,
    "aws:backup/plan:Plan": _backup,
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _tgw,
    "aws:ec2clientvpn/networkAssociation:NetworkAssociation": _vpn_association,
    "aws:ec2clientvpn/endpoint:Endpoint": _vpn_endpoint,
}
# Priced together, once per plan.
AGGREGATED = {
    "aws:kms/key:Key",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:s3/bucket:Bucket",
    "aws:guardduty/detector:Detector",
    "aws:guardduty/detectorFeature:DetectorFeature",
    "aws:sqs/queue:Queue",
    "aws:sns/topic:Topic",
    "aws:rds/clusterInstance:ClusterInstance",  # in the cluster's ACU line
    "aws:ec2/flowLog:FlowLog",  # its volume is part of the log ingestion assumption
}
# No charge of their own (a gateway endpoint, an IAM role, a bucket's settings, an internet gateway whose
# traffic is not estimated).
NO_CHARGE: frozenset[str] = frozenset(
    (
        "pulumi:providers:aws", "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/route:Route",
        "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:ec2/networkAcl:NetworkAcl",
        "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/volumeAttachment:VolumeAttachment", "aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults",
        "aws:ebs/defaultKmsKey:DefaultKmsKey", "aws:ebs/encryptionByDefault:EncryptionByDefault",
        "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/instanceProfile:InstanceProfile", "aws:iam/accountPasswordPolicy:AccountPasswordPolicy",
        "aws:kms/alias:Alias",
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketNotification:BucketNotification",
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning", "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription", "aws:sqs/queuePolicy:QueuePolicy",
        "aws:ssm/document:Document", "aws:cloudwatch/logMetricFilter:LogMetricFilter",
        "aws:cloudwatch/logStream:LogStream", "aws:cfg/deliveryChannel:DeliveryChannel",
        "aws:cfg/recorderStatus:RecorderStatus", "aws:backup/vault:Vault",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration", "aws:backup/selection:Selection",
        "aws:rds/clusterParameterGroup:ClusterParameterGroup", "aws:rds/subnetGroup:SubnetGroup",
        "aws:lb/listener:Listener", "aws:lb/targetGroup:TargetGroup",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment", "aws:ec2clientvpn/authorizationRule:AuthorizationRule",
    )
)  # fmt: skip


def estimate(plan: dict[str, Any], cfg: Any, table: PriceTable, assume: Assumptions) -> Estimate:
    """The monthly estimate of one plan (plan.json's document) for the client config it was made from."""
    p = _Pricer(plan, table, assume, cfg)
    resources = [r for r in plan["resources"] if r.get("custom", True)]
    counts = Counter(r["type"] for r in resources)
    for r in resources:
        rule = PER_RESOURCE.get(r["type"])
        if rule is not None:
            rule(p, r)
        elif r["type"] not in AGGREGATED and r["type"] not in NO_CHARGE:
            p.lines.append(Line("?", f"{r['type']} {r['name']}", "1", None, None, "no price rule for this type"))
    _endpoints(p, [r for r in resources if r["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint"])
    if counts["aws:kms/key:Key"]:
        _kms_keys(p, counts["aws:kms/key:Key"])
    groups = [r for r in resources if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]
    if groups:
        _logs(p, groups)
    if counts["aws:cloudwatch/metricAlarm:MetricAlarm"]:
        _alarms(p, counts["aws:cloudwatch/metricAlarm:MetricAlarm"])
    if counts["aws:s3/bucket:Bucket"]:
        _s3(p, counts["aws:s3/bucket:Bucket"])
    if counts["aws:guardduty/detector:Detector"]:
        features = {
            r["inputs"].get("name")
            for r in resources
            if r["type"] == "aws:guardduty/detectorFeature:DetectorFeature" and r["inputs"].get("status") == "ENABLED"
        }
        _guardduty(p, {str(f) for f in features})
    if counts["aws:sqs/queue:Queue"]:
        _sqs(p, counts["aws:sqs/queue:Queue"])
    if counts["aws:sns/topic:Topic"]:
        _sns(p, counts["aws:sns/topic:Topic"])
    p.lines.sort(key=lambda line: SERVICES.index(line.service) if line.service in SERVICES else len(SERVICES))
    result = Estimate(cfg.client, cfg.region, p.lines)
    result.gpu_options = gpu_options(cfg, table, assume)
    return result


def gpu_options(cfg: Any, table: PriceTable, assume: Assumptions) -> list[dict[str, Any]]:
    """Every GPU type in the catalog: whether the configured model fits, and its monthly cost for the planned
    number of hosts at the assumed hours (None where the table has no price in this region)."""
    model = MODELS[cfg.model.name]
    hours = table.hours_per_month * assume.gpu_hours_per_day / 24
    rows = []
    for gpu in GPU_TYPES.values():
        hourly = table.price(cfg.region, "ec2", gpu.name)
        rows.append(
            {
                "instance_type": gpu.name,
                "gpus": gpu.gpus,
                "gpu": gpu.gpu,
                "usable_gb": round(gpu.usable_gb, 1),
                "fits": fits(gpu, model, cfg.model.quantization, cfg.model.max_model_len),
                "hourly": hourly,
                "monthly": None if hourly is None else round(hourly * hours * cfg.gpu.count, 2),
                "planned": gpu.name == cfg.gpu.instance_type,
            }
        )
    rows.sort(key=lambda r: (not r["fits"], r["monthly"] is None, r["monthly"] or 0, r["instance_type"]))
    return rows


def to_json(result: Estimate, table: PriceTable, assume: Assumptions, source: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "client": result.client,
        "region": result.region,
        "currency": table.currency,
        "basis": table.basis,
        "prices": {"table": source, "recorded": table.recorded.isoformat(), "sources": table.sources},
        "hours_per_month": table.hours_per_month,
        "assumptions": dataclasses.asdict(assume),
        "monthly_low": round(result.low, 2),
        "monthly_high": round(result.high, 2),
        "complete": not result.unpriced,
        "lines": [line.to_json() for line in result.lines],
        "gpu_options": result.gpu_options,
    }
