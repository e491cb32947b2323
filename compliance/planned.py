"""Facts from a plan: ``plan.json`` (``contract.PLAN_SCHEMA``) read as data, never by importing infra/.

The plan holds what the program declares. AWS adds to it, and these facts model that, so an omission is
judged by what AWS would really do:
- every VPC gets a default security group (all egress, self ingress) and a default NACL (allow all),
  unless the plan manages them (DefaultSecurityGroup / DefaultNetworkAcl);
- every VPC gets a main route table with only its local route;
- a new S3 bucket has SSE-S3, all four public-access-block flags, ACLs disabled and no versioning, unless
  the plan sets otherwise;
- an instance without metadata options gets the account's IMDS defaults if the plan declares them, else
  IMDSv1 allowed.
What a plan cannot know (account state outside the stack, what exists only once running) is a Gap with
status NOT_APPLICABLE and the reason, so those controls say so instead of passing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from compliance.errors import InputError
from compliance.facts import Context, Facts, Gap, Item
from contract import PLAN_SCHEMA

ALL = {"protocol": "-1", "from_port": 0, "to_port": 65535}


def load_plan(path: Path) -> dict[str, Any]:
    try:
        plan: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: the plan file does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: is not a readable JSON plan ({exc.__class__.__name__}).") from None
    if not isinstance(plan, dict) or plan.get("schema") != PLAN_SCHEMA:
        seen = plan.get("schema") if isinstance(plan, dict) else type(plan).__name__
        raise InputError(f"{path}: schema is {seen!r}, expected {PLAN_SCHEMA!r} (write one with phistack plan).")
    _check_context(path, plan.get("context"))
    return plan


_CONTEXT_TYPES: dict[str, tuple[type, ...]] = {
    "client": (str,),
    "log_retention_days": (int, type(None)),
    "allow_short_log_retention": (bool,),
    "required_endpoints": (list,),
    "attestations": (dict,),
}


def _check_context(path: Path, context: Any) -> None:
    """A plan file is input: its context (contract.StackContext) is checked field by field before any use."""
    if not isinstance(context, dict):
        raise InputError(f"{path}: context is missing or not a mapping (write the plan again with phistack plan).")
    for key, types in _CONTEXT_TYPES.items():
        value = context.get(key)
        if key not in context or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InputError(f"{path}: context.{key} is missing or of the wrong type.")
    if not all(isinstance(e, str) for e in context["required_endpoints"]):
        raise InputError(f"{path}: context.required_endpoints must be a list of service names.")
    if not all(isinstance(k, str) and isinstance(v, str | None) for k, v in context["attestations"].items()):
        raise InputError(f"{path}: context.attestations must map names to dates or null.")


def _int(value: Any) -> int | None:
    """Pulumi mocks hand numbers back as floats; facts hold whole numbers as ints."""
    return None if value is None else int(value)


class _Plan:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.config: dict[str, Any] = plan.get("config", {})
        self.region = str(self.config.get("aws:region", "us-east-1"))
        self.account = str(self.config.get("phistack:account_id", "000000000000"))
        self.by_type: dict[str, list[Item]] = defaultdict(list)
        for r in plan.get("resources", []):
            if r.get("custom"):
                merged = {**r.get("computed", {}), **r.get("inputs", {}), "_id": r.get("id"), "_urn": r.get("urn")}
                self.by_type[r["type"]].append(merged)

    def of(self, token: str) -> list[Item]:
        return self.by_type.get(token, [])

    def declares(self, token: str) -> bool:
        return bool(self.by_type.get(token))


def _sg_rules_inline(rules: list[Item], own_id: str) -> list[Item]:
    out: list[Item] = []
    for r in rules or []:
        base = {
            "protocol": str(r.get("protocol", "-1")),
            "from_port": r.get("fromPort", 0),
            "to_port": r.get("toPort", 0),
        }
        peers = (
            [("cidr", c) for c in r.get("cidrBlocks", [])]
            + [("ipv6", c) for c in r.get("ipv6CidrBlocks", [])]
            + [("security_group", g) for g in r.get("securityGroups", [])]
            + [("prefix_list", p) for p in r.get("prefixListIds", [])]
            + ([("security_group", own_id)] if r.get("self") else [])
        )
        out.extend({**base, k: v} for k, v in peers)
    return out


def _sg_rule_resource(r: Item) -> Item:
    rule: Item = {
        "protocol": str(r.get("ipProtocol", "-1")),
        "from_port": r.get("fromPort", 0),
        "to_port": r.get("toPort", 0),
    }
    for src, dst in (
        ("cidrIpv4", "cidr"),
        ("cidrIpv6", "ipv6"),
        ("referencedSecurityGroupId", "security_group"),
        ("prefixListId", "prefix_list"),
    ):
        if r.get(src):
            rule[dst] = r[src]
    return rule


def _network(p: _Plan, f: Facts) -> None:
    region = p.region
    vpcs = p.of("aws:ec2/vpc:Vpc")
    f.add(
        "vpcs",
        [
            {
                "id": v["_id"],
                "region": region,
                "cidr": v.get("cidrBlock"),
                "is_default": False,
                "tags": v.get("tags", {}),
            }
            for v in vpcs
        ],
    )
    subnets = p.of("aws:ec2/subnet:Subnet")
    subnet_vpc = {s["_id"]: s.get("vpcId") for s in subnets}
    f.add(
        "subnets",
        [
            {
                "id": s["_id"],
                "region": region,
                "vpc_id": s.get("vpcId"),
                "map_public_ip_on_launch": bool(s.get("mapPublicIpOnLaunch", False)),
            }
            for s in subnets
        ],
    )
    attachments = defaultdict(list)
    for a in p.of("aws:ec2/internetGatewayAttachment:InternetGatewayAttachment"):
        attachments[a.get("internetGatewayId")].append(a.get("vpcId"))
    f.add(
        "internet_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_ids": [g["vpcId"]] if g.get("vpcId") else attachments[g["_id"]]}
            for g in p.of("aws:ec2/internetGateway:InternetGateway")
        ],
    )
    f.add(
        "nat_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_id": subnet_vpc.get(g.get("subnetId")), "state": "available"}
            for g in p.of("aws:ec2/natGateway:NatGateway")
        ],
    )
    f.add(
        "egress_only_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_ids": [g.get("vpcId")]}
            for g in p.of("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")
        ],
    )

    target_keys = (
        "gatewayId",
        "natGatewayId",
        "transitGatewayId",
        "egressOnlyGatewayId",
        "networkInterfaceId",
        "vpcPeeringConnectionId",
        "vpcEndpointId",
    )
    extra_routes = defaultdict(list)
    for r in p.of("aws:ec2/route:Route"):
        extra_routes[r.get("routeTableId")].append(r)

    def route(r: Item, v4: str, v6: str) -> Item:
        return {"destination": r.get(v4) or r.get(v6), "target": next((r[k] for k in target_keys if r.get(k)), None)}

    tables = []
    for v in vpcs:  # the main route table AWS creates with every VPC: its local route only
        tables.append(
            {
                "id": f"{v['_id']}-main",
                "region": region,
                "vpc_id": v["_id"],
                "routes": [{"destination": v.get("cidrBlock"), "target": "local"}],
            }
        )
    for t in p.of("aws:ec2/routeTable:RouteTable"):
        routes = [route(r, "cidrBlock", "ipv6CidrBlock") for r in t.get("routes", [])]
        routes += [route(r, "destinationCidrBlock", "destinationIpv6CidrBlock") for r in extra_routes[t["_id"]]]
        tables.append({"id": t["_id"], "region": region, "vpc_id": t.get("vpcId"), "routes": routes})
    f.add("route_tables", tables)

    ingress, egress = defaultdict(list), defaultdict(list)
    for r in p.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        ingress[r.get("securityGroupId")].append(_sg_rule_resource(r))
    for r in p.of("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        egress[r.get("securityGroupId")].append(_sg_rule_resource(r))
    for r in p.of("aws:ec2/securityGroupRule:SecurityGroupRule"):
        rule = _sg_rule_resource(
            {
                **r,
                "ipProtocol": r.get("protocol"),
                "cidrIpv4": (r.get("cidrBlocks") or [None])[0],
                "referencedSecurityGroupId": r.get("sourceSecurityGroupId"),
            }
        )
        (ingress if r.get("type") == "ingress" else egress)[r.get("securityGroupId")].append(rule)
    groups = []
    for g in p.of("aws:ec2/securityGroup:SecurityGroup"):
        groups.append(
            {
                "id": g["_id"],
                "region": region,
                "vpc_id": g.get("vpcId"),
                "name": g.get("name", g["_id"]),
                "is_default": False,
                "ingress": _sg_rules_inline(g.get("ingress", []), g["_id"]) + ingress[g["_id"]],
                "egress": _sg_rules_inline(g.get("egress", []), g["_id"]) + egress[g["_id"]],
            }
        )
    managed_default = {d.get("vpcId"): d for d in p.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")}
    for v in vpcs:
        sg_id = v.get("defaultSecurityGroupId", f"{v['_id']}-default-sg")
        d = managed_default.get(v["_id"])
        rules = (
            (_sg_rules_inline(d.get("ingress", []), sg_id), _sg_rules_inline(d.get("egress", []), sg_id))
            if d
            else ([{**ALL, "security_group": sg_id}], [{**ALL, "cidr": "0.0.0.0/0"}])
        )
        groups.append(
            {
                "id": sg_id,
                "region": region,
                "vpc_id": v["_id"],
                "name": "default",
                "is_default": True,
                "ingress": rules[0],
                "egress": rules[1],
            }
        )
    f.add("security_groups", groups)

    def entries(acl: Item) -> list[Item]:
        return [
            {
                "egress": egress_flag,
                "rule_no": e.get("ruleNo"),
                "protocol": str(e.get("protocol")),
                "action": e.get("action"),
                "cidr": e.get("cidrBlock") or e.get("ipv6CidrBlock"),
                "from_port": e.get("fromPort"),
                "to_port": e.get("toPort"),
            }
            for egress_flag, key in ((False, "ingress"), (True, "egress"))
            for e in acl.get(key, [])
        ]

    acl_rules = defaultdict(list)
    for r in p.of("aws:ec2/networkAclRule:NetworkAclRule"):
        acl_rules[r.get("networkAclId")].append(
            {
                "egress": bool(r.get("egress")),
                "rule_no": r.get("ruleNumber"),
                "protocol": str(r.get("protocol")),
                "action": r.get("ruleAction"),
                "cidr": r.get("cidrBlock"),
                "from_port": r.get("fromPort"),
                "to_port": r.get("toPort"),
            }
        )
    acls = [
        {
            "id": a["_id"],
            "region": region,
            "vpc_id": a.get("vpcId"),
            "is_default": False,
            "entries": entries(a) + acl_rules[a["_id"]],
        }
        for a in p.of("aws:ec2/networkAcl:NetworkAcl")
    ]
    managed_acl = {d.get("defaultNetworkAclId"): d for d in p.of("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")}
    for v in vpcs:
        acl_id = v.get("defaultNetworkAclId", f"{v['_id']}-default-acl")
        d = managed_acl.get(acl_id)
        default_entries = (
            entries(d)
            if d
            else [
                {
                    "egress": e,
                    "rule_no": 100,
                    "protocol": "-1",
                    "action": "allow",
                    "cidr": "0.0.0.0/0",
                    "from_port": 0,
                    "to_port": 65535,
                }
                for e in (False, True)
            ]
        )
        acls.append(
            {"id": acl_id, "region": region, "vpc_id": v["_id"], "is_default": True, "entries": default_entries}
        )
    f.add("network_acls", acls)

    f.add(
        "flow_logs",
        [
            {
                "id": fl["_id"],
                "region": region,
                "resource_id": fl.get("vpcId") or fl.get("subnetId") or fl.get("eniId"),
                "traffic_type": fl.get("trafficType"),
                "destination_type": fl.get("logDestinationType", "cloud-watch-logs"),
                "destination": fl.get("logDestination"),
            }
            for fl in p.of("aws:ec2/flowLog:FlowLog")
        ],
    )
    prefix = f"com.amazonaws.{region}."
    f.add(
        "vpc_endpoints",
        [
            {
                "id": e["_id"],
                "region": region,
                "vpc_id": e.get("vpcId"),
                "service": str(e.get("serviceName", "")).removeprefix(prefix),
                "type": e.get("vpcEndpointType", "Gateway"),
                "private_dns": e.get("privateDnsEnabled", False),
                "prefix_list_id": e.get("prefixListId"),
            }
            for e in p.of("aws:ec2/vpcEndpoint:VpcEndpoint")
        ],
    )


def _compute(p: _Plan, f: Facts) -> None:
    region = p.region
    defaults = p.of("aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults")
    account_tokens = defaults[0].get("httpTokens") if defaults else None
    account_hops = defaults[0].get("httpPutResponseHopLimit") if defaults else None
    subnet_public = {s["_id"]: bool(s.get("mapPublicIpOnLaunch")) for s in p.of("aws:ec2/subnet:Subnet")}
    instances, volumes = [], []
    for i in p.of("aws:ec2/instance:Instance"):
        meta = i.get("metadataOptions") or {}
        public = i.get("associatePublicIpAddress")
        if public is None:
            public = subnet_public.get(i.get("subnetId"), False)
        instances.append(
            {
                "id": i["_id"],
                "arn": i.get("arn"),
                "region": region,
                "state": "running",
                "public_ip": "(assigned at launch)" if public else None,
                "imds_http_tokens": meta.get("httpTokens") or account_tokens or "optional",
                "imds_hop_limit": _int(meta.get("httpPutResponseHopLimit") or account_hops or 1),
                "instance_profile_arn": i.get("iamInstanceProfile") or None,
                "subnet_id": i.get("subnetId"),
                "vpc_id": None,
            }
        )
        root = i.get("rootBlockDevice") or {}
        volumes.append(
            {
                "id": f"{i['_id']}-root",
                "region": region,
                "encrypted": bool(root.get("encrypted")),
                "kms_key_id": root.get("kmsKeyId"),
            }
        )
    f.add("instances", instances)
    f.add(
        "launch_templates",
        [
            {
                "id": t["_id"],
                "name": t.get("name", t["_id"]),
                "region": region,
                "imds_http_tokens": (t.get("metadataOptions") or {}).get("httpTokens") or account_tokens or "optional",
            }
            for t in p.of("aws:ec2/launchTemplate:LaunchTemplate")
        ],
    )
    volumes += [
        {"id": v["_id"], "region": region, "encrypted": bool(v.get("encrypted")), "kms_key_id": v.get("kmsKeyId")}
        for v in p.of("aws:ebs/volume:Volume")
    ]
    f.add("volumes", volumes)
    ebs_default = p.of("aws:ebs/encryptionByDefault:EncryptionByDefault")
    if ebs_default:
        key = p.of("aws:ebs/defaultKmsKey:DefaultKmsKey")
        f.add(
            "ebs_encryption_defaults",
            [
                {
                    "region": region,
                    "enabled": bool(ebs_default[0].get("enabled", True)),
                    "kms_key_id": key[0].get("keyArn") if key else None,
                }
            ],
        )
    else:
        f.missing(
            "ebs_encryption_defaults",
            Gap(
                "the plan does not manage EBS encryption by default (guardrail off); the live audit checks the account",
                "NOT_APPLICABLE",
            ),
        )
    f.missing("snapshots", Gap("snapshots are taken after deployment; the live audit checks them", "NOT_APPLICABLE"))
    f.missing(
        "hosts",
        Gap("hosts are probed once installed (playbooks/verify.yml, then audit --host-evidence)", "NOT_APPLICABLE"),
    )
    f.missing(
        "ssm_managed_instances", Gap("instances register with Systems Manager only once running", "NOT_APPLICABLE")
    )


def _data(p: _Plan, f: Facts) -> None:
    region = p.region
    f.add(
        "kms_keys",
        [
            {
                "id": k.get("keyId", k["_id"]),
                "arn": k.get("arn"),
                "region": region,
                "manager": "CUSTOMER",
                "state": "Enabled",
                "spec": k.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
                "rotation_enabled": bool(k.get("enableKeyRotation")),
                "deletion_date": None,
                "policy": k.get("policy"),
            }
            for k in p.of("aws:kms/key:Key")
        ],
    )

    def per_bucket(token: str) -> dict[Any, Item]:
        return {r.get("bucket"): r for r in p.of(token)}

    enc = per_bucket("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    pol = per_bucket("aws:s3/bucketPolicy:BucketPolicy")
    pab = per_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    own = per_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    ver = per_bucket("aws:s3/bucketVersioning:BucketVersioning")
    log = per_bucket("aws:s3/bucketLogging:BucketLogging")
    lock = per_bucket("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    buckets = []
    for b in p.of("aws:s3/bucket:Bucket"):
        name = b.get("bucket", b["_id"])
        rule = ((enc.get(name) or {}).get("rules") or [{}])[0].get("applyServerSideEncryptionByDefault") or {}
        flags = pab.get(name)
        lock_rule = ((lock.get(name) or {}).get("rule") or {}).get("defaultRetention") or {}
        buckets.append(
            {
                "name": name,
                "arn": b.get("arn", f"arn:aws:s3:::{name}"),
                "region": region,
                "encryption": {
                    "algorithm": rule.get("sseAlgorithm", "AES256"),
                    "kms_key_id": rule.get("kmsMasterKeyId"),
                },
                "policy": (pol.get(name) or {}).get("policy"),
                "public_access_block": {
                    k: bool(flags.get(c, True))
                    for k, c in (
                        ("block_public_acls", "blockPublicAcls"),
                        ("ignore_public_acls", "ignorePublicAcls"),
                        ("block_public_policy", "blockPublicPolicy"),
                        ("restrict_public_buckets", "restrictPublicBuckets"),
                    )
                }
                if flags
                else {
                    k: True
                    for k in (
                        "block_public_acls",
                        "ignore_public_acls",
                        "block_public_policy",
                        "restrict_public_buckets",
                    )
                },
                "ownership": ((own.get(name) or {}).get("rule") or {}).get("objectOwnership", "BucketOwnerEnforced"),
                "acl_grants": [],
                "versioning": ((ver.get(name) or {}).get("versioningConfiguration") or {}).get("status"),
                "object_lock": {
                    "enabled": bool(b.get("objectLockEnabled")),
                    "mode": lock_rule.get("mode"),
                    "days": lock_rule.get("days"),
                },
                "logging_target": (log.get(name) or {}).get("targetBucket"),
                "tags": b.get("tags", {}),
            }
        )
    f.add("buckets", buckets)
    account_pab = p.of("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
    if account_pab:
        a = account_pab[0]
        f.add(
            "account_public_access_block",
            [
                {
                    "region": "global",
                    "block_public_acls": bool(a.get("blockPublicAcls")),
                    "ignore_public_acls": bool(a.get("ignorePublicAcls")),
                    "block_public_policy": bool(a.get("blockPublicPolicy")),
                    "restrict_public_buckets": bool(a.get("restrictPublicBuckets")),
                }
            ],
        )
    else:
        f.missing(
            "account_public_access_block",
            Gap("the plan does not manage the account's S3 public access block", "NOT_APPLICABLE"),
        )
    clusters = []
    instances = p.of("aws:rds/clusterInstance:ClusterInstance")
    groups: dict[Any, Item] = {
        g.get("name", g["_id"]): g for g in p.of("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    }
    for c in p.of("aws:rds/cluster:Cluster"):
        group = groups.get(c.get("dbClusterParameterGroupName")) or {}
        clusters.append(
            {
                "id": c.get("clusterIdentifier", c["_id"]),
                "arn": c.get("arn"),
                "region": region,
                "engine": c.get("engine"),
                "storage_encrypted": bool(c.get("storageEncrypted")),
                "kms_key_id": c.get("kmsKeyId"),
                "iam_auth": bool(c.get("iamDatabaseAuthenticationEnabled")),
                "backup_retention_days": _int(c.get("backupRetentionPeriod", 1)),
                "publicly_accessible": any(i.get("publiclyAccessible") for i in instances),
                "parameters": {prm["name"]: prm["value"] for prm in group.get("parameters", [])},
            }
        )
    f.add("db_clusters", clusters)


def _logging(p: _Plan, f: Facts) -> None:
    region = p.region
    trails = []
    for t in p.of("aws:cloudtrail/trail:Trail"):
        data_buckets: list[str] = []
        management = True
        for sel in t.get("eventSelectors", []):
            management = management and sel.get("includeManagementEvents", True)
            for res in sel.get("dataResources", []):
                if res.get("type") == "AWS::S3::Object":
                    for v in res.get("values", []):
                        name = str(v).removeprefix("arn:aws:s3:::").removeprefix("arn:aws-us-gov:s3:::").split("/")[0]
                        data_buckets.append(name or "*")
        trails.append(
            {
                "name": t.get("name", t["_id"]),
                "arn": t.get("arn"),
                "region": region,
                "home_region": region,
                "multi_region": bool(t.get("isMultiRegionTrail")),
                "logging": bool(t.get("enableLogging", True)),
                "log_file_validation": bool(t.get("enableLogFileValidation")),
                "kms_key_id": t.get("kmsKeyId"),
                "cloudwatch_logs_group_arn": t.get("cloudWatchLogsGroupArn"),
                "s3_bucket": t.get("s3BucketName"),
                "data_event_buckets": data_buckets,
                "management_events": management,
            }
        )
    f.add("trails", trails)
    f.add(
        "log_groups",
        [
            {
                "name": g.get("name"),
                "arn": g.get("arn"),
                "region": region,
                "kms_key_id": g.get("kmsKeyId"),
                "retention_days": g.get("retentionInDays") or None,
            }
            for g in p.of("aws:cloudwatch/logGroup:LogGroup")
        ],
    )
    f.add(
        "metric_filters",
        [
            {
                "name": m.get("name"),
                "region": region,
                "log_group": m.get("logGroupName"),
                "pattern": m.get("pattern"),
                "metric_name": (m.get("metricTransformation") or {}).get("name"),
                "metric_namespace": (m.get("metricTransformation") or {}).get("namespace"),
            }
            for m in p.of("aws:cloudwatch/logMetricFilter:LogMetricFilter")
        ],
    )
    f.add(
        "metric_alarms",
        [
            {
                "name": a.get("name"),
                "arn": a.get("arn"),
                "region": region,
                "metric_name": a.get("metricName"),
                "namespace": a.get("namespace"),
                "actions": a.get("alarmActions", []),
                "actions_enabled": a.get("actionsEnabled", True),
            }
            for a in p.of("aws:cloudwatch/metricAlarm:MetricAlarm")
        ],
    )
    f.add(
        "sns_topics",
        [
            {"arn": t.get("arn"), "region": region, "kms_key_id": t.get("kmsMasterKeyId")}
            for t in p.of("aws:sns/topic:Topic")
        ],
    )
    detectors = p.of("aws:guardduty/detector:Detector")
    if detectors:
        f.add(
            "guardduty_detectors",
            [
                {"id": d["_id"], "region": region, "status": "ENABLED" if d.get("enable", True) else "DISABLED"}
                for d in detectors
            ],
        )
    else:
        f.missing("guardduty_detectors", Gap("the plan does not manage GuardDuty (guardrail off)", "NOT_APPLICABLE"))
    recorders = p.of("aws:cfg/recorder:Recorder")
    if recorders:
        status = {s.get("name"): s for s in p.of("aws:cfg/recorderStatus:RecorderStatus")}
        f.add(
            "config_recorders",
            [
                {
                    "name": r.get("name"),
                    "region": region,
                    "recording": bool((status.get(r.get("name")) or {}).get("isEnabled")),
                    "all_supported": bool((r.get("recordingGroup") or {}).get("allSupported")),
                }
                for r in recorders
            ],
        )
    else:
        f.missing(
            "config_recorders", Gap("the plan does not manage an AWS Config recorder (guardrail off)", "NOT_APPLICABLE")
        )


def _identity(p: _Plan, f: Facts) -> None:
    f.add(
        "iam_policies",
        [
            {
                "arn": f"{r['_urn']}",
                "name": r.get("name", r["_id"]),
                "kind": "inline",
                "attached": True,
                "document": r.get("policy"),
            }
            for r in p.of("aws:iam/rolePolicy:RolePolicy")
        ]
        + [
            {
                "arn": r.get("arn"),
                "name": r.get("name", r["_id"]),
                "kind": "managed",
                "attached": True,
                "document": r.get("policy"),
            }
            for r in p.of("aws:iam/policy:Policy")
        ],
    )
    account_state = Gap(
        "the root user and IAM users are account state outside the stack; the live audit checks them", "NOT_APPLICABLE"
    )
    f.missing("iam_root", account_state)
    f.missing("iam_users", account_state)


# Pulumi module (and, for ec2, resource) -> the service key used by the HIPAA-eligible list.
_SERVICE_OF_MODULE = {
    "ebs": "ebs",
    "s3": "s3",
    "kms": "kms",
    "cloudtrail": "cloudtrail",
    "sns": "sns",
    "ssm": "ssm",
    "iam": "iam",
    "lb": "elasticloadbalancing",
    "rds": "rds",
    "guardduty": "guardduty",
    "cfg": "config",
    "vpc": "vpc",
    "ec2transitgateway": "transitgateway",
    "ec2clientvpn": "clientvpn",
    "secretsmanager": "secretsmanager",
    "ecr": "ecr",
}
_EC2_COMPUTE = {"instance", "launchTemplate", "instanceMetadataDefaults", "volumeAttachment"}


def _service(token: str) -> str:
    module, resource = token.split(":")[1].split("/")
    if module == "ec2":
        return "ec2" if resource in _EC2_COMPUTE else "vpc"
    if module == "cloudwatch":
        return "cloudwatch" if resource.startswith("metric") else "logs"
    return _SERVICE_OF_MODULE.get(module, module)


# Kinds of fact no plan can hold, whatever the stack: they exist only in a running account or on installed hosts.
PLAN_CANNOT_KNOW = ("snapshots", "ssm_managed_instances", "iam_root", "iam_users", "hosts")


def facts_from_plan(plan: dict[str, Any]) -> Facts:
    """The facts a plan declares, judged against its ``context``. The policy pack's document has none (CrossGuard
    hands a policy the resources, not the stack file): the defaults then stand, six years and the base endpoints."""
    p = _Plan(plan)
    context = Context.of(plan["context"]) if "context" in plan else Context()
    facts = Facts("plan", p.account, [p.region], context=context)
    for part in (_network, _compute, _data, _logging, _identity):
        part(p, facts)
    services: dict[str, str] = {}
    for token, items in p.by_type.items():
        if token.startswith("aws:"):
            services.setdefault(_service(token), f"{token} ({len(items)} declared)")
    facts.add(
        "services_in_use", [{"service": s, "evidence": e, "region": "global"} for s, e in sorted(services.items())]
    )
    return facts
