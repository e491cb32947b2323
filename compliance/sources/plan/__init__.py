"""Facts from a plan: ``plan.json`` (``contract.PLAN_SCHEMA``) read as data, never by importing infra/.

The plan holds what the program declares. AWS adds to it, and these facts model that, so an omission is
judged by what AWS would really do:
- every VPC gets a default security group (all egress, self ingress) and a default NACL (allow all),
  unless the plan manages them (DefaultSecurityGroup / DefaultNetworkAcl);
- every VPC gets a main route table with only its local route;
- a new S3 bucket has SSE-S3, all four public-access-block flags, ACLs disabled and no versioning, unless
  the plan sets otherwise;
- an instance without metadata options gets the account's IMDS defaults if the plan declares them, else
  IMDSv1 allowed.
What a plan cannot know (account state outside the stack, what exists only once running) is a Gap with
status NOT_APPLICABLE and the reason, so those controls say so instead of passing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compliance.errors import InputError
from compliance.facts import Context, Facts
from compliance.facts.hosts import SERVICES_IN_USE, ServiceInUse
from compliance.sources.plan import compute, database, identity, logging, network, storage
from compliance.sources.plan._reader import PlanReader
from contract import PLAN_SCHEMA


def load_plan(path: Path) -> dict[str, Any]:
    try:
        plan: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: the plan file does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: is not a readable JSON plan ({exc.__class__.__name__}).") from None
    if not isinstance(plan, dict) or plan.get("schema") != PLAN_SCHEMA:
        seen = plan.get("schema") if isinstance(plan, dict) else type(plan).__name__
        raise InputError(f"{path}: schema is {seen!r}, expected {PLAN_SCHEMA!r} (write one with phistack plan).")
    _check_context(path, plan.get("context"))
    return plan


_CONTEXT_TYPES: dict[str, tuple[type, ...]] = {
    "client": (str,),
    "log_retention_days": (int, type(None)),
    "allow_short_log_retention": (bool,),
    "required_endpoints": (list,),
    "attestations": (dict,),
}


def _check_context(path: Path, context: Any) -> None:
    """A plan file is input: its context (contract.StackContext) is checked field by field before any use."""
    if not isinstance(context, dict):
        raise InputError(f"{path}: context is missing or not a mapping (write the plan again with phistack plan).")
    for key, types in _CONTEXT_TYPES.items():
        value = context.get(key)
        if key not in context or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise InputError(f"{path}: context.{key} is missing or of the wrong type.")
    if not all(isinstance(e, str) for e in context["required_endpoints"]):
        raise InputError(f"{path}: context.required_endpoints must be a list of service names.")
    if not all(isinstance(k, str) and isinstance(v, str | None) for k, v in context["attestations"].items()):
        raise InputError(f"{path}: context.attestations must map names to dates or null.")


# Pulumi module (and, for ec2, resource) -> the service key used by the HIPAA-eligible list.
_SERVICE_OF_MODULE = {
    "ebs": "ebs",
    "s3": "s3",
    "kms": "kms",
    "cloudtrail": "cloudtrail",
    "sns": "sns",
    "ssm": "ssm",
    "iam": "iam",
    "lb": "elasticloadbalancing",
    "rds": "rds",
    "guardduty": "guardduty",
    "cfg": "config",
    "vpc": "vpc",
    "ec2transitgateway": "transitgateway",
    "ec2clientvpn": "clientvpn",
    "secretsmanager": "secretsmanager",
    "ecr": "ecr",
}
_EC2_COMPUTE = {"instance", "launchTemplate", "instanceMetadataDefaults", "volumeAttachment"}


def _service(token: str) -> str:
    module, resource = token.split(":")[1].split("/")
    if module == "ec2":
        return "ec2" if resource in _EC2_COMPUTE else "vpc"
    if module == "cloudwatch":
        return "cloudwatch" if resource.startswith("metric") else "logs"
    return _SERVICE_OF_MODULE.get(module, module)


# Kinds of fact no plan can hold, whatever the stack: they exist only in a running account or on installed hosts.
PLAN_CANNOT_KNOW = (
    "snapshots", "db_snapshots", "ssm_managed_instances", "iam_root", "iam_users", "hosts", "certificates",
    "guardduty_findings", "patch_compliance",
)  # fmt: skip


def facts_from_plan(plan: dict[str, Any]) -> Facts:
    """The facts a plan declares, judged against its ``context``. The policy pack's document has none (CrossGuard
    hands a policy the resources, not the stack file): the defaults then stand, six years and the base endpoints."""
    p = PlanReader(plan)
    context = Context.of(plan["context"]) if "context" in plan else Context()
    facts = Facts("plan", p.account, [p.region], context=context)
    for service in (network, compute, storage, database, logging, identity):
        service.add(p, facts)
    services: dict[str, str] = {}
    for token, items in p.by_type.items():
        if token.startswith("aws:"):
            services.setdefault(_service(token), f"{token} ({len(items)} declared)")
    facts.add(
        SERVICES_IN_USE, [ServiceInUse(service=s, evidence=e, region="global") for s, e in sorted(services.items())]
    )
    return facts
