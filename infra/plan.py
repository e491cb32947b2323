"""The offline plan: the real program run in-process under Pulumi mocks, every resource recorded.

No Pulumi CLI and no AWS: the mocks answer each resource registration with a plausible id and the
computed attributes the program reads (ARNs, default NACL ids, prefix-list ids...), and each invoke the
program makes (availability zones, the AMI parameter). An invoke the mocks do not know is an error,
never a silent empty answer. Each plan runs in a fresh ``contextvars.Context``, so one process can plan
several clients.

``plan.json`` (schema ``contract.PLAN_SCHEMA``) is what the pre-deploy compliance checks read: the resources
as declared, and the client's ``context`` (``contract.StackContext``) that the controls compare them against.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from contract import PLAN_SCHEMA, StackContext
from infra.config import ClientConfig
from infra.errors import PlanError

PROJECT = "phistack"
PLACEHOLDER_AMI = "ami-0planplaceholder0"


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    id: str
    inputs: dict[str, Any]  # as the program declared them (camelCase, like Pulumi state)
    computed: dict[str, Any]  # what the mocks answered beyond the inputs (ids, ARNs)

    @property
    def component(self) -> str:
        """The phistack component the resource belongs to (``phistack:<module>:<Type>`` in its URN)."""
        for part in self.urn.split("::")[2].split("$"):
            if part.startswith("phistack:") and not part.startswith("phistack:storage:HardenedBucket"):
                return part.split(":")[1]
        if "HardenedBucket" in self.urn:
            return "storage"
        return "provider" if self.type.startswith("pulumi:providers:") else "stack"


@dataclass
class Plan:
    client: str
    stack: str
    context: StackContext
    resources: list[PlannedResource] = field(default_factory=list)
    invokes: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def summary(self) -> dict[str, int]:
        return dict(sorted(Counter(r.component for r in self.resources if r.custom).items()))

    def to_json(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "project": PROJECT,
            "stack": self.stack,
            "client": self.client,
            "context": self.context,
            "config": config,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "custom": r.custom,
                    "component": r.component,
                    "id": r.id,
                    "inputs": r.inputs,
                    "computed": r.computed,
                }
                for r in self.resources
            ],
            "invokes": self.invokes,
            "outputs": self.outputs,
        }


# The id shapes AWS uses, so plan ids read like the real ones (igw-..., nat-...).
_ID_PREFIXES = {
    "internetGateway": "igw", "natGateway": "nat", "egressOnlyInternetGateway": "eigw", "eip": "eipalloc",
    "networkAcl": "acl", "defaultNetworkAcl": "acl", "flowLog": "fl", "launchTemplate": "lt", "route": "r",
    "routeTableAssociation": "rtbassoc", "defaultSecurityGroup": "sg", "vpcAttachment": "tgw-attach",
    "endpoint": "cvpn-endpoint", "detector": "detector",
}  # fmt: skip


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class _RecordingMocks(pulumi.runtime.Mocks):
    """Answers registrations and invokes the way AWS would shape them, and records every call."""

    def __init__(self, cfg: ClientConfig, plan: Plan) -> None:
        self.cfg = cfg
        self.plan = plan
        self.counter = 0
        self.declared: dict[tuple[str, str], dict[str, Any]] = {}

    def _fake_id(self, prefix: str, name: str) -> str:
        self.counter += 1
        digest = hashlib.sha256(f"{name}:{self.counter}".encode()).hexdigest()[:17]
        return f"{prefix}-{digest}"

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        cfg, state = self.cfg, dict(args.inputs)
        self.declared[(args.typ, args.name)] = _json_safe(args.inputs)
        p, region, account = cfg.partition, cfg.region, cfg.account_id
        token = args.typ
        module = token.split(":")[1].split("/")[0] if token.count(":") >= 2 else ""
        resource = token.split("/")[-1].split(":")[0] if "/" in token else ""
        prefix = _ID_PREFIXES.get(resource) or {"ec2": "res", "vpc": "sgr"}.get(module, "id")
        rid = self._fake_id(prefix, args.name)
        if token == "aws:ec2/vpc:Vpc":
            rid = self._fake_id("vpc", args.name)
            state |= {
                "defaultNetworkAclId": self._fake_id("acl", args.name),
                "defaultSecurityGroupId": self._fake_id("sg", args.name),
                "defaultRouteTableId": self._fake_id("rtb", args.name),
            }
        elif token == "aws:ec2/subnet:Subnet":
            rid = self._fake_id("subnet", args.name)
        elif token == "aws:ec2/securityGroup:SecurityGroup":
            rid = self._fake_id("sg", args.name)
        elif token == "aws:ec2/routeTable:RouteTable":
            rid = self._fake_id("rtb", args.name)
        elif token == "aws:ec2/vpcEndpoint:VpcEndpoint":
            rid = self._fake_id("vpce", args.name)
            state["prefixListId"] = "pl-63a5400a"  # the shape of AWS's S3 prefix list id
        elif token == "aws:ec2/instance:Instance":
            rid = self._fake_id("i", args.name)
            state |= {"privateIp": f"10.0.0.{10 + self.counter % 200}", "availabilityZone": f"{region}a"}
        elif token == "aws:ebs/volume:Volume":
            rid = self._fake_id("vol", args.name)
        elif token == "aws:kms/key:Key":
            rid = hashlib.md5(args.name.encode()).hexdigest()  # noqa: S324 - an id, not a secret
            rid = f"{rid[:8]}-{rid[8:12]}-{rid[12:16]}-{rid[16:20]}-{rid[20:32]}"
            state |= {"keyId": rid, "arn": f"arn:{p}:kms:{region}:{account}:key/{rid}"}
        elif token == "aws:s3/bucket:Bucket":
            rid = state.get("bucket", args.name)
            state |= {"arn": f"arn:{p}:s3:::{rid}", "bucket": rid}
        elif token == "aws:cloudwatch/logGroup:LogGroup":
            rid = state.get("name", args.name)
            state["arn"] = f"arn:{p}:logs:{region}:{account}:log-group:{rid}"
        elif token == "aws:iam/role:Role":
            rid = state.get("name", args.name)
            state |= {"arn": f"arn:{p}:iam::{account}:role/{rid}", "name": rid}
        elif token == "aws:iam/instanceProfile:InstanceProfile":
            rid = state.get("name", args.name)
            state |= {"arn": f"arn:{p}:iam::{account}:instance-profile/{rid}", "name": rid}
        elif token == "aws:cloudtrail/trail:Trail":
            rid = state.get("name", args.name)
            state["arn"] = f"arn:{p}:cloudtrail:{region}:{account}:trail/{rid}"
        elif token == "aws:sns/topic:Topic":
            rid = f"arn:{p}:sns:{region}:{account}:{state.get('name', args.name)}"
            state["arn"] = rid
        elif token == "aws:sqs/queue:Queue":
            name = state.get("name", args.name)
            rid = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            state |= {"arn": f"arn:{p}:sqs:{region}:{account}:{name}", "url": rid}
        elif token == "aws:lb/loadBalancer:LoadBalancer":
            rid = f"arn:{p}:elasticloadbalancing:{region}:{account}:loadbalancer/net/{state.get('name')}/0123456789"
            state |= {"arn": rid, "dnsName": f"internal-{state.get('name')}.elb.{region}.amazonaws.com"}
        elif token == "aws:lb/targetGroup:TargetGroup":
            rid = f"arn:{p}:elasticloadbalancing:{region}:{account}:targetgroup/{args.name[:20]}/0123456789"
            state["arn"] = rid
        elif token == "aws:rds/cluster:Cluster":
            rid = state.get("clusterIdentifier", args.name)
            state |= {
                "arn": f"arn:{p}:rds:{region}:{account}:cluster:{rid}",
                "endpoint": f"{rid}.cluster-plan.{region}.rds.amazonaws.com",
                "readerEndpoint": f"{rid}.cluster-ro-plan.{region}.rds.amazonaws.com",
                "clusterResourceId": "cluster-" + hashlib.sha256(rid.encode()).hexdigest()[:26].upper(),
                "masterUserSecrets": [
                    {
                        "secretArn": f"arn:{p}:secretsmanager:{region}:{account}:secret:rds!cluster-{rid}-AbCdEf",
                        "kmsKeyId": state.get("masterUserSecretKmsKeyId"),
                        "secretStatus": "active",
                    }
                ],
            }
        elif token == "aws:backup/vault:Vault":
            rid = state.get("name", args.name)
            state["arn"] = f"arn:{p}:backup:{region}:{account}:backup-vault:{rid}"
        elif token == "aws:backup/plan:Plan":
            rid = str(uuid.UUID(hashlib.md5(args.name.encode()).hexdigest()))  # noqa: S324 - an id, not a secret
            state |= {"arn": f"arn:{p}:backup:{region}:{account}:backup-plan:{rid}", "version": "1"}
        elif token in ("aws:rds/subnetGroup:SubnetGroup", "aws:rds/clusterParameterGroup:ClusterParameterGroup"):
            rid = state.get("name", args.name)
        state.setdefault("arn", f"arn:{p}:{module}:{region}:{account}:{token.split(':')[-1].lower()}/{rid}")
        state.setdefault("id", rid)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.plan.invokes.append({"token": args.token, "args": _json_safe(dict(args.args))})
        region = self.cfg.region
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "names": [f"{region}{x}" for x in letters],
                "zone_ids": [f"use1-az{i + 1}" for i in range(len(letters))],
                "id": region,
                "group_names": [region],
            }
        if args.token == "aws:ssm/getParameter:getParameter":
            return {
                "name": args.args.get("name"),
                "type": "String",
                "value": PLACEHOLDER_AMI,
                "insecure_value": PLACEHOLDER_AMI,
                "arn": "",
                "version": 1,
                "id": args.args.get("name"),
            }
        raise PlanError(f"The program made an invoke the offline plan cannot answer: {args.token}.")


class _RecordingMonitor(MockMonitor):
    """MockMonitor that also remembers each registration's URN, parent and kind."""

    def __init__(self, mocks: _RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            inputs = self.recording.declared.pop((request.type, request.name))
            state = _json_safe(dict(registration.state))
            self.recording.plan.resources.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    id=registration.id or "",
                    inputs=inputs,
                    computed={k: v for k, v in state.items() if k not in inputs},
                )
            )
        return response


