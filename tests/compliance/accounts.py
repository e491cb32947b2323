"""Emulated accounts for the collector tests, built through boto3 against moto, as an engineer would."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.alarms import SECURITY_ALARMS
from infra.sandbox.engine import remove_default_vpcs

REGION = "us-east-1"
VPC_CIDR = "10.40.0.0/16"
ENDPOINTS = ("ssm", "ssmmessages", "ec2messages", "ec2", "kms", "logs", "monitoring", "sts", "sqs")


@dataclass
class Account:
    session: boto3.Session
    account: str
    key_arn: str = ""
    vpc_id: str = ""
    subnet_ids: list[str] = field(default_factory=list)
    sg_id: str = ""
    instance_id: str = ""
    buckets: dict[str, str] = field(default_factory=dict)
    trail_arn: str = ""
    topic_arn: str = ""

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)  # type: ignore[call-overload]


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _network(acct: Account) -> None:
    ec2, logs, iam = acct.client("ec2"), acct.client("logs"), acct.client("iam")
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    acct.vpc_id = vpc
    for i, cidr in enumerate(("10.40.0.0/18", "10.40.64.0/18")):
        acct.subnet_ids.append(
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{'ab'[i]}")["Subnet"]["SubnetId"]
        )
    for s in acct.subnet_ids:  # moto turns this on for new subnets; AWS (and our program) leave it off
        ec2.modify_subnet_attribute(SubnetId=s, MapPublicIpOnLaunch={"Value": False})
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for s in acct.subnet_ids:
        ec2.associate_route_table(RouteTableId=table, SubnetId=s)
    for sg in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]:
        if sg["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=sg["IpPermissions"])
        if sg["IpPermissionsEgress"]:
            ec2.revoke_security_group_egress(GroupId=sg["GroupId"], IpPermissions=sg["IpPermissionsEgress"])
    for acl in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]:
        for e in acl["Entries"]:
            if e["RuleNumber"] < 32767:
                ec2.delete_network_acl_entry(
                    NetworkAclId=acl["NetworkAclId"], RuleNumber=e["RuleNumber"], Egress=e["Egress"]
                )
    sg = ec2.create_security_group(GroupName="gpu-hosts", Description="gateway port only", VpcId=vpc)["GroupId"]
    acct.sg_id = sg
    ec2.revoke_security_group_egress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "IpRanges": [{"CidrIp": "10.200.0.0/16"}]}
        ],
    )
    ec2.authorize_security_group_egress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": VPC_CIDR}]}],
    )
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[table]
    )
    for service in ENDPOINTS:
        ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=acct.subnet_ids,
            SecurityGroupIds=[sg],
            PrivateDnsEnabled=True,
        )
    logs.create_log_group(logGroupName="/phistack/acme/vpc-flow-logs", kmsKeyId=acct.key_arn)
    logs.put_retention_policy(logGroupName="/phistack/acme/vpc-flow-logs", retentionInDays=2192)
    role = iam.create_role(
        RoleName="flow-logs",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="/phistack/acme/vpc-flow-logs",
        DeliverLogsPermissionArn=role["Role"]["Arn"],
    )


def _compute(acct: Account) -> None:
    ec2, iam = acct.client("ec2"), acct.client("iam")
    iam.create_role(
        RoleName="gpu",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(
        RoleName="gpu",
        PolicyName="read-bundle",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bundle/*"}),
    )
    profile = iam.create_instance_profile(InstanceProfileName="gpu")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="gpu", RoleName="gpu")
    metadata = {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"}
    acct.instance_id = ec2.run_instances(
        ImageId="ami-0123456789abcdef0",
        InstanceType="g6e.xlarge",
        MinCount=1,
        MaxCount=1,
        SubnetId=acct.subnet_ids[0],
        SecurityGroupIds=[acct.sg_id],
        MetadataOptions=metadata,
        IamInstanceProfile={"Arn": profile["Arn"]},
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 200, "Encrypted": True, "KmsKeyId": acct.key_arn}}
        ],
    )["Instances"][0]["InstanceId"]
    ec2.create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={"MetadataOptions": metadata})
    ec2.enable_ebs_encryption_by_default()
    tags = {"data-classification": "phi", "phistack:volume": "data", "phistack:backup": "daily"}
    ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=500,
        Encrypted=True,
        KmsKeyId=acct.key_arn,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )


def _backups(acct: Account) -> None:
    """The stack's AWS Backup vault (data key, locked) and daily plan. moto has no selections: the plan's cannot be
    made or read, so backup-phi-volumes is ERROR here (MOTO_LIMITS)."""
    backup = acct.client("backup")
    backup.create_backup_vault(BackupVaultName="phistack-backups", EncryptionKeyArn=acct.key_arn)
    backup.put_backup_vault_lock_configuration(BackupVaultName="phistack-backups", MinRetentionDays=35)
    rule = {"RuleName": "daily", "TargetBackupVaultName": "phistack-backups",
            "ScheduleExpression": "cron(0 5 * * ? *)", "Lifecycle": {"DeleteAfterDays": 35}}  # fmt: skip
    backup.create_backup_plan(BackupPlan={"BackupPlanName": "phistack-daily", "Rules": [rule]})


def _bucket(acct: Account, purpose: str, lock: bool = False, log_to: str | None = None) -> str:
    s3 = acct.client("s3")
    name = f"phistack-acme-{purpose}-{acct.account}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": acct.key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if purpose == "access-logs":
        statements.append(
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{name}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": acct.account}},
            }
        )
    if purpose == "audit-logs":
        statements.append(
            {
                "Sid": "CloudTrail",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": ["s3:GetBucketAcl", "s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"StringEquals": {"aws:SourceAccount": acct.account}},
            }
        )
    # moto's put_bucket_logging crashes reading a target policy whose Principal is the string "*" (a moto
    # bug), so the access-log bucket gets its TLS deny after the other buckets point their logging at it.
    s3.put_bucket_policy(Bucket=name, Policy=_policy(*(statements[1:] if purpose == "access-logs" else statements)))
    if lock:
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2192}},
            },
        )
    if log_to:
        s3.put_bucket_logging(
            Bucket=name, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": log_to, "TargetPrefix": f"{name}/"}}
        )
    s3.put_bucket_tagging(
        Bucket=name,
        Tagging={
            "TagSet": [{"Key": "phistack:purpose", "Value": purpose}, {"Key": "phistack:client", "Value": "acme"}]
        },
    )
    acct.buckets[purpose] = name
    return name


def _audit(acct: Account) -> None:
    logs, ct, cw, sns, iam = (acct.client(s) for s in ("logs", "cloudtrail", "cloudwatch", "sns", "iam"))
    group = "/phistack/acme/cloudtrail"
    logs.create_log_group(logGroupName=group, kmsKeyId=acct.key_arn)
    logs.put_retention_policy(logGroupName=group, retentionInDays=2192)
    group_arn = f"arn:aws:logs:{REGION}:{acct.account}:log-group:{group}:*"
    role = iam.create_role(
        RoleName="trail-to-logs",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    acct.trail_arn = ct.create_trail(
        Name="phistack-acme-trail",
        S3BucketName=acct.buckets["audit-logs"],
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        KmsKeyId=acct.key_arn,
        CloudWatchLogsLogGroupArn=group_arn,
        CloudWatchLogsRoleArn=role["Role"]["Arn"],
    )["TrailARN"]
    ct.put_event_selectors(
        TrailName="phistack-acme-trail",
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{acct.buckets['docs']}/"]}],
            }
        ],
    )
    ct.start_logging(Name="phistack-acme-trail")
    acct.topic_arn = sns.create_topic(Name="security-alarms", Attributes={"KmsMasterKeyId": acct.key_arn})["TopicArn"]
    for alarm in SECURITY_ALARMS:
        logs.put_metric_filter(
            logGroupName=group,
            filterName=alarm.name,
            filterPattern=alarm.pattern,
            metricTransformations=[{"metricName": alarm.name, "metricNamespace": "phistack/acme", "metricValue": "1"}],
        )
        cw.put_metric_alarm(
            AlarmName=alarm.name,
            MetricName=alarm.name,
            Namespace="phistack/acme",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=alarm.threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=[acct.topic_arn],
        )


def _account_guardrails(acct: Account) -> None:
    acct.client("s3control").put_public_access_block(
        AccountId=acct.account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    acct.client("guardduty").create_detector(Enable=True)
    config, iam = acct.client("config"), acct.client("iam")
    iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireLowercaseCharacters=True,
        RequireUppercaseCharacters=True,
        RequireNumbers=True,
        RequireSymbols=True,
        PasswordReusePrevention=24,
    )
    role = iam.create_role(
        RoleName="config",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "config.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "phistack",
            "roleARN": role["Role"]["Arn"],
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "phistack", "s3BucketName": acct.buckets["audit-logs"]})
    config.start_configuration_recorder(ConfigurationRecorderName="phistack")


def _full_policy_on_access_logs(acct: Account) -> None:
    s3, name = acct.client("s3"), acct.buckets["access-logs"]
    current = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
    deny = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(Bucket=name, Policy=_policy(deny, *current))


def tls_only_queue(acct: Account, name: str, kms_key: str | None) -> str:
    """A queue as the document-bucket sync has it: under a KMS key, refusing requests without TLS."""
    sqs = acct.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"KmsMasterKeyId": kms_key} if kms_key else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    deny = {
        "Sid": "DenyWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _policy(deny)})
    return url


def certificate(acct: Account, domain: str, days: int) -> str:
    """A self-signed certificate valid ``days`` more days, imported into ACM (as a client imports theirs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    arn: str = acct.client("acm").import_certificate(Certificate=cert.public_bytes(pem), PrivateKey=private)[
        "CertificateArn"
    ]
    return arn


def load_balancer(
    acct: Account, name: str, *, cert_days: int = 365, protocol: str = "TLS", protected: bool = True,
    log_to: str | None = None, policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06",
) -> str:  # fmt: skip
    """An internal network load balancer with one listener on 443 presenting an imported certificate."""
    elb = acct.client("elbv2")
    arn: str = elb.create_load_balancer(Name=name, Subnets=acct.subnet_ids, Scheme="internal", Type="network")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    attributes = [{"Key": "deletion_protection.enabled", "Value": str(protected).lower()}]
    if log_to:
        attributes += [
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": log_to},
        ]
    elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attributes)
    group = elb.create_target_group(Name=f"{name}-gw", Protocol="TLS", Port=8443, VpcId=acct.vpc_id)
    tls = {"SslPolicy": policy, "Certificates": [{"CertificateArn": certificate(acct, f"{name}.example", cert_days)}]}
    elb.create_listener(
        LoadBalancerArn=arn,
        Protocol=protocol,
        Port=443,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}],
        **(tls if protocol == "TLS" else {}),
    )
    return arn


