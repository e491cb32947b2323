"""EC2 compute as planned: instances (with the account's IMDS defaults), launch templates, volumes, EBS defaults."""

from __future__ import annotations

from compliance.facts import Facts, Gap
from compliance.facts.compute import (
    EBS_ENCRYPTION_DEFAULTS,
    INSTANCES,
    LAUNCH_TEMPLATES,
    PATCH_COMPLIANCE,
    SNAPSHOTS,
    SSM_MANAGED_INSTANCES,
    VOLUMES,
    EbsEncryptionDefault,
    Instance,
    LaunchTemplate,
    Volume,
)
from compliance.facts.hosts import HOSTS
from compliance.sources.plan._reader import PlanReader, whole


def add(p: PlanReader, f: Facts) -> None:
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
            Instance(
                id=i["_id"],
                arn=i.get("arn"),
                region=region,
                state="running",
                public_ip="(assigned at launch)" if public else None,
                imds_http_tokens=meta.get("httpTokens") or account_tokens or "optional",
                imds_hop_limit=whole(meta.get("httpPutResponseHopLimit") or account_hops or 1),
                instance_profile_arn=i.get("iamInstanceProfile") or None,
                subnet_id=i.get("subnetId"),
                vpc_id=None,
                launch_time=None,
            )
        )
        root = i.get("rootBlockDevice") or {}
        volumes.append(
            Volume(
                id=f"{i['_id']}-root",
                region=region,
                encrypted=bool(root.get("encrypted")),
                kms_key_id=root.get("kmsKeyId"),
                tags=dict(i.get("volumeTags") or {}),
            )
        )
    f.add(INSTANCES, instances)
    f.add(
        LAUNCH_TEMPLATES,
        [
            LaunchTemplate(
                id=t["_id"],
                name=t.get("name", t["_id"]),
                region=region,
                imds_http_tokens=(t.get("metadataOptions") or {}).get("httpTokens") or account_tokens or "optional",
            )
            for t in p.of("aws:ec2/launchTemplate:LaunchTemplate")
        ],
    )
    volumes += [
        {
            "id": v["_id"],
            "region": region,
            "encrypted": bool(v.get("encrypted")),
            "kms_key_id": v.get("kmsKeyId"),
            "tags": dict(v.get("tags") or {}),
        }
        for v in p.of("aws:ebs/volume:Volume")
    ]
    f.add(VOLUMES, volumes)
    ebs_default = p.of("aws:ebs/encryptionByDefault:EncryptionByDefault")
    if ebs_default:
        key = p.of("aws:ebs/defaultKmsKey:DefaultKmsKey")
        f.add(
            EBS_ENCRYPTION_DEFAULTS,
            [
                EbsEncryptionDefault(
                    region=region,
                    enabled=bool(ebs_default[0].get("enabled", True)),
                    kms_key_id=key[0].get("keyArn") if key else None,
                )
            ],
        )
    else:
        f.missing(
            EBS_ENCRYPTION_DEFAULTS,
            Gap(
                "the plan does not manage EBS encryption by default (guardrail off); the live audit checks the account",
                "NOT_APPLICABLE",
            ),
        )
    f.missing(SNAPSHOTS, Gap("snapshots are taken after deployment; the live audit checks them", "NOT_APPLICABLE"))
    f.missing(
        HOSTS,
        Gap("hosts are probed once installed (playbooks/verify.yml, then audit --host-evidence)", "NOT_APPLICABLE"),
    )
    f.missing(SSM_MANAGED_INSTANCES, Gap("instances register with Systems Manager only once running", "NOT_APPLICABLE"))
    f.missing(PATCH_COMPLIANCE, Gap("Patch Manager scans instances once they run", "NOT_APPLICABLE"))
