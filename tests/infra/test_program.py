"""The Pulumi program under mocks: properties of the recorded resources, per variant."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.alarms import SECURITY_ALARMS
from infra.config import INTERFACE_ENDPOINTS, SIX_YEARS_DAYS, ClientConfig
from infra.plan import Plan, PlannedResource, run_plan
from tests.conftest import SECURE_VARIANTS, VARIANTS, variant_raw

Planned = Callable[[str], tuple[ClientConfig, Plan]]

BUCKET = "aws:s3/bucket:Bucket"
INSTANCE = "aws:ec2/instance:Instance"
FORBIDDEN_GATEWAYS = (
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
    "aws:ec2/eip:Eip",
)


def by_bucket(plan: Plan, type_token: str) -> dict[str, PlannedResource]:
    """Bucket-scoped resources (policy, encryption...) keyed by the bucket name they apply to."""
    return {r.inputs["bucket"]: r for r in plan.of_type(type_token)}


def statements(document: str) -> list[dict[str, Any]]:
    parsed = json.loads(document)
    assert parsed["Version"] == "2012-10-17"
    return list(parsed["Statement"])


def default_routes(plan: Plan) -> list[str]:
    found = []
    for r in plan.of_type("aws:ec2/route:Route"):
        if r.inputs.get("destinationCidrBlock") == "0.0.0.0/0" or r.inputs.get("destinationIpv6CidrBlock") == "::/0":
            found.append(r.name)
    for r in plan.of_type("aws:ec2/routeTable:RouteTable"):
        for route in r.inputs.get("routes", []):
            if route.get("cidrBlock") == "0.0.0.0/0" or route.get("ipv6CidrBlock") == "::/0":
                found.append(r.name)
    return found


@pytest.mark.parametrize("variant", SECURE_VARIANTS)
def test_no_path_to_the_internet(planned: Planned, variant: str) -> None:
    _, plan = planned(variant)
    present = sorted({r.type for r in plan.resources if r.type in FORBIDDEN_GATEWAYS})
    assert present == []
    assert default_routes(plan) == []
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in plan.of_type("aws:ec2/subnet:Subnet"))


def test_the_internet_checks_can_fail(planned: Planned) -> None:
    """The opt-out really adds the egress path the checks above look for."""
    _, plan = planned("internet-egress-optout")
    ipv4_path = set(FORBIDDEN_GATEWAYS) - {"aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway"}
    assert {t for t in FORBIDDEN_GATEWAYS if plan.of_type(t)} == ipv4_path
    assert len(default_routes(plan)) == 1 + 2  # the public table, and one per private table (2 AZs)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_instance_is_private_imdsv2_and_encrypted(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    ebs_key = plan.outputs["kms_key_arns"]["ebs"]
    instances = plan.of_type(INSTANCE)
    assert len(instances) == cfg.gpu.count
    for inst in instances:
        i = inst.inputs
        assert i["metadataOptions"]["httpTokens"] == "required"
        assert i["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert i["associatePublicIpAddress"] is False
        assert "keyName" not in i
        assert i["rootBlockDevice"]["encrypted"] is True and i["rootBlockDevice"]["kmsKeyId"] == ebs_key
        assert i["monitoring"] is True
        assert i["iamInstanceProfile"]
        assert i["instanceType"] == cfg.gpu.instance_type
        assert i["subnetId"] in plan.outputs["app_subnet_ids"]
    volumes = plan.of_type("aws:ebs/volume:Volume")
    assert len(volumes) == cfg.gpu.count
    assert all(v.inputs["encrypted"] is True and v.inputs["kmsKeyId"] == ebs_key for v in volumes)


def test_the_document_bucket_feeds_an_encrypted_tls_only_event_queue(planned: Planned) -> None:
    """Issue 16: created and removed objects (versions and delete markers too) go to a queue under the data key,
    which only the document bucket may send to and nothing reaches without TLS; a dead-letter queue beside it; the
    hosts may consume and dead-letter, nothing more; the data key lets S3 encrypt for the queue."""
    _, plan = planned("example")
    docs, data_key = plan.outputs["buckets"]["docs"], plan.outputs["kms_key_arns"]["data"]
    queues = {q.inputs["name"]: q.inputs for q in plan.of_type("aws:sqs/queue:Queue")}
    events, dead = queues["phistack-example-clinic-docs-events"], queues["phistack-example-clinic-docs-events-dlq"]
    assert events["kmsMasterKeyId"] == dead["kmsMasterKeyId"] == data_key
    redrive = json.loads(events["redrivePolicy"])
    assert redrive["maxReceiveCount"] == 5 and redrive["deadLetterTargetArn"].endswith("-docs-events-dlq")
    (notification,) = plan.of_type("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == docs
    assert notification.inputs["queues"][0]["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    for policy in plan.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        found = statements(policy.inputs["policy"])
        deny = [st for st in found if st["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for allow in (st for st in found if st["Effect"] == "Allow"):
            assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
            assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{docs}"
    host_policy = next(r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if "least-privilege" in r.name)
    sids = {st["Sid"]: st for st in statements(host_policy.inputs["policy"])}
    assert set(sids["ConsumeDocumentEvents"]["Action"]) == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"
    }  # fmt: skip
    assert sids["DeadLetterUnreadableDocuments"]["Action"] == ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    data = next(k for k in plan.of_type("aws:kms/key:Key") if "data" in k.name)
    s3_use = [st for st in statements(data.inputs["policy"]) if st.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert s3_use and s3_use[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": plan.outputs["account_id"]}}
    assert plan.outputs["docs_events"]["queue_url"].endswith("/phistack-example-clinic-docs-events")


@pytest.mark.parametrize("variant", ["example", "aurora"])
def test_every_bucket_is_hardened(planned: Planned, variant: str) -> None:
    _, plan = planned(variant)
    key_arns = set(plan.outputs["kms_key_arns"].values())
    buckets = [b.inputs["bucket"] for b in plan.of_type(BUCKET)]
    assert sorted(buckets) == sorted(plan.outputs["buckets"].values())
    encryption = by_bucket(
        plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    blocks = by_bucket(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    policies = by_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")
    ownership = by_bucket(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    versioning = by_bucket(plan, "aws:s3/bucketVersioning:BucketVersioning")
    logging = by_bucket(plan, "aws:s3/bucketLogging:BucketLogging")
    for name in buckets:
        rule = encryption[name].inputs["rules"][0]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] in key_arns
        assert all(
            blocks[name].inputs[flag] is True
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        sts = statements(policies[name].inputs["policy"])
        tls = [s for s in sts if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Principal"] == "*"
        assert all(s["Principal"] != "*" for s in sts if s["Effect"] == "Allow")
        assert ownership[name].inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        assert versioning[name].inputs["versioningConfiguration"]["status"] == "Enabled"
    access_logs = plan.outputs["buckets"]["access_logs"]
    assert set(logging) == set(buckets) - {access_logs}
    assert {r.inputs["targetBucket"] for r in logging.values()} == {access_logs}


def test_audit_archive_has_object_lock_in_compliance_mode(planned: Planned) -> None:
    cfg, plan = planned("example")
    archive = plan.outputs["buckets"]["audit_logs"]
    locked = [b for b in plan.of_type(BUCKET) if b.inputs.get("objectLockEnabled")]
    assert [b.inputs["bucket"] for b in locked] == [archive]
    (lock,) = plan.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["bucket"] == archive
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": cfg.audit_log_lock_days}


def test_trail_is_multi_region_validated_encrypted_and_records_phi_access(planned: Planned) -> None:
    _, plan = planned("example")
    (trail,) = plan.of_type("aws:cloudtrail/trail:Trail")
    t = trail.inputs
    assert t["isMultiRegionTrail"] is True and t["includeGlobalServiceEvents"] is True
    assert t["enableLogFileValidation"] is True and t["enableLogging"] is True
    assert t["kmsKeyId"] == plan.outputs["kms_key_arns"]["logs"]
    assert t["s3BucketName"] == plan.outputs["buckets"]["audit_logs"]
    assert t["cloudWatchLogsGroupArn"].endswith(f"log-group:{plan.outputs['log_groups']['cloudtrail']}:*")
    (selector,) = t["eventSelectors"]
    assert selector["includeManagementEvents"] is True and selector["readWriteType"] == "All"
    assert selector["dataResources"] == [
        {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{plan.outputs['buckets']['docs']}/"]}
    ]


@pytest.mark.parametrize("variant", ["example", "aurora"])
def test_endpoints(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    endpoints = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    services = {
        e.inputs["serviceName"].rsplit(".", 1)[-1]
        if "ecr" not in e.inputs["serviceName"]
        else e.inputs["serviceName"].split(f"{cfg.region}.")[1]: e
        for e in endpoints
    }
    expected = {*INTERFACE_ENDPOINTS, "s3"} | ({"secretsmanager"} if variant == "aurora" else set())
    assert set(services) == expected
    gateway = services.pop("s3").inputs
    assert gateway["vpcEndpointType"] == "Gateway"
    assert sorted(gateway["routeTableIds"]) == sorted(r.id for r in plan.of_type("aws:ec2/routeTable:RouteTable"))
    allowed = {res for s in statements(gateway["policy"]) for res in s["Resource"]}
    own = {
        f"arn:aws:s3:::{b}"
        for k, b in plan.outputs["buckets"].items()
        if k in ("docs", "artifacts", "ssm_transfer", "db_archive", "audit_logs")  # audit_logs: the anchors
    }
    assert own | {f"{a}/*" for a in own} <= allowed
    assert all(a.split(":::")[1].split("/")[0] in {b.split(":::")[1] for b in own} or cfg.region in a for a in allowed)
    for endpoint in services.values():
        assert endpoint.inputs["vpcEndpointType"] == "Interface"
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert len(endpoint.inputs["subnetIds"]) == cfg.az_count
    sg = plan.outputs["vpc_endpoint_ids"]  # every endpoint is also a stack output
    assert set(sg) == expected
    ingress = [
        r.inputs
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "endpoints" in r.name
    ]
    assert ingress == [{**ingress[0], "fromPort": 443, "toPort": 443, "ipProtocol": "tcp", "cidrIpv4": cfg.vpc_cidr}]


@pytest.mark.parametrize("variant", ["example", "transit-gateway", "client-vpn", "multi-host", "aurora"])
def test_security_groups_admit_only_the_private_access_path(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    for rule in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        cidr = rule.inputs.get("cidrIpv4")
        assert cidr != "0.0.0.0/0" and "cidrIpv6" not in rule.inputs
        if cidr is not None:
            assert ipaddress.ip_network(cidr).is_private
        assert rule.inputs["fromPort"] in (443, cfg.gateway_port, 5432)
    for rule in plan.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        target = rule.inputs.get("cidrIpv4")
        assert target in (None, cfg.vpc_cidr), rule.name
        assert rule.inputs["fromPort"] in (443, cfg.gateway_port, 5432)
    for sg in plan.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not sg.inputs.get("ingress") and not sg.inputs.get("egress"), "rules are separate resources"
    (default_sg,) = plan.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs["ingress"] == [] and default_sg.inputs["egress"] == []
    host_sg = plan.outputs["gpu_security_group_id"]
    host_ingress = [
        r.inputs
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == host_sg
    ]
    expected_sources = {"example": 0, "aurora": 0, "transit-gateway": 2, "client-vpn": 1, "multi-host": 1}[variant]
    assert len(host_ingress) == expected_sources
    assert all(r["fromPort"] == r["toPort"] == cfg.gateway_port for r in host_ingress)


def test_network_layout(planned: Planned) -> None:
    cfg, plan = planned("multi-host")
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 2 * cfg.az_count
    blocks = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in subnets]
    assert all(b.subnet_of(cfg.network) for b in blocks)  # type: ignore[arg-type]
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert len({s.inputs["availabilityZone"] for s in subnets}) == cfg.az_count
    (vpc,) = plan.of_type("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    (flow,) = plan.of_type("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL" and flow.inputs["logDestinationType"] == "cloud-watch-logs"
    (default_nacl,) = plan.of_type("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
    assert default_nacl.inputs["ingress"] == [] and default_nacl.inputs["egress"] == []
    (nacl,) = plan.of_type("aws:ec2/networkAcl:NetworkAcl")
    assert sorted(nacl.inputs["subnetIds"]) == sorted(s.id for s in subnets)
    for rule in nacl.inputs["ingress"]:
        if rule["cidrBlock"] == "0.0.0.0/0":  # return traffic only: never SSH or RDP
            assert rule["protocol"] == "6" and rule["fromPort"] > 3389


@pytest.mark.parametrize("variant", ["example", "aurora", "client-vpn"])
def test_log_groups_are_encrypted_and_kept_six_years(planned: Planned, variant: str) -> None:
    _, plan = planned(variant)
    groups = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) >= 6
    for g in groups:
        assert g.inputs["kmsKeyId"] == plan.outputs["kms_key_arns"]["logs"], g.inputs["name"]
        assert g.inputs["retentionInDays"] == SIX_YEARS_DAYS, g.inputs["name"]


def test_keys_rotate_and_grant_no_anonymous_use(planned: Planned) -> None:
    cfg, plan = planned("example")
    keys = plan.of_type("aws:kms/key:Key")
    assert len(keys) == 3
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        for s in statements(key.inputs["policy"]):
            assert s["Principal"] != "*" and s["Principal"] != {"AWS": "*"}
            if "Service" in s["Principal"]:
                assert "Condition" in s, s["Sid"]
        admins = [s for s in statements(key.inputs["policy"]) if s["Sid"] == "KeyAdministratorsCannotUseTheKey"]
        assert admins[0]["Principal"]["AWS"] == cfg.admin_role_arns
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:*"} & set(admins[0]["Action"])


def test_alarms_cover_the_security_events_and_notify_an_encrypted_topic(planned: Planned) -> None:
    _, plan = planned("example")
    filters = plan.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    alarms = plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(filters) == len(alarms) == len(SECURITY_ALARMS)
    names = {a.inputs["metricName"] for a in alarms}
    for needed in (
        "root-account-usage",
        "iam-policy-changes",
        "security-group-changes",
        "nacl-changes",
        "route-table-changes",
        "vpc-changes",
        "console-auth-failures",
        "access-denied-burst",
    ):
        assert needed in names
    assert all(a.inputs["alarmActions"] == [plan.outputs["alarm_topic_arn"]] for a in alarms)
    assert all(f.inputs["logGroupName"] == plan.outputs["log_groups"]["cloudtrail"] for f in filters)
    (topic,) = plan.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == plan.outputs["kms_key_arns"]["logs"]
    (session_prefs,) = plan.of_type("aws:ssm/document:Document")
    inputs = json.loads(session_prefs.inputs["content"])["inputs"]
    assert inputs["cloudWatchEncryptionEnabled"] is True
    assert inputs["cloudWatchLogGroupName"] == plan.outputs["log_groups"]["ssm_sessions"]


def test_aurora_vector_store(planned: Planned) -> None:
    cfg, plan = planned("aurora")
    (cluster,) = plan.of_type("aws:rds/cluster:Cluster")
    c = cluster.inputs
    assert c["storageEncrypted"] is True and c["kmsKeyId"] == plan.outputs["kms_key_arns"]["data"]
    assert c["iamDatabaseAuthenticationEnabled"] is True and c["deletionProtection"] is True
    assert c["backupRetentionPeriod"] == 35 and c["skipFinalSnapshot"] is False
    assert c["enabledCloudwatchLogsExports"] == ["postgresql"]
    (params,) = plan.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    values = {p["name"]: p["value"] for p in params.inputs["parameters"]}
    assert values["rds.force_ssl"] == "1" and "pgaudit" in values["shared_preload_libraries"]
    assert values["pgaudit.log_parameter"] == "0"
    instances = plan.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert len(instances) == 2 and all(i.inputs["publiclyAccessible"] is False for i in instances)
    # The reader is pinned to another AZ than the writer (left to AWS, both may land in one).
    zones = {s.inputs["availabilityZone"] for s in plan.of_type("aws:ec2/subnet:Subnet")}
    assert len({i.inputs["availabilityZone"] for i in instances}) == 2 <= len(zones)
    assert {i.inputs["availabilityZone"] for i in instances} <= zones
    (subnet_group,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    assert sorted(subnet_group.inputs["subnetIds"]) == sorted(plan.outputs["data_subnet_ids"])
    rds_logs = [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.inputs["name"].startswith("/aws/rds/")]
    assert len(rds_logs) == 1
    # The hosts may log in as phistack_app (IAM) and read the owner's secret for migrations, and nothing else of RDS.
    (access,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-vector-db-host-access")]
    statements = {s["Sid"]: s for s in json.loads(access.inputs["policy"])["Statement"]}
    connect, secret = statements["ConnectAsTheApplicationRole"], statements["ReadTheOwnerSecretForMigrations"]
    assert connect["Action"] == "rds-db:connect" and connect["Resource"].startswith(
        f"arn:aws:rds-db:{cfg.region}:{cfg.account_id}:dbuser:cluster-"
    )
    assert connect["Resource"].endswith("/phistack_app") and "*" not in connect["Resource"]
    auditor = statements["ConnectAsTheAuditReader"]  # anchors, shipping and the trail's check, SELECT only
    assert auditor["Resource"] == connect["Resource"].replace("/phistack_app", "/phistack_auditor")
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    assert secret["Resource"] == plan.outputs["aurora"]["owner_secret_arn"] and len(statements) == 3
    assert access.inputs["role"] == plan.outputs["gpu_role_arn"].rsplit("/", 1)[1]
    _, host_plan = planned("example")
    assert not host_plan.of_type("aws:rds/cluster:Cluster") and host_plan.outputs["aurora_endpoint"] is None
    assert host_plan.outputs["aurora"] is None


def test_multi_host_has_internal_tls_load_balancer(planned: Planned) -> None:
    cfg, plan = planned("multi-host")
    (lb,) = plan.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["internal"] is True and lb.inputs["loadBalancerType"] == "network"
    (listener,) = plan.of_type("aws:lb/listener:Listener")
    assert listener.inputs["protocol"] == "TLS" and listener.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert listener.inputs["certificateArn"] == cfg.gateway_certificate_arn
    assert lb.inputs["enableDeletionProtection"] is True
    # Access logs go to the access-log bucket, which admits the log delivery service under that prefix only,
    # and the logs key lets it encrypt them.
    access_logs = plan.outputs["buckets"]["access_logs"]
    assert lb.inputs["accessLogs"] == {"bucket": access_logs, "prefix": "load-balancer", "enabled": True}
    policy = by_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")[access_logs]
    write = next(st for st in statements(policy.inputs["policy"]) if st["Sid"] == "LoadBalancerLogDeliveryWrite")
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"} and write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"arn:aws:s3:::{access_logs}/load-balancer/AWSLogs/{cfg.account_id}/*"
    assert write["Condition"]["StringEquals"] == {"aws:SourceAccount": cfg.account_id}
    logs_key = next(k for k in plan.of_type("aws:kms/key:Key") if "logs" in k.name)
    delivery = [s for s in statements(logs_key.inputs["policy"]) if s["Sid"] == "LoadBalancerAccessLogDelivery"]
    assert delivery and delivery[0]["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert len(plan.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")) == cfg.gpu.count
    # A host leaves rotation when its gateway is not ready (database or engine unreachable: /readyz is 503).
    (targets,) = plan.of_type("aws:lb/targetGroup:TargetGroup")
    check = targets.inputs["healthCheck"]
    assert (check["protocol"], check["path"], check["matcher"]) == ("HTTPS", "/readyz", "200")
    assert check["unhealthyThreshold"] * check["interval"] <= 30
    assert len({i.inputs["subnetId"] for i in plan.of_type(INSTANCE)}) == 3  # spread over the AZs
    _, single = planned("example")
    assert not single.of_type("aws:lb/loadBalancer:LoadBalancer")


def test_large_model_variant(planned: Planned) -> None:
    cfg, plan = planned("llama70b-multigpu")
    assert plan.outputs["model"] == "llama-3.1-70b-instruct"
    assert plan.of_type(INSTANCE)[0].inputs["instanceType"] == "g6e.12xlarge"
    assert plan.of_type("aws:ebs/volume:Volume")[0].inputs["size"] == 1000


def test_transit_gateway_routes_only_to_client_networks(planned: Planned) -> None:
    cfg, plan = planned("transit-gateway")
    (attachment,) = plan.of_type("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    assert sorted(attachment.inputs["subnetIds"]) == sorted(plan.outputs["app_subnet_ids"])
    routes = plan.of_type("aws:ec2/route:Route")
    assert len(routes) == cfg.az_count * len(cfg.access.client_cidrs)
    assert {r.inputs["destinationCidrBlock"] for r in routes} == set(cfg.access.client_cidrs)
    assert all(r.inputs["transitGatewayId"] == cfg.access.transit_gateway_id for r in routes)


def test_client_vpn_is_federated_split_tunnel_and_logged(planned: Planned) -> None:
    cfg, plan = planned("client-vpn")
    (endpoint,) = plan.of_type("aws:ec2clientvpn/endpoint:Endpoint")
    e = endpoint.inputs
    assert e["splitTunnel"] is True and e["connectionLogOptions"]["enabled"] is True
    assert e["authenticationOptions"][0]["type"] == "federated-authentication"
    assert e["dnsServers"] == ["10.40.0.2"]
    (rule,) = plan.of_type("aws:ec2clientvpn/authorizationRule:AuthorizationRule")
    assert rule.inputs["targetNetworkCidr"] == cfg.vpc_cidr


def test_guardrails_are_declared_and_switchable(planned: Planned) -> None:
    guardrail_types = {
        "aws:ebs/encryptionByDefault:EncryptionByDefault",
        "aws:ebs/defaultKmsKey:DefaultKmsKey",
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        "aws:iam/accountPasswordPolicy:AccountPasswordPolicy",
        "aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults",
        "aws:cfg/recorder:Recorder",
        "aws:cfg/deliveryChannel:DeliveryChannel",
        "aws:cfg/recorderStatus:RecorderStatus",
        "aws:guardduty/detector:Detector",
        "aws:ssm/document:Document",
    }
    _, plan = planned("example")
    assert guardrail_types <= {r.type for r in plan.resources}
    (imds,) = plan.of_type("aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults")
    assert imds.inputs["httpTokens"] == "required"
    _, off = planned("no-guardrails")
    assert not guardrail_types & {r.type for r in off.resources}
    assert off.outputs["guardduty_detector_id"] is None


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_everything_taggable_is_tagged(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    tagged = [r for r in plan.resources if r.custom and "tags" in r.inputs]
    assert len(tagged) > 40
    for r in tagged:
        assert r.inputs["tags"]["phistack:client"] == cfg.client, r.name
        assert r.inputs["tags"]["data-classification"] == "phi", r.name
        assert r.inputs["tags"]["cost-center"] == "clinical-ai", r.name


def test_outputs_carry_what_ansible_and_auditors_need(planned: Planned) -> None:
    _, plan = planned("example")
    out = plan.outputs
    assert out["gpu_instance_ids"] == [i.id for i in plan.of_type(INSTANCE)]
    assert set(out["buckets"]) == {"docs", "artifacts", "ssm_transfer", "audit_logs", "access_logs", "db_archive"}
    # The host engine's archive: its bucket, under the data key, kept for the backup retention (the vector_store
    # role's inputs through `phistack inventory`).
    assert out["db_archive"] == {
        "bucket": out["buckets"]["db_archive"],
        "kms_key_arn": out["kms_key_arns"]["data"],
        "retention_days": 35,
    }
    assert all(arn.startswith("arn:aws:kms:us-east-1:111122223333:key/") for arn in out["kms_key_arns"].values())
    assert {"cloudtrail", "vpc_flow_logs", "ssm_sessions", "gateway_audit"} <= set(out["log_groups"])
    assert out["attestations"]["baa_aws_signed"] == "2026-01-15"


def test_stack_provider_is_pinned_to_the_client_account(planned: Planned) -> None:
    cfg, plan = planned("example")
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:aws"]
    assert provider.inputs["region"] == cfg.region
    assert json.loads(provider.inputs["allowedAccountIds"]) == [cfg.account_id]
    assert all(r.parent for r in plan.resources), "every resource sits under the stack or a component"


@pytest.mark.parametrize("variant", ["example", "multi-host", "aurora"])
def test_preview_declares_the_same_resources(example_raw: dict[str, str], planned: Planned, variant: str) -> None:
    """No resource is created inside apply(): a preview (unknown outputs) declares exactly the same set."""
    cfg, plan = planned(variant)
    preview = run_plan(cfg, variant_raw(example_raw, variant), preview=True)
    assert sorted(r.urn for r in preview.resources) == sorted(r.urn for r in plan.resources)


@pytest.mark.parametrize("variant", ["example", "aurora"])
def test_the_hosts_data_volumes_are_in_a_locked_daily_backup_plan(planned: Planned, variant: str) -> None:
    cfg, plan = planned(variant)
    retention = cfg.vector_store.backup_retention_days
    (vault,) = plan.of_type("aws:backup/vault:Vault")
    assert vault.inputs["kmsKeyArn"] == plan.outputs["kms_key_arns"]["data"]
    (lock,) = plan.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert lock.inputs["minRetentionDays"] == retention and "changeableForDays" not in lock.inputs  # governance
    (backup_plan,) = plan.of_type("aws:backup/plan:Plan")
    (rule,) = backup_plan.inputs["rules"]
    assert rule["targetVaultName"] == vault.inputs["name"] and rule["lifecycle"]["deleteAfter"] == retention
    (selection,) = plan.of_type("aws:backup/selection:Selection")
    assert selection.inputs["resources"] == [f"arn:aws:ec2:{cfg.region}:{cfg.account_id}:volume/*"]
    (condition,) = selection.inputs["conditions"][0]["stringEquals"]
    key = condition["key"].removeprefix("aws:ResourceTag/")
    data_volumes = plan.of_type("aws:ebs/volume:Volume")
    assert len(data_volumes) == cfg.gpu.count
    assert all(v.inputs["tags"][key] == condition["value"] for v in data_volumes)  # every data volume is selected
    assert all(i.inputs["volumeTags"].get(key) is None for i in plan.of_type(INSTANCE))  # root volumes are not
    assert plan.outputs["backups"]["vault_arn"].endswith(f":backup-vault:{vault.inputs['name']}")


def test_the_hosts_may_write_audit_anchors_once_and_never_delete_them(planned: Planned) -> None:
    """Issue 20: the gateway hosts put signed anchors under one prefix of the Object-Locked archive and read them
    back; nothing lets them delete one, and the archive refuses a put that could replace one."""
    cfg, plan = planned("example")
    archive = plan.outputs["buckets"]["audit_logs"]
    assert plan.outputs["audit_anchors"] == f"s3://{archive}/audit-anchors"
    host_policy = next(r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if "least-privilege" in r.name)
    sids = {st["Sid"]: st for st in statements(host_policy.inputs["policy"])}
    write = sids["WriteAndReadAuditAnchors"]
    assert write["Resource"] == f"arn:aws:s3:::{archive}/audit-anchors/*"
    assert set(write["Action"]) == {"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"}
    assert sids["ListAuditAnchors"]["Condition"] == {"StringLike": {"s3:prefix": "audit-anchors/*"}}
    assert sids["EncryptAuditAnchors"]["Resource"] == [plan.outputs["kms_key_arns"]["logs"]]
    actions = {st["Sid"]: st["Action"] if isinstance(st["Action"], list) else [st["Action"]] for st in sids.values()}
    deleting = [sids[sid] for sid, granted in actions.items() if any("Delete" in a for a in granted)]
    assert deleting and all(archive not in json.dumps(st["Resource"]) for st in deleting)
    policy = by_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy")[archive]
    once = next(st for st in statements(policy.inputs["policy"]) if st["Sid"] == "AuditAnchorsAreWrittenOnce")
    assert once["Effect"] == "Deny" and once["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    # The S3 endpoint admits the archive, so the hosts reach it without internet egress.
    (endpoint,) = [
        e for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway"
    ]
    assert f"arn:aws:s3:::{archive}/*" in json.dumps(json.loads(endpoint.inputs["policy"]))
