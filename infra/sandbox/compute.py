"""Creators for the GPU hosts (instances, data volumes) and the account guardrails."""

from __future__ import annotations

from typing import Any

from infra.sandbox.engine import Created, Creator, Inputs, Sandbox, renamed, tag_specifications


def instance(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    meta = i.get("metadataOptions") or {}
    root = i.get("rootBlockDevice") or {}
    args: dict[str, Any] = {
        "ImageId": i["ami"],
        "InstanceType": i["instanceType"],
        "MinCount": 1,
        "MaxCount": 1,
        "Monitoring": {"Enabled": bool(i.get("monitoring"))},
        "EbsOptimized": bool(i.get("ebsOptimized")),
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": i["subnetId"],
                "Groups": i.get("vpcSecurityGroupIds") or [],
                "AssociatePublicIpAddress": bool(i.get("associatePublicIpAddress")),
            }
        ],
        "TagSpecifications": tag_specifications(i, "instance") + tag_specifications(i, "volume", "volumeTags"),
    }
    if meta:
        args["MetadataOptions"] = {
            "HttpTokens": meta.get("httpTokens", "optional"),
            "HttpPutResponseHopLimit": int(meta.get("httpPutResponseHopLimit", 1)),
            "HttpEndpoint": meta.get("httpEndpoint", "enabled"),
        }
    if i.get("iamInstanceProfile"):
        args["IamInstanceProfile"] = {"Name": i["iamInstanceProfile"]}
    if root:
        args["BlockDeviceMappings"] = [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": int(root.get("volumeSize", 8)),
                    "VolumeType": root.get("volumeType", "gp3"),
                    "Encrypted": bool(root.get("encrypted")),
                    "KmsKeyId": root.get("kmsKeyId", ""),
                    "DeleteOnTermination": bool(root.get("deleteOnTermination", True)),
                },
            }
        ]
    created = ec2.run_instances(**args)["Instances"][0]
    return created["InstanceId"], {
        "arn": f"arn:aws:ec2:{sb.cfg.region}:{sb.account}:instance/{created['InstanceId']}",
        "privateIp": created.get("PrivateIpAddress", ""),
        "availabilityZone": created.get("Placement", {}).get("AvailabilityZone", f"{sb.cfg.region}a"),
    }


def volume(sb: Sandbox, name: str, i: Inputs) -> Created:
    v = sb.client("ec2").create_volume(
        AvailabilityZone=i["availabilityZone"],
        Size=int(i["size"]),
        VolumeType=i.get("type", "gp3"),
        Encrypted=bool(i.get("encrypted")),
        KmsKeyId=i.get("kmsKeyId", ""),
        TagSpecifications=tag_specifications(i, "volume"),
    )
    return v["VolumeId"], {"arn": f"arn:aws:ec2:{sb.cfg.region}:{sb.account}:volume/{v['VolumeId']}"}


