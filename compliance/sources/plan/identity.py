"""IAM policies as planned; the root user and IAM users are account state no plan holds."""

from __future__ import annotations

import json

from compliance.facts import Facts, Gap
from compliance.facts.identity import (
    IAM_PASSWORD_POLICY,
    IAM_POLICIES,
    IAM_ROLES,
    IAM_ROOT,
    IAM_USERS,
    IamPasswordPolicy,
    IamPolicy,
    IamRole,
)
from compliance.sources.plan._reader import PlanReader, arn_of, whole

# AWS managed policies whose documents are public and fixed, so a plan attaching one can be judged before it
# is deployed. The live audit reads every attached policy's document from IAM.
AWS_MANAGED_DOCUMENTS = {
    "AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
}
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)


def _aws_managed(p: PlanReader) -> list[IamPolicy]:
    out = []
    for kind in ATTACHMENTS:
        for r in p.of(kind):
            arn = str(r.get("policyArn") or "")
            name = arn.rsplit("/", 1)[-1]
            if ":iam::aws:policy/" in arn and name in AWS_MANAGED_DOCUMENTS:
                document = json.dumps(AWS_MANAGED_DOCUMENTS[name])
                out.append(
                    IamPolicy(arn=arn, name=name, kind="aws-managed", region="global", attached=True, document=document)
                )
    return out


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
        ]
        + _aws_managed(p),
    )
    planned = p.of("aws:iam/accountPasswordPolicy:AccountPasswordPolicy")
    if planned:
        i = planned[0]
        f.add(
            IAM_PASSWORD_POLICY,
            [
                IamPasswordPolicy(
                    region="global",
                    present=True,
                    minimum_length=whole(i.get("minimumPasswordLength")),
                    require_lowercase=bool(i.get("requireLowercaseCharacters")),
                    require_uppercase=bool(i.get("requireUppercaseCharacters")),
                    require_numbers=bool(i.get("requireNumbers")),
                    require_symbols=bool(i.get("requireSymbols")),
                    reuse_prevention=whole(i.get("passwordReusePrevention")),
                )
            ],
        )
    else:
        f.missing(IAM_PASSWORD_POLICY, Gap("the plan does not manage the account password policy", "NOT_APPLICABLE"))
    f.add(
        IAM_ROLES,
        [
            IamRole(
                name=str(r.get("name") or r["_id"]), arn=arn_of(r), region="global", trust=r.get("assumeRolePolicy")
            )
            for r in p.of("aws:iam/role:Role")
        ],
    )
    account_state = Gap(
        "the root user and IAM users are account state outside the stack; the live audit checks them", "NOT_APPLICABLE"
    )
    f.missing(IAM_ROOT, account_state)
    f.missing(IAM_USERS, account_state)
