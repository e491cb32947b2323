"""KMS: customer-managed keys rotate, are not about to vanish, and are not open to anyone."""

from __future__ import annotations

import json
from typing import Any

from compliance.controls._base import Record, control, each, open_statements
from compliance.facts import Facts
from compliance.facts.storage import KMS_KEYS, KmsKey
from compliance.model import Control, Finding

ENCRYPTION = ("164.312(a)(2)(iv)", "164.312(e)(2)(ii)")


def _customer_keys(facts: Facts, *, enabled_only: bool = True) -> list[KmsKey]:
    keys = [k for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"]
    return [k for k in keys if k.get("state") == "Enabled"] if enabled_only else keys


def _each_key(facts: Facts, keys: list[KmsKey], needs: tuple[str, ...], judge: Any) -> list[Finding]:
    return each(keys, needs, lambda k: k["arn"], "AWS::KMS::Key", lambda k: f"KMS key {k['id']}", judge)


def rotation(facts: Facts) -> list[Finding]:
    def judge(k: Record) -> tuple[bool, str, dict[str, Any]]:
        if k.get("rotation_enabled"):
            return True, f"KMS key {k['id']} rotates automatically.", {}
        return False, f"KMS key {k['id']} does not rotate its key material.", {}

    symmetric = [k for k in _customer_keys(facts) if k.get("spec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"]
    return _each_key(facts, symmetric, ("rotation_enabled",), judge)


def no_pending_deletion(facts: Facts) -> list[Finding]:
    def judge(k: Record) -> tuple[bool, str, dict[str, Any]]:
        if k.get("state") == "PendingDeletion":
            return (
                False,
                (
                    f"KMS key {k['id']} is scheduled for deletion on {k.get('deletion_date')}: everything "
                    "encrypted under it becomes unreadable."
                ),
                {"deletion_date": k.get("deletion_date")},
            )
        return True, f"KMS key {k['id']} is not scheduled for deletion ({k.get('state')}).", {}

    return _each_key(facts, _customer_keys(facts, enabled_only=False), ("state",), judge)


def no_wildcard_principal(facts: Facts) -> list[Finding]:
    def judge(k: Record) -> tuple[bool, str, dict[str, Any]]:
        try:
            document = json.loads(k["policy"]) if isinstance(k["policy"], str) else k["policy"]
        except (TypeError, ValueError):
            return False, f"KMS key {k['id']} has a key policy that is not valid JSON.", {}
        wide = open_statements(document, facts.account)
        if wide:
            sids = ", ".join(str(s.get("Sid", "(no Sid)")) for s in wide)
            return (
                False,
                f"KMS key {k['id']}'s policy lets any principal or another account use it (statement {sids}).",
                {"statements": wide},
            )
        return True, f"KMS key {k['id']}'s policy names its principals.", {}

    return _each_key(facts, _customer_keys(facts, enabled_only=False), ("policy",), judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "kms-rotation",
        "Customer-managed keys rotate",
        "medium",
        ENCRYPTION,
        ("kms_keys",),
        ("kms:ListKeys", "kms:DescribeKey", "kms:GetKeyRotationStatus"),
        "Rotation limits how much data one key version protects; the AWS Config HIPAA pack has no rule for it.",
        "aws kms enable-key-rotation --key-id KEY",
        rotation,
    ),
    control(
        "kms-no-pending-deletion",
        "No customer-managed key is scheduled for deletion",
        "critical",
        ("164.312(a)(2)(iv)", "164.308(a)(7)(ii)(A)"),
        ("kms_keys",),
        ("kms:ListKeys", "kms:DescribeKey"),
        "Deleting a key destroys every backup, log and document encrypted under it.",
        "aws kms cancel-key-deletion --key-id KEY, then find out who scheduled it (CloudTrail).",
        no_pending_deletion,
    ),
    control(
        "kms-no-wildcard-principal",
        "Key policies do not allow any principal",
        "critical",
        ("164.312(a)(1)",),
        ("kms_keys",),
        ("kms:ListKeys", "kms:GetKeyPolicy"),
        "A key policy that allows Principal * without a condition lets any AWS account use the key.",
        "Replace * with the account root, named roles or service principals scoped by aws:SourceAccount.",
        no_wildcard_principal,
    ),
)
