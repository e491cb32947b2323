"""IAM facts: customer policies (managed and inline), the root user, IAM users and their keys."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from compliance.facts.identity import IAM_POLICIES, IAM_ROOT, IAM_USERS, AccessKey, IamPolicy, IamRoot, IamUser
from compliance.sources.live._client import Scan
from compliance.sources.live._task import Task, value_or_marker


def _document(raw: Any) -> Any:
    """IAM returns documents URL-encoded in some SDKs and decoded in boto3; accept both."""
    if isinstance(raw, str):
        return json.loads(unquote(raw))
    return raw


def iam_policies(scan: Scan, region: str, account: str) -> list[IamPolicy]:
    iam = scan.client("iam", region)
    out: list[IamPolicy] = []
    for p in scan.pages(iam, "list_policies", "Policies", Scope="Local", OnlyAttached=True):
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
                "kind": "managed",
                "attached": True,
                "region": "global",
                "document": doc,
            }
        )
    for role in scan.pages(iam, "list_roles", "Roles"):
        for name in scan.pages(iam, "list_role_policies", "PolicyNames", RoleName=role["RoleName"]):
            doc = value_or_marker(
                scan,
                iam,
                "get_role_policy",
                lambda r: json.dumps(_document(r["PolicyDocument"])),
                RoleName=role["RoleName"],
                PolicyName=name,
            )
            out.append(
                {
                    "arn": f"{role['Arn']}/inline/{name}",
                    "name": f"{role['RoleName']}/{name}",
                    "kind": "inline",
                    "attached": True,
                    "region": "global",
                    "document": doc,
                }
            )
    return out


def iam_root(scan: Scan, region: str, account: str) -> list[IamRoot]:
    summary = scan.call(scan.client("iam", region), "get_account_summary")["SummaryMap"]
    return [
        {
            "region": "global",
            "access_keys_present": bool(summary.get("AccountAccessKeysPresent")),
            "mfa_enabled": bool(summary.get("AccountMFAEnabled")),
        }
    ]


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
            {"id": k["AccessKeyId"], "active": k.get("Status") == "Active", "created": k["CreateDate"].isoformat()}
            for k in scan.pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=name)
        ]
        out.append(
            {
                "name": name,
                "arn": u["Arn"],
                "region": "global",
                "password_enabled": password,
                "mfa_active": mfa,
                "access_keys": keys,
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (
    Task(IAM_POLICIES, "global", iam_policies),
    Task(IAM_ROOT, "global", iam_root),
    Task(IAM_USERS, "global", iam_users),
)
