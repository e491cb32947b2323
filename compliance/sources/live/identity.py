"""IAM facts: the policies in force (managed, the customer's and AWS's, and inline), the root user, IAM users and
their keys."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from compliance.facts import unreadable, unreadable_marker
from compliance.facts.identity import (
    IAM_PASSWORD_POLICY,
    IAM_POLICIES,
    IAM_ROLES,
    IAM_ROOT,
    IAM_USERS,
    AccessKey,
    IamPasswordPolicy,
    IamPolicy,
    IamRole,
    IamRoot,
    IamUser,
)
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task, value_or_marker

AWS_MANAGED = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")


def _document(raw: Any) -> Any:
    """IAM returns documents URL-encoded in some SDKs and decoded in boto3; accept both."""
    if isinstance(raw, str):
        return json.loads(unquote(raw))
    return raw


def _inline(scan: Scan, iam: Any, kind: str, principal: dict[str, Any]) -> list[IamPolicy]:
    """The inline policies of one role, user or group (``kind`` names the API: role, user, group)."""
    who = {f"{kind.capitalize()}Name": principal[f"{kind.capitalize()}Name"]}
    out: list[IamPolicy] = []
    for name in scan.pages(iam, f"list_{kind}_policies", "PolicyNames", **who):
        doc = value_or_marker(
            scan,
            iam,
            f"get_{kind}_policy",
            lambda r: json.dumps(_document(r["PolicyDocument"])),
            PolicyName=name,
            **who,
        )
        out.append(
            {
                "arn": f"{principal['Arn']}/inline/{name}",
                "name": f"{next(iter(who.values()))}/{name}",
                "kind": "inline",
                "attached": True,
                "region": "global",
                "document": doc,
            }
        )
    return out


def iam_policies(scan: Scan, region: str, account: str) -> list[IamPolicy]:
    """Every policy that is in force: managed ones attached anywhere, the customer's and AWS's own (an AWS
    managed AdministratorAccess is the commonest "*:*"), and the inline policies of roles, users and groups."""
    iam = scan.client("iam", region)
    out: list[IamPolicy] = []
    for p in scan.pages(iam, "list_policies", "Policies", Scope="All", OnlyAttached=True):
        doc = value_or_marker(
            scan,
            iam,
            "get_policy_version",
            lambda r: json.dumps(_document(r["PolicyVersion"]["Document"])),
            PolicyArn=p["Arn"],
            VersionId=p["DefaultVersionId"],
        )
        out.append(
            {
                "arn": p["Arn"],
                "name": p["PolicyName"],
                "kind": "aws-managed" if AWS_MANAGED.match(p["Arn"]) else "managed",
                "attached": True,
                "region": "global",
                "document": doc,
            }
        )
    for kind, api, key in (
        ("role", "list_roles", "Roles"),
        ("user", "list_users", "Users"),
        ("group", "list_groups", "Groups"),
    ):
        for principal in scan.pages(iam, api, key):
            out += _inline(scan, iam, kind, principal)
    return out


def iam_roles(scan: Scan, region: str, account: str) -> list[IamRole]:
    """Every role with its trust policy: who may assume it."""
    return [
        {
            "name": r["RoleName"],
            "arn": r["Arn"],
            "region": "global",
            "trust": _document(r.get("AssumeRolePolicyDocument")),
        }
        for r in scan.pages(scan.client("iam", region), "list_roles", "Roles")
    ]


def _root_mfa_is_virtual(scan: Scan, iam: Any) -> Any:
    """Whether an assigned virtual MFA device belongs to the root user (its ARN ends in ``:root``), or a marker."""
    try:
        devices = scan.pages(iam, "list_virtual_mfa_devices", "VirtualMFADevices", AssignmentStatus="Assigned")
        return any(str((d.get("User") or {}).get("Arn", "")).endswith(":root") for d in devices)
    except Unavailable as exc:
        return unreadable_marker(exc.api, exc.error)


def iam_root(scan: Scan, region: str, account: str) -> list[IamRoot]:
    iam = scan.client("iam", region)
    summary = scan.call(iam, "get_account_summary")["SummaryMap"]
    mfa = bool(summary.get("AccountMFAEnabled"))
    return [
        {
            "region": "global",
            "access_keys_present": bool(summary.get("AccountAccessKeysPresent")),
            "mfa_enabled": mfa,
            "mfa_virtual": _root_mfa_is_virtual(scan, iam) if mfa else False,
        }
    ]


def _last_used(response: dict[str, Any]) -> str | None:
    when = (response.get("AccessKeyLastUsed") or {}).get("LastUsedDate")
    return when.isoformat() if when else None


def iam_users(scan: Scan, region: str, account: str) -> list[IamUser]:
    iam = scan.client("iam", region)
    out: list[IamUser] = []
    for u in scan.pages(iam, "list_users", "Users"):
        name = u["UserName"]
        password = value_or_marker(
            scan, iam, "get_login_profile", lambda r: True, absent=("NoSuchEntity",), default=False, UserName=name
        )
        mfa = bool(list(scan.pages(iam, "list_mfa_devices", "MFADevices", UserName=name)))
        keys: list[AccessKey] = [
            {
                "id": k["AccessKeyId"],
                "active": k.get("Status") == "Active",
                "created": k["CreateDate"].isoformat(),
                "last_used": value_or_marker(
                    scan, iam, "get_access_key_last_used", _last_used, AccessKeyId=k["AccessKeyId"]
                ),
            }
            for k in scan.pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=name)
        ]
        out.append(
            {
                "name": name,
                "arn": u["Arn"],
                "region": "global",
                "created": u["CreateDate"].isoformat(),
                "password_enabled": password,
                "password_last_used": u["PasswordLastUsed"].isoformat() if u.get("PasswordLastUsed") else None,
                "mfa_active": mfa,
                "access_keys": keys,
            }
        )
    return out


def _password_policy_record(policy: dict[str, Any] | None) -> IamPasswordPolicy:
    """The record of GetAccountPasswordPolicy's answer (None: the account has no policy)."""
    p = policy or {}
    return {
        "region": "global",
        "present": policy is not None,
        "minimum_length": p.get("MinimumPasswordLength"),
        "require_lowercase": bool(p.get("RequireLowercaseCharacters")),
        "require_uppercase": bool(p.get("RequireUppercaseCharacters")),
        "require_numbers": bool(p.get("RequireNumbers")),
        "require_symbols": bool(p.get("RequireSymbols")),
        "reuse_prevention": p.get("PasswordReusePrevention"),
    }


def iam_password_policy(scan: Scan, region: str, account: str) -> list[IamPasswordPolicy]:
    iam = scan.client("iam", region)
    policy = value_or_marker(
        scan, iam, "get_account_password_policy", lambda r: r["PasswordPolicy"], absent=("NoSuchEntity",), default=None
    )
    if unreadable(policy):  # ERROR for the control: the policy could not be read
        return [{**_password_policy_record(None), "present": policy}]
    return [_password_policy_record(policy)]


TASKS: tuple[Task[Any], ...] = (
    Task(IAM_POLICIES, "global", iam_policies),
    Task(IAM_ROLES, "global", iam_roles),
    Task(IAM_ROOT, "global", iam_root),
    Task(IAM_USERS, "global", iam_users),
    Task(IAM_PASSWORD_POLICY, "global", iam_password_policy),
)