def volume_attachment(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("ec2").attach_volume(Device=i["deviceName"], InstanceId=i["instanceId"], VolumeId=i["volumeId"])
    return f"vai-{i['volumeId']}", {}


def ebs_encryption_by_default(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    (ec2.enable_ebs_encryption_by_default if i.get("enabled", True) else ec2.disable_ebs_encryption_by_default)()
    return f"{sb.account}-ebs-encryption", {}


def ebs_default_kms_key(sb: Sandbox, name: str, i: Inputs) -> Created:
    try:
        sb.client("ec2").modify_ebs_default_kms_key_id(KmsKeyId=i["keyArn"])
    except sb.client("ec2").exceptions.ClientError as exc:  # moto does not implement it
        raise _unsupported("aws:ebs/defaultKmsKey:DefaultKmsKey", "ec2:ModifyEbsDefaultKmsKeyId", exc) from None
    return f"{sb.account}-ebs-key", {}


def account_public_access_block(sb: Sandbox, name: str, i: Inputs) -> Created:
    flags = {
        k[0].upper() + k[1:]: bool(i.get(k))
        for k in ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    }
    sb.client("s3control").put_public_access_block(AccountId=sb.account, PublicAccessBlockConfiguration=flags)
    return sb.account, {}


def account_password_policy(sb: Sandbox, name: str, i: Inputs) -> Created:
    names = {
        "minimumPasswordLength": "MinimumPasswordLength",
        "requireLowercaseCharacters": "RequireLowercaseCharacters",
        "requireUppercaseCharacters": "RequireUppercaseCharacters",
        "requireNumbers": "RequireNumbers",
        "requireSymbols": "RequireSymbols",
        "passwordReusePrevention": "PasswordReusePrevention",
        "maxPasswordAge": "MaxPasswordAge",
        "allowUsersToChangePassword": "AllowUsersToChangePassword",
    }
    sb.client("iam").update_account_password_policy(**renamed(i, names))
    return f"{sb.account}-password-policy", {}


def instance_metadata_defaults(sb: Sandbox, name: str, i: Inputs) -> Created:
    try:
        sb.client("ec2").modify_instance_metadata_defaults(
            HttpTokens=i.get("httpTokens", "required"), HttpPutResponseHopLimit=int(i.get("httpPutResponseHopLimit", 1))
        )
    except sb.client("ec2").exceptions.ClientError as exc:
        raise _unsupported(
            "aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults", "ec2:ModifyInstanceMetadataDefaults", exc
        ) from None
    return f"{sb.account}-imds-defaults", {}


def guardduty_detector(sb: Sandbox, name: str, i: Inputs) -> Created:
    detector = sb.client("guardduty").create_detector(
        Enable=bool(i.get("enable", True)), FindingPublishingFrequency=i.get("findingPublishingFrequency", "SIX_HOURS")
    )
    return detector["DetectorId"], {}


def guardduty_feature(sb: Sandbox, name: str, i: Inputs) -> Created:
    return f"{i['detectorId']}/{i['name']}", {}  # recorded: moto keeps no per-feature state to set


def config_recorder(sb: Sandbox, name: str, i: Inputs) -> Created:
    group = i.get("recordingGroup") or {}
    sb.client("config").put_configuration_recorder(
        ConfigurationRecorder={
            "name": i["name"],
            "roleARN": i["roleArn"],
            "recordingGroup": {
                "allSupported": bool(group.get("allSupported")),
                "includeGlobalResourceTypes": bool(group.get("includeGlobalResourceTypes")),
            },
        }
    )
    return i["name"], {"name": i["name"]}


def config_delivery_channel(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("config").put_delivery_channel(
        DeliveryChannel={"name": i["name"], "s3BucketName": i["s3BucketName"], "s3KeyPrefix": i.get("s3KeyPrefix", "")}
    )
    return i["name"], {}


def config_recorder_status(sb: Sandbox, name: str, i: Inputs) -> Created:
    if i.get("isEnabled"):
        sb.client("config").start_configuration_recorder(ConfigurationRecorderName=i["name"])
    return i["name"], {}


def _unsupported(resource_type: str, api: str, exc: Exception) -> Exception:
    from infra.sandbox.engine import EmulatorGap

    return EmulatorGap(resource_type, api, exc.__class__.__name__)


CREATORS: dict[str, Creator] = {
    "aws:ec2/instance:Instance": instance,
    "aws:ebs/volume:Volume": volume,
    "aws:ec2/volumeAttachment:VolumeAttachment": volume_attachment,
    "aws:ebs/encryptionByDefault:EncryptionByDefault": ebs_encryption_by_default,
    "aws:ebs/defaultKmsKey:DefaultKmsKey": ebs_default_kms_key,
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock": account_public_access_block,
    "aws:iam/accountPasswordPolicy:AccountPasswordPolicy": account_password_policy,
    "aws:ec2/instanceMetadataDefaults:InstanceMetadataDefaults": instance_metadata_defaults,
    "aws:guardduty/detector:Detector": guardduty_detector,
    "aws:guardduty/detectorFeature:DetectorFeature": guardduty_feature,
    "aws:cfg/recorder:Recorder": config_recorder,
    "aws:cfg/deliveryChannel:DeliveryChannel": config_delivery_channel,
    "aws:cfg/recorderStatus:RecorderStatus": config_recorder_status,
}
