"""Send an assessment's ASFF findings to the audited account's own AWS Security Hub.

Security Hub takes a custom finding only from the account the finding is about (its AwsAccountId), into that
account's hub, region by region. So: the caller's account must be the report's; each region's findings go to
that region's hub in batches of 100 (the API's limit); and phistack findings that hub still holds as ACTIVE
but this report no longer has (the resource is gone, or --failing-only and it now passes) are re-imported as
ARCHIVED, the way a finding provider retires its own findings. Nothing else in the hub is touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import botocore.config
import botocore.exceptions

from phistack.errors import UsageError

BATCH = 100  # BatchImportFindings takes at most 100 findings a call
# What a retired finding is re-imported with: the members phistack itself set, nothing Security Hub added.
KEPT_WHEN_ARCHIVED = (
    "SchemaVersion", "Id", "ProductArn", "ProductName", "CompanyName", "GeneratorId", "AwsAccountId", "Types",
    "CreatedAt", "Severity", "Title", "Description", "Resources", "Compliance", "Region",
)  # fmt: skip


@dataclass
class RegionResult:
    region: str
    imported: int = 0
    archived: int = 0
    failed: list[str] = field(default_factory=list)  # "ID: CODE message", or the call that failed


def _client(session: Any, service: str, region: str, endpoint: str | None) -> Any:
    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 4})
    return session.client(service, region_name=region, endpoint_url=endpoint, config=config)


def check_account(session: Any, account: str, region: str, endpoint: str | None) -> None:
    try:
        caller = str(_client(session, "sts", region, endpoint).get_caller_identity()["Account"])
    except botocore.exceptions.NoCredentialsError:
        raise UsageError("--to-security-hub: no AWS credentials (pass --profile).") from None
    if caller != account:
        raise UsageError(
            f"--to-security-hub: the credentials are for account {caller}; Security Hub takes findings about "
            f"account {account} only from {account} itself (use a profile or role in that account)."
        )


def _active_phistack_findings(hub: Any, product: str, account: str) -> list[dict[str, Any]]:
    filters = {
        "ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
        "GeneratorId": [{"Value": "phistack/", "Comparison": "PREFIX"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    found = []
    for page in hub.get_paginator("get_findings").paginate(Filters=filters):
        for finding in page["Findings"]:  # the same conditions again: a hub that ignores a filter changes nothing
            if (
                finding.get("ProductArn") == product
                and finding.get("AwsAccountId") == account
                and str(finding.get("GeneratorId", "")).startswith("phistack/")
                and finding.get("RecordState", "ACTIVE") == "ACTIVE"
            ):
                found.append(finding)
    return found


def _send(hub: Any, findings: list[dict[str, Any]], result: RegionResult) -> int:
    sent = 0
    for start in range(0, len(findings), BATCH):
        batch = findings[start : start + BATCH]
        answer = hub.batch_import_findings(Findings=batch)
        for failure in answer.get("FailedFindings", []):
            result.failed.append(f"{failure.get('Id')}: {failure.get('ErrorCode')} {failure.get('ErrorMessage')}")
        sent += int(answer.get("SuccessCount", len(batch) - int(answer.get("FailedCount", 0))))
    return sent


def import_findings(
    session: Any, findings: list[dict[str, Any]], account: str, regions: list[str], endpoint: str | None
) -> list[RegionResult]:
    """Import into each region's hub and archive what is no longer reported; one result per region."""
    from compliance.reports.asff import product_arn

    by_region: dict[str, list[dict[str, Any]]] = {region: [] for region in regions}
    for finding in findings:
        by_region.setdefault(finding["Region"], []).append(finding)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    results = []
    for region, current in by_region.items():
        result = RegionResult(region)
        results.append(result)
        hub = _client(session, "securityhub", region, endpoint)
        try:
            result.imported = _send(hub, current, result)
            ids = {f["Id"] for f in current}
            stale = [
                f for f in _active_phistack_findings(hub, product_arn(region, account), account) if f["Id"] not in ids
            ]
            retired = [
                {**{k: f[k] for k in KEPT_WHEN_ARCHIVED if k in f}, "UpdatedAt": now, "RecordState": "ARCHIVED"}
                for f in stale
            ]
            result.archived = _send(hub, retired, result)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            result.failed.append(
                f"securityhub:{exc.operation_name} in {region} answered {error.get('Code')}: {error.get('Message')}"
            )
    return results
