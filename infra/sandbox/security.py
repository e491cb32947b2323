"""Creators for KMS keys and IAM roles, policies and instance profiles."""

from __future__ import annotations

from infra.sandbox.engine import Created, Creator, EmulatorGap, Inputs, Sandbox, tag_list


def kms_key(sb: Sandbox, name: str, i: Inputs) -> Created:
    kms = sb.client("kms")
    meta = kms.create_key(
        Description=i.get("description", name),
        Policy=i["policy"],
        KeyUsage=i.get("keyUsage", "ENCRYPT_DECRYPT"),
        KeySpec=i.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
        Tags=tag_list(i, "TagKey", "TagValue"),
    )["KeyMetadata"]
    if i.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"arn": meta["Arn"], "keyId": meta["KeyId"]}


def kms_alias(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("kms").create_alias(AliasName=i["name"], TargetKeyId=i["targetKeyId"])
    return i["name"], {"arn": f"arn:aws:kms:{sb.cfg.region}:{sb.account}:{i['name']}"}


def role(sb: Sandbox, name: str, i: Inputs) -> Created:
    role_name = i.get("name") or name[:64]
    r = sb.client("iam").create_role(
        RoleName=role_name, AssumeRolePolicyDocument=i["assumeRolePolicy"], Tags=tag_list(i)
    )["Role"]
    return role_name, {"arn": r["Arn"], "name": role_name}


def role_policy(sb: Sandbox, name: str, i: Inputs) -> Created:
    policy_name = i.get("name") or name[:128]
    sb.client("iam").put_role_policy(RoleName=i["role"], PolicyName=policy_name, PolicyDocument=i["policy"])
    return f"{i['role']}:{policy_name}", {}


def role_policy_attachment(sb: Sandbox, name: str, i: Inputs) -> Created:
    iam = sb.client("iam")
    try:
        iam.attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])
    except iam.exceptions.NoSuchEntityException:
        raise EmulatorGap(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "iam:AttachRolePolicy",
            f"the emulator does not know the AWS-managed policy {i['policyArn']}",
        ) from None
    return f"{i['role']}/{i['policyArn']}", {}


def instance_profile(sb: Sandbox, name: str, i: Inputs) -> Created:
    iam = sb.client("iam")
    profile_name = i.get("name") or name[:128]
    p = iam.create_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile_name, RoleName=i["role"])
    return profile_name, {"arn": p["Arn"], "name": profile_name}


CREATORS: dict[str, Creator] = {
    "aws:kms/key:Key": kms_key,
    "aws:kms/alias:Alias": kms_alias,
    "aws:iam/role:Role": role,
    "aws:iam/rolePolicy:RolePolicy": role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": role_policy_attachment,
    "aws:iam/instanceProfile:InstanceProfile": instance_profile,
}
