"""Apply the real program to emulated AWS: Pulumi mocks whose resource hook creates each resource through boto3.

Pulumi registers a resource only once its inputs (its dependencies' outputs) are known, so creation follows
the dependency order by itself; each creator returns the real id and the attributes dependents read (ARNs,
default NACL ids...). A type without a creator is an error naming it, never a silent skip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.config

from infra.config import ClientConfig
from infra.errors import InfraError

Inputs = dict[str, Any]
Created = tuple[str, dict[str, Any]]  # (physical id, attributes beyond the inputs)


class SandboxError(InfraError):
    """The sandbox could not create what the program declared (the message names the type and why)."""


class ApplyFailed(SandboxError):
    """An apply that stopped part-way: what it had created by then, so the caller can remove it or record it."""

    def __init__(self, message: str, sandbox: Sandbox) -> None:
        super().__init__(message)
        self.sandbox = sandbox


class EmulatorGap(Exception):
    """The emulator lacks the API a resource needs: reported, and the run goes on with what can be created."""

    def __init__(self, resource_type: str, api: str, detail: str) -> None:
        super().__init__(f"{resource_type}: the emulator does not implement {api} ({detail})")
        self.resource_type, self.api, self.detail = resource_type, api, detail


@dataclass
class Sandbox:
    """Clients for one emulated account, and what has been created so far."""

    cfg: ClientConfig
    endpoint_url: str
    session: boto3.Session = field(init=False)
    created: list[dict[str, str]] = field(default_factory=list)
    gaps: list[dict[str, str]] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    s3_logging_lock: threading.Lock = field(default_factory=threading.Lock)  # see storage.logging
    # Creators run on Pulumi's executor threads: after a failure, none may start, and the ones running are waited
    # for, so `created` is final before anyone removes it.
    stopped: bool = False
    failure: str | None = None  # the first creator's failure
    _inflight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    def begin(self) -> bool:
        """False once the apply has failed: the caller creates nothing."""
        with self._idle:
            if self.stopped:
                return False
            self._inflight += 1
            return True

    def end(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def fail(self, message: str) -> None:
        with self._idle:
            self.stopped = True
            if self.failure is None:
                self.failure = message

    def stop(self, timeout: float = 60.0) -> None:
        """No creator starts after this; returns once the running ones are done (or after timeout seconds)."""
        with self._idle:
            self.stopped = True
            self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def __post_init__(self) -> None:
        self.session = boto3.Session(
            aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=self.cfg.region
        )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                config = botocore.config.Config(
                    retries={"mode": "standard", "max_attempts": 2}, inject_host_prefix=False
                )
                client = self.session.client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint_url, config=config
                )
                if service == "s3control":
                    client.meta.events.register("before-sign.s3-control", _strip_account_host_prefix)
                self._clients[service] = client
            return self._clients[service]

    @property
    def account(self) -> str:
        return self.cfg.account_id


Creator = Callable[[Sandbox, str, Inputs], Created]


def tag_list(i: Inputs, key: str = "Key", value: str = "Value", field: str = "tags") -> list[dict[str, str]]:
    """A resource's tags (Pulumi's mapping) as the AWS APIs take them: a list of key/value pairs."""
    return [{key: k, value: v} for k, v in (i.get(field) or {}).items()]


def renamed(i: Inputs, names: dict[str, str]) -> dict[str, Any]:
    """The inputs an AWS call takes, under its names; Pulumi hands numbers over as floats (300.0), AWS wants
    integers. Inputs left out or empty are left out."""
    return {
        api: int(i[key]) if isinstance(i[key], float) else i[key]
        for key, api in names.items()
        if i.get(key) not in (None, "")
    }


def tag_specifications(i: Inputs, kind: str, field: str = "tags") -> list[dict[str, Any]]:
    """EC2's form of the same, for the resource type kind; none when the resource has no tags."""
    tags = tag_list(i, field=field)
    return [{"ResourceType": kind, "Tags": tags}] if tags else []


def _strip_account_host_prefix(request: Any, **_: Any) -> None:
    """S3 Control's endpoint rules put "<account>." before any host; the emulator on 127.0.0.1 cannot answer
    that name. (The compliance collectors carry the same hook: infra and compliance share no code.)"""
    parts = urlsplit(request.url)
    host, _, rest = parts.netloc.partition(".")
    if host.isdigit() and len(host) == 12:
        request.url = urlunsplit(parts._replace(netloc=rest))


def remove_default_vpcs(ec2: Any) -> list[str]:
    """Start from an account as a landing zone leaves it: no default VPCs (public subnets, open defaults).
    moto keeps a deleted VPC's default NACL, which cannot be deleted; its entries are removed instead."""
    removed = []
    for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        vid = v["VpcId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=s["SubnetId"])
        gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vid]}])
        for g in gateways["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vid)
            ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
        for acl in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vid]}])["NetworkAcls"]:
            for e in acl["Entries"]:
                if e["RuleNumber"] < 32767:
                    ec2.delete_network_acl_entry(
                        NetworkAclId=acl["NetworkAclId"], RuleNumber=e["RuleNumber"], Egress=e["Egress"]
                    )
        ec2.delete_vpc(VpcId=vid)
        removed.append(vid)
    return removed