def record(
    cfg: ClientConfig,
    stack_config: dict[str, str],
    stack: str,
    preview: bool,
    program: Callable[[Plan], Awaitable[None]],
) -> Plan:
    """Run ``program`` under recording mocks with ``stack_config`` as the stack's Pulumi config.

    Call inside a fresh ``contextvars.Context`` (``run_plan`` does): Pulumi keeps its settings there.
    """
    plan = Plan(client=cfg.client, stack=stack, context=cfg.context())
    mocks = _RecordingMocks(cfg, plan)
    pulumi.runtime.set_all_config(dict(stack_config))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=_RecordingMonitor(mocks))
    _sync_await(run_pulumi_func(lambda: program(plan)))
    return plan


def _run(cfg: ClientConfig, stack_config: dict[str, str], stack: str, preview: bool) -> Plan:
    from infra.program import build  # imported here: pulumi_aws modules load on first use

    async def program(plan: Plan) -> None:
        outputs = build(cfg)
        resolved = await pulumi.Output.from_input(outputs).future()
        plan.outputs = _json_safe(resolved)

    return record(cfg, stack_config, stack, preview, program)


def run_plan(cfg: ClientConfig, stack_config: dict[str, str], stack: str | None = None, preview: bool = False) -> Plan:
    """Run the program for ``cfg`` under mocks; raises PlanError if the program itself fails.

    ``preview=True`` runs it as ``pulumi preview`` would (unknown outputs stay unknown): the same
    resources must be declared either way, which is how a resource hidden inside ``apply`` is caught.
    """
    try:
        return contextvars.Context().run(_run, cfg, stack_config, stack or cfg.client, preview)
    except PlanError:
        raise
    except Exception as exc:  # a program bug: report it as one line, with its type
        raise PlanError(f"The program failed under mocks: {type(exc).__name__}: {exc}") from exc


def write_plan(plan: Plan, stack_config: dict[str, str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(plan.to_json(stack_config), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # never a half-written plan.json
