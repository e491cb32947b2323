"""Live facts: every collector task run against an AWS account (real or emulated), region by region.

Collectors never decide: they record what they read, or why they could not (a Gap per kind, an unreadable
marker per resource value). ``collect`` raises IncompleteError only when nothing can work at all: no
credentials, or the account's identity cannot be read (endpoint unreachable).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from typing import Any

import boto3

from compliance.errors import IncompleteError
from compliance.facts import Context, Facts, Gap
from compliance.facts.hosts import SERVICES_IN_USE, ServiceInUse
from compliance.sources.live import compute, database, identity, logging, network, storage
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task

TASKS: tuple[Task[Any], ...] = (
    *network.TASKS,
    *compute.TASKS,
    *storage.TASKS,
    *logging.TASKS,
    *identity.TASKS,
    *database.TASKS,
)

# Which AWS service (as the HIPAA-eligible list names it) a resource ARN belongs to.
_EC2_RESOURCE_SERVICE = {"instance": "ec2", "launch-template": "ec2", "volume": "ebs", "snapshot": "ebs",
                         "client-vpn-endpoint": "clientvpn", "transit-gateway": "transitgateway",
                         "transit-gateway-attachment": "transitgateway"}  # fmt: skip
_ARN_SERVICE = {"elasticloadbalancing": "elasticloadbalancing", "monitoring": "cloudwatch"}


def service_of_arn(arn: str) -> str:
    parts = arn.split(":", 5)
    service = parts[2]
    if service == "ec2":
        resource = parts[5].split("/", 1)[0]
        return _EC2_RESOURCE_SERVICE.get(resource, "vpc")
    return _ARN_SERVICE.get(service, service)


def services_in_use(scan: Scan, region: str, account: str) -> list[ServiceInUse]:
    """Services with tagged resources in the region (the Resource Groups Tagging API)."""
    tagging = scan.client("resourcegroupstaggingapi", region)
    found: dict[str, str] = {}
    for r in scan.pages(tagging, "get_resources", "ResourceTagMappingList"):
        found.setdefault(service_of_arn(r["ResourceARN"]), r["ResourceARN"])
    return [{"service": s, "region": region, "evidence": arn} for s, arn in sorted(found.items())]


ALL_TASKS: tuple[Task[Any], ...] = (*TASKS, Task(SERVICES_IN_USE, "regional", services_in_use))
Progress = Callable[[int, int], None]


def collect(
    session: boto3.Session,
    regions: list[str],
    endpoint_url: str | None = None,
    context: Context | None = None,
    workers: int = 8,
    progress: Progress | None = None,
    tasks: tuple[Task[Any], ...] = ALL_TASKS,
    max_attempts: int = 4,
    client_lock: AbstractContextManager[Any] | None = None,
) -> tuple[Facts, Scan]:
    scan = Scan(session, endpoint_url, max_attempts=max_attempts, regions=list(regions))
    if client_lock is not None:  # shared with the scans running beside this one
        scan.client_lock = client_lock
    home = regions[0]
    try:
        account = str(scan.call(scan.client("sts", home), "get_caller_identity")["Account"])
    except Unavailable as exc:
        where = endpoint_url or f"AWS in {home}"
        raise IncompleteError(f"Cannot read the account identity from {where}: {exc.api} {exc.error}.") from None
    facts = Facts("live", account, list(regions), context=context or Context())
    jobs = [(task, region) for task in tasks for region in (regions if task.scope == "regional" else [home])]
    results: dict[tuple[str, str], list[Any]] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(task.run, scan, region, account): (task, region) for task, region in jobs}
        for future in as_completed(futures):
            task, region = futures[future]
            try:
                results[(task.kind.name, region)] = future.result()
            except Unavailable as exc:
                facts.missing(task.kind, Gap(f"{exc.error} in {region}", "ERROR", exc.api))
            done += 1
            if progress is not None:
                progress(done, len(jobs))
    for task, region in jobs:  # merge in a stable order: same account, same report
        if task.kind.name not in facts.gaps:
            facts.add(task.kind, results[(task.kind.name, region)])
    return facts, scan
