"""IAM policies as planned; the root user and IAM users are account state no plan holds."""

from __future__ import annotations

from compliance.facts import Facts, Gap
from compliance.facts.identity import IAM_POLICIES, IAM_ROOT, IAM_USERS, IamPolicy
from compliance.sources.plan._reader import PlanReader, arn_of


def add(p: PlanReader, f: Facts) -> None:
    f.add(
        IAM_POLICIES,
        [
            IamPolicy(
                arn=f"{r['_urn']}",
                name=r.get("name") or r["_id"],
                kind="inline",
                region="global",
                attached=True,
                document=r.get("policy"),
            )
            for r in p.of("aws:iam/rolePolicy:RolePolicy")
        ]
        + [
            IamPolicy(
                arn=arn_of(r),
                name=r.get("name") or r["_id"],
                kind="managed",
                region="global",
                attached=True,
                document=r.get("policy"),
            )
            for r in p.of("aws:iam/policy:Policy")
        ],
    )
    account_state = Gap(
        "the root user and IAM users are account state outside the stack; the live audit checks them", "NOT_APPLICABLE"
    )
    f.missing(IAM_ROOT, account_state)
    f.missing(IAM_USERS, account_state)
