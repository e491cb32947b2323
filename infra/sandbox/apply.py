"""Run the real program with every resource created in an emulated account (moto) through boto3."""

from __future__ import annotations

import contextvars
from typing import Any

import botocore.exceptions
import botocore.parsers
import pulumi
from pulumi.runtime.mocks import MockResourceArgs

from infra.config import ClientConfig
from infra.errors import PlanError
from infra.plan import Plan, _json_safe, _RecordingMocks
from infra.sandbox import backup, compute, database, loadbalancing, monitoring, network, security, storage
from infra.sandbox.engine import ApplyFailed, Creator, EmulatorGap, Sandbox, SandboxError, remove_default_vpcs

CREATORS: dict[str, Creator] = {
    **network.CREATORS,
    **security.CREATORS,
    **storage.CREATORS,
    **monitoring.CREATORS,
    **compute.CREATORS,
    **backup.CREATORS,
    **database.CREATORS,
    **loadbalancing.CREATORS,
}
SANDBOX_AMI = "ami-0a1b2c3d4e5f60718"  # what the sandbox answers for the Debian 13 AMI parameter


class _SandboxMocks(_RecordingMocks):
    def __init__(self, cfg: ClientConfig, plan: Plan, sandbox: Sandbox) -> None:
        super().__init__(cfg, plan)
        self.sb = sandbox

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.declared[(args.typ, args.name)] = _json_safe(inputs)
        if args.typ.startswith("pulumi:providers:") or not args.custom:
            return f"{'provider' if args.custom else 'component'}-{args.name}", inputs  # nothing to create in AWS
        if not self.sb.begin():
            # The apply already failed: a registration still in flight creates nothing (the caller is about to
            # remove what was created, or record it).
            return f"not-created-{args.name}", inputs
        try:
            return self._create(args, inputs)
        except SandboxError as exc:
            self.sb.fail(str(exc))  # the first failure ends the apply: no resource is created after it
            raise
        finally:
            self.sb.end()

    def _create(self, args: MockResourceArgs, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        creator = CREATORS.get(args.typ)
        if creator is None:
            raise SandboxError(f"The sandbox cannot create {args.typ} ({args.name}): no creator for that type yet.")
        try:
            rid, extra = creator(self.sb, args.name, inputs)
        except EmulatorGap as gap:
            self.sb.gaps.append({"type": gap.resource_type, "name": args.name, "api": gap.api, "detail": gap.detail})
            return f"not-created-{args.name}", inputs
        except botocore.parsers.ResponseParserError:
            # moto answers an API it does not implement with an HTML 500 page.
            self.sb.gaps.append(
                {
                    "type": args.typ,
                    "name": args.name,
                    "api": "(see type)",
                    "detail": "the emulator does not implement an API this resource needs (HTTP 500)",
                }
            )
            return f"not-created-{args.name}", inputs
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 500:
                self.sb.gaps.append(
                    {
                        "type": args.typ,
                        "name": args.name,
                        "api": exc.operation_name,
                        "detail": f"the emulator failed: {error.get('Code')}",
                    }
                )
                return f"not-created-{args.name}", inputs
            raise SandboxError(
                f"{args.typ} {args.name}: {exc.operation_name} answered {error.get('Code')}: {error.get('Message')}"
            ) from None
        self.sb.created.append({"type": args.typ, "name": args.name, "id": rid})
        return rid, {**inputs, **extra}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.plan.invokes.append({"token": args.token, "args": _json_safe(dict(args.args))})
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.sb.client("ec2").describe_availability_zones()["AvailabilityZones"]
            return {
                "names": [z["ZoneName"] for z in zones],
                "zone_ids": [z["ZoneId"] for z in zones],
                "id": self.cfg.region,
                "group_names": [self.cfg.region],
            }
        if args.token == "aws:ssm/getParameter:getParameter":
            # /aws/service/... parameters are AWS-owned; the emulator has none, so the sandbox answers it.
            name = str(args.args.get("name"))
            self.sb.gaps.append(
                {
                    "type": "aws:ssm/getParameter",
                    "name": name,
                    "api": "ssm:GetParameter",
                    "detail": f"AWS-owned parameter; answered with {SANDBOX_AMI}",
                }
            )
            return {
                "name": name,
                "type": "String",
                "value": SANDBOX_AMI,
                "insecure_value": SANDBOX_AMI,
                "arn": "",
                "version": 1,
                "id": name,
            }
        raise PlanError(f"The program made an invoke the sandbox cannot answer: {args.token}.")


def apply_to_emulator(cfg: ClientConfig, stack_config: dict[str, str], endpoint_url: str) -> tuple[Plan, Sandbox]:
    """Create every resource of the program in the emulated account; return the record and the sandbox."""
    from infra.program import build

    sandbox = Sandbox(cfg, endpoint_url)
    remove_default_vpcs(sandbox.client("ec2"))

    async def program(plan: Plan) -> None:
        plan.outputs = _json_safe(await pulumi.Output.from_input(build(cfg)).future())

    def run() -> Plan:
        plan = Plan(client=cfg.client, stack=cfg.client, context=cfg.context())
        mocks = _SandboxMocks(cfg, plan, sandbox)
        pulumi.runtime.set_all_config(dict(stack_config))
        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        from infra.plan import PROJECT, _RecordingMonitor

        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=cfg.client, preview=False, monitor=_RecordingMonitor(mocks)
        )
        try:
            _sync_await(run_pulumi_func(lambda: program(plan)))
        except BaseException:
            sandbox.stop()  # no creator starts after a failure; the running ones finish before anyone cleans up
            raise
        return plan

    try:
        return contextvars.Context().run(run), sandbox
    except Exception as exc:  # noqa: BLE001 - the engine wraps creator errors; report them as one line
        cause = exc if isinstance(exc, SandboxError | PlanError) else (exc.__cause__ or exc)
        if sandbox.failure is not None:  # the first failure, not a registration refused after it
            raise ApplyFailed(sandbox.failure, sandbox) from None
        if isinstance(cause, SandboxError | PlanError):
            raise ApplyFailed(str(cause), sandbox) from None
        raise ApplyFailed(f"The sandbox stopped: {type(exc).__name__}: {exc}", sandbox) from exc
