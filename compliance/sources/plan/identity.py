"""IAM policies as planned; the root user and IAM users are account state no plan holds."""

from __future__ import annotations

from compliance.facts import Facts, Gap
from compliance.sources.plan._reader import PlanReader


def add(p: PlanReader, f: Facts) -> None:
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