def build_compliant(session: boto3.Session) -> Account:
    """The shape of a phistack client account, compliant wherever moto can represent it."""
    sts = session.client("sts", region_name=REGION)  # type: ignore[call-overload]
    acct = Account(session, sts.get_caller_identity()["Account"])
    kms = acct.client("kms")
    acct.key_arn = kms.create_key(
        Description="phistack acme data",
        Policy=_policy(
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{acct.account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=acct.key_arn)
    remove_default_vpcs(acct.client("ec2"))
    _network(acct)
    _compute(acct)
    access_logs = _bucket(acct, "access-logs")
    _bucket(acct, "docs", log_to=access_logs)
    _bucket(acct, "audit-logs", lock=True, log_to=access_logs)
    _full_policy_on_access_logs(acct)
    _audit(acct)
    _account_guardrails(acct)
    _backups(acct)
    tls_only_queue(acct, "docs-events", acct.key_arn)
    load_balancer(acct, "gateway", log_to=access_logs)
    return acct


class _Snapshot:
    """moto's state right after build_compliant, kept once per test process and copied back into the emulator
    for each test that asks: what build_compliant makes takes 1.5-2 s of CPU a test (about 150 tests), a copy
    about a quarter of that. One deep copy over every backend together, so objects that backends share stay
    shared in the copy."""

    def __init__(self, account: Account) -> None:
        from moto.core.base_backend import BackendDict

        self.account = dataclasses.replace(account, session=None)  # type: ignore[arg-type]
        self.backends = [b for b in BackendDict._instances if len(b)]  # moto's own list of the backends in use
        # Each backend's contents and its own attributes (S3 keeps which account owns each bucket name there).
        self.state = _deepcopy({id(b): (dict(b), dict(vars(b))) for b in self.backends})

    def restore(self, session: boto3.Session) -> Account:
        from moto.core.base_backend import BackendDict

        state = _deepcopy(self.state)
        for backend in self.backends:
            contents, attributes = state[id(backend)]
            backend.clear()
            backend.update(contents)
            vars(backend).update(attributes)
            if not any(b is backend for b in BackendDict._instances):  # what moto resets as the mock ends
                BackendDict._instances.append(backend)
        return dataclasses.replace(copy.deepcopy(self.account), session=session)


def _deepcopy(value: Any) -> Any:
    """A deep copy of moto's state: its locks are made anew, not copied (a lock cannot be)."""
    lock_types = {type(threading.Lock()), type(threading.RLock())}
    saved = {t: copy._deepcopy_dispatch.get(t) for t in lock_types}  # type: ignore[attr-defined]
    for t in lock_types:
        copy._deepcopy_dispatch[t] = lambda lock, memo, t=t: t()  # type: ignore[attr-defined]
    try:
        return copy.deepcopy(value)
    finally:
        for t, before in saved.items():
            if before is None:
                del copy._deepcopy_dispatch[t]  # type: ignore[attr-defined]
            else:
                copy._deepcopy_dispatch[t] = before  # type: ignore[attr-defined]


_SNAPSHOT: list[_Snapshot] = []


def compliant_account(session: boto3.Session) -> Account:
    """build_compliant's account in the emulator ``session`` runs on (a fresh moto, as the `aws` fixture gives):
    built the first time in this process, copied back from its snapshot after that. Same account, same ids.
    tests/compliance/test_collectors.py checks that a copied account is judged as a built one."""
    if not _SNAPSHOT:
        account = build_compliant(session)
        _SNAPSHOT.append(_Snapshot(account))
        return account
    return _SNAPSHOT[0].restore(session)
